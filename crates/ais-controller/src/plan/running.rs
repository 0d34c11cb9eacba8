//! The plan of a cluster that is not being deleted: the inventory first, then, in this order,
//! LoadBalancer addresses, shutdown, bootstrap, proxies, targets, and Ready. Each reconcile
//! takes the first step that is not done and reports it.

mod calls;
mod guards;
mod ready;
mod shutdown;

use std::collections::BTreeSet;

use ais_crd::{AIStoreSpec, ClusterState};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::{
    AFTER_CALL, Action, AisView, BLOCKED, Draft, MAINTAINED_ANNOTATION, MAX_FUTILE_APPLIES, NEXT,
    Observed, POLL, Plan, RESTART_HASH_ANNOTATION, Requeue, WATCHED, maintained_value,
    rebalance_message,
};
use crate::build::{Desired, Role};
use crate::lifecycle::bootstrap::{self, Bootstrap, BootstrapInput};
use crate::lifecycle::proxies::{self, TemplateUpdate};
use crate::lifecycle::targets::{self, TargetInput};
use crate::lifecycle::{AisCall, RebalanceReason, RoleInput, Step, StsView};
use crate::pod_template::{Ownership, template_change};
use crate::reconcile::status::Cond;
use calls::{call_event, describe};
use guards::Shrink;

/// The plan of a live cluster.
pub(super) fn plan(spec: &AIStoreSpec, desired: &Desired, o: &Observed) -> Plan {
    let w = Spec { spec, desired };
    let mut run = Running {
        w: &w,
        o,
        draft: Draft::default(),
        rebalance_on: o.rebalance_on,
        scaling: false,
        maintained: o.maintained.clone(),
        stuck: Vec::new(),
    };
    run.scaling = run.scaling_under_way();
    run.draft.act(Action::ApplyInventory {
        skip: o.foreign.clone(),
    });
    run.objects_applied();
    run.second_operator();
    run.draft.act(Action::SweepInventory);
    if o.restart_hash.as_deref() != Some(w.desired.restart_hash.as_str()) {
        // Pod templates carry it; the config hash waits until the config reached AIS.
        run.draft.act(Action::Annotate {
            key: RESTART_HASH_ANNOTATION,
            value: w.desired.restart_hash.clone(),
        });
    }
    let requeue = run.steps();
    run.templates_converge();
    run.draft.done(requeue)
}

/// What the spec asks for.
struct Spec<'a> {
    spec: &'a AIStoreSpec,
    desired: &'a Desired,
}

struct Running<'a> {
    w: &'a Spec<'a>,
    o: &'a Observed,
    draft: Draft,
    /// Rebalance as this plan leaves it (a step may switch it).
    rebalance_on: bool,
    /// Replicas change and no pod template does: a busy cluster is `Scaling`, not `Upgrading`.
    scaling: bool,
    /// The nodes the operator put into maintenance, as this plan leaves them.
    maintained: BTreeSet<String>,
    /// Template changes that applying does not converge.
    stuck: Vec<String>,
}

impl Running<'_> {
    /// Whether the work under way is a change of replicas only: a StatefulSet's replicas
    /// differ from the spec's (or the cluster is already Scaling), and no pod template
    /// changes or rolls.
    fn scaling_under_way(&self) -> bool {
        let mut replicas_differ = false;
        for role in Role::BOTH {
            let Some(live) = self.sts(role) else {
                continue;
            };
            let view = StsView::of(live);
            if self.template_change(role, live).is_some() || self.role_input(role, &view).rolling()
            {
                return false;
            }
            replicas_differ |= view.replicas != *self.w.desired.replicas.get(role);
        }
        replicas_differ || self.o.state == Some(ClusterState::Scaling)
    }

    fn steps(&mut self) -> Requeue {
        if let AisView::AuthFailed(err) = &self.o.ais {
            self.draft.warn(
                "AuthFailed",
                "Authenticate",
                format!("Cannot get a token for the AIS API: {err}"),
            );
        }
        if let Some(requeue) = self.load_balancers() {
            return requeue;
        }
        if self.w.spec.shutdown_cluster == Some(true) {
            return self.shutdown();
        }
        let created = self.o.created
            || (self.o.statefulsets.proxy.is_some() && self.o.statefulsets.target.is_some());
        if !created {
            return self.bootstrap();
        }
        self.draft.status.created = true;
        if let Some(requeue) = self.proxies() {
            return requeue;
        }
        if let Some(requeue) = self.targets() {
            return requeue;
        }
        self.converge()
    }

    /// With external access, the target init containers read their LoadBalancer's address:
    /// nothing starts before every LoadBalancer has one.
    fn load_balancers(&mut self) -> Option<Requeue> {
        let d = self.w.desired;
        let missing: Vec<&str> = d
            .proxy_lb_service
            .iter()
            .chain(d.target_lb_services.iter())
            .filter_map(|s| s.metadata.name.as_deref())
            .filter(|name| self.o.lb_ingress.get(*name).is_none_or(Vec::is_empty))
            .collect();
        if missing.is_empty() {
            return None;
        }
        let first_time = matches!(self.o.state, None | Some(ClusterState::Initialized));
        self.draft.state(if first_time {
            ClusterState::InitializingLoadBalancerService
        } else {
            ClusterState::PendingLoadBalancerService
        });
        self.draft.ready(
            false,
            "PendingLoadBalancer",
            format!("waiting for an ingress address of {}", missing.join(", ")),
        );
        Some(Requeue::AwaitChange)
    }

    pub(super) fn sts(&self, role: Role) -> Option<&StatefulSet> {
        self.o.statefulsets.get(role).as_ref()
    }

    pub(super) fn view(&self, role: Role) -> Option<StsView> {
        self.sts(role).map(StsView::of)
    }

    fn role_input<'b>(&'b self, role: Role, view: &'b StsView) -> RoleInput<'b> {
        RoleInput {
            name: self
                .sts(role)
                .and_then(|s| s.metadata.name.as_deref())
                .unwrap_or_default(),
            desired: *self.w.desired.replicas.get(role),
            sts: view,
            pods: self.o.pods.get(role),
            smap: self.o.ais.smap(),
            maintained: &self.maintained,
        }
    }

    pub(super) fn apply_sts(
        &mut self,
        role: Role,
        replicas: i32,
        new_template: bool,
        partition: Option<i32>,
    ) {
        self.draft.act(Action::ApplyStatefulSet {
            role,
            replicas,
            new_template,
            partition,
        });
    }

    fn bootstrap(&mut self) -> Requeue {
        let proxy_view = self.view(Role::Proxy);
        let target_view = self.view(Role::Target);
        let step = bootstrap::plan(&BootstrapInput {
            proxies: self.w.desired.replicas.proxy,
            targets: self.w.desired.replicas.target,
            proxy_sts: proxy_view.as_ref(),
            proxy_pods: &self.o.pods.proxy,
            target_sts: target_view.as_ref(),
        });
        self.draft.state(ClusterState::Initialized);
        match step {
            Bootstrap::Proxies(n) => {
                self.apply_sts(Role::Proxy, n, true, None);
                self.draft
                    .ready(false, "Bootstrapping", format!("starting {n} proxy pod(s)"));
                Requeue::After(WATCHED)
            }
            Bootstrap::ProxiesAndTargets { proxies, targets } => {
                self.apply_sts(Role::Proxy, proxies, true, None);
                self.create_targets(targets)
            }
            Bootstrap::Targets(n) => self.create_targets(n),
            Bootstrap::Wait(reason) => {
                self.draft.ready(false, "Bootstrapping", reason);
                Requeue::After(WATCHED)
            }
            Bootstrap::Created => {
                self.draft.status.created = true;
                Requeue::After(NEXT)
            }
        }
    }

    /// Bootstrap's last step: the target StatefulSet at full size; the cluster is created.
    fn create_targets(&mut self, n: i32) -> Requeue {
        self.apply_sts(Role::Target, n, true, None);
        self.draft.status.created = true;
        self.draft.state(ClusterState::Created);
        self.draft
            .ready(false, "Created", "waiting for the pods to become ready");
        Requeue::After(WATCHED)
    }

    /// Why the desired pod template of a role must replace the live one, if it must.
    fn template_change(&self, role: Role, live: &StatefulSet) -> Option<String> {
        let empty = PodTemplateSpec::default();
        template_change(
            live.spec.as_ref().map_or(&empty, |s| &s.template),
            self.w
                .desired
                .statefulset(role)
                .spec
                .as_ref()
                .map_or(&empty, |s| &s.template),
            &Ownership::of(live),
        )
    }

    /// The template change to roll out, unless applying it has changed nothing
    /// [`MAX_FUTILE_APPLIES`] times in a row: then it is reported, not applied again.
    fn pending_template(&mut self, role: Role, live: &StatefulSet) -> Option<String> {
        let reason = self.template_change(role, live)?;
        if *self.o.futile_applies.get(role) >= MAX_FUTILE_APPLIES {
            self.stuck.push(format!("{role}s: {reason}"));
            return None;
        }
        Some(reason)
    }

    /// Applies the role's StatefulSet with its live template (operator fields converge, no
    /// pod rolls); `Some` while the StatefulSet controller has not observed it yet.
    fn keep_template(&mut self, role: Role, view: &StsView) -> Option<Requeue> {
        self.apply_sts(role, view.replicas, false, None);
        if view.observed {
            return None;
        }
        Some(self.progress(
            &format!("waiting for the StatefulSet controller to observe the {role} StatefulSet"),
            false,
        ))
    }

    /// Proxies: keep the StatefulSet converged (operator fields, a new template when one must
    /// roll), then scale or roll. `Some` while they are not done.
    fn proxies(&mut self) -> Option<Requeue> {
        let Some(live) = self.sts(Role::Proxy).cloned() else {
            // Deleted out of band: bootstrap it again with one proxy.
            self.apply_sts(Role::Proxy, 1, true, None);
            return Some(Requeue::After(WATCHED));
        };
        let view = StsView::of(&live);
        let mut pending = self.pending_template(Role::Proxy, &live);
        // Counted in the map, not in the StatefulSet: a second replica holds a copy of the map
        // only once it has joined.
        let proxies_in_map = self.o.ais.smap().map_or(0, |m| m.count_proxies());
        if let Some(reason) = pending.as_deref()
            && proxies_in_map < 2
            && self.map_only_in_empty_dir()
        {
            if self.w.desired.replicas.proxy <= 1 {
                let msg = format!(
                    "the proxy template changed ({reason}), but the only proxy keeps the cluster map in an emptyDir: restarting it would start a new cluster that the targets refuse. Scale spec.proxySpec.size to 2 or more (then the change rolls one proxy at a time), or revert the change"
                );
                return Some(self.step(Role::Proxy, Step::Blocked(msg)));
            }
            // The way out the message above gives: more proxies first, with the live template,
            // so a second proxy holds the map; the change rolls once one has joined it.
            pending = None;
        }
        if let Some(reason) = pending {
            match proxies::template_update(&self.role_input(Role::Proxy, &view)) {
                TemplateUpdate::First(step) => return Some(self.step(Role::Proxy, step)),
                TemplateUpdate::Apply { partition } => {
                    self.apply_sts(Role::Proxy, view.replicas, true, Some(partition));
                    self.draft.note(
                        "RollingOut",
                        "UpdateProxyTemplate",
                        format!("Rolling out a new proxy pod template ({reason})"),
                    );
                    return Some(self.progress("updating the proxy pods", false));
                }
            }
        }
        if let Some(requeue) = self.keep_template(Role::Proxy, &view) {
            return Some(requeue);
        }
        match proxies::plan(&self.role_input(Role::Proxy, &view)) {
            Step::Done => None,
            step => Some(self.step(Role::Proxy, step)),
        }
    }

    /// Whether the cluster map's only copy is in a running proxy's emptyDir.
    fn map_only_in_empty_dir(&self) -> bool {
        let empty_dir = self
            .w
            .spec
            .state_storage
            .as_ref()
            .is_some_and(|s| s.empty_dir.is_some());
        empty_dir && self.o.pods.proxy.iter().any(|p| p.ready)
    }

    /// Targets, after the proxies are done: rebalance off before a new template, then the
    /// ordered rollout, scaling by `scaleDownMode`.
    fn targets(&mut self) -> Option<Requeue> {
        let Some(live) = self.sts(Role::Target).cloned() else {
            let n = self.w.desired.replicas.target;
            self.apply_sts(Role::Target, n, true, None);
            return Some(Requeue::After(WATCHED));
        };
        let view = StsView::of(&live);
        if let Some(reason) = self.pending_template(Role::Target, &live) {
            if self.rebalance_on {
                // Restarted targets keep their data: no rebalance while they come and go.
                let off = Step::SetRebalance {
                    enabled: false,
                    reason: RebalanceReason::Upgrading,
                };
                return Some(self.step(Role::Target, off));
            }
            self.apply_sts(Role::Target, view.replicas, true, None);
            self.draft.note(
                "RollingOut",
                "UpdateTargetTemplate",
                format!("Rolling out a new target pod template one pod at a time ({reason})"),
            );
            return Some(self.progress("updating the target pods", false));
        }
        if self.rebalance_on && self.role_input(Role::Target, &view).rolling() {
            // A restart the operator did not start (`kubectl rollout restart`) rolls like an
            // upgrade: rebalance off, then one target at a time with maintenance.
            let off = Step::SetRebalance {
                enabled: false,
                reason: RebalanceReason::Upgrading,
            };
            return Some(self.step(Role::Target, off));
        }
        if let Some(requeue) = self.keep_template(Role::Target, &view) {
            return Some(requeue);
        }
        match self.autoscale_shrink(&view) {
            Some(Shrink::Defer) => return None,
            Some(Shrink::Hold(msg)) => return Some(self.step(Role::Target, Step::Blocked(msg))),
            None => {}
        }
        let step = targets::plan(&TargetInput {
            role: self.role_input(Role::Target, &view),
            mode: self.w.spec.target_spec.scale_down_mode.unwrap_or_default(),
            rebalance_enabled: self.rebalance_on,
            rebalance: &self.o.rebalance,
        });
        match step {
            Step::Done => None,
            step => Some(self.step(Role::Target, step)),
        }
    }

    /// The actions of one lifecycle step.
    fn step(&mut self, role: Role, step: Step) -> Requeue {
        match step {
            Step::Done => Requeue::AwaitChange,
            Step::Wait { reason, poll } => self.progress(&reason, poll),
            Step::Call(calls) => {
                for call in &calls {
                    // Recorded before AIS is asked (a record of a call that then failed is
                    // harmless: only a node in maintenance is taken out), and forgotten only
                    // after AIS took the node out.
                    if let AisCall::StartMaintenance { node, .. } = call {
                        self.maintained.insert(node.clone());
                        self.record_maintained();
                    }
                    self.draft.act(Action::Ais(call.clone()));
                    if let AisCall::StopMaintenance { node, .. } = call {
                        self.maintained.remove(node);
                        self.record_maintained();
                    }
                    if let Some((reason, action, pod)) = call_event(call) {
                        self.draft
                            .note_pod(reason, action, format!("AIS: {call}"), pod);
                    }
                }
                self.progress(&format!("asked AIS to {}", describe(&calls)), true);
                Requeue::After(AFTER_CALL)
            }
            Step::Scale(n) => {
                let live = self.view(role).map_or(0, |v| v.replicas);
                self.apply_sts(role, n, false, None);
                let action = match role {
                    Role::Proxy => "ScaleProxies",
                    Role::Target => "ScaleTargets",
                };
                self.draft.note(
                    "Scaling",
                    action,
                    format!("Scaling {role}s from {live} to {n}"),
                );
                self.progress(&format!("scaling {role}s to {n}"), false)
            }
            Step::DeletePod(pod) => {
                self.draft.act(Action::DeletePod(pod.clone()));
                self.draft.note_pod(
                    "RollingOut",
                    "RestartPod",
                    format!("Restarting pod {pod} with the new template (AIS released it)"),
                    &pod,
                );
                self.progress(&format!("restarting pod {pod}"), false)
            }
            Step::SetRebalance { enabled, reason } => {
                // Turning rebalance on must reach AIS (decommissioned targets hand their data
                // over through it); turning it off is best effort, so a rollout that repairs
                // an unhealthy cluster is not blocked by it.
                self.set_rebalance(enabled, reason, enabled);
                Requeue::After(NEXT)
            }
            Step::MarkDecommissioned(pods) => {
                for pod in pods {
                    let node = self
                        .o
                        .ais
                        .smap()
                        .and_then(|m| m.find_by_pod_name(&pod))
                        .map(|n| n.daemon_id.clone())
                        .unwrap_or_default();
                    self.draft.act(Action::MarkDecommissioned { pod, node });
                }
                Requeue::After(AFTER_CALL)
            }
            Step::SetPartition(p) => {
                let replicas = self.view(Role::Proxy).map_or(0, |v| v.replicas);
                self.apply_sts(Role::Proxy, replicas, false, Some(p));
                self.progress(&format!("proxy rollout partition set to {p}"), false)
            }
            Step::Blocked(msg) => {
                self.draft.warn("Blocked", "Reconcile", msg.clone());
                self.draft.ready(false, "Blocked", msg);
                self.busy();
                Requeue::After(BLOCKED)
            }
            // The state stays as it is (Ready, usually): no operator step is under way, and the
            // pod's readiness wakes the controller when the admin ends the maintenance.
            Step::Held(msg) => {
                // What the operator did is done: a rollout or scaling that ended with a node
                // held is over, so the state says Ready.
                if matches!(
                    self.o.state,
                    Some(ClusterState::Upgrading | ClusterState::Scaling)
                ) {
                    self.draft.state(ClusterState::Ready);
                }
                self.draft.ready(false, "NodeInMaintenance", msg);
                Requeue::After(WATCHED)
            }
        }
    }

    fn record_maintained(&mut self) {
        self.draft.act(Action::Annotate {
            key: MAINTAINED_ANNOTATION,
            value: maintained_value(&self.maintained),
        });
    }

    /// Rebalance on or off: the condition, the push and its event.
    pub(super) fn set_rebalance(&mut self, enabled: bool, reason: RebalanceReason, required: bool) {
        self.rebalance_on = enabled;
        let message = rebalance_message(enabled, reason);
        let cond_reason = if enabled {
            "ReadyRebalance"
        } else {
            reason.as_str()
        };
        self.draft.status.rebalance = Some(Cond::new(enabled, cond_reason, message));
        self.draft.act(Action::SetRebalance { enabled, required });
        let (action, word) = if enabled {
            ("EnableRebalance", "enabled")
        } else {
            ("DisableRebalance", "disabled")
        };
        self.draft
            .note("Rebalance", action, format!("Rebalance {word}: {message}"));
    }

    /// Marks the reconcile as in progress: Ready=False with `reason`, state Upgrading when
    /// the cluster was up before. Polls AIS on a timer when nothing else will wake us.
    pub(super) fn progress(&mut self, reason: &str, poll: bool) -> Requeue {
        let label = if self.scaling { "Scaling" } else { "Upgrading" };
        self.draft.ready(false, label, reason);
        self.busy();
        if poll {
            Requeue::After(POLL)
        } else {
            Requeue::After(WATCHED)
        }
    }

    /// The state of a cluster that is busy: Scaling or Upgrading when it was up before,
    /// Created or the current state while it is still being made.
    fn busy(&mut self) {
        if self.draft.status.state.is_some() {
            return;
        }
        let was_up = matches!(
            self.o.state,
            Some(
                ClusterState::Ready
                    | ClusterState::Upgrading
                    | ClusterState::Scaling
                    | ClusterState::Shutdown
                    | ClusterState::ShuttingDown
            )
        );
        let state = if was_up && self.scaling {
            ClusterState::Scaling
        } else if was_up {
            ClusterState::Upgrading
        } else if self.draft.status.created {
            ClusterState::Created
        } else {
            self.o.state.unwrap_or(ClusterState::Initialized)
        };
        self.draft.state(state);
    }
}
