//! `status` of an AIStore: lifecycle state, conditions and live counts.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Observed state of an AIStore cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_conditions)]
pub struct AIStoreStatus {
    /// High-level lifecycle state (`Initialized`, `Created`, `Ready`, `Upgrading`,
    /// `ShuttingDown`, `Shutdown`, `Decommissioning`, `CleaningResources`, `HostCleanup`,
    /// `Finalized`, ...). The conditions carry the details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ClusterState>,

    /// Detailed conditions (`Initialized`, `Created`, `Ready`, `ReadyRebalance`, ...), one per
    /// type.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Ready and desired proxy pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxies: Option<RoleStatus>,

    /// Ready and desired target pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<RoleStatus>,

    /// Nodes autoscaling expects to run proxies and targets on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale_status: Option<AutoScaleStatus>,

    /// URL of the cluster inside Kubernetes, e.g.
    /// `http://ais-proxy.ais.svc.cluster.local:51080`.
    #[serde(
        rename = "intraClusterURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub intra_cluster_url: Option<String>,

    /// UUID of the AIS cluster map.
    #[serde(rename = "clusterID", default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,

    /// Deprecated (v1.x): no longer used.
    #[serde(
        rename = "consecutive_error_count",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub consecutive_error_count: Option<i64>,
}

/// Ready and desired pods of one role.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleStatus {
    /// Pods the cluster should run.
    pub desired: i32,
    /// Pods that are Ready.
    pub ready: i32,
    /// `ready/desired`, for `kubectl get`.
    pub summary: String,
}

impl RoleStatus {
    /// Builds the counts and their printable summary.
    pub fn new(ready: i32, desired: i32) -> Self {
        Self {
            desired,
            ready,
            summary: format!("{ready}/{desired}"),
        }
    }
}

/// Nodes autoscaling expects to run pods on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoScaleStatus {
    /// Nodes expected to run a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_proxy_nodes: Option<Vec<String>>,
    /// Nodes expected to run a target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_target_nodes: Option<Vec<String>>,
}

fn require_conditions(schema: &mut Schema) {
    crate::schema::add_required(schema, &["conditions"]);
}

fn conditions_schema(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"]
    })
}

/// Lifecycle state of a cluster. Stored as a plain string, so states written by other operator
/// versions still parse (as [`ClusterState::Unknown`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterState {
    /// Finalizer added, nothing created yet.
    Initialized,
    /// Creating the LoadBalancer Services for the first time.
    InitializingLoadBalancerService,
    /// Waiting for LoadBalancer ingress addresses.
    PendingLoadBalancerService,
    /// StatefulSets bootstrapped.
    Created,
    /// Healthy, every node joined, configuration in sync.
    Ready,
    /// A change is rolling out.
    Upgrading,
    /// v1.x state of a cluster being scaled; read only.
    Scaling,
    /// Shutting down on `shutdownCluster: true`.
    ShuttingDown,
    /// Shut down; data and metadata kept.
    Shutdown,
    /// Deleted; AIS is being shut down or decommissioned.
    Decommissioning,
    /// Deleting the cluster's Kubernetes objects.
    CleaningResources,
    /// Running host cleanup Jobs.
    HostCleanup,
    /// About to remove the finalizer.
    Finalized,
    /// A state this operator version does not know.
    #[serde(other)]
    Unknown,
}

impl JsonSchema for ClusterState {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ClusterState".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string"})
    }

    fn inline_schema() -> bool {
        true
    }
}

/// Condition types.
pub mod condition {
    /// The operator has taken charge of the cluster.
    pub const INITIALIZED: &str = "Initialized";
    /// StatefulSets and their prerequisites exist.
    pub const CREATED: &str = "Created";
    /// The cluster is healthy and converged.
    pub const READY: &str = "Ready";
    /// Rebalance may run.
    pub const READY_REBALANCE: &str = "ReadyRebalance";
    /// The spec passed validation.
    pub const VALID: &str = "Valid";
    /// The StatefulSets converge: False when applying a pod template changes nothing (another
    /// field manager keeps a field this operator would change), instead of applying forever.
    pub const TEMPLATES_CONVERGE: &str = "TemplatesConverge";
    /// Every object of the inventory is applied: False while an object of an owned name
    /// belongs to someone else (it is left alone).
    pub const OBJECTS_APPLIED: &str = "ObjectsApplied";
}
