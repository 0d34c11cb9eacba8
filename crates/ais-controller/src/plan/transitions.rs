//! Every change of `status.state` a plan may make, with the reason. The plan tests check that
//! each transition a fixture produces is listed here and that each one listed is produced by
//! some fixture; a test also checks that the state diagram in `docs/controller.md` draws
//! exactly these edges, so the code, the table and the document cannot drift apart.

use ais_crd::ClusterState::{self, *};

/// One edge of the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state before (no state yet counts as `Initialized`).
    pub from: ClusterState,
    /// The state after.
    pub to: ClusterState,
    /// When.
    pub when: &'static str,
}

const fn t(from: ClusterState, to: ClusterState, when: &'static str) -> Transition {
    Transition { from, to, when }
}

/// The state machine of an AIStore.
pub const TRANSITIONS: &[Transition] = &[
    // Bootstrap.
    t(
        Initialized,
        InitializingLoadBalancerService,
        "load balancers wait for addresses",
    ),
    t(
        InitializingLoadBalancerService,
        PendingLoadBalancerService,
        "still no address",
    ),
    t(
        InitializingLoadBalancerService,
        Initialized,
        "addresses assigned, bootstrap goes on",
    ),
    t(
        PendingLoadBalancerService,
        Initialized,
        "addresses assigned, bootstrap goes on",
    ),
    t(Initialized, Created, "target StatefulSet created"),
    t(Created, Ready, "AIS healthy, every node in the map"),
    t(
        Initialized,
        Ready,
        "an adopted cluster whose status was lost is healthy",
    ),
    // Running.
    t(
        Ready,
        Upgrading,
        "a pod template rolls, or AIS is unhealthy",
    ),
    t(Ready, Scaling, "replicas change"),
    t(Upgrading, Ready, "rollout done"),
    t(Upgrading, Scaling, "rollout done, replicas change"),
    t(Scaling, Ready, "scaling done"),
    t(Scaling, Upgrading, "a pod template rolls"),
    t(
        Ready,
        PendingLoadBalancerService,
        "a load balancer has no address",
    ),
    t(
        Upgrading,
        PendingLoadBalancerService,
        "a load balancer has no address",
    ),
    t(
        Scaling,
        PendingLoadBalancerService,
        "a load balancer has no address",
    ),
    t(
        PendingLoadBalancerService,
        Ready,
        "addresses back, cluster healthy",
    ),
    // Shutdown and resume.
    t(Ready, ShuttingDown, "shutdownCluster: true"),
    t(Upgrading, ShuttingDown, "shutdownCluster: true"),
    t(Scaling, ShuttingDown, "shutdownCluster: true"),
    t(Created, ShuttingDown, "shutdownCluster: true"),
    t(ShuttingDown, Shutdown, "every AIS pod stopped"),
    t(
        ShuttingDown,
        Scaling,
        "shutdownCluster: false while stopping",
    ),
    t(
        Shutdown,
        Scaling,
        "shutdownCluster: false: the pods start again",
    ),
    // Deletion.
    t(Created, Decommissioning, "AIStore deleted"),
    t(Ready, Decommissioning, "AIStore deleted"),
    t(Upgrading, Decommissioning, "AIStore deleted"),
    t(Scaling, Decommissioning, "AIStore deleted"),
    t(ShuttingDown, Decommissioning, "AIStore deleted"),
    t(
        Initialized,
        CleaningResources,
        "AIStore deleted, no AIS pod runs",
    ),
    t(
        Shutdown,
        CleaningResources,
        "AIStore deleted, no AIS pod runs",
    ),
    t(Decommissioning, CleaningResources, "AIS stopped, pods gone"),
    t(
        CleaningResources,
        HostCleanup,
        "cleanupMetadata with host-path state",
    ),
    t(CleaningResources, Finalized, "every owned object gone"),
    t(HostCleanup, Finalized, "cleanup Jobs finished"),
];

/// Whether the table allows `from → to` (staying in a state always is).
pub fn allowed(from: ClusterState, to: ClusterState) -> bool {
    from == to || TRANSITIONS.iter().any(|t| t.from == from && t.to == to)
}

/// The edges of a Mermaid `stateDiagram-v2` block: lines `A --> B` or `A --> B: label`.
pub fn diagram_edges(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("stateDiagram") {
            inside = true;
            continue;
        }
        if inside && line.starts_with("```") {
            break;
        }
        if !inside {
            continue;
        }
        if let Some((from, rest)) = line.split_once("-->") {
            let to = rest.split(':').next().unwrap_or_default();
            out.push((from.trim().to_string(), to.trim().to_string()));
        }
    }
    out
}
