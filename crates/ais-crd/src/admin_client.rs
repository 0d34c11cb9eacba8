//! `spec.adminClient`: an optional Deployment with the AIS CLI, wired to the cluster.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default image of the admin client.
pub const DEFAULT_ADMIN_CLIENT_IMAGE: &str = "docker.io/aistorage/ais-util:latest";

/// The admin client Deployment `<cluster>-client`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminClientSpec {
    /// Deploys the client; true when the block is present and this is unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Image with the `ais` CLI (default `docker.io/aistorage/ais-util:latest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    /// Resources of the client container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Annotations of the client pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Labels of the client pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Node selector of the client pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Affinity of the client pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Tolerations of the client pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    /// Extra environment of the client container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// ConfigMap with a CA bundle that verifies the cluster's certificate
    /// (mounted at `/etc/ais-ca`, exported as `AIS_CLIENT_CA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_config_map: Option<CaConfigMapRef>,
}

/// A key of a ConfigMap holding a CA bundle.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaConfigMapRef {
    /// Name of the ConfigMap.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key of the bundle (default `trust-bundle.pem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}
