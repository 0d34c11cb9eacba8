//! Defaulting of an AIStore spec: fills only what is absent, never rewrites what the user set,
//! and is idempotent. The mutating webhook turns the difference into a JSON patch; the
//! controller applies the same function so a spec that bypassed the webhook behaves the same.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::aistore::{AIStoreSpec, PublicNetDnsMode};
use crate::daemon::{ScaleDownMode, ServiceSpec};
use crate::legacy::DEFAULT_STATE_HOSTPATH_PREFIX;
use crate::storage::{HostPathStateStorage, StateStorage};
use crate::tls::{CertificateMode, IssuerKind};

/// Standard AIS proxy port (public and Service).
pub const PROXY_PORT: i32 = 51080;
/// Standard AIS target port (public and Service).
pub const TARGET_PORT: i32 = 51081;
/// Standard intra-cluster control port.
pub const INTRA_CONTROL_PORT: i32 = 51082;
/// Standard intra-cluster data port.
pub const INTRA_DATA_PORT: i32 = 51083;

/// aisnode image used when a spec names none (AIS 4.9, the version the reference operator
/// v3.4 builds against).
pub const DEFAULT_NODE_IMAGE: &str = "docker.io/aistorage/aisnode:v4.9";
/// ais-init image matching [`DEFAULT_NODE_IMAGE`].
pub const DEFAULT_INIT_IMAGE: &str = "docker.io/aistorage/ais-init:v4.9";

/// Values the defaulting fills in that an installation may choose (the webhook takes flags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// aisnode image for specs that name none.
    pub node_image: String,
    /// ais-init image for specs that name none.
    pub init_image: String,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            node_image: DEFAULT_NODE_IMAGE.to_string(),
            init_image: DEFAULT_INIT_IMAGE.to_string(),
        }
    }
}

/// Returns `spec` with every absent defaultable field filled.
pub fn default_spec(spec: &AIStoreSpec, defaults: &Defaults) -> AIStoreSpec {
    let mut out = spec.clone();
    apply_defaults(&mut out, defaults);
    out
}

/// Fills every absent defaultable field of `spec` in place.
pub fn apply_defaults(spec: &mut AIStoreSpec, defaults: &Defaults) {
    if spec.node_image.is_empty() {
        spec.node_image.clone_from(&defaults.node_image);
    }
    if spec.init_image.is_empty() {
        spec.init_image.clone_from(&defaults.init_image);
    }
    default_ports(&mut spec.proxy_spec.ports, PROXY_PORT);
    default_ports(&mut spec.target_spec.daemon.ports, TARGET_PORT);
    spec.public_net_dns_mode.get_or_insert(PublicNetDnsMode::Ip);
    spec.target_spec
        .scale_down_mode
        .get_or_insert(ScaleDownMode::SafeDecommission);
    if let Some(cert) = spec.tls.as_mut().and_then(|t| t.certificate.as_mut()) {
        cert.mode.get_or_insert(CertificateMode::Secret);
        cert.issuer_ref
            .kind
            .get_or_insert(IssuerKind::ClusterIssuer);
    }
    let no_state_storage = spec.state_storage.is_none()
        && spec.hostpath_prefix.is_none()
        && spec.state_storage_class.is_none();
    if no_state_storage {
        spec.state_storage = Some(StateStorage {
            host_path: Some(HostPathStateStorage {
                prefix: DEFAULT_STATE_HOSTPATH_PREFIX.to_string(),
            }),
            ..StateStorage::default()
        });
    }
}

fn default_ports(ports: &mut ServiceSpec, public: i32) {
    ports.service_port.get_or_insert(IntOrString::Int(public));
    ports.port_public.get_or_insert(IntOrString::Int(public));
    ports
        .port_intra_control
        .get_or_insert(IntOrString::Int(INTRA_CONTROL_PORT));
    ports
        .port_intra_data
        .get_or_insert(IntOrString::Int(INTRA_DATA_PORT));
}
