//! The AIS pods' ServiceAccount, Role and RoleBinding (anchor §2.3). The init container reads
//! LoadBalancer Services, hence the Role.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role as RbacRole, RoleBinding, RoleRef, Subject};

use super::{Cluster, labels, names};

/// Component label of the RBAC objects.
pub const COMPONENT: &str = "rbac";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_string()).collect()
}

/// ServiceAccount `<name>-sa` with the spec's image pull secrets.
pub fn service_account(cluster: &Cluster<'_>) -> ServiceAccount {
    ServiceAccount {
        metadata: cluster.meta(
            names::service_account(&cluster.name),
            labels::object(&cluster.name, COMPONENT),
        ),
        image_pull_secrets: cluster.spec.image_pull_secrets.clone(),
        ..ServiceAccount::default()
    }
}

/// Role `<name>-role`: pods and services (get, list, watch, create, update, delete) and
/// `pods/log` (get).
pub fn role(cluster: &Cluster<'_>) -> RbacRole {
    RbacRole {
        metadata: cluster.meta(
            names::rbac_role(&cluster.name),
            labels::object(&cluster.name, COMPONENT),
        ),
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(strings(&[""])),
                resources: Some(strings(&["pods", "services"])),
                verbs: strings(&["get", "list", "watch", "create", "update", "delete"]),
                ..PolicyRule::default()
            },
            PolicyRule {
                api_groups: Some(strings(&[""])),
                resources: Some(strings(&["pods/log"])),
                verbs: strings(&["get"]),
                ..PolicyRule::default()
            },
        ]),
    }
}

/// RoleBinding `<name>-rb` of the Role to the ServiceAccount.
pub fn role_binding(cluster: &Cluster<'_>) -> RoleBinding {
    RoleBinding {
        metadata: cluster.meta(
            names::role_binding(&cluster.name),
            labels::object(&cluster.name, COMPONENT),
        ),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "Role".to_string(),
            name: names::rbac_role(&cluster.name),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: names::service_account(&cluster.name),
            namespace: Some(cluster.namespace.clone()),
            ..Subject::default()
        }]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use k8s_openapi::api::core::v1::LocalObjectReference;

    use super::super::testing::{aistore, facts};
    use super::*;

    #[test]
    fn rbac_objects() {
        let mut ais = aistore();
        ais.spec.image_pull_secrets = Some(vec![LocalObjectReference {
            name: "regcred".into(),
        }]);
        let f = facts();
        let c = Cluster::new(&ais, &f).unwrap();
        let sa = service_account(&c);
        assert_eq!(sa.metadata.name.as_deref(), Some("ais-sa"));
        assert_eq!(sa.image_pull_secrets.unwrap()[0].name, "regcred");
        let r = role(&c);
        assert_eq!(r.metadata.name.as_deref(), Some("ais-role"));
        let rules = r.rules.unwrap();
        assert_eq!(rules[0].verbs.len(), 6);
        assert_eq!(rules[1].resources.as_ref().unwrap()[0], "pods/log");
        let rb = role_binding(&c);
        assert_eq!(rb.metadata.name.as_deref(), Some("ais-rb"));
        assert_eq!(rb.role_ref.name, "ais-role");
        let s = &rb.subjects.unwrap()[0];
        assert_eq!(s.name, "ais-sa");
        assert_eq!(s.namespace.as_deref(), Some("ais"));
    }
}
