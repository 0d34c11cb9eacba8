//! The inventory: every object the operator owns for one AIStore, as one value, and the rule
//! that decides which owned objects found in the cluster have left it.
//!
//! The applier, the orphan sweep, the deletion and `render` all walk [`Desired::inventory`],
//! which destructures [`Desired`] without `..`: a new owned object does not compile until it is
//! listed there, and from then on it is applied, swept when it leaves the desired set, and
//! deleted with the cluster.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role as RbacRole, RoleBinding};
use kube::core::DynamicObject;
use serde::Serialize;

use super::ApiAccess;
use super::names::{self, PerRole, Role};

/// Every object the operator wants for one AIStore, plus the values it writes back to it.
#[derive(Clone, Debug, Serialize)]
pub struct Desired {
    /// `<name>-sa`.
    pub service_account: ServiceAccount,
    /// `<name>-role`.
    pub role: RbacRole,
    /// `<name>-rb`.
    pub role_binding: RoleBinding,
    /// `<name>-global-cm`.
    pub global_config_map: ConfigMap,
    /// `<name>-proxy` (local config template).
    pub proxy_config_map: ConfigMap,
    /// `<name>-target` (local config template).
    pub target_config_map: ConfigMap,
    /// Headless `<name>-proxy`.
    pub proxy_service: Service,
    /// Headless `<name>-target`.
    pub target_service: Service,
    /// `<name>-proxy-lb`, when proxies have external access.
    pub proxy_lb_service: Option<Service>,
    /// `<name>-target-<i>` for every target ordinal, when targets have external access.
    pub target_lb_services: Vec<Service>,
    /// `<name>-proxy`.
    pub proxy_statefulset: StatefulSet,
    /// `<name>-target`.
    pub target_statefulset: StatefulSet,
    /// cert-manager Certificate `<name>-tls-cert` (`tls.certificate` with `mode: secret`).
    pub certificate: Option<DynamicObject>,
    /// PodDisruptionBudget `<name>-target`, when enabled.
    pub target_pdb: Option<PodDisruptionBudget>,
    /// Admin client Deployment `<name>-client`, when enabled.
    pub admin_client: Option<Deployment>,
    /// The generated global config (`ais.json`), also the body pushed to the live cluster.
    pub global_config: serde_json::Value,
    /// SHA-256 of `ais.json`: the AIStore annotation `config.aistore.nvidia.com/hash`.
    pub config_hash: String,
    /// The AIStore annotation `config.aistore.nvidia.com/restart-hash`.
    pub restart_hash: String,
    /// `status.intraClusterURL`.
    pub intra_cluster_url: String,
    /// How the operator reaches this cluster's AIS API.
    #[serde(skip)]
    pub api: ApiAccess,
    /// Proxy and target replicas the spec asks for (autoscale resolved).
    #[serde(skip)]
    pub replicas: PerRole<i32>,
}

/// The kinds of object an AIStore owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnedKind {
    /// `v1/ServiceAccount`.
    ServiceAccount,
    /// `rbac.authorization.k8s.io/v1/Role`.
    Role,
    /// `rbac.authorization.k8s.io/v1/RoleBinding`.
    RoleBinding,
    /// `v1/ConfigMap`.
    ConfigMap,
    /// `v1/Service`.
    Service,
    /// `cert-manager.io/v1/Certificate`.
    Certificate,
    /// `policy/v1/PodDisruptionBudget`.
    PodDisruptionBudget,
    /// `apps/v1/Deployment`.
    Deployment,
    /// `apps/v1/StatefulSet`.
    StatefulSet,
}

impl OwnedKind {
    /// Every owned kind.
    pub const ALL: [Self; 9] = [
        Self::ServiceAccount,
        Self::Role,
        Self::RoleBinding,
        Self::ConfigMap,
        Self::Service,
        Self::Certificate,
        Self::PodDisruptionBudget,
        Self::Deployment,
        Self::StatefulSet,
    ];

    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceAccount => "ServiceAccount",
            Self::Role => "Role",
            Self::RoleBinding => "RoleBinding",
            Self::ConfigMap => "ConfigMap",
            Self::Service => "Service",
            Self::Certificate => "Certificate",
            Self::PodDisruptionBudget => "PodDisruptionBudget",
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
        }
    }

    /// Whether an owned object of this kind that left the inventory is deleted while the
    /// cluster runs. StatefulSets are not: both are always desired, and the lifecycle scales
    /// them (a deleted StatefulSet would take every pod of a role at once).
    pub fn swept(self) -> bool {
        !matches!(self, Self::StatefulSet)
    }
}

impl std::fmt::Display for OwnedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One owned object, borrowed from the inventory.
#[derive(Clone, Copy, Debug)]
pub enum Owned<'a> {
    /// A ServiceAccount.
    ServiceAccount(&'a ServiceAccount),
    /// A Role.
    Role(&'a RbacRole),
    /// A RoleBinding.
    RoleBinding(&'a RoleBinding),
    /// A ConfigMap.
    ConfigMap(&'a ConfigMap),
    /// A Service.
    Service(&'a Service),
    /// A cert-manager Certificate.
    Certificate(&'a DynamicObject),
    /// A PodDisruptionBudget.
    PodDisruptionBudget(&'a PodDisruptionBudget),
    /// A Deployment.
    Deployment(&'a Deployment),
    /// A StatefulSet.
    StatefulSet(&'a StatefulSet),
}

impl Owned<'_> {
    /// The object's kind.
    pub fn kind(&self) -> OwnedKind {
        match self {
            Self::ServiceAccount(_) => OwnedKind::ServiceAccount,
            Self::Role(_) => OwnedKind::Role,
            Self::RoleBinding(_) => OwnedKind::RoleBinding,
            Self::ConfigMap(_) => OwnedKind::ConfigMap,
            Self::Service(_) => OwnedKind::Service,
            Self::Certificate(_) => OwnedKind::Certificate,
            Self::PodDisruptionBudget(_) => OwnedKind::PodDisruptionBudget,
            Self::Deployment(_) => OwnedKind::Deployment,
            Self::StatefulSet(_) => OwnedKind::StatefulSet,
        }
    }

    /// `metadata.name` (the builders always set it).
    pub fn name(&self) -> &str {
        let meta = match self {
            Self::ServiceAccount(o) => &o.metadata,
            Self::Role(o) => &o.metadata,
            Self::RoleBinding(o) => &o.metadata,
            Self::ConfigMap(o) => &o.metadata,
            Self::Service(o) => &o.metadata,
            Self::Certificate(o) => &o.metadata,
            Self::PodDisruptionBudget(o) => &o.metadata,
            Self::Deployment(o) => &o.metadata,
            Self::StatefulSet(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }

    /// The object as JSON.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            Self::ServiceAccount(o) => serde_json::to_value(o),
            Self::Role(o) => serde_json::to_value(o),
            Self::RoleBinding(o) => serde_json::to_value(o),
            Self::ConfigMap(o) => serde_json::to_value(o),
            Self::Service(o) => serde_json::to_value(o),
            Self::Certificate(o) => serde_json::to_value(o),
            Self::PodDisruptionBudget(o) => serde_json::to_value(o),
            Self::Deployment(o) => serde_json::to_value(o),
            Self::StatefulSet(o) => serde_json::to_value(o),
        }
    }
}

impl Desired {
    /// The StatefulSet of `role`.
    pub fn statefulset(&self, role: Role) -> &StatefulSet {
        match role {
            Role::Proxy => &self.proxy_statefulset,
            Role::Target => &self.target_statefulset,
        }
    }

    /// Every owned object, in apply order: prerequisites first, StatefulSets last.
    pub fn inventory(&self) -> Vec<Owned<'_>> {
        // No `..`: a new field must be placed here, or marked as not an object.
        let Desired {
            service_account,
            role,
            role_binding,
            global_config_map,
            proxy_config_map,
            target_config_map,
            proxy_service,
            target_service,
            proxy_lb_service,
            target_lb_services,
            proxy_statefulset,
            target_statefulset,
            certificate,
            target_pdb,
            admin_client,
            global_config: _,
            config_hash: _,
            restart_hash: _,
            intra_cluster_url: _,
            api: _,
            replicas: _,
        } = self;
        let mut out = vec![
            Owned::ServiceAccount(service_account),
            Owned::Role(role),
            Owned::RoleBinding(role_binding),
            Owned::ConfigMap(global_config_map),
            Owned::ConfigMap(proxy_config_map),
            Owned::ConfigMap(target_config_map),
            Owned::Service(proxy_service),
            Owned::Service(target_service),
        ];
        out.extend(proxy_lb_service.iter().map(Owned::Service));
        out.extend(target_lb_services.iter().map(Owned::Service));
        out.extend(certificate.iter().map(Owned::Certificate));
        out.extend(target_pdb.iter().map(Owned::PodDisruptionBudget));
        out.extend(admin_client.iter().map(Owned::Deployment));
        out.push(Owned::StatefulSet(proxy_statefulset));
        out.push(Owned::StatefulSet(target_statefulset));
        out
    }

    /// The objects applied before any StatefulSet (everything but the StatefulSets, whose
    /// replicas and template the lifecycle chooses).
    pub fn prerequisites(&self) -> impl Iterator<Item = Owned<'_>> {
        self.inventory()
            .into_iter()
            .filter(|o| o.kind() != OwnedKind::StatefulSet)
    }

    /// Every object, in apply order, as JSON.
    pub fn objects(&self) -> Vec<serde_json::Value> {
        self.inventory()
            .iter()
            .filter_map(|o| o.to_json().ok())
            .collect()
    }

    /// Kind and name of every owned object.
    pub fn names(&self) -> BTreeSet<(OwnedKind, String)> {
        self.inventory()
            .iter()
            .map(|o| (o.kind(), o.name().to_string()))
            .collect()
    }
}

/// An object of an owned kind found in the AIStore's namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its kind.
    pub kind: OwnedKind,
    /// `metadata.name`.
    pub name: String,
    /// UIDs of its owner references.
    pub owners: Vec<String>,
    /// `metadata.deletionTimestamp` is set: it is going already.
    pub deleting: bool,
}

/// The objects every cluster has whatever its spec: what a deletion removes when the spec can
/// no longer be built.
pub fn fixed_names(cluster: &str) -> BTreeSet<(OwnedKind, String)> {
    let mut out = BTreeSet::from([
        (OwnedKind::ServiceAccount, names::service_account(cluster)),
        (OwnedKind::Role, names::rbac_role(cluster)),
        (OwnedKind::RoleBinding, names::role_binding(cluster)),
        (OwnedKind::ConfigMap, names::global_config_map(cluster)),
    ]);
    for role in [Role::Proxy, Role::Target] {
        let object = names::role_object(cluster, role);
        out.insert((OwnedKind::ConfigMap, object.clone()));
        out.insert((OwnedKind::Service, object.clone()));
        out.insert((OwnedKind::StatefulSet, object));
    }
    out
}

/// Owned objects found by name rather than by the cluster's name label: the admin client
/// Deployment (labelled with its own name, `<name>-client`, as the reference labels it, and a
/// Deployment's selector cannot change) and the `<name>-statsd` ConfigMap that v1.x clusters
/// still have (StatsD left AIS in 4.0 and the reference in v3.0.0).
pub fn named_candidates(cluster: &str) -> Vec<(OwnedKind, String)> {
    vec![
        (OwnedKind::Deployment, names::admin_client(cluster)),
        (OwnedKind::ConfigMap, format!("{cluster}-statsd")),
    ]
}

/// The found objects to delete: owned by the AIStore with UID `owner`, of a kind that is swept,
/// and no longer in `desired`. An object the AIStore does not own (a user's Deployment named
/// like the admin client) is never touched, and PVCs are no owned kind at all.
pub fn orphans(
    desired: &BTreeSet<(OwnedKind, String)>,
    found: &[Found],
    owner: &str,
) -> Vec<(OwnedKind, String)> {
    let mut out: Vec<(OwnedKind, String)> = found
        .iter()
        .filter(|f| f.kind.swept())
        .filter(|f| f.owners.iter().any(|uid| uid == owner))
        .map(|f| (f.kind, f.name.clone()))
        .filter(|key| !desired.contains(key))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::testing::{aistore, facts};
    use super::*;

    const UID: &str = "00000000-0000-0000-0000-000000000001";

    fn found(kind: OwnedKind, name: &str, owner: &str) -> Found {
        Found {
            kind,
            name: name.into(),
            owners: vec![owner.into()],
            deleting: false,
        }
    }

    #[test]
    fn the_inventory_lists_every_object_once_statefulsets_last() {
        let mut ais = aistore();
        ais.spec.target_spec.pdb = Some(ais_crd::daemon::PdbSpec {
            enabled: Some(true),
            ..Default::default()
        });
        let d = super::super::build(&ais, &facts()).unwrap();
        let inv = d.inventory();
        assert_eq!(inv.len(), d.names().len(), "a name appears twice");
        let kinds: Vec<OwnedKind> = inv.iter().map(Owned::kind).collect();
        assert_eq!(
            &kinds[kinds.len() - 2..],
            &[OwnedKind::StatefulSet, OwnedKind::StatefulSet]
        );
        assert!(
            d.names()
                .contains(&(OwnedKind::PodDisruptionBudget, "ais-target".into()))
        );
        assert_eq!(d.prerequisites().count(), inv.len() - 2);
        assert_eq!(d.objects().len(), inv.len());
    }

    #[test]
    fn objects_that_left_the_inventory_are_orphans() {
        let d = super::super::build(&aistore(), &facts()).unwrap();
        let desired = d.names();
        let found = vec![
            found(OwnedKind::ConfigMap, "ais-global-cm", UID),
            // pdb.enabled true -> false, admin client disabled, a target LB after scale-down.
            found(OwnedKind::PodDisruptionBudget, "ais-target", UID),
            found(OwnedKind::Deployment, "ais-client", UID),
            found(OwnedKind::Service, "ais-target-2", UID),
            found(OwnedKind::Certificate, "ais-tls-cert", UID),
            found(OwnedKind::ConfigMap, "ais-statsd", UID),
        ];
        assert_eq!(
            orphans(&desired, &found, UID),
            vec![
                (OwnedKind::ConfigMap, "ais-statsd".into()),
                (OwnedKind::Service, "ais-target-2".into()),
                (OwnedKind::Certificate, "ais-tls-cert".into()),
                (OwnedKind::PodDisruptionBudget, "ais-target".into()),
                (OwnedKind::Deployment, "ais-client".into()),
            ]
        );
    }

    #[test]
    fn foreign_objects_and_statefulsets_are_never_orphans() {
        let desired = BTreeSet::new();
        let found = vec![
            // A user's Deployment named like the admin client, owned by something else.
            found(OwnedKind::Deployment, "ais-client", "someone-else"),
            Found {
                kind: OwnedKind::ConfigMap,
                name: "ais-notes".into(),
                owners: vec![],
                deleting: false,
            },
            found(OwnedKind::StatefulSet, "ais-target", UID),
        ];
        assert!(orphans(&desired, &found, UID).is_empty());
    }

    #[test]
    fn every_cluster_has_the_fixed_objects() {
        let d = super::super::build(&aistore(), &facts()).unwrap();
        let fixed = fixed_names("ais");
        assert_eq!(fixed.len(), 10);
        assert!(fixed.is_subset(&d.names()));
    }

    #[test]
    fn objects_without_the_cluster_label_are_found_by_name() {
        let d = super::super::build(&aistore(), &facts()).unwrap();
        let names = named_candidates("ais");
        assert!(names.contains(&(OwnedKind::ConfigMap, "ais-statsd".to_string())));
        // The admin client's own name label is not the cluster's.
        let mut ais = aistore();
        ais.spec.admin_client = Some(ais_crd::admin_client::AdminClientSpec {
            enabled: Some(true),
            ..Default::default()
        });
        let with = super::super::build(&ais, &facts()).unwrap();
        let client = with.admin_client.unwrap();
        assert_ne!(
            client
                .metadata
                .labels
                .unwrap()
                .get(super::super::labels::NAME),
            Some(&"ais".to_string())
        );
        assert!(names.contains(&(OwnedKind::Deployment, "ais-client".to_string())));
        assert!(d.admin_client.is_none());
    }
}
