//! The reconcile of a live (not deleted) AIStore: validate → build → apply the prerequisites →
//! bootstrap, or drive proxies then targets through the lifecycle decisions → check AIS is
//! healthy → push the config → status.

use std::time::Duration;

use ais_client::Smap;
use ais_crd::status::condition;
use ais_crd::{AIStore, AIStoreSpec, ClusterState, default_spec, validate};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;

use super::live::Live;
use super::statefulsets::{StsChoice, apply_choice};
use super::status::{Cond, Observation, RoleObservation, is_true};
use super::{CONFIG_HASH_ANNOTATION, Context, Error, RESTART_HASH_ANNOTATION, apply, event, owned};
use super::{nodes, write_status};
use crate::ais::{Session, endpoint};
use crate::build::config::config_to_set;
use crate::build::{self, Desired, Facts, Role, names};
use crate::lifecycle::bootstrap::{self, Bootstrap, BootstrapInput};
use crate::lifecycle::observe::DECOMMISSIONED_ANNOTATION;
use crate::lifecycle::proxies::{self, TemplateUpdate};
use crate::lifecycle::targets::{self, TargetInput};
use crate::lifecycle::{AisCall, RebalanceReason, RoleInput, Step};
use crate::rollout::template_change;

/// Requeue while waiting on AIS (no watch tells us).
const POLL: Duration = Duration::from_secs(3);
/// Requeue after AIS calls (maintenance, decommission, primary moves take effect in seconds).
const AFTER_CALL: Duration = Duration::from_secs(2);
/// Safety net while waiting for a Kubernetes change that a watch reports.
const WATCHED: Duration = Duration::from_secs(300);
/// Requeue of a blocked cluster.
const BLOCKED: Duration = Duration::from_secs(60);

/// One reconcile of a live cluster.
struct Run<'a> {
    ctx: &'a Context,
    ais: &'a AIStore,
    ns: String,
    name: String,
    key: String,
    spec: AIStoreSpec,
    facts: Facts,
    desired: Desired,
    live: Live,
    session: Option<Session>,
    smap: Option<Smap>,
    obs: Observation,
    state: Option<ClusterState>,
    rebalance_on: bool,
}

/// Reconciles a cluster that is not being deleted.
pub(super) async fn run(ais: &AIStore, ctx: &Context) -> Result<Action, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    let name = ais.name_any();
    let generation = ais.metadata.generation.unwrap_or(0);
    let api: Api<AIStore> = Api::namespaced(ctx.client.clone(), &ns);

    // Validate: the webhook may have been bypassed. An invalid spec is a condition and an
    // event, not a crash loop; nothing is applied until it is fixed.
    let check = validate(&default_spec(&ais.spec, &ctx.defaults), None);
    if !check.is_valid() {
        let message = check.error_message();
        let obs = Observation {
            generation,
            invalid: Some(message.clone()),
            ..Observation::default()
        };
        let (changed, _) = write_status(&api, &name, ais.status.as_ref(), &obs, ctx).await?;
        if changed {
            event(
                ctx,
                ais,
                EventType::Warning,
                "Failed",
                "Validate",
                format!("Failed to validate AIStore spec: {message}"),
            )
            .await;
        }
        return Ok(Action::await_change());
    }

    // Observe, then build: the builders take what runs (LoadBalancer addresses for the
    // certificate, the live target count for the LoadBalancers of leaving targets).
    let spec = ais_crd::legacy::effective_spec(&default_spec(&ais.spec, &ctx.defaults));
    let external_access = spec.proxy_spec.external_access.is_some()
        || spec.target_spec.daemon.external_access.is_some();
    let live = Live::read(&ctx.client, &ns, &name, external_access).await?;
    let node_facts = nodes::gather(&ctx.client, &ns, &name, &spec).await?;
    let rebalance_on = is_true(ais.status.as_ref(), condition::READY_REBALANCE);
    let proxy_lb = names::proxy_lb_service(&name);
    let facts = Facts {
        cluster_domain: ctx.cluster_domain.clone(),
        rebalance_allowed: rebalance_on,
        proxy_lb_hosts: live.ingress_of([proxy_lb.as_str()]),
        target_lb_hosts: live.ingress_of(
            live.lb_ingress
                .keys()
                .map(String::as_str)
                .filter(|n| *n != proxy_lb),
        ),
        node_hosts: node_facts.hosts.clone(),
        autoscale_proxy_nodes: node_facts.proxy_nodes.clone().unwrap_or_default(),
        autoscale_target_nodes: node_facts.target_nodes.clone().unwrap_or_default(),
        live_target_replicas: live.view(Role::Target).map_or(0, |v| v.replicas),
        previous_restart_hash: ais.annotations().get(RESTART_HASH_ANNOTATION).cloned(),
        // `spec.auth.profileRef` (the only source of this URL) is not supported yet.
        authn_url: None,
        defaults: ctx.defaults.clone(),
        pods: ctx.pods.clone(),
    };
    let desired = build::build(ais, &facts)?;
    let obs = Observation {
        generation,
        intra_cluster_url: Some(desired.intra_cluster_url.clone()),
        autoscale: (node_facts.proxy_nodes.is_some() || node_facts.target_nodes.is_some()).then(
            || ais_crd::status::AutoScaleStatus {
                expected_proxy_nodes: node_facts.proxy_nodes.clone(),
                expected_target_nodes: node_facts.target_nodes.clone(),
            },
        ),
        ..Observation::default()
    };
    let mut run = Run {
        ctx,
        ais,
        key: format!("{ns}/{name}"),
        live,
        ns,
        name,
        spec,
        facts,
        desired,
        session: None,
        smap: None,
        obs,
        state: ais.status.as_ref().and_then(|s| s.state),
        rebalance_on,
    };
    let action = run.reconcile().await;
    // Status and events reflect what happened, also when a step failed.
    run.finish().await?;
    action
}

impl Run<'_> {
    async fn reconcile(&mut self) -> Result<Action, Error> {
        owned::apply_prerequisites(self.ctx, &self.ns, &self.desired).await?;
        self.sweep().await?;
        self.write_restart_hash().await?;
        let Some(lb_ingress) = self.load_balancers_ready() else {
            return Ok(Action::await_change());
        };
        self.obs.proxies = self.live.proxy.as_ref().map(RoleObservation::of);
        self.obs.targets = self.live.target.as_ref().map(RoleObservation::of);
        if self.spec.shutdown_cluster == Some(true) {
            self.connect(lb_ingress.as_deref(), false).await;
            return self.shutdown().await;
        }
        let created = is_true(self.ais.status.as_ref(), condition::CREATED)
            || (self.live.proxy.is_some() && self.live.target.is_some());
        if !created {
            // Bootstrap needs no AIS call (the primary answers nothing useful before targets
            // join).
            return self.bootstrap().await;
        }
        self.connect(lb_ingress.as_deref(), true).await;
        self.obs.created = true;
        if let Some(action) = self.proxies().await? {
            return Ok(action);
        }
        if let Some(action) = self.targets().await? {
            return Ok(action);
        }
        self.converge().await
    }

    /// Deletes the owned objects that left the inventory, with an event for each.
    async fn sweep(&self) -> Result<(), Error> {
        let uid = self.ais.metadata.uid.as_deref().unwrap_or_default();
        let deleted = owned::sweep(self.ctx, &self.ns, &self.name, uid, &self.desired).await?;
        for (kind, name) in deleted {
            self.note(
                "Deleted",
                "DeleteUnneeded",
                format!("Deleted {kind} {name}: the spec no longer asks for it"),
            )
            .await;
        }
        Ok(())
    }

    /// The restart hash goes onto the AIStore at once (pod templates carry it); the config
    /// hash only after the config reached AIS.
    async fn write_restart_hash(&self) -> Result<(), Error> {
        if self.ais.annotations().get(RESTART_HASH_ANNOTATION) == Some(&self.desired.restart_hash) {
            return Ok(());
        }
        self.annotate(RESTART_HASH_ANNOTATION, &self.desired.restart_hash)
            .await
    }

    async fn annotate(&self, key: &str, value: &str) -> Result<(), Error> {
        let api: Api<AIStore> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        self.ctx
            .metrics
            .writes
            .with_label_values(&["AIStore"])
            .inc();
        api.patch(
            &self.name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {key: value}}})),
        )
        .await
        .map_err(|source| Error::Kube {
            action: format!("annotating AIStore {}", self.key),
            source,
        })?;
        Ok(())
    }

    /// With external access, the target init containers read their LoadBalancer's address:
    /// nothing starts before every LoadBalancer has one. `Some(ingress of the proxy LB)` when
    /// ready (`Some(None)` without external access), `None` while waiting.
    fn load_balancers_ready(&mut self) -> Option<Option<String>> {
        let d = &self.desired;
        let proxy_lb = d
            .proxy_lb_service
            .as_ref()
            .and_then(|s| s.metadata.name.as_deref());
        let mut proxy_ingress = None;
        let mut missing = Vec::new();
        let wanted = d.proxy_lb_service.iter().chain(d.target_lb_services.iter());
        for name in wanted.filter_map(|s| s.metadata.name.as_deref()) {
            match self.live.ingress_of([name]).into_iter().next() {
                Some(addr) if Some(name) == proxy_lb => proxy_ingress = Some(addr),
                Some(_) => {}
                None => missing.push(name.to_string()),
            }
        }
        if missing.is_empty() {
            return Some(proxy_ingress);
        }
        let first_time = matches!(self.state, None | Some(ClusterState::Initialized));
        self.obs.state = Some(if first_time {
            ClusterState::InitializingLoadBalancerService
        } else {
            ClusterState::PendingLoadBalancerService
        });
        self.obs.ready = Some(Cond::new(
            false,
            "PendingLoadBalancer",
            format!("waiting for an ingress address of {}", missing.join(", ")),
        ));
        None
    }

    /// Chooses the AIS endpoint and (with `read_map`) reads the cluster map once for this
    /// reconcile. Failures leave `smap` empty: every decision that needs AIS then waits.
    async fn connect(&mut self, lb_ingress: Option<&str>, read_map: bool) {
        let url = match endpoint(
            &self.desired.api,
            self.ctx.clients.settings().mode,
            &self.live.proxy_pods,
            lb_ingress,
        ) {
            Ok(url) => url,
            Err(err) => {
                tracing::debug!(cluster = %self.key, %err, "no AIS endpoint yet");
                return;
            }
        };
        if !self.live.proxy_pods.iter().any(|p| p.ready) {
            return;
        }
        let token = match self
            .ctx
            .clients
            .tokens
            .token(&self.key, &self.ctx.client, self.ais)
            .await
        {
            Ok(token) => token,
            Err(err) => {
                self.note_warning(
                    "AuthFailed",
                    "Authenticate",
                    format!("Cannot get a token for the AIS API: {err}"),
                )
                .await;
                return;
            }
        };
        match self.ctx.clients.session(
            &self.key,
            &url,
            &self.desired.api,
            token,
            self.ctx.metrics.clone(),
        ) {
            Ok(session) => {
                if read_map {
                    match session.smap().await {
                        Ok(smap) => self.smap = Some(smap),
                        Err(err) => tracing::info!(cluster = %self.key, %err, "no cluster map"),
                    }
                }
                self.session = Some(session);
            }
            Err(err) => tracing::warn!(cluster = %self.key, %err, "cannot set up the AIS client"),
        }
    }

    fn role_input<'b>(&'b self, role: Role, view: &'b crate::lifecycle::StsView) -> RoleInput<'b> {
        RoleInput {
            name: match role {
                Role::Proxy => self.live.proxy.as_ref(),
                Role::Target => self.live.target.as_ref(),
            }
            .and_then(|s| s.metadata.name.as_deref())
            .unwrap_or_default(),
            desired: match role {
                Role::Proxy => self.desired.replicas.0,
                Role::Target => self.desired.replicas.1,
            },
            sts: view,
            pods: self.live.pods(role),
            smap: self.smap.as_ref(),
        }
    }

    async fn bootstrap(&mut self) -> Result<Action, Error> {
        let proxy_view = self.live.view(Role::Proxy);
        let target_view = self.live.view(Role::Target);
        let step = bootstrap::plan(&BootstrapInput {
            proxies: self.desired.replicas.0,
            targets: self.desired.replicas.1,
            proxy_sts: proxy_view.as_ref(),
            proxy_pods: &self.live.proxy_pods,
            target_sts: target_view.as_ref(),
        });
        self.obs.state = Some(ClusterState::Initialized);
        match step {
            Bootstrap::Proxies(n) => {
                self.apply_sts(Role::Proxy, n, true, None).await?;
                self.waiting("Bootstrapping", format!("starting {n} proxy pod(s)"));
                Ok(Action::requeue(WATCHED))
            }
            Bootstrap::Targets(n) => {
                self.apply_sts(Role::Target, n, true, None).await?;
                self.obs.created = true;
                self.obs.state = Some(ClusterState::Created);
                self.waiting("Created", "waiting for the pods to become ready");
                Ok(Action::requeue(WATCHED))
            }
            Bootstrap::Wait(reason) => {
                self.waiting("Bootstrapping", reason);
                Ok(Action::requeue(WATCHED))
            }
            Bootstrap::Created => {
                self.obs.created = true;
                Ok(Action::requeue(Duration::from_secs(1)))
            }
        }
    }

    async fn apply_sts(
        &mut self,
        role: Role,
        replicas: i32,
        new_template: bool,
        partition: Option<i32>,
    ) -> Result<(), Error> {
        let desired = match role {
            Role::Proxy => &self.desired.proxy_statefulset,
            Role::Target => &self.desired.target_statefulset,
        };
        let live = self.live.sts(role).cloned();
        let out = apply_choice(
            self.ctx,
            &self.ns,
            desired,
            live,
            StsChoice {
                replicas,
                new_template,
                partition,
            },
        )
        .await?;
        match role {
            Role::Proxy => self.live.proxy = Some(out),
            Role::Target => self.live.target = Some(out),
        }
        Ok(())
    }

    /// Why the desired pod template of a role must replace the live one, if it must.
    fn template_change(
        &self,
        role: Role,
        live: &k8s_openapi::api::apps::v1::StatefulSet,
    ) -> Option<String> {
        let desired = match role {
            Role::Proxy => &self.desired.proxy_statefulset,
            Role::Target => &self.desired.target_statefulset,
        };
        // Borrowed, not cloned: this runs on every reconcile of every cluster.
        let empty = k8s_openapi::api::core::v1::PodTemplateSpec::default();
        template_change(
            live.spec.as_ref().map_or(&empty, |s| &s.template),
            desired.spec.as_ref().map_or(&empty, |s| &s.template),
        )
    }

    /// Applies the role's StatefulSet with its live template (operator fields converge, no
    /// pod rolls); `Some` while the StatefulSet controller has not observed it yet.
    async fn keep_template(
        &mut self,
        role: Role,
        view: &crate::lifecycle::StsView,
    ) -> Result<Option<Action>, Error> {
        self.apply_sts(role, view.replicas, false, None).await?;
        if view.observed {
            return Ok(None);
        }
        Ok(Some(self.progress(
            &format!("waiting for the StatefulSet controller to observe the {role} StatefulSet"),
            false,
        )))
    }

    /// Proxies: keep the StatefulSet converged (operator fields, a new template when one must
    /// roll), then scale or roll. `Some(action)` while they are not done.
    async fn proxies(&mut self) -> Result<Option<Action>, Error> {
        let Some(live) = self.live.proxy.clone() else {
            // Deleted out of band: bootstrap it again with one proxy.
            self.apply_sts(Role::Proxy, 1, true, None).await?;
            return Ok(Some(Action::requeue(WATCHED)));
        };
        let view = crate::lifecycle::StsView::of(&live);
        let change = self.template_change(Role::Proxy, &live);
        if let Some(reason) = change {
            let update = proxies::template_update(&self.role_input(Role::Proxy, &view));
            match update {
                TemplateUpdate::First(step) => {
                    return self.execute(Role::Proxy, step).await.map(Some);
                }
                TemplateUpdate::Apply { partition } => {
                    tracing::info!(cluster = %self.key, %reason, partition, "rolling out a new proxy template");
                    self.apply_sts(Role::Proxy, view.replicas, true, Some(partition))
                        .await?;
                    self.note(
                        "RollingOut",
                        "UpdateProxyTemplate",
                        format!("Rolling out a new proxy pod template ({reason})"),
                    )
                    .await;
                    return Ok(Some(self.progress("updating the proxy pods", false)));
                }
            }
        }
        if let Some(action) = self.keep_template(Role::Proxy, &view).await? {
            return Ok(Some(action));
        }
        let step = proxies::plan(&self.role_input(Role::Proxy, &view));
        if step == Step::Done {
            return Ok(None);
        }
        self.execute(Role::Proxy, step).await.map(Some)
    }

    /// Targets, after the proxies are done: rebalance off before a new template, then the
    /// ordered rollout, scaling by `scaleDownMode`.
    async fn targets(&mut self) -> Result<Option<Action>, Error> {
        let Some(live) = self.live.target.clone() else {
            self.apply_sts(Role::Target, self.desired.replicas.1, true, None)
                .await?;
            return Ok(Some(Action::requeue(WATCHED)));
        };
        let view = crate::lifecycle::StsView::of(&live);
        let change = self.template_change(Role::Target, &live);
        if let Some(reason) = change {
            if self.rebalance_on {
                // Restarted targets keep their data: no rebalance while they come and go.
                return self
                    .execute(
                        Role::Target,
                        Step::SetRebalance {
                            enabled: false,
                            reason: RebalanceReason::Upgrading,
                        },
                    )
                    .await
                    .map(Some);
            }
            self.apply_sts(Role::Target, view.replicas, true, None)
                .await?;
            self.note(
                "RollingOut",
                "UpdateTargetTemplate",
                format!("Rolling out a new target pod template one pod at a time ({reason})"),
            )
            .await;
            return Ok(Some(self.progress("updating the target pods", false)));
        }
        if let Some(action) = self.keep_template(Role::Target, &view).await? {
            return Ok(Some(action));
        }
        let mode = self.spec.target_spec.scale_down_mode.unwrap_or_default();
        let step = targets::plan(&TargetInput {
            role: self.role_input(Role::Target, &view),
            mode,
            rebalance_enabled: self.rebalance_on,
        });
        if step == Step::Done {
            return Ok(None);
        }
        self.execute(Role::Target, step).await.map(Some)
    }

    /// Carries out a lifecycle step.
    async fn execute(&mut self, role: Role, step: Step) -> Result<Action, Error> {
        match step {
            Step::Done => Ok(Action::await_change()),
            Step::Wait { reason, poll } => Ok(self.progress(&reason, poll)),
            Step::Call(calls) => {
                let session = self.session()?.clone();
                for call in &calls {
                    session
                        .run(call, self.smap.as_ref())
                        .await
                        .map_err(|source| Error::Ais {
                            cluster: self.key.clone(),
                            source,
                        })?;
                    let (reason, action, pod) = call_event(call);
                    self.note_pod(reason, action, format!("AIS: {call}"), pod)
                        .await;
                }
                self.progress(&format!("asked AIS to {}", describe(&calls)), true);
                Ok(Action::requeue(AFTER_CALL))
            }
            Step::Scale(n) => {
                let live = self.live.view(role).map_or(0, |v| v.replicas);
                self.apply_sts(role, n, false, None).await?;
                let action = match role {
                    Role::Proxy => "ScaleProxies",
                    Role::Target => "ScaleTargets",
                };
                self.note(
                    "Scaling",
                    action,
                    format!("Scaling {role}s from {live} to {n}"),
                )
                .await;
                Ok(self.progress(&format!("scaling {role}s to {n}"), false))
            }
            Step::DeletePod(pod) => {
                let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
                self.ctx.metrics.writes.with_label_values(&["Pod"]).inc();
                match pods.delete(&pod, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(source) => {
                        return Err(Error::Kube {
                            action: format!("deleting pod {}/{pod}", self.ns),
                            source,
                        });
                    }
                }
                self.note_pod(
                    "RollingOut",
                    "RestartPod",
                    format!("Restarting pod {pod} with the new template (AIS released it)"),
                    &pod,
                )
                .await;
                Ok(self.progress(&format!("restarting pod {pod}"), false))
            }
            Step::SetRebalance { enabled, reason } => {
                // Turning rebalance on must reach AIS (decommissioned targets hand their data
                // over through it); turning it off is best effort, so a rollout that repairs
                // an unhealthy cluster is not blocked by it.
                self.set_rebalance(enabled, reason, enabled).await?;
                Ok(Action::requeue(Duration::from_secs(1)))
            }
            Step::MarkDecommissioned(pods) => {
                for pod in &pods {
                    let node = self
                        .smap
                        .as_ref()
                        .and_then(|m| m.find_by_pod_name(pod))
                        .map(|n| n.daemon_id.clone())
                        .unwrap_or_default();
                    self.mark_decommissioned(pod, &node).await?;
                }
                Ok(Action::requeue(AFTER_CALL))
            }
            Step::SetPartition(p) => {
                let replicas = self.live.view(Role::Proxy).map_or(0, |v| v.replicas);
                self.apply_sts(Role::Proxy, replicas, false, Some(p))
                    .await?;
                Ok(self.progress(&format!("proxy rollout partition set to {p}"), false))
            }
            Step::Blocked(msg) => {
                self.note_warning("Blocked", "Reconcile", msg.clone()).await;
                self.waiting("Blocked", msg);
                self.upgrading();
                Ok(Action::requeue(BLOCKED))
            }
        }
    }

    /// Records on the pod that AIS accepted its node's decommission.
    async fn mark_decommissioned(&self, pod: &str, node: &str) -> Result<(), Error> {
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        self.ctx.metrics.writes.with_label_values(&["Pod"]).inc();
        let patch = json!({"metadata": {"annotations": {DECOMMISSIONED_ANNOTATION: node}}});
        match pods
            .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(source) => Err(Error::Kube {
                action: format!("annotating pod {}/{pod}", self.ns),
                source,
            }),
        }
    }

    fn session(&self) -> Result<&Session, Error> {
        self.session.as_ref().ok_or_else(|| Error::AisAccess {
            cluster: self.key.clone(),
            reason: "no proxy is ready to take AIS API calls".into(),
        })
    }

    /// Sets `ReadyRebalance`, regenerates the config with it, and pushes it to AIS
    /// (`required`: a failed push fails the reconcile; otherwise it is only logged).
    async fn set_rebalance(
        &mut self,
        enabled: bool,
        reason: RebalanceReason,
        required: bool,
    ) -> Result<(), Error> {
        self.facts.rebalance_allowed = enabled;
        self.rebalance_on = enabled;
        self.desired = build::build(self.ais, &self.facts)?;
        let message = match (enabled, reason) {
            (true, _) => "Cluster is ready to rebalance".to_string(),
            (false, RebalanceReason::Upgrading) => {
                "Disabled due to rolling upgrade: a new target pod template".to_string()
            }
            (false, RebalanceReason::Scaling) => "Disabled due to target scale-up".to_string(),
            (false, RebalanceReason::Shutdown) => "Disabling rebalance before shutdown".to_string(),
            (false, RebalanceReason::ScaleDown) => "Disabled".to_string(),
        };
        let cond_reason = if enabled {
            "ReadyRebalance"
        } else {
            reason.as_str()
        };
        self.obs.rebalance = Some(Cond::new(enabled, cond_reason, message.clone()));
        match self.push_config().await {
            Ok(()) => {}
            Err(err) if !required => {
                tracing::warn!(cluster = %self.key, %err, "could not push the rebalance setting");
            }
            Err(err) => return Err(err),
        }
        self.note(
            "Rebalance",
            if enabled {
                "EnableRebalance"
            } else {
                "DisableRebalance"
            },
            format!(
                "Rebalance {}: {message}",
                if enabled { "enabled" } else { "disabled" }
            ),
        )
        .await;
        Ok(())
    }

    /// Writes the config into the ConfigMap and, when its hash changed, pushes it to AIS and
    /// records the hash.
    async fn push_config(&mut self) -> Result<(), Error> {
        apply::apply(
            &self.ctx.client,
            &self.ctx.metrics,
            &self.ns,
            &self.desired.global_config_map,
        )
        .await?;
        if self.ais.annotations().get(CONFIG_HASH_ANNOTATION) == Some(&self.desired.config_hash) {
            return Ok(());
        }
        let session = self.session()?.clone();
        session
            .set_config(&config_to_set(&self.desired.global_config))
            .await
            .map_err(|source| Error::Ais {
                cluster: self.key.clone(),
                source,
            })?;
        let hash = self.desired.config_hash.clone();
        self.annotate(CONFIG_HASH_ANNOTATION, &hash).await
    }

    /// Both roles are done: Ready once AIS says it is healthy and every node is in the map;
    /// then rebalance comes back on and the config is pushed.
    async fn converge(&mut self) -> Result<Action, Error> {
        let Some(session) = self.session.clone() else {
            return Ok(self.progress("waiting for a proxy to take AIS API calls", true));
        };
        if let Err(err) = session.healthy().await {
            return Ok(self.progress(&format!("AIS is not healthy yet: {err}"), true));
        }
        let smap = match session.smap().await {
            Ok(smap) => smap,
            Err(err) => {
                return Ok(self.progress(&format!("no cluster map from AIS: {err}"), true));
            }
        };
        let (want_p, want_t) = self.min_ready();
        if smap.count_proxies() < want_p || smap.count_targets() < want_t {
            return Ok(self.progress(
                &format!(
                    "waiting for nodes to join AIS: {} of {want_p} proxies, {} of {want_t} targets",
                    smap.count_proxies(),
                    smap.count_targets()
                ),
                true,
            ));
        }
        if !smap.uuid.is_empty() {
            self.obs.cluster_id = Some(smap.uuid.clone());
        }
        self.smap = Some(smap);
        if !self.rebalance_on {
            self.set_rebalance(true, RebalanceReason::Scaling, true)
                .await?;
        } else {
            self.push_config().await?;
        }
        self.obs.ready = Some(Cond::new(true, "Ready", "Cluster is ready"));
        self.obs.state = Some(ClusterState::Ready);
        Ok(Action::await_change())
    }

    /// Proxies and targets AIS must list before the cluster counts as ready: all of them, or
    /// `maxUnavailable` fewer when the role autoscales (at least one).
    fn min_ready(&self) -> (usize, usize) {
        let need = |replicas: i32, daemon: &ais_crd::daemon::DaemonSpec| {
            let slack = if daemon.size == Some(-1) || self.spec.size == Some(-1) {
                daemon
                    .auto_scale
                    .as_ref()
                    .and_then(|a| a.max_unavailable)
                    .unwrap_or(0)
            } else {
                0
            };
            usize::try_from((replicas - slack).max(1)).unwrap_or(1)
        };
        (
            need(self.desired.replicas.0, &self.spec.proxy_spec),
            need(self.desired.replicas.1, &self.spec.target_spec.daemon),
        )
    }

    /// `shutdownCluster: true`: rebalance off, AIS told to shut down, both StatefulSets to
    /// zero; metadata and PVCs stay for the resume.
    async fn shutdown(&mut self) -> Result<Action, Error> {
        self.obs.created = self.live.proxy.is_some() && self.live.target.is_some();
        if self.state == Some(ClusterState::Shutdown) {
            for role in [Role::Proxy, Role::Target] {
                if self.live.view(role).is_some_and(|v| v.replicas != 0) {
                    self.apply_sts(role, 0, false, None).await?;
                }
            }
            self.obs.ready = Some(Cond::new(false, "Shutdown", "The cluster is shut down"));
            return Ok(Action::await_change());
        }
        if self.state != Some(ClusterState::ShuttingDown) {
            if self.rebalance_on {
                self.set_rebalance(false, RebalanceReason::Shutdown, false)
                    .await?;
            }
            self.obs.state = Some(ClusterState::ShuttingDown);
            self.obs.ready = Some(Cond::new(
                false,
                "ShuttingDown",
                "Shutting down the cluster",
            ));
            self.note(
                "ShuttingDown",
                "StartShutdown",
                "Shutting down the AIS cluster".into(),
            )
            .await;
            return Ok(Action::requeue(Duration::from_secs(1)));
        }
        let running = [Role::Proxy, Role::Target]
            .iter()
            .any(|&r| self.live.view(r).is_some_and(|v| v.replicas > 0));
        if running {
            if let Some(session) = self.session.clone() {
                match session.shutdown_cluster().await {
                    Ok(()) => {
                        self.note(
                            "ShuttingDown",
                            "ShutdownCall",
                            "AIS shut the cluster down".into(),
                        )
                        .await;
                    }
                    Err(err) => {
                        // Pods still get SIGTERM, which aisnode handles gracefully.
                        self.note_warning(
                            "ShutdownCall",
                            "StartShutdown",
                            format!("AIS shutdown call failed, stopping the pods instead: {err}"),
                        )
                        .await;
                    }
                }
            }
            self.apply_sts(Role::Proxy, 0, false, None).await?;
            self.apply_sts(Role::Target, 0, false, None).await?;
            return Ok(self.progress("stopping the AIS pods", false));
        }
        if !self.live.proxy_pods.is_empty() || !self.live.target_pods.is_empty() {
            return Ok(self.progress("waiting for the AIS pods to stop", false));
        }
        self.obs.state = Some(ClusterState::Shutdown);
        self.obs.ready = Some(Cond::new(false, "Shutdown", "The cluster is shut down"));
        self.note(
            "ShutdownCompleted",
            "FinishShutdown",
            "Shutdown completed".into(),
        )
        .await;
        Ok(Action::await_change())
    }

    /// Marks the reconcile as in progress: Ready=False with `reason`, state Upgrading when the
    /// cluster was ready before. Polls AIS on a timer when nothing else will wake us.
    fn progress(&mut self, reason: &str, poll: bool) -> Action {
        self.waiting("Upgrading", reason.to_string());
        self.upgrading();
        if poll {
            Action::requeue(POLL)
        } else {
            Action::requeue(WATCHED)
        }
    }

    fn waiting(&mut self, reason: &str, message: impl Into<String>) {
        self.obs.ready = Some(Cond::new(false, reason, message));
    }

    fn upgrading(&mut self) {
        if self.obs.state.is_some() {
            return;
        }
        let was_up = matches!(
            self.state,
            Some(
                ClusterState::Ready
                    | ClusterState::Upgrading
                    | ClusterState::Shutdown
                    | ClusterState::ShuttingDown
            )
        );
        self.obs.state = Some(if was_up {
            ClusterState::Upgrading
        } else if self.obs.created {
            ClusterState::Created
        } else {
            self.state.unwrap_or(ClusterState::Initialized)
        });
    }

    async fn note(&self, reason: &str, action: &str, note: String) {
        tracing::info!(cluster = %self.key, reason, "{note}");
        event(self.ctx, self.ais, EventType::Normal, reason, action, note).await;
    }

    async fn note_pod(&self, reason: &str, action: &str, note: String, pod: &str) {
        tracing::info!(cluster = %self.key, reason, pod, "{note}");
        super::event_about(
            self.ctx,
            self.ais,
            EventType::Normal,
            reason,
            action,
            note,
            Some(pod),
        )
        .await;
    }

    async fn note_warning(&self, reason: &str, action: &str, note: String) {
        tracing::warn!(cluster = %self.key, reason, "{note}");
        event(self.ctx, self.ais, EventType::Warning, reason, action, note).await;
    }

    /// Writes the status (when it changed) and the transition event.
    async fn finish(&mut self) -> Result<(), Error> {
        let api: Api<AIStore> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        self.obs.proxies = self
            .live
            .proxy
            .as_ref()
            .map(RoleObservation::of)
            .or(self.obs.proxies);
        self.obs.targets = self
            .live
            .target
            .as_ref()
            .map(RoleObservation::of)
            .or(self.obs.targets);
        let (_, next) = write_status(
            &api,
            &self.name,
            self.ais.status.as_ref(),
            &self.obs,
            self.ctx,
        )
        .await?;
        if let Some(state) = next.state {
            self.ctx
                .metrics
                .set_state(&self.key, Some(&format!("{state:?}")));
        }
        if next.state != self.state
            && let Some(state) = next.state
        {
            let (reason, note) = match state {
                ClusterState::Ready => (
                    "Ready",
                    "Successfully reconciled AIStore cluster".to_string(),
                ),
                ClusterState::Created => {
                    ("Created", "Successfully created AIS cluster".to_string())
                }
                ClusterState::Upgrading => {
                    ("Upgrading", "Waiting for cluster to upgrade".to_string())
                }
                other => ("StateChanged", format!("State is now {other:?}")),
            };
            event(
                self.ctx,
                self.ais,
                EventType::Normal,
                reason,
                "Reconcile",
                note,
            )
            .await;
        }
        Ok(())
    }
}

/// Reason, action and pod of the event of an AIS call.
fn call_event(call: &AisCall) -> (&'static str, &'static str, &str) {
    match call {
        AisCall::StartMaintenance { pod, .. } => ("Maintenance", "StartMaintenance", pod),
        AisCall::StopMaintenance { pod, .. } => ("Maintenance", "StopMaintenance", pod),
        AisCall::Decommission { pod, .. } => ("Decommissioning", "DecommissionNode", pod),
        AisCall::SetPrimary { pod, .. } => ("PrimaryMoved", "SetPrimary", pod),
    }
}

fn describe(calls: &[AisCall]) -> String {
    calls
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
