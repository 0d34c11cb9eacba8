//! What the controller does next, as data: [`plan`] is a pure function from what one reconcile
//! observed ([`Observed`]) and what the spec asks for (the effective spec and the built
//! [`Desired`] inventory) to a [`Plan`]: the actions to carry out, in order, the status to
//! report and when to look again. It knows no Kubernetes client and no AIS client; the
//! reconcile reads the world into [`Observed`] and carries the actions out.
//!
//! - `running`: a cluster that is not being deleted (load balancers, bootstrap, proxies then
//!   targets, Ready, shutdown and resume), built on the per-role decisions of
//!   [`crate::lifecycle`].
//! - `deleting`: `Decommissioning` → `CleaningResources` → `HostCleanup` → `Finalized`.
//! - `transitions`: the table of every state change a plan may make; the state diagram in
//!   `docs/controller.md` is checked against it.

mod deleting;
mod running;
pub mod transitions;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ais_client::Smap;
use ais_crd::{AIStoreSpec, ClusterState};
use k8s_openapi::api::apps::v1::StatefulSet;

use crate::build::inventory::Found;
use crate::build::{Desired, OwnedKind, PerRole, Role};
use crate::lifecycle::{AisCall, PodView, Rebalance, RebalanceReason};
use crate::reconcile::status::{Cond, Observation};

/// Requeue while waiting on AIS (no watch tells us).
pub const POLL: Duration = Duration::from_secs(3);
/// Requeue after AIS calls (maintenance, decommission, primary moves take effect in seconds).
pub const AFTER_CALL: Duration = Duration::from_secs(2);
/// Safety net while waiting for a Kubernetes change that a watch reports.
pub const WATCHED: Duration = Duration::from_secs(300);
/// Requeue of a blocked cluster.
pub const BLOCKED: Duration = Duration::from_secs(60);
/// Requeue right after a state change that the next reconcile carries on from.
pub const NEXT: Duration = Duration::from_secs(1);
/// Requeue while a deletion step waits for objects or pods to go.
pub const CHECK: Duration = Duration::from_secs(5);
/// Applies of the same pod template over the same live one after which the operator stops
/// and says so (condition `TemplatesConverge=False`) instead of applying forever.
pub const MAX_FUTILE_APPLIES: u32 = 3;
/// A host cleanup Job older than this is given up on (the reference's limit).
pub const JOB_DEADLINE_SECONDS: i64 = 120;

/// AIStore annotation: SHA-256 of the generated global config.
pub const CONFIG_HASH_ANNOTATION: &str = "config.aistore.nvidia.com/hash";
/// AIStore annotation: hash of the restart-requiring config (`net.http`).
pub const RESTART_HASH_ANNOTATION: &str = "config.aistore.nvidia.com/restart-hash";
/// The time of the reference operator's last write this operator warned about. Writing it is
/// also this operator's newest write, so the same write is reported once.
pub const SECOND_OPERATOR_ANNOTATION: &str = "ais.nvidia.com/second-operator-write";
/// AIStore annotation: the AIS node IDs the operator put into maintenance, comma-separated.
/// Only these are taken out of maintenance by the operator.
pub const MAINTAINED_ANNOTATION: &str = "ais.nvidia.com/maintained-by-operator";
/// AIStore annotation: the host cleanup Jobs were created (they are not created twice).
pub const CLEANUP_STARTED_ANNOTATION: &str = "ais.nvidia.com/host-cleanup-started";

/// What one reconcile read of an AIStore and the world around it.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.state`.
    pub state: Option<ClusterState>,
    /// Condition `Created` is True.
    pub created: bool,
    /// Condition `ReadyRebalance` is True (the pushed config has `rebalance.enabled`).
    pub rebalance_on: bool,
    /// The AIStore's `config.aistore.nvidia.com/restart-hash` annotation.
    pub restart_hash: Option<String>,
    /// The AIStore's host-cleanup-started annotation is set.
    pub cleanup_started: bool,
    /// AIS node IDs the operator put into maintenance ([`MAINTAINED_ANNOTATION`]).
    pub maintained: BTreeSet<String>,
    /// How often in a row this process applied the desired pod template of each role over
    /// the same live template (an apply that changed nothing); 0 when it did not.
    pub futile_applies: PerRole<u32>,
    /// Condition `TemplatesConverge` is False.
    pub templates_stuck: bool,
    /// Objects of the inventory's names that exist and that the AIStore does not own (the
    /// admin client Deployment `<name>-client` is checked).
    pub foreign: Vec<(OwnedKind, String)>,
    /// Condition `ObjectsApplied` is False.
    pub objects_conflict: bool,
    /// The two StatefulSets, when they exist.
    pub statefulsets: PerRole<Option<StatefulSet>>,
    /// The pods of each StatefulSet, by ordinal.
    pub pods: PerRole<Vec<PodView>>,
    /// Ingress addresses of the LoadBalancer Services, by Service name (empty: none yet).
    pub lb_ingress: BTreeMap<String, Vec<String>>,
    /// What AIS answered.
    pub ais: AisView,
    /// When the reference operator (field manager `manager`) last wrote the AIStore, if that
    /// was after this operator's last write to it: two operators run.
    pub reference_wrote_at: Option<String>,
    /// Whether AIS still awaits a rebalance. Asked only while a requested shutdown has not
    /// started or a target is being decommissioned: the steps that wait for it.
    pub rebalance: Rebalance,
    /// What is left of a cluster being deleted (read only then).
    pub teardown: Option<Teardown>,
}

/// The AIS side of an observation.
#[derive(Clone, Debug)]
pub enum AisView {
    /// No AIS client could be set up: no endpoint or no ready proxy yet.
    Unavailable(String),
    /// The operator could not get its token for the cluster's AIS API.
    AuthFailed(String),
    /// A client is set up; what the health check and the cluster map answered.
    Connected {
        /// `health?prr=true`.
        health: Result<(), String>,
        /// The cluster map (boxed: it is large, and most views have none).
        smap: Result<Box<Smap>, String>,
    },
}

impl Default for AisView {
    fn default() -> Self {
        Self::Unavailable("not asked".into())
    }
}

impl AisView {
    /// Whether AIS calls can be made.
    pub fn connected(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }

    /// The cluster map, when AIS served one.
    pub fn smap(&self) -> Option<&Smap> {
        match self {
            Self::Connected { smap: Ok(smap), .. } => Some(smap.as_ref()),
            _ => None,
        }
    }
}

/// What is left of a cluster being deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Teardown {
    /// Objects the AIStore owns that still exist (its inventory and what carries its labels).
    pub owned: Vec<Found>,
    /// The state and data PVCs of its proxies and targets.
    pub pvcs: Vec<String>,
    /// Its host cleanup Jobs.
    pub jobs: Vec<JobView>,
    /// Nodes whose host path may hold its state, with the name of each one's cleanup Job
    /// (read only until every Job was created).
    pub cleanup_nodes: Vec<(String, String)>,
}

/// A host cleanup Job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobView {
    /// `metadata.name`.
    pub name: String,
    /// At least one pod succeeded.
    pub succeeded: bool,
    /// Seconds since it was created.
    pub age_seconds: i64,
}

/// What the spec asks for, resolved once per reconcile.
#[derive(Clone, Copy, Debug)]
pub enum Wanted<'a> {
    /// A cluster that is not being deleted.
    Running {
        /// The defaulted spec with its v1.x fields mapped.
        spec: &'a AIStoreSpec,
        /// The inventory built from it and the observed facts.
        desired: &'a Desired,
    },
    /// A deleted AIStore (`metadata.deletionTimestamp`) that still has the finalizer.
    Deleting {
        /// The defaulted spec with its v1.x fields mapped.
        spec: &'a AIStoreSpec,
        /// `<prefix>/<ns>/<name>`: the host directory of its state, when it has host-path
        /// state.
        host_state_dir: Option<&'a str>,
    },
}

/// One thing to do. The executor carries the actions of a plan out in order and stops at the
/// first that fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Server-side apply of every object of the inventory but the StatefulSets and `skip`
    /// (objects of an owned name that belong to someone else).
    ApplyInventory {
        /// Left alone.
        skip: Vec<(OwnedKind, String)>,
    },
    /// Delete the owned objects that left the inventory.
    SweepInventory,
    /// Set an annotation of the AIStore.
    Annotate {
        /// The key.
        key: &'static str,
        /// The value.
        value: String,
    },
    /// Apply a role's StatefulSet.
    ApplyStatefulSet {
        /// Whose.
        role: Role,
        /// `spec.replicas`.
        replicas: i32,
        /// Replace the live pod template with the desired one (rolls pods).
        new_template: bool,
        /// Rolling-update partition; `None` keeps the live one.
        partition: Option<i32>,
    },
    /// Call AIS.
    Ais(AisCall),
    /// Delete a pod (AIS released it, or it never joined).
    DeletePod(String),
    /// Record on a pod that AIS accepted its node's decommission.
    MarkDecommissioned {
        /// The pod.
        pod: String,
        /// Its AIS node ID.
        node: String,
    },
    /// Regenerate the config with `rebalance.enabled` and push it. `required`: a failed
    /// push fails the reconcile (turning rebalance on must reach AIS); else it is logged.
    SetRebalance {
        /// The new value.
        enabled: bool,
        /// Whether the push must succeed.
        required: bool,
    },
    /// Write the global ConfigMap; push the config to AIS when its hash differs from the
    /// AIStore's annotation, then record the hash.
    PushConfig,
    /// Ask AIS to shut the cluster down; a refusal is reported and the pods stop anyway
    /// (aisnode handles SIGTERM gracefully).
    ShutdownAis,
    /// Shut AIS down (or decommission it) for the deletion; must succeed.
    StopAis {
        /// Decommission instead of shutting down (`cleanupMetadata`).
        decommission: bool,
        /// Also remove user data (`cleanupData`).
        rm_user_data: bool,
    },
    /// Set a role's StatefulSet to zero replicas (deletion).
    ScaleToZero(Role),
    /// Delete an owned object.
    Delete(OwnedKind, String),
    /// Delete a PVC (`cleanupMetadata` only).
    DeletePvc(String),
    /// Create the host cleanup Job of a node.
    CreateCleanupJob {
        /// The node.
        node: String,
    },
    /// Delete a finished (or given up) host cleanup Job.
    DeleteJob(String),
    /// Remove the finalizer: the API server deletes the AIStore.
    RemoveFinalizer,
    /// Publish an event about the AIStore.
    Event(Note),
}

/// An event to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Warning (else Normal).
    pub warning: bool,
    /// Machine-readable reason.
    pub reason: &'static str,
    /// What the operator did.
    pub action: &'static str,
    /// What a person reads.
    pub text: String,
    /// The pod it is about, if any (events of different pods are separate series).
    pub pod: Option<String>,
}

/// When to reconcile again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Only when a watched object changes.
    AwaitChange,
    /// After this long, or earlier on a change.
    After(Duration),
}

/// The decisions of one reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// What to report (state, conditions, cluster ID); `None` writes no status (the AIStore
    /// is about to disappear).
    pub status: Option<Observation>,
    /// When to look again.
    pub requeue: Requeue,
}

impl Plan {
    /// The state the cluster is in after this plan.
    pub fn next_state(&self, current: Option<ClusterState>) -> Option<ClusterState> {
        self.status
            .as_ref()
            .and_then(|s| s.state)
            .or(current)
            .or(Some(ClusterState::Initialized))
    }
}

/// The plan of one reconcile.
pub fn plan(wanted: &Wanted<'_>, observed: &Observed) -> Plan {
    match *wanted {
        Wanted::Running { spec, desired } => running::plan(spec, desired, observed),
        Wanted::Deleting {
            spec,
            host_state_dir,
        } => deleting::plan(spec, host_state_dir, observed),
    }
}

/// A plan under construction: actions in order, the status so far.
#[derive(Debug, Default)]
struct Draft {
    actions: Vec<Action>,
    status: Observation,
}

impl Draft {
    fn act(&mut self, action: Action) {
        self.actions.push(action);
    }

    fn note(&mut self, reason: &'static str, action: &'static str, text: impl Into<String>) {
        self.event(false, reason, action, text.into(), None);
    }

    fn note_pod(&mut self, reason: &'static str, action: &'static str, text: String, pod: &str) {
        self.event(false, reason, action, text, Some(pod.to_string()));
    }

    fn warn(&mut self, reason: &'static str, action: &'static str, text: impl Into<String>) {
        self.event(true, reason, action, text.into(), None);
    }

    fn event(
        &mut self,
        warning: bool,
        reason: &'static str,
        action: &'static str,
        text: String,
        pod: Option<String>,
    ) {
        self.actions.push(Action::Event(Note {
            warning,
            reason,
            action,
            text,
            pod,
        }));
    }

    fn state(&mut self, state: ClusterState) {
        self.status.state = Some(state);
    }

    fn ready(&mut self, ok: bool, reason: &str, message: impl Into<String>) {
        self.status.ready = Some(Cond::new(ok, reason, message));
    }

    fn done(self, requeue: Requeue) -> Plan {
        Plan {
            actions: self.actions,
            status: Some(self.status),
            requeue,
        }
    }
}

/// The value of [`MAINTAINED_ANNOTATION`] for a set of node IDs.
pub fn maintained_value(nodes: &BTreeSet<String>) -> String {
    nodes.iter().cloned().collect::<Vec<_>>().join(",")
}

/// The node IDs in a [`MAINTAINED_ANNOTATION`] value.
pub fn parse_maintained(value: &str) -> BTreeSet<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The message of condition `ReadyRebalance` for a change of rebalance.
fn rebalance_message(enabled: bool, reason: RebalanceReason) -> &'static str {
    match (enabled, reason) {
        (true, _) => "Cluster is ready to rebalance",
        (false, RebalanceReason::Upgrading) => {
            "Disabled due to rolling upgrade: a new target pod template"
        }
        (false, RebalanceReason::Scaling) => "Disabled due to target scale-up",
        (false, RebalanceReason::Shutdown) => "Disabling rebalance before shutdown",
        (false, RebalanceReason::ScaleDown) => "Disabled",
    }
}
