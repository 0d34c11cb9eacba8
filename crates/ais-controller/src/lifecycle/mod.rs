//! The AIStore-side lifecycle decisions: what the operator does next with a role's
//! StatefulSet, its pods and the AIS cluster map. Every function here is pure: it takes what
//! was observed (StatefulSet and pod views, the cluster map AIS returned) and answers with one
//! [`Step`]. The reconcile loop carries the step out and observes again.
//!
//! The rule behind every decision: no pod is deleted and no StatefulSet shrinks before AIS has
//! released the node (maintenance or decommission finished), or the pod never joined AIS.
//!
//! - `views`: the views of StatefulSets and pods.
//! - `targets`: scale up, scale down by `scaleDownMode`, ordered rollouts with maintenance.
//! - `proxies`: scale down with the primary moved first, rollouts with the partition handoff.
//! - `bootstrap`: one proxy first, then all proxies, then targets.

pub mod bootstrap;
pub mod proxies;
pub mod targets;
pub mod views;

use std::collections::BTreeSet;
use std::fmt;

use ais_client::{Smap, Snode};

pub use views::{PodView, StsView};

/// An AIS API call a step asks for. Node IDs come from the cluster map; the pod names say
/// which pod runs the node, for events and errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AisCall {
    /// Put a target in maintenance without a rebalance (it comes back on the same disks).
    StartMaintenance {
        /// AIS node ID.
        node: String,
        /// Pod running it.
        pod: String,
    },
    /// Take a node out of maintenance.
    StopMaintenance {
        /// AIS node ID.
        node: String,
        /// Pod running it.
        pod: String,
    },
    /// Decommission a node: AIS migrates its data away, then removes it from the map.
    Decommission {
        /// AIS node ID.
        node: String,
        /// Pod running it.
        pod: String,
        /// Also delete the node's user data (`scaleDownMode: decommission`).
        rm_user_data: bool,
    },
    /// Ask again for the decommission of a target AIS still flags as being decommissioned
    /// after no rebalance is awaited: its rebalance was renewed by a newer one and ended
    /// without removing it. AIS removes it without a new rebalance, or refuses (a rebalance
    /// started meanwhile, or the node left after all): then the next poll looks again.
    FinishDecommission {
        /// AIS node ID.
        node: String,
        /// Pod running it.
        pod: String,
        /// Also delete the node's user data (`scaleDownMode: decommission`).
        rm_user_data: bool,
    },
    /// Make a proxy the primary.
    SetPrimary {
        /// AIS node ID.
        node: String,
        /// Pod running it.
        pod: String,
    },
}

impl fmt::Display for AisCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartMaintenance { node, pod } => {
                write!(f, "start maintenance of {node} (pod {pod})")
            }
            Self::StopMaintenance { node, pod } => {
                write!(f, "stop maintenance of {node} (pod {pod})")
            }
            Self::Decommission {
                node,
                pod,
                rm_user_data,
            } => write!(
                f,
                "decommission {node} (pod {pod}{})",
                if *rm_user_data {
                    ", removing its data"
                } else {
                    ""
                }
            ),
            Self::FinishDecommission { node, pod, .. } => {
                write!(f, "finish the decommission of {node} (pod {pod})")
            }
            Self::SetPrimary { node, pod } => write!(f, "make {node} (pod {pod}) the primary"),
        }
    }
}

/// Why rebalance is switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebalanceReason {
    /// A rollout restarts targets one at a time; their data stays where it is.
    Upgrading,
    /// More than one target joins at once; one rebalance after all joined.
    Scaling,
    /// Data must leave targets that are decommissioned.
    ScaleDown,
    /// The cluster shuts down.
    Shutdown,
}

impl RebalanceReason {
    /// The condition reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upgrading => "Upgrading",
            Self::Scaling => "Scaling",
            Self::ScaleDown => "ScaleDown",
            Self::Shutdown => "Shutdown",
        }
    }
}

/// What AIS said of its rebalance, when it was asked: the rebalances whose end its
/// information center still awaits (`what=status_all`), which is the primary's own test
/// before it removes a node. That can be long after the targets' rebalance xactions ended
/// (97 s after a decommissioned target left, seen with AIS v1.4.9).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Rebalance {
    /// Not asked (nothing waits for it), or AIS did not answer.
    #[default]
    Unknown,
    /// No rebalance is awaited.
    Idle,
    /// This rebalance is awaited (`rebalance[id]`).
    Running(String),
}

impl Rebalance {
    /// The running rebalance's name.
    pub fn running(&self) -> Option<&str> {
        match self {
            Self::Running(xaction) => Some(xaction),
            Self::Unknown | Self::Idle => None,
        }
    }
}

/// What to do next for one role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The role is converged: every pod is up to date, ready and in the cluster map.
    Done,
    /// Nothing to do until something moves. `poll` is true when only AIS can tell (no
    /// Kubernetes event will wake the controller), so the reconcile requeues.
    Wait {
        /// What we wait for, for status and logs.
        reason: String,
        /// Requeue on a timer.
        poll: bool,
    },
    /// Call AIS, then look again.
    Call(Vec<AisCall>),
    /// Set the StatefulSet's replicas.
    Scale(i32),
    /// Delete a pod that AIS has released (or that never joined it).
    DeletePod(String),
    /// Set condition `ReadyRebalance` and push `rebalance.enabled` to AIS before going on.
    SetRebalance {
        /// The new value.
        enabled: bool,
        /// Why.
        reason: RebalanceReason,
    },
    /// Set the proxy StatefulSet's rolling-update partition.
    SetPartition(i32),
    /// Record on these pods that AIS accepted their node's decommission.
    MarkDecommissioned(Vec<String>),
    /// The operator cannot go on without a person; the message says what is wrong.
    Blocked(String),
    /// Nothing is wrong and nothing changes: the only pods not ready are targets an admin
    /// holds in maintenance (a disk swap). Unlike [`Step::Wait`], the cluster is not busy.
    Held(String),
}

impl Step {
    /// A wait for a Kubernetes change (pods, StatefulSets): their watch wakes us.
    pub fn wait(reason: impl Into<String>) -> Self {
        Self::Wait {
            reason: reason.into(),
            poll: false,
        }
    }

    /// A wait for AIS: nothing notifies us, so the reconcile polls.
    pub fn poll(reason: impl Into<String>) -> Self {
        Self::Wait {
            reason: reason.into(),
            poll: true,
        }
    }
}

/// What the role decisions observe of one role.
#[derive(Clone, Copy, Debug)]
pub struct RoleInput<'a> {
    /// StatefulSet name; pod `i` is `<name>-<i>`.
    pub name: &'a str,
    /// Replicas the spec asks for (autoscale resolved).
    pub desired: i32,
    /// The live StatefulSet.
    pub sts: &'a StsView,
    /// Its pods, by ordinal.
    pub pods: &'a [PodView],
    /// The cluster map, when AIS answered.
    pub smap: Option<&'a Smap>,
    /// AIS node IDs the operator put into maintenance. Only these are taken out of it again:
    /// a node an admin put into maintenance (a disk swap) stays there.
    pub maintained: &'a BTreeSet<String>,
}

impl<'a> RoleInput<'a> {
    /// Name of pod `ordinal`.
    pub fn pod_name(&self, ordinal: i32) -> String {
        format!("{}-{ordinal}", self.name)
    }

    /// The pod with `ordinal`, if it exists.
    pub fn pod(&self, ordinal: i32) -> Option<&'a PodView> {
        self.pods.iter().find(|p| p.ordinal == ordinal)
    }

    /// The AIS node a pod runs, by the exact first DNS label of its control hostname.
    pub fn node_of(&self, pod: &str) -> Option<&'a Snode> {
        self.smap.and_then(|s| s.find_by_pod_name(pod))
    }

    /// Whether a rollout is under way: a pod below the replica count is not on the update
    /// revision. Unknown revisions count as no rollout.
    pub fn rolling(&self) -> bool {
        let Some(rev) = self.sts.update_revision.as_deref() else {
            return false;
        };
        self.pods
            .iter()
            .any(|p| p.ordinal < self.sts.replicas && p.revision.as_deref() != Some(rev))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Views and cluster maps for the decision tests.
    #![allow(clippy::unwrap_used)]

    use ais_client::Smap;
    use serde_json::json;

    use super::{PodView, StsView};

    /// A ready pod `<sts>-<i>` on revision `rev`.
    pub fn pod(sts: &str, i: i32, rev: &str) -> PodView {
        PodView {
            name: format!("{sts}-{i}"),
            ordinal: i,
            running: true,
            ready: true,
            revision: Some(rev.into()),
            pod_ip: Some(format!("10.0.0.{}", i + 10)),
            host_ip: Some("10.0.1.1".into()),
            ..PodView::default()
        }
    }

    /// A converged StatefulSet of `n` replicas on revision `rev`.
    pub fn sts(n: i32, rev: &str) -> StsView {
        StsView {
            replicas: n,
            status_replicas: n,
            ready: n,
            updated: n,
            current: n,
            current_revision: Some(rev.into()),
            update_revision: Some(rev.into()),
            observed: true,
            partition: 0,
        }
    }

    /// A cluster map as AIS serves it: node `<prefix><i>` runs pod `<sts>-<i>`, with
    /// `flags` per node; the first proxy is the primary unless `primary` says otherwise.
    pub fn smap(proxies: &[(i32, u64)], targets: &[(i32, u64)], primary: Option<i32>) -> Smap {
        let node = |sts: &str, kind: &str, i: i32, flags: u64| {
            json!({
                "daemon_id": format!("{kind}{i}"),
                "daemon_type": kind,
                "flags": flags,
                "public_net": {"node_ip_addr": format!("10.0.0.{i}"), "daemon_port": "51080", "direct_url": format!("http://10.0.0.{i}:51080")},
                "intra_control_net": {"node_ip_addr": format!("{sts}-{i}.{sts}.ns.svc.cluster.local"), "daemon_port": "51082", "direct_url": ""},
                "intra_data_net": {"node_ip_addr": "", "daemon_port": "51083", "direct_url": ""},
            })
        };
        let pmap: serde_json::Map<String, serde_json::Value> = proxies
            .iter()
            .map(|&(i, f)| (format!("proxy{i}"), node("ais-proxy", "proxy", i, f)))
            .collect();
        let tmap: serde_json::Map<String, serde_json::Value> = targets
            .iter()
            .map(|&(i, f)| (format!("target{i}"), node("ais-target", "target", i, f)))
            .collect();
        let p = primary.unwrap_or(proxies.first().map_or(0, |p| p.0));
        serde_json::from_value(json!({
            "pmap": pmap, "tmap": tmap, "uuid": "u1", "version": "7",
            "proxy_si": node("ais-proxy", "proxy", p, 0),
        }))
        .unwrap()
    }
}
