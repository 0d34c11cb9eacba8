//! `shutdownCluster`: the shutdown steps, and what a shutdown waits for first.

use ais_crd::ClusterState;

use super::Running;
use crate::build::Role;
use crate::lifecycle::RebalanceReason;
use crate::plan::{Action, NEXT, Requeue, WATCHED};

impl Running<'_> {
    /// A lifecycle step AIS or Kubernetes is still carrying out: a node being decommissioned,
    /// a node the operator put into maintenance (a target restart or a `retain` scale-down),
    /// a pod terminating, a rebalance.
    pub(super) fn step_in_flight(&self) -> Option<String> {
        if let Some(xaction) = self.o.rebalance.running() {
            return Some(format!("the rebalance {xaction}"));
        }
        if let Some(smap) = self.o.ais.smap() {
            if let Some(node) = smap.nodes().find(|n| n.is_decommissioning()) {
                return Some(format!("the decommission of {}", node.daemon_id));
            }
            if let Some(node) = smap
                .nodes()
                .find(|n| n.in_maintenance() && self.maintained.contains(&n.daemon_id))
            {
                return Some(format!("the maintenance of {}", node.daemon_id));
            }
        }
        let pods = self.o.pods.proxy.iter().chain(&self.o.pods.target);
        pods.filter(|p| p.terminating)
            .map(|p| format!("the restart of pod {}", p.name))
            .next()
    }

    /// `shutdownCluster: true`: rebalance off, AIS told to shut down, both StatefulSets to
    /// zero; metadata and PVCs stay for the resume.
    pub(super) fn shutdown(&mut self) -> Requeue {
        let s = &self.o.statefulsets;
        self.draft.status.created = s.proxy.is_some() && s.target.is_some();
        let replicas = |r: Role| self.view(r).map_or(0, |v| v.replicas);
        if self.o.state == Some(ClusterState::Shutdown) {
            for role in Role::BOTH {
                if self.view(role).is_some_and(|v| v.replicas != 0) {
                    self.apply_sts(role, 0, false, None);
                }
            }
            self.draft
                .ready(false, "Shutdown", "The cluster is shut down");
            return Requeue::AwaitChange;
        }
        if self.o.state != Some(ClusterState::ShuttingDown) {
            if let Some(step) = self.step_in_flight() {
                // The shutdown starts once the node AIS is releasing, the pod that restarts or
                // the rebalance is done: stopping AIS halfway through a decommission strands
                // its data, and an interrupted rebalance leaves objects away from the targets
                // that own them until it is run again after the resume.
                return self.progress(&format!("shutdown waits for {step} to finish"), true);
            }
            if self.rebalance_on {
                self.set_rebalance(false, RebalanceReason::Shutdown, false);
            }
            self.draft.state(ClusterState::ShuttingDown);
            self.draft
                .ready(false, "ShuttingDown", "Shutting down the cluster");
            self.draft.note(
                "ShuttingDown",
                "StartShutdown",
                "Shutting down the AIS cluster",
            );
            return Requeue::After(NEXT);
        }
        if replicas(Role::Proxy) > 0 || replicas(Role::Target) > 0 {
            if self.o.ais.connected() {
                self.draft.act(Action::ShutdownAis);
            }
            self.apply_sts(Role::Proxy, 0, false, None);
            self.apply_sts(Role::Target, 0, false, None);
            return self.stopping("stopping the AIS pods");
        }
        if !self.o.pods.proxy.is_empty() || !self.o.pods.target.is_empty() {
            return self.stopping("waiting for the AIS pods to stop");
        }
        self.draft.state(ClusterState::Shutdown);
        self.draft
            .ready(false, "Shutdown", "The cluster is shut down");
        self.draft
            .note("ShutdownCompleted", "FinishShutdown", "Shutdown completed");
        Requeue::AwaitChange
    }

    /// A shutdown under way stays `ShuttingDown` until every pod stopped (the StatefulSet
    /// and pod watches wake the reconcile).
    pub(super) fn stopping(&mut self, reason: &str) -> Requeue {
        self.draft.state(ClusterState::ShuttingDown);
        self.draft.ready(false, "ShuttingDown", reason);
        Requeue::After(WATCHED)
    }
}
