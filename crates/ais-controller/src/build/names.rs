//! Names of every object the operator creates for an AIStore, exactly as the reference
//! operator spells them (anchor §2.3), and the fixed paths inside the pods.

use std::fmt;

/// The two kinds of AIS node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Gateways (`aisnode -role=proxy`).
    Proxy,
    /// Storage targets (`aisnode -role=target`).
    Target,
}

impl Role {
    /// The role as AIS and the object names spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
            Self::Target => "target",
        }
    }
}

impl Role {
    /// Both roles, proxies first (the order every lifecycle step takes them in).
    pub const BOTH: [Self; 2] = [Self::Proxy, Self::Target];
}

/// One value per role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerRole<T> {
    /// The proxies'.
    pub proxy: T,
    /// The targets'.
    pub target: T,
}

impl<T> PerRole<T> {
    /// The value of `role`.
    pub fn get(&self, role: Role) -> &T {
        match role {
            Role::Proxy => &self.proxy,
            Role::Target => &self.target,
        }
    }

    /// The value of `role`, to change.
    pub fn get_mut(&mut self, role: Role) -> &mut T {
        match role {
            Role::Proxy => &mut self.proxy,
            Role::Target => &mut self.target,
        }
    }

    /// Both values through `f`.
    pub fn map<U>(&self, mut f: impl FnMut(Role, &T) -> U) -> PerRole<U> {
        PerRole {
            proxy: f(Role::Proxy, &self.proxy),
            target: f(Role::Target, &self.target),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ServiceAccount of the AIS pods.
pub fn service_account(cluster: &str) -> String {
    format!("{cluster}-sa")
}

/// Role of the AIS pods' ServiceAccount.
pub fn rbac_role(cluster: &str) -> String {
    format!("{cluster}-role")
}

/// RoleBinding of [`rbac_role`] to [`service_account`].
pub fn role_binding(cluster: &str) -> String {
    format!("{cluster}-rb")
}

/// ConfigMap with the global config override (`ais.json`, `hostname_map.json`).
pub fn global_config_map(cluster: &str) -> String {
    format!("{cluster}-global-cm")
}

/// Name shared by the role's StatefulSet, headless Service and local-config ConfigMap.
pub fn role_object(cluster: &str, role: Role) -> String {
    format!("{cluster}-{role}")
}

/// LoadBalancer Service shared by all proxies.
pub fn proxy_lb_service(cluster: &str) -> String {
    format!("{cluster}-proxy-lb")
}

/// Name of the pod with this ordinal; target LoadBalancer Services carry the same name.
pub fn pod(cluster: &str, role: Role, ordinal: i32) -> String {
    format!("{cluster}-{role}-{ordinal}")
}

/// cert-manager Certificate of the cluster.
pub fn certificate(cluster: &str) -> String {
    format!("{cluster}-tls-cert")
}

/// Secret cert-manager writes the cluster certificate to.
pub fn certificate_secret(cluster: &str) -> String {
    format!("{cluster}-tls")
}

/// PodDisruptionBudget of the targets.
pub fn target_pdb(cluster: &str) -> String {
    role_object(cluster, Role::Target)
}

/// Admin client Deployment.
pub fn admin_client(cluster: &str) -> String {
    format!("{cluster}-client")
}

/// Volume claim template of the state directory (both roles).
pub fn state_pvc(namespace: &str, cluster: &str) -> String {
    format!("{namespace}-{cluster}-state")
}

/// Volume claim template of a data mountpath: the cluster name followed by the path with
/// every `/` turned into `-` (`/ais/nvme0n1` in `ais` → `ais-ais-nvme0n1`).
pub fn data_pvc(cluster: &str, mount_path: &str) -> String {
    format!("{cluster}{}", mount_path.replace('/', "-"))
}

/// Host-path volume of the data mount with this index (mounts with `useHostPath`).
pub fn host_data_volume(index: usize) -> String {
    format!("host-data-mount-{index}")
}

/// Fully qualified DNS name of a Service.
pub fn service_fqdn(service: &str, namespace: &str, domain: &str) -> String {
    format!("{service}.{namespace}.svc.{domain}")
}

/// Volume and mount names and the fixed paths inside AIS pods.
pub mod paths {
    /// Volume with the role's local config template.
    pub const CONFIG_TEMPLATE_VOLUME: &str = "config-template";
    /// Where the init container reads the local config template.
    pub const CONFIG_TEMPLATE_DIR: &str = "/var/ais_config_template";
    /// Volume the init container writes the generated configs to.
    pub const CONFIG_VOLUME: &str = "config-mount";
    /// Where the generated configs live.
    pub const CONFIG_DIR: &str = "/var/ais_config";
    /// Volume with the global config override.
    pub const CONFIG_GLOBAL_VOLUME: &str = "config-global";
    /// Where the init container reads the global config override.
    pub const CONFIG_GLOBAL_DIR: &str = "/var/global_config";
    /// Volume of the node logs.
    pub const LOGS_VOLUME: &str = "logs-dir";
    /// Where AIS writes its logs.
    pub const LOGS_DIR: &str = "/var/log/ais";
    /// Volume of the node state when it is no PVC.
    pub const STATE_VOLUME: &str = "state-mount";
    /// Where AIS keeps its metadata.
    pub const STATE_DIR: &str = "/etc/ais";
    /// Volume with the TLS certificate.
    pub const TLS_VOLUME: &str = "tls-certs";
    /// Where the TLS certificate is mounted.
    pub const TLS_DIR: &str = "/var/certs";
    /// Volume with the tracing exporter token.
    pub const TRACING_VOLUME: &str = "tracing-token";
    /// Where the tracing token is mounted.
    pub const TRACING_DIR: &str = "/var/traces";
    /// Volume with the OIDC issuer CA bundle (proxies).
    pub const OIDC_CA_VOLUME: &str = "oidc-ca";
    /// Where the OIDC issuer CA bundle is mounted.
    pub const OIDC_CA_DIR: &str = "/etc/ais/oidc-ca";
    /// Volume with AWS credentials (targets).
    pub const AWS_VOLUME: &str = "aws-creds";
    /// Where AWS credentials are mounted.
    pub const AWS_DIR: &str = "/root/.aws";
    /// Volume with GCP credentials (targets).
    pub const GCP_VOLUME: &str = "gcp-creds";
    /// Where GCP credentials are mounted.
    pub const GCP_DIR: &str = "/var/gcp";
    /// Volume with OCI credentials (targets).
    pub const OCI_VOLUME: &str = "oci-creds";
    /// Where OCI credentials are mounted.
    pub const OCI_DIR: &str = "/root/.oci";
    /// File name of the cluster config, in both config directories.
    pub const CLUSTER_CONFIG_FILE: &str = "ais.json";
    /// File name of the local config, in the template and output directories.
    pub const LOCAL_CONFIG_FILE: &str = "ais_local.json";
    /// File name of the hostname map in the global ConfigMap.
    pub const HOSTNAME_MAP_FILE: &str = "hostname_map.json";
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn object_names_follow_the_reference() {
        assert_eq!(service_account("ais"), "ais-sa");
        assert_eq!(rbac_role("ais"), "ais-role");
        assert_eq!(role_binding("ais"), "ais-rb");
        assert_eq!(global_config_map("ais"), "ais-global-cm");
        assert_eq!(role_object("ais", Role::Proxy), "ais-proxy");
        assert_eq!(role_object("ais", Role::Target), "ais-target");
        assert_eq!(proxy_lb_service("ais"), "ais-proxy-lb");
        assert_eq!(pod("ais", Role::Target, 3), "ais-target-3");
        assert_eq!(certificate("ais"), "ais-tls-cert");
        assert_eq!(certificate_secret("ais"), "ais-tls");
        assert_eq!(target_pdb("ais"), "ais-target");
        assert_eq!(admin_client("ais"), "ais-client");
        assert_eq!(host_data_volume(2), "host-data-mount-2");
    }

    #[test]
    fn pvc_names() {
        assert_eq!(data_pvc("ais", "/ais/nvme0n1"), "ais-ais-nvme0n1");
        assert_eq!(data_pvc("c", "/ais1"), "c-ais1");
        assert_eq!(state_pvc("ns", "ais"), "ns-ais-state");
    }

    #[test]
    fn fqdn() {
        assert_eq!(
            service_fqdn("ais-proxy", "ais", "cluster.local"),
            "ais-proxy.ais.svc.cluster.local"
        );
    }
}
