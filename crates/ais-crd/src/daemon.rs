//! Per-role settings: `spec.proxySpec` (a [`DaemonSpec`]) and `spec.targetSpec` (a [`TargetSpec`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy;
use k8s_openapi::api::core::v1::{
    Affinity, EnvVar, PodSecurityContext, ResourceRequirements, SecurityContext, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

use crate::schema::{add_required, port_schema, quantity_schema};

/// The four ports of an AIS node. All are required by the schema; the defaulting webhook fills
/// the standard ports (proxy 51080, target 51081, intra-control 51082, intra-data 51083) when
/// they are left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_ports)]
pub struct ServiceSpec {
    /// Port of the role's Services (headless `pub` port and LoadBalancer port) and of the
    /// node's `http` container port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "port_schema")]
    pub service_port: Option<IntOrString>,
    /// Port AIS serves its public (client) API on (`host_net.port`); the probes use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "port_schema")]
    pub port_public: Option<IntOrString>,
    /// Port of the intra-cluster control network (`host_net.port_intra_control`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "port_schema")]
    pub port_intra_control: Option<IntOrString>,
    /// Port of the intra-cluster data network (`host_net.port_intra_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "port_schema")]
    pub port_intra_data: Option<IntOrString>,
}

fn require_ports(schema: &mut Schema) {
    add_required(
        schema,
        &[
            "servicePort",
            "portPublic",
            "portIntraControl",
            "portIntraData",
        ],
    );
}

/// Settings shared by proxies and targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonSpec {
    /// Ports of this role.
    #[serde(flatten)]
    pub ports: ServiceSpec,

    /// Pod-level security context. Defaults to `runAsNonRoot: false` with the `RuntimeDefault`
    /// seccomp profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,

    /// Number of pods of this role; overrides `spec.size`. `-1` runs one pod on every node that
    /// matches `nodeSelector` (autoscaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub size: Option<i32>,

    /// Limits for autoscaling (`size: -1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_scale: Option<AutoScaleConf>,

    /// Annotations added to this role's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Labels added to this role's pods. The operator's own `app.kubernetes.io/*` labels win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,

    /// Resources of the `ais-node` container. An unset ephemeral-storage request is sized from
    /// `configToUpdate.log.max_total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Deprecated: use `aisContainerSecurityContext`. Security context of the `ais-node`
    /// container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<SecurityContext>,

    /// Security context of the `ais-node` container. Defaults to no privilege escalation and all
    /// capabilities dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ais_container_security_context: Option<SecurityContext>,

    /// Extra environment of the `ais-node` container; an entry overrides the operator's
    /// variable of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,

    /// Scheduling affinity. Unless it has a pod anti-affinity of its own, the operator adds a
    /// required anti-affinity so that two pods of the role never share a node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Node labels this role's pods must run on. Required when autoscaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Tolerations of this role's pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    /// Host port bound to the `http` container port; the node then advertises the host's
    /// address as its public hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,

    /// What happens to this role's PVCs when the StatefulSet is scaled down or deleted
    /// (Kubernetes 1.32+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc_retention_policy: Option<StatefulSetPersistentVolumeClaimRetentionPolicy>,

    /// Overrides of the startup, liveness and readiness probe timings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minProperties" = 1))]
    pub probes: Option<ProbeConfSpec>,

    /// Exposes this role outside the cluster through LoadBalancer Services: one shared Service
    /// for proxies, one per pod for targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_access: Option<ExternalAccessSpec>,
}

/// Autoscaling limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoScaleConf {
    /// Upper bound on the number of pods, whatever the number of matching nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub size_limit: Option<i32>,
    /// How many pods may be unavailable before a scale-down is carried out (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_unavailable: Option<i32>,
}

/// Probe timing overrides, per probe.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeConfSpec {
    /// Liveness probe (`/v1/health`; defaults: delay 60s, period 5s, timeout 5s, 10 failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minProperties" = 1))]
    pub liveness: Option<ProbeSpec>,
    /// Readiness probe (`/v1/health?readiness=true`; defaults: period 5s, timeout 5s, 5 failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minProperties" = 1))]
    pub readiness: Option<ProbeSpec>,
    /// Startup probe (`/v1/health?readiness=true`; defaults: period 5s, timeout 5s, 30 failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minProperties" = 1))]
    pub startup: Option<ProbeSpec>,
}

/// Timings of one probe; unset fields keep the operator's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    /// Seconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub period_seconds: Option<i32>,
    /// Seconds after which a probe times out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_seconds: Option<i32>,
    /// Consecutive failures before the probe counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<i32>,
    /// Seconds after container start before the first probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub initial_delay_seconds: Option<i32>,
}

/// External access through LoadBalancer Services.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalAccessSpec {
    /// Annotations of the LoadBalancer Services (for example a cloud provider's LB settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Settings of storage targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_mounts)]
pub struct TargetSpec {
    /// Settings shared with proxies.
    #[serde(flatten)]
    pub daemon: DaemonSpec,

    /// Data mountpaths of every target.
    #[serde(default)]
    pub mounts: Vec<Mount>,

    /// Deprecated (v1.x): use a shared `label` on each mount. Allowed mountpaths to share a disk
    /// or have none; the operator gives unlabelled mounts a common label instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_shared_no_disks: Option<bool>,

    /// Allows several targets on one node (the operator then adds no target anti-affinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_pod_anti_affinity: Option<bool>,

    /// Runs targets in the host network namespace (DNS policy `ClusterFirstWithHostNet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,

    /// PodDisruptionBudget of the targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdb: Option<PdbSpec>,

    /// How targets are removed on scale-down: `safe_decommission` (default) migrates their data
    /// and keeps it on disk, `decommission` migrates and deletes it, `retain` only puts the node
    /// into maintenance so it can come back with its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "safe_decommission"))]
    pub scale_down_mode: Option<ScaleDownMode>,
}

fn require_mounts(schema: &mut Schema) {
    add_required(schema, &["mounts"]);
}

/// How targets are removed on scale-down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ScaleDownMode {
    /// Decommission the node and delete its user data after it has been migrated.
    #[serde(rename = "decommission")]
    Decommission,
    /// Put the node into maintenance and keep its data; scaling up again brings it back.
    #[serde(rename = "retain")]
    Retain,
    /// Decommission the node and keep its user data on disk.
    #[default]
    #[serde(rename = "safe_decommission")]
    SafeDecommission,
}

impl ScaleDownMode {
    /// The value as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Decommission => "decommission",
            Self::Retain => "retain",
            Self::SafeDecommission => "safe_decommission",
        }
    }
}

/// PodDisruptionBudget of the targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdbSpec {
    /// Creates the PodDisruptionBudget (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Targets that may be disrupted at once (number or percentage; default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "port_schema")]
    pub max_unavailable: Option<IntOrString>,
}

/// One data mountpath of the targets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    /// Absolute path of the mountpath inside the target container.
    pub path: String,
    /// Size of the PersistentVolumeClaim (rounded down to whole bytes). Required unless
    /// `useHostPath` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "quantity_schema")]
    pub size: Option<Quantity>,
    /// StorageClass of the PVC; the cluster default when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// Uses the host directory `<path>/<namespace>/<cluster>/target` instead of a PVC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_host_path: Option<bool>,
    /// Label selector the PVC uses to pick PersistentVolumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// AIS mountpath label. Mountpaths with the same label may share a disk; a label that names
    /// no disk runs the mountpath diskless (no disk statistics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}
