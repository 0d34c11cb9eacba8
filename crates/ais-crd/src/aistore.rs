//! The `AIStore` custom resource (`ais.nvidia.com/v1beta1`) and its top-level spec.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LocalObjectReference, ResourceRequirements};
use kube::CustomResource;
use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};

use crate::admin_client::AdminClientSpec;
use crate::auth::AuthSpec;
use crate::config::ConfigToUpdate;
use crate::daemon::{DaemonSpec, TargetSpec};
use crate::schema::{add_required, add_rule};
use crate::status::AIStoreStatus;
use crate::storage::StateStorage;
use crate::tls::TlsSpec;

/// Desired state of an AIStore cluster: its proxies (gateways), its storage targets, and how the
/// operator runs them.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ais.nvidia.com",
    version = "v1beta1",
    kind = "AIStore",
    plural = "aistores",
    singular = "aistore",
    shortname = "ais",
    namespaced,
    status = "AIStoreStatus",
    derive = "PartialEq",
    doc = "AIStore is one AIStore cluster (proxies and storage targets) managed by the AIS operator.",
    annotation("helm.sh/resource-policy", "keep"),
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state","description":"The current state of the resource"}"#,
    printcolumn = r#"{"name":"Proxies","type":"string","jsonPath":".status.proxies.summary","description":"Ready/desired proxies"}"#,
    printcolumn = r#"{"name":"Targets","type":"string","jsonPath":".status.targets.summary","description":"Ready/desired targets"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = spec_schema)]
pub struct AIStoreSpec {
    /// Number of proxies and of targets. `-1` runs one pod per node matching the role's
    /// `nodeSelector` (autoscaling). `proxySpec.size` and `targetSpec.size` override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1))]
    pub size: Option<i32>,

    /// Image of the `ais-node` container (aisnode).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1))]
    pub node_image: String,

    /// Image of the `populate-env` init container (aisinit). Must match the aisnode version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1))]
    pub init_image: String,

    /// A sidecar that tails the node's log to standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sidecar: Option<LogSidecarSpec>,

    /// Deprecated (v2.x): use `logSidecar.image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sidecar_image: Option<String>,

    /// Deprecated (v2.x): use `logSidecar.resources`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sidecar_resources: Option<ResourceRequirements>,

    /// Where nodes keep their metadata. Exactly one of `hostPath`, `pvc`, `emptyDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_storage: Option<StateStorage>,

    /// Deprecated: use `stateStorage.hostPath.prefix`. Host directory for node state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostpath_prefix: Option<String>,

    /// Deprecated: use `stateStorage.pvc.storageClass`. StorageClass of state PVCs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_storage_class: Option<String>,

    /// Overrides of the AIS cluster configuration, pushed to the running cluster on change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_to_update: Option<ConfigToUpdate>,

    /// ConfigMap with an OIDC issuer CA bundle (key `ca.crt`), mounted on proxies at
    /// `/etc/ais/oidc-ca`; sets `auth.oidc.issuer_ca_bundle`.
    #[serde(
        rename = "issuerCAConfigMap",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(min = 1))]
    pub issuer_ca_config_map: Option<String>,

    /// Multihoming: primary host name → comma-separated extra host names. Written to
    /// `hostname_map.json` and added to certificate SANs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname_map: Option<BTreeMap<String, String>>,

    /// How the operator reaches the AIS API: unset uses the headless proxy Service, `public`
    /// the host IP of a ready proxy pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_mode: Option<String>,

    /// Comma-separated Multus NetworkAttachmentDefinitions for the pods
    /// (annotation `k8s.v1.cni.cncf.io/networks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_attachment: Option<String>,

    /// Proxy (gateway) settings.
    #[serde(default)]
    pub proxy_spec: DaemonSpec,

    /// Storage target settings.
    #[serde(default)]
    pub target_spec: TargetSpec,

    /// Deprecated (v1.x): use `targetSpec.disablePodAntiAffinity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_pod_anti_affinity: Option<bool>,

    /// Shuts the cluster down gracefully and keeps its data; set back to false to resume.
    /// Not allowed with `stateStorage.emptyDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_cluster: Option<bool>,

    /// On deletion, decommission AIS and delete its metadata, state PVCs and host state.
    /// Without it the cluster is only shut down and can be recreated with its data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_metadata: Option<bool>,

    /// On deletion, also delete user data. Requires `cleanupMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_data: Option<bool>,

    /// Deprecated: overrides the cluster domain the operator discovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_domain: Option<String>,

    /// Secret with GCP credentials (`gcp.json`), mounted on targets at `/var/gcp`; enables the
    /// `gcp` backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_secret_name: Option<String>,

    /// Secret with AWS `config` and `credentials`, mounted on targets at `/root/.aws`; enables
    /// the `aws` backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_secret_name: Option<String>,

    /// Secret with an OCI `config`, mounted on targets at `/root/.oci`; enables the `oci`
    /// backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_secret_name: Option<String>,

    /// Host directory for logs (`<logsDir>/<namespace>/<cluster>/<role>`); an emptyDir when
    /// unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_dir: Option<String>,

    /// Where the nodes' TLS certificate comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,

    /// Deprecated (v1.x): use `tls.secretName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,

    /// Deprecated (v1.x): use `tls.certificate` with `mode: csi` and an `Issuer`. Name of the
    /// cert-manager Issuer for the csi-driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_manager_issuer_name: Option<String>,

    /// Secret with an OpenTelemetry exporter token, mounted at `/var/traces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing_token_secret_name: Option<String>,

    /// Secret whose key `SIGNING-KEY` becomes `AIS_AUTHN_SECRET_KEY` on proxies.
    #[serde(
        rename = "authNSecretName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authn_secret_name: Option<String>,

    /// How the operator authenticates its own calls to AIS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,

    /// Skip verification of the AIS certificate in the operator's own calls (testing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_skip_verify_crt: Option<bool>,

    /// Secrets to pull images with; set on the cluster's ServiceAccount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,

    /// Deprecated: use `proxySpec.externalAccess` and `targetSpec.externalAccess`.
    /// LoadBalancer Services for both roles. Cannot change on an existing cluster.
    #[serde(
        rename = "enableExternalLB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_external_lb: Option<bool>,

    /// Deprecated (v1.x): AIS serves Prometheus metrics itself; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_prom_exporter: Option<bool>,

    /// What nodes advertise as their public hostname: `IP` (host IP), `Node` (node name) or
    /// `Pod` (pod DNS name).
    #[serde(
        rename = "publicNetDNSMode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("default" = "IP"))]
    pub public_net_dns_mode: Option<PublicNetDnsMode>,

    /// An optional Deployment with the AIS CLI, configured for this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_client: Option<AdminClientSpec>,

    /// PriorityClass of proxy and target pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
}

fn spec_schema(schema: &mut Schema) {
    add_required(
        schema,
        &["initImage", "nodeImage", "proxySpec", "targetSpec"],
    );
    add_rule(
        schema,
        "(has(self.targetSpec.size) && has(self.proxySpec.size)) || has(self.size)",
        "Invalid cluster size, it is either not specified or value is not valid",
    );
    add_rule(
        schema,
        "!has(self.cleanupData) || !self.cleanupData || (has(self.cleanupMetadata) && self.cleanupMetadata)",
        "cleanupData requires cleanupMetadata to be enabled",
    );
}

/// The log sidecar.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogSidecarSpec {
    /// Image of the `ais-logs` sidecar.
    #[schemars(length(min = 1))]
    pub image: String,
    /// Resources of the sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// What nodes advertise as their public hostname.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PublicNetDnsMode {
    /// The IP of the node the pod runs on.
    #[default]
    #[serde(rename = "IP")]
    Ip,
    /// The name of the node the pod runs on.
    Node,
    /// The pod's DNS name.
    Pod,
}
