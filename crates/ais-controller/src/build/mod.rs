//! Pure builders: from an `AIStore` and a few observed facts to every Kubernetes object the
//! operator applies for it, named, labelled and shaped exactly as the reference operator's
//! (anchor §2.3, §2.16). Nothing here talks to the API server; every step is a function of
//! its inputs and unit-tested.

pub mod admin_client;
pub mod cleanup;
pub mod config;
pub mod duration;
pub mod inventory;
pub mod labels;
pub mod names;
pub mod pdb;
pub mod proxy;
pub mod quantity;
pub mod rbac;
pub mod services;
pub mod statefulset;
pub mod target;
pub mod tls;

#[cfg(test)]
pub(crate) mod testing;

use std::collections::BTreeMap;

use ais_crd::daemon::DaemonSpec;
use ais_crd::{AIStore, AIStoreSpec, Defaults};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;

pub use inventory::{Desired, Owned, OwnedKind};
pub use names::{PerRole, Role};

/// Cluster domain used when nothing else is known.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// What the controller observed and the builders cannot derive from the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    /// Cluster DNS domain the operator discovered (`cluster.local`); `spec.clusterDomain`
    /// overrides it.
    pub cluster_domain: String,
    /// Whether condition `ReadyRebalance` is True. While false, the generated config carries
    /// `rebalance.enabled: false`.
    pub rebalance_allowed: bool,
    /// Ingress IPs or host names of the proxy LoadBalancer Service (certificate SANs).
    pub proxy_lb_hosts: Vec<String>,
    /// Ingress IPs or host names of the target LoadBalancer Services (certificate SANs).
    pub target_lb_hosts: Vec<String>,
    /// Public host names or IPs of the nodes that may run AIS pods, already chosen by
    /// `publicNetDNSMode` (node names in `Node` mode, InternalIPs in `IP` mode); added to the
    /// certificate SANs except in `Pod` mode.
    pub node_hosts: Vec<String>,
    /// Nodes expected to run proxies when they autoscale (`status.autoscaleStatus`).
    pub autoscale_proxy_nodes: Vec<String>,
    /// Nodes expected to run targets when they autoscale.
    pub autoscale_target_nodes: Vec<String>,
    /// `spec.replicas` of the live target StatefulSet (0 before it exists). During a
    /// scale-down the targets above the desired count still run until AIS released them, so
    /// their LoadBalancer Services stay until the StatefulSet shrank.
    pub live_target_replicas: i32,
    /// The AIStore's current `config.aistore.nvidia.com/restart-hash` annotation, if any.
    pub previous_restart_hash: Option<String>,
    /// AuthN service URL of the `AIStoreAuthProfile` named by `spec.auth.profileRef`
    /// (`AIS_AUTHN_URL` of the admin client); inline `spec.auth` uses its own `serviceURL`.
    pub authn_url: Option<String>,
    /// Images used when the spec names none.
    pub defaults: Defaults,
    /// Installation-wide pod settings (operator flags); `None` keeps the reference values.
    pub pods: PodSettings,
}

/// Installation-wide settings of the AIS pods, from operator flags. The defaults are the
/// reference operator's; air-gapped or small clusters change them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSettings {
    /// `imagePullPolicy` of the aisnode and ais-init containers (reference: `Always`).
    pub image_pull_policy: Option<String>,
    /// CPU request and limit of the init container (reference: `1`).
    pub init_cpu: Option<String>,
    /// Memory request and limit of the init container (reference: `1Gi`).
    pub init_memory: Option<String>,
}

impl Facts {
    /// Facts with nothing observed: no nodes, LoadBalancers, autoscale nodes or earlier
    /// hashes, rebalance not yet allowed. For `render`, which has no cluster, and as the start
    /// of fixtures; the reconcile fills every field from what it observed.
    pub fn unobserved(cluster_domain: String, defaults: Defaults, pods: PodSettings) -> Self {
        Self {
            cluster_domain,
            rebalance_allowed: false,
            proxy_lb_hosts: Vec::new(),
            target_lb_hosts: Vec::new(),
            node_hosts: Vec::new(),
            autoscale_proxy_nodes: Vec::new(),
            autoscale_target_nodes: Vec::new(),
            live_target_replicas: 0,
            previous_restart_hash: None,
            authn_url: None,
            defaults,
            pods,
        }
    }
}

/// Why the objects of an AIStore could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The AIStore lacks a metadata field every owned object needs.
    #[error("AIStore has no metadata.{0}")]
    MissingMetadata(&'static str),
    /// A port is not a number in 1–65535.
    #[error("{field}: {value:?} is not a port number (1-65535)")]
    InvalidPort {
        /// Spec path of the port.
        field: String,
        /// The value found.
        value: String,
    },
    /// Neither the role nor the cluster has a size.
    #[error("spec.{role}Spec.size: cluster size is not specified")]
    MissingSize {
        /// `proxy` or `target`.
        role: Role,
    },
    /// A size cannot be read.
    #[error("{field}: {source}")]
    InvalidSize {
        /// Spec path of the size.
        field: String,
        /// What is wrong with it.
        source: quantity::SizeError,
    },
    /// A duration cannot be read.
    #[error("{field}: {source}")]
    InvalidDuration {
        /// Spec path of the duration.
        field: String,
        /// What is wrong with it.
        source: duration::DurationError,
    },
    /// A generated document cannot be serialized.
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// The serializer's error.
        source: serde_json::Error,
    },
}

/// What the operator needs to reach a cluster's AIS API (anchor §3: the proxy Service by
/// default, a proxy's host IP with `apiMode: public`, the proxy LoadBalancer with external
/// access).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiAccess {
    /// `net.http.use_https`.
    pub https: bool,
    /// FQDN of the headless proxy Service.
    pub service_host: String,
    /// Proxy `servicePort`.
    pub service_port: i32,
    /// Proxy `portPublic` (what a proxy pod listens on).
    pub public_port: i32,
    /// `spec.apiMode: public`.
    pub public_mode: bool,
    /// Proxies have external access (`proxySpec.externalAccess` or `enableExternalLB`).
    pub via_load_balancer: bool,
    /// `spec.operatorSkipVerifyCrt`.
    pub skip_verify: Option<bool>,
    /// `net.http.client_auth_tls > 0`: AIS wants a client certificate.
    pub client_auth: bool,
}

impl ApiAccess {
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }
}

/// Builds every desired object of `ais`. The spec is defaulted and its deprecated fields are
/// mapped first (both are idempotent), so a raw AIStore from the API server is fine.
pub fn build(ais: &AIStore, facts: &Facts) -> Result<Desired, BuildError> {
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &facts.defaults));
    build_with_spec(ais, spec, facts)
}

/// Like [`build`], with the spec already defaulted and mapped (the reconcile does that once).
pub fn build_with_spec(
    ais: &AIStore,
    spec: AIStoreSpec,
    facts: &Facts,
) -> Result<Desired, BuildError> {
    let cluster = Cluster::with_spec(ais, spec, facts)?;
    let global = config::global_config(&cluster)?;
    let global_text = config::to_json(&global, "global config")?;
    let config_hash = config::sha256_hex(global_text.as_bytes());
    let restart_hash = config::restart_hash(&global, facts.previous_restart_hash.as_deref())?;
    Ok(Desired {
        service_account: rbac::service_account(&cluster),
        role: rbac::role(&cluster),
        role_binding: rbac::role_binding(&cluster),
        global_config_map: config::global_config_map(&cluster, global_text)?,
        proxy_config_map: config::local_config_map(&cluster, Role::Proxy)?,
        target_config_map: config::local_config_map(&cluster, Role::Target)?,
        proxy_service: services::headless(&cluster, Role::Proxy),
        target_service: services::headless(&cluster, Role::Target),
        proxy_lb_service: services::proxy_lb(&cluster),
        target_lb_services: services::target_lbs(&cluster),
        proxy_statefulset: proxy::statefulset(&cluster, &restart_hash)?,
        target_statefulset: target::statefulset(&cluster, &restart_hash)?,
        certificate: tls::certificate(&cluster)?,
        target_pdb: pdb::target_pdb(&cluster),
        admin_client: admin_client::deployment(&cluster),
        intra_cluster_url: cluster.intra_cluster_url(),
        api: cluster.api_access(),
        replicas: PerRole {
            proxy: cluster.proxy_replicas,
            target: cluster.target_replicas,
        },
        global_config: global,
        config_hash,
        restart_hash,
    })
}

/// The four ports of a role, as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports {
    /// `servicePort`.
    pub service: i32,
    /// `portPublic`.
    pub public: i32,
    /// `portIntraControl`.
    pub intra_control: i32,
    /// `portIntraData`.
    pub intra_data: i32,
}

/// An AIStore prepared for the builders: effective spec, identity and resolved values.
#[derive(Clone, Debug)]
pub struct Cluster<'a> {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// The defaulted spec with deprecated fields mapped onto their replacements.
    pub spec: AIStoreSpec,
    /// Owner reference to the AIStore (controller, blockOwnerDeletion).
    pub owner: OwnerReference,
    /// Cluster DNS domain (`spec.clusterDomain` or the discovered one).
    pub domain: String,
    /// What the controller observed.
    pub facts: &'a Facts,
    /// Proxy replicas (autoscale resolved).
    pub proxy_replicas: i32,
    /// Target replicas (autoscale resolved).
    pub target_replicas: i32,
    proxy_ports: Ports,
    target_ports: Ports,
}

impl<'a> Cluster<'a> {
    /// Prepares `ais` for the builders.
    pub fn new(ais: &AIStore, facts: &'a Facts) -> Result<Self, BuildError> {
        let spec =
            ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &facts.defaults));
        Self::with_spec(ais, spec, facts)
    }

    /// Prepares `ais` with its effective spec (defaulted, deprecated fields mapped).
    pub fn with_spec(
        ais: &AIStore,
        spec: AIStoreSpec,
        facts: &'a Facts,
    ) -> Result<Self, BuildError> {
        let name = ais
            .metadata
            .name
            .clone()
            .ok_or(BuildError::MissingMetadata("name"))?;
        let namespace = ais
            .metadata
            .namespace
            .clone()
            .ok_or(BuildError::MissingMetadata("namespace"))?;
        let uid = ais
            .metadata
            .uid
            .clone()
            .ok_or(BuildError::MissingMetadata("uid"))?;
        let owner = OwnerReference {
            api_version: AIStore::api_version(&()).into_owned(),
            kind: AIStore::kind(&()).into_owned(),
            name: name.clone(),
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let domain = spec
            .cluster_domain
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| facts.cluster_domain.clone());
        let proxy_replicas = replicas(
            Role::Proxy,
            spec.proxy_size(),
            &spec.proxy_spec,
            &facts.autoscale_proxy_nodes,
        )?;
        let target_replicas = replicas(
            Role::Target,
            spec.target_size(),
            &spec.target_spec.daemon,
            &facts.autoscale_target_nodes,
        )?;
        let proxy_ports = ports("proxySpec", &spec.proxy_spec)?;
        let target_ports = ports("targetSpec", &spec.target_spec.daemon)?;
        Ok(Self {
            name,
            namespace,
            spec,
            owner,
            domain,
            facts,
            proxy_replicas,
            target_replicas,
            proxy_ports,
            target_ports,
        })
    }

    /// Metadata of an owned object in the AIStore's namespace.
    pub fn meta(&self, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// The role's daemon settings.
    pub fn daemon(&self, role: Role) -> &DaemonSpec {
        match role {
            Role::Proxy => &self.spec.proxy_spec,
            Role::Target => &self.spec.target_spec.daemon,
        }
    }

    /// The role's ports.
    pub fn ports(&self, role: Role) -> Ports {
        match role {
            Role::Proxy => self.proxy_ports,
            Role::Target => self.target_ports,
        }
    }

    /// The role's desired replica count.
    pub fn replicas(&self, role: Role) -> i32 {
        match role {
            Role::Proxy => self.proxy_replicas,
            Role::Target => self.target_replicas,
        }
    }

    /// Whether the role is exposed through LoadBalancer Services.
    pub fn external_access(&self, role: Role) -> bool {
        self.daemon(role).external_access.is_some()
    }

    /// `configToUpdate.net.http.use_https`: the only switch that turns HTTPS on.
    pub fn use_https(&self) -> bool {
        self.spec
            .config_to_update
            .as_ref()
            .and_then(|c| c.net.as_ref())
            .and_then(|n| n.http.as_ref())
            .and_then(|h| h.use_https)
            .unwrap_or(false)
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.use_https() { "https" } else { "http" }
    }

    /// How the operator reaches the AIS API.
    pub fn api_access(&self) -> ApiAccess {
        let ports = self.ports(Role::Proxy);
        let client_auth = self
            .spec
            .config_to_update
            .as_ref()
            .and_then(|c| c.net.as_ref())
            .and_then(|n| n.http.as_ref())
            .and_then(|h| h.client_auth_tls)
            .is_some_and(|v| v > 0);
        ApiAccess {
            https: self.use_https(),
            service_host: self.service_fqdn(Role::Proxy),
            service_port: ports.service,
            public_port: ports.public,
            public_mode: self.spec.api_mode.as_deref() == Some("public"),
            via_load_balancer: self.external_access(Role::Proxy),
            skip_verify: self.spec.operator_skip_verify_crt,
            client_auth,
        }
    }

    /// Name of the role's StatefulSet, headless Service and ConfigMap.
    pub fn role_object(&self, role: Role) -> String {
        names::role_object(&self.name, role)
    }

    /// FQDN of the role's headless Service.
    pub fn service_fqdn(&self, role: Role) -> String {
        names::service_fqdn(&self.role_object(role), &self.namespace, &self.domain)
    }

    /// `status.intraClusterURL`: the proxy Service on the proxies' public port.
    pub fn intra_cluster_url(&self) -> String {
        format!(
            "{}://{}:{}",
            self.scheme(),
            self.service_fqdn(Role::Proxy),
            self.proxy_ports.public
        )
    }

    /// Selector labels of a role's pods.
    pub fn selector(&self, role: Role) -> BTreeMap<String, String> {
        labels::selector(&self.name, role.as_str())
    }
}

fn replicas(
    role: Role,
    size: Option<i32>,
    daemon: &DaemonSpec,
    nodes: &[String],
) -> Result<i32, BuildError> {
    match size {
        None => Err(BuildError::MissingSize { role }),
        Some(ais_crd::AUTOSCALE) => {
            let found = i32::try_from(nodes.len()).unwrap_or(i32::MAX);
            let limit = daemon
                .auto_scale
                .as_ref()
                .and_then(|a| a.size_limit)
                .unwrap_or(i32::MAX);
            Ok(found.min(limit))
        }
        Some(n) => Ok(n.max(0)),
    }
}

fn ports(prefix: &str, daemon: &DaemonSpec) -> Result<Ports, BuildError> {
    let p = &daemon.ports;
    Ok(Ports {
        service: port(prefix, "servicePort", p.service_port.as_ref())?,
        public: port(prefix, "portPublic", p.port_public.as_ref())?,
        intra_control: port(prefix, "portIntraControl", p.port_intra_control.as_ref())?,
        intra_data: port(prefix, "portIntraData", p.port_intra_data.as_ref())?,
    })
}

fn port(prefix: &str, field: &str, value: Option<&IntOrString>) -> Result<i32, BuildError> {
    let invalid = |value: String| BuildError::InvalidPort {
        field: format!("spec.{prefix}.{field}"),
        value,
    };
    let n = match value {
        None => return Err(invalid(String::new())),
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => s.trim().parse().map_err(|_| invalid(s.clone()))?,
    };
    if (1..=65535).contains(&n) {
        Ok(n)
    } else {
        Err(invalid(n.to_string()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::testing::{aistore, facts};
    use super::*;

    #[test]
    fn every_object_is_owned_by_the_aistore() {
        let d = build(&aistore(), &facts()).unwrap();
        let metas = [
            &d.service_account.metadata,
            &d.role.metadata,
            &d.role_binding.metadata,
            &d.global_config_map.metadata,
            &d.proxy_config_map.metadata,
            &d.target_config_map.metadata,
            &d.proxy_service.metadata,
            &d.target_service.metadata,
            &d.proxy_statefulset.metadata,
            &d.target_statefulset.metadata,
        ];
        for meta in metas {
            let owners = meta.owner_references.as_ref().unwrap();
            assert_eq!(owners.len(), 1);
            let o = &owners[0];
            assert_eq!(o.kind, "AIStore");
            assert_eq!(o.api_version, "ais.nvidia.com/v1beta1");
            assert_eq!(o.name, "ais");
            assert_eq!(o.uid, "00000000-0000-0000-0000-000000000001");
            assert_eq!(o.controller, Some(true));
            assert_eq!(o.block_owner_deletion, Some(true));
            assert_eq!(meta.namespace.as_deref(), Some("ais"));
            let l = meta.labels.as_ref().unwrap();
            assert_eq!(l[labels::NAME], "ais");
            assert_eq!(l[labels::MANAGED_BY], "ais-operator");
            assert!(l.contains_key(labels::COMPONENT));
        }
    }

    #[test]
    fn missing_metadata_is_reported() {
        let mut ais = aistore();
        ais.metadata.uid = None;
        let err = build(&ais, &facts()).unwrap_err();
        assert_eq!(err.to_string(), "AIStore has no metadata.uid");
    }

    #[test]
    fn missing_size_is_reported() {
        let mut ais = aistore();
        ais.spec.size = None;
        let err = build(&ais, &facts()).unwrap_err();
        assert!(matches!(err, BuildError::MissingSize { role: Role::Proxy }));
    }

    #[test]
    fn string_ports_are_numbers() {
        let mut ais = aistore();
        ais.spec.proxy_spec.ports.port_public = Some(IntOrString::String("51090".into()));
        let c_facts = facts();
        let c = Cluster::new(&ais, &c_facts).unwrap();
        assert_eq!(c.ports(Role::Proxy).public, 51090);
        ais.spec.proxy_spec.ports.port_public = Some(IntOrString::String("http".into()));
        let err = Cluster::new(&ais, &c_facts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.proxySpec.portPublic: \"http\" is not a port number (1-65535)"
        );
    }

    #[test]
    fn autoscale_replicas_follow_nodes_and_limit() {
        let mut ais = aistore();
        ais.spec.size = Some(-1);
        ais.spec.target_spec.daemon.auto_scale = Some(ais_crd::daemon::AutoScaleConf {
            size_limit: Some(2),
            max_unavailable: None,
        });
        let mut f = facts();
        f.autoscale_proxy_nodes = vec!["n1".into(), "n2".into(), "n3".into()];
        f.autoscale_target_nodes = vec!["n1".into(), "n2".into(), "n3".into()];
        let c = Cluster::new(&ais, &f).unwrap();
        assert_eq!(c.proxy_replicas, 3);
        assert_eq!(c.target_replicas, 2);
    }

    #[test]
    fn cluster_domain_override_and_intra_url() {
        let mut ais = aistore();
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        assert_eq!(
            c.intra_cluster_url(),
            "http://ais-proxy.ais.svc.cluster.local:51080"
        );
        ais.spec.cluster_domain = Some("corp.example".into());
        let c = Cluster::new(&ais, &f).unwrap();
        assert_eq!(c.domain, "corp.example");
        ais.spec.proxy_spec.ports.port_public = Some(IntOrString::Int(52080));
        let c = Cluster::new(&ais, &f).unwrap();
        assert_eq!(
            c.intra_cluster_url(),
            "http://ais-proxy.ais.svc.corp.example:52080"
        );
    }
}
