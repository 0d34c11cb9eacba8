//! Deleting an AIStore: `Decommissioning` (AIS shuts down, or decommissions with
//! `cleanupMetadata`, then the pods stop) → `CleaningResources` (the owned objects; PVCs only
//! with `cleanupMetadata`) → `HostCleanup` (Jobs that remove this cluster's host-path state)
//! → `Finalized` (the finalizer goes, the API server deletes the AIStore).

use std::fmt::Debug;
use std::time::Duration;

use ais_crd::{AIStore, AIStoreSpec, ClusterState, default_spec};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::live::Live;
use super::status::{Cond, Observation};
use super::{Context, Error, event, finalizer, nodes, owned, write_status};
use crate::ais::endpoint;
use crate::build::{self, Facts, Role, cleanup, inventory, labels, names};

const RETRY: Duration = Duration::from_secs(10);
const CHECK: Duration = Duration::from_secs(5);
/// A cleanup Job older than this is given up on (the reference's limit).
const JOB_DEADLINE_SECONDS: i64 = 120;

struct Deletion<'a> {
    ctx: &'a Context,
    ais: &'a AIStore,
    ns: String,
    name: String,
    key: String,
    spec: AIStoreSpec,
}

/// One step of the deletion of `ais`.
pub(super) async fn run(ais: &AIStore, ctx: &Context) -> Result<Action, Error> {
    let ns = ais.namespace().ok_or(Error::NoNamespace)?;
    let name = ais.name_any();
    let d = Deletion {
        ctx,
        ais,
        key: format!("{ns}/{name}"),
        spec: ais_crd::legacy::effective_spec(&default_spec(&ais.spec, &ctx.defaults)),
        ns,
        name,
    };
    let state = ais.status.as_ref().and_then(|s| s.state);
    let (next, action) = match state {
        Some(ClusterState::CleaningResources) => d.clean().await?,
        Some(ClusterState::HostCleanup) => d.host_cleanup().await?,
        Some(ClusterState::Finalized) => {
            finalizer::remove(&ctx.client, ais).await?;
            ctx.clients.invalidate(&d.key);
            ctx.clients.tokens.forget(&d.key);
            ctx.swept.forget(&d.key);
            ctx.metrics.set_state(&d.key, None);
            return Ok(Action::await_change());
        }
        _ => {
            if state != Some(ClusterState::Decommissioning) {
                d.note(
                    EventType::Normal,
                    "CRDeleted",
                    "Decommissioning",
                    d.plan_note(),
                )
                .await;
                d.set_state(ClusterState::Decommissioning).await?;
            }
            d.decommission().await?
        }
    };
    if let Some(next) = next {
        d.set_state(next).await?;
    }
    Ok(action)
}

impl Deletion<'_> {
    fn cleanup_metadata(&self) -> bool {
        self.spec.cleanup_metadata == Some(true)
    }

    fn plan_note(&self) -> String {
        match (self.cleanup_metadata(), self.spec.cleanup_data == Some(true)) {
            (true, true) => "Decommissioning the cluster: metadata, PVCs and user data are removed",
            (true, false) => "Decommissioning the cluster: metadata and PVCs are removed, user data stays",
            _ => "Shutting the cluster down: data, metadata and PVCs stay for a cluster of the same name",
        }
        .to_string()
    }

    async fn note(&self, t: EventType, reason: &str, action: &str, note: String) {
        tracing::info!(cluster = %self.key, reason, "{note}");
        event(self.ctx, self.ais, t, reason, action, note).await;
    }

    async fn set_state(&self, state: ClusterState) -> Result<(), Error> {
        let api: Api<AIStore> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let obs = Observation {
            generation: self.ais.metadata.generation.unwrap_or(0),
            state: Some(state),
            ready: Some(Cond::new(
                false,
                "Deleting",
                format!("The cluster is being deleted ({state:?})"),
            )),
            ..Observation::default()
        };
        write_status(&api, &self.name, self.ais.status.as_ref(), &obs, self.ctx).await?;
        self.ctx
            .metrics
            .set_state(&self.key, Some(&format!("{state:?}")));
        Ok(())
    }

    /// AIS shuts down (or decommissions) while it runs; then the pods stop.
    async fn decommission(&self) -> Result<(Option<ClusterState>, Action), Error> {
        let external = self.spec.proxy_spec.external_access.is_some();
        let live = Live::read(&self.ctx.client, &self.ns, &self.name, external).await?;
        let up = |r: Role| live.view(r).is_some_and(|v| v.replicas > 0 && v.ready > 0);
        if up(Role::Proxy)
            && up(Role::Target)
            && let Err(err) = self.stop_ais(&live).await
        {
            self.note(
                EventType::Warning,
                "Failed",
                "Decommissioning",
                format!("AIS did not accept the shutdown, retrying: {err}"),
            )
            .await;
            return Ok((None, Action::requeue(RETRY)));
        }
        for role in [Role::Proxy, Role::Target] {
            if live.view(role).is_some_and(|v| v.replicas > 0) {
                self.scale_to_zero(role).await?;
            }
        }
        if !live.proxy_pods.is_empty() || !live.target_pods.is_empty() {
            return Ok((None, Action::requeue(CHECK)));
        }
        self.note(
            EventType::Normal,
            "DecommissionCompleted",
            "Delete",
            "Decommission completed".into(),
        )
        .await;
        Ok((
            Some(ClusterState::CleaningResources),
            Action::requeue(Duration::from_secs(1)),
        ))
    }

    /// The inventory as it stands for the deletion (nothing observed but the name and spec).
    fn desired(&self) -> Result<build::Desired, Error> {
        let facts = Facts::unobserved(
            self.ctx.cluster_domain.clone(),
            self.ctx.defaults.clone(),
            self.ctx.pods.clone(),
        );
        Ok(build::build(self.ais, &facts)?)
    }

    async fn stop_ais(&self, live: &Live) -> Result<(), Error> {
        let desired = self.desired()?;
        let lb = desired
            .proxy_lb_service
            .as_ref()
            .and_then(|svc| svc.metadata.name.as_deref())
            .and_then(|name| live.ingress_of([name]).into_iter().next());
        // The shutdown and decommission calls need the operator's token when AIS has auth.
        let token = self
            .ctx
            .clients
            .tokens
            .token(&self.key, &self.ctx.client, self.ais)
            .await
            .map_err(|e| Error::AisAccess {
                cluster: self.key.clone(),
                reason: format!("cannot get a token for the AIS API: {e}"),
            })?;
        let url = endpoint(
            &desired.api,
            self.ctx.clients.settings().mode,
            &live.proxy_pods,
            lb.as_deref(),
        )
        .map_err(|e| Error::AisAccess {
            cluster: self.key.clone(),
            reason: e.to_string(),
        })?;
        let session = self
            .ctx
            .clients
            .session(
                &self.key,
                &url,
                &desired.api,
                token,
                self.ctx.metrics.clone(),
            )
            .map_err(|source| Error::Ais {
                cluster: self.key.clone(),
                source,
            })?;
        let result = if self.cleanup_metadata() {
            session
                .decommission_cluster(self.spec.cleanup_data == Some(true))
                .await
        } else {
            session.shutdown_cluster().await
        };
        result.map_err(|source| Error::Ais {
            cluster: self.key.clone(),
            source,
        })
    }

    async fn scale_to_zero(&self, role: Role) -> Result<(), Error> {
        let api: Api<StatefulSet> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let sts = names::role_object(&self.name, role);
        self.ctx
            .metrics
            .writes
            .with_label_values(&["StatefulSet"])
            .inc();
        api.patch(
            &sts,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 0}})),
        )
        .await
        .map_err(|source| Error::Kube {
            action: format!("scaling StatefulSet {}/{sts} to 0", self.ns),
            source,
        })?;
        Ok(())
    }

    /// Deletes every owned object of the inventory and every owned object found by the
    /// cluster's labels (and, with `cleanupMetadata`, the PVCs); done when none is left.
    async fn clean(&self) -> Result<(Option<ClusterState>, Action), Error> {
        let (c, ns, n) = (&self.ctx.client, self.ns.as_str(), self.name.as_str());
        // An AIStore whose spec cannot be built any more still has its fixed objects.
        let candidates = match self.desired() {
            Ok(desired) => desired.names(),
            Err(err) => {
                tracing::info!(cluster = %self.key, %err, "deleting the fixed objects only");
                inventory::fixed_names(n)
            }
        };
        let uid = self.ais.metadata.uid.as_deref().unwrap_or_default();
        let mut left = owned::delete_all(c, ns, n, uid, candidates).await?;
        if self.cleanup_metadata() {
            let pvcs = format!("{}={n}", labels::NAME);
            for pvc in list::<PersistentVolumeClaim>(c, ns, &pvcs).await? {
                let component = pvc.labels().get(labels::COMPONENT).map(String::as_str);
                if matches!(component, Some("proxy" | "target")) {
                    left |= delete::<PersistentVolumeClaim>(c, ns, &pvc.name_any()).await?;
                }
            }
        }
        if left {
            return Ok((None, Action::requeue(CHECK)));
        }
        let next = if self.cleanup_metadata() && cleanup::state_dir(&self.spec, ns, n).is_some() {
            ClusterState::HostCleanup
        } else {
            ClusterState::Finalized
        };
        Ok((Some(next), Action::requeue(Duration::from_secs(1))))
    }

    /// One Job per node that may hold the cluster's host-path state; done when all finished.
    async fn host_cleanup(&self) -> Result<(Option<ClusterState>, Action), Error> {
        let Some(dir) = cleanup::state_dir(&self.spec, &self.ns, &self.name) else {
            return Ok((
                Some(ClusterState::Finalized),
                Action::requeue(Duration::from_secs(1)),
            ));
        };
        let jobs: Api<Job> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        let selector = format!(
            "{}={},{}={}",
            labels::NAME,
            self.name,
            labels::COMPONENT,
            cleanup::COMPONENT
        );
        let existing = list::<Job>(&self.ctx.client, &self.ns, &selector).await?;
        if existing.is_empty() && !self.ais.annotations().contains_key(CLEANUP_STARTED) {
            let all: Api<Node> = Api::all(self.ctx.client.clone());
            let node_list =
                all.list(&ListParams::default())
                    .await
                    .map_err(|source| Error::Kube {
                        action: "listing nodes for the host cleanup".into(),
                        source,
                    })?;
            let wanted: Vec<String> = node_list
                .items
                .iter()
                // Nodes the pods can have run on (selector and tolerated taints).
                .filter(|node| {
                    nodes::may_host(node, &self.spec.proxy_spec)
                        || nodes::may_host(node, &self.spec.target_spec.daemon)
                })
                .map(ResourceExt::name_any)
                .collect();
            for node in &wanted {
                let job = cleanup::job(
                    &self.spec,
                    &self.ns,
                    &self.name,
                    node,
                    &dir,
                    &self.ctx.cleanup_image,
                );
                self.ctx.metrics.writes.with_label_values(&["Job"]).inc();
                match jobs.create(&PostParams::default(), &job).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(source) => {
                        return Err(Error::Kube {
                            action: format!("creating the host cleanup Job for node {node}"),
                            source,
                        });
                    }
                }
            }
            self.mark_cleanup_started().await?;
            self.note(
                EventType::Normal,
                "HostCleanup",
                "Delete",
                format!("Removing {dir} on {} node(s)", wanted.len()),
            )
            .await;
            return Ok((None, Action::requeue(CHECK)));
        }
        let now = Timestamp::now().as_second();
        let mut running = 0;
        for job in existing {
            let status = job.status.clone().unwrap_or_default();
            let done = status.succeeded.unwrap_or(0) > 0;
            let age = job
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(0, |t| now - t.0.as_second());
            if done || age > JOB_DEADLINE_SECONDS {
                if !done {
                    self.note(
                        EventType::Warning,
                        "HostCleanup",
                        "Delete",
                        format!(
                            "host cleanup Job {} did not finish within {JOB_DEADLINE_SECONDS}s; giving up on it",
                            job.name_any()
                        ),
                    )
                    .await;
                }
                let dp = DeleteParams::background();
                match jobs.delete(&job.name_any(), &dp).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(source) => {
                        return Err(Error::Kube {
                            action: format!("deleting Job {}", job.name_any()),
                            source,
                        });
                    }
                }
            } else {
                running += 1;
            }
        }
        if running > 0 {
            return Ok((None, Action::requeue(CHECK)));
        }
        Ok((
            Some(ClusterState::Finalized),
            Action::requeue(Duration::from_secs(1)),
        ))
    }

    async fn mark_cleanup_started(&self) -> Result<(), Error> {
        let api: Api<AIStore> = Api::namespaced(self.ctx.client.clone(), &self.ns);
        api.patch(
            &self.name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {CLEANUP_STARTED: "true"}}})),
        )
        .await
        .map_err(|source| Error::Kube {
            action: format!("annotating AIStore {}", self.key),
            source,
        })?;
        Ok(())
    }
}

/// AIStore annotation: the host cleanup Jobs were created (they are not created twice).
const CLEANUP_STARTED: &str = "ais.nvidia.com/host-cleanup-started";

/// Deletes a namespaced object; `true` when it still existed.
async fn delete<K>(client: &Client, ns: &str, name: &str) -> Result<bool, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(source) => Err(Error::Kube {
            action: format!("deleting {} {ns}/{name}", K::kind(&())),
            source,
        }),
    }
}

async fn list<K>(client: &Client, ns: &str, selector: &str) -> Result<Vec<K>, Error>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .map_err(|source| Error::Kube {
            action: format!("listing {} in {ns} ({selector})", K::kind(&())),
            source,
        })
}
