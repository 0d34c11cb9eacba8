//! Labels and selectors of the objects the operator creates (anchor §2.3).

use std::collections::BTreeMap;

/// Label naming the AIStore a object belongs to.
pub const NAME: &str = "app.kubernetes.io/name";
/// Label naming the part of the cluster (`proxy`, `target`, `proxy-svc`, …).
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// Label naming the operator that manages the object.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "ais-operator";
/// Legacy (pre-v3) label with the cluster name.
pub const LEGACY_APP: &str = "app";
/// Legacy (pre-v3) label with the component, on StatefulSets and pods.
pub const LEGACY_COMPONENT: &str = "component";
/// Label the StatefulSet controller puts on each pod; target LB Services select on it.
pub const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";

/// Component of the headless Service of a role (`proxy-svc`, `target-svc`).
pub fn headless_component(role: &str) -> String {
    format!("{role}-svc")
}

/// Component of the LoadBalancer Services of a role (`proxy-lb`, `target-lb`).
pub fn lb_component(role: &str) -> String {
    format!("{role}-lb")
}

/// Selector of a component's pods: the cluster name and the component, nothing else (the
/// selector of StatefulSets since v3.0.0).
pub fn selector(cluster: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_string(), cluster.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ])
}

/// Labels of an object that is no pod or StatefulSet: legacy `app`, name, component and
/// managed-by.
pub fn object(cluster: &str, component: &str) -> BTreeMap<String, String> {
    let mut labels = selector(cluster, component);
    labels.insert(LEGACY_APP.to_string(), cluster.to_string());
    labels.insert(MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string());
    labels
}

/// Labels of a StatefulSet or Deployment and its pods: [`object`] plus the legacy `component`
/// key, over the user's labels (the operator's keys win).
pub fn workload(
    cluster: &str,
    component: &str,
    user: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut labels = user.cloned().unwrap_or_default();
    labels.extend(object(cluster, component));
    labels.insert(LEGACY_COMPONENT.to_string(), component.to_string());
    labels
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn selector_has_only_the_two_keys() {
        let s = selector("ais", "proxy");
        assert_eq!(s.len(), 2);
        assert_eq!(s[NAME], "ais");
        assert_eq!(s[COMPONENT], "proxy");
    }

    #[test]
    fn workload_labels_win_over_user_labels() {
        let user = BTreeMap::from([
            (NAME.to_string(), "evil".to_string()),
            ("team".to_string(), "storage".to_string()),
        ]);
        let l = workload("ais", "target", Some(&user));
        assert_eq!(l[NAME], "ais");
        assert_eq!(l[COMPONENT], "target");
        assert_eq!(l[LEGACY_APP], "ais");
        assert_eq!(l[LEGACY_COMPONENT], "target");
        assert_eq!(l[MANAGED_BY], MANAGED_BY_VALUE);
        assert_eq!(l["team"], "storage");
    }

    #[test]
    fn object_labels() {
        let l = object("ais", &headless_component("proxy"));
        assert_eq!(l[COMPONENT], "proxy-svc");
        assert_eq!(l[LEGACY_APP], "ais");
        assert!(!l.contains_key(LEGACY_COMPONENT));
        assert_eq!(lb_component("target"), "target-lb");
    }
}
