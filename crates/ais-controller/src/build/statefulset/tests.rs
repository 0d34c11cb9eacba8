//! Unit tests of the parent module.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::super::testing::{aistore, facts};
use super::*;

#[test]
fn user_env_comes_first_and_wins_by_name() {
    let user = vec![value_env("B", "user"), value_env("Z", "z")];
    let merged = merge_env(
        Some(&user),
        vec![value_env("A", "op"), value_env("B", "op")],
    );
    let pairs: Vec<_> = merged
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap()))
        .collect();
    assert_eq!(pairs, [("B", "user"), ("Z", "z"), ("A", "op")]);
    assert_eq!(merge_env(None, vec![value_env("A", "1")]).len(), 1);
}

#[test]
fn host_paths_are_prefix_namespace_cluster_role() {
    let ais = aistore();
    let f = facts();
    let c = Cluster::new(&ais, &f).unwrap();
    assert_eq!(host_path(&c, "/etc/ais", "proxy"), "/etc/ais/ais/ais/proxy");
    assert_eq!(
        host_path(&c, "/etc/ais/", "target"),
        "/etc/ais/ais/ais/target"
    );
}

#[test]
fn invalid_log_max_total_is_reported() {
    let mut ais = aistore();
    ais.spec.config_to_update =
        Some(serde_json::from_value(serde_json::json!({"log": {"max_total": "lots"}})).unwrap());
    let f = facts();
    let c = Cluster::new(&ais, &f).unwrap();
    let err = default_ephemeral_storage(&c).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("spec.configToUpdate.log.max_total: \"lots\"")
    );
    ais.spec.config_to_update =
        Some(serde_json::from_value(serde_json::json!({"log": {"max_total": 268435456}})).unwrap());
    let c = Cluster::new(&ais, &f).unwrap();
    assert_eq!(default_ephemeral_storage(&c).unwrap().0, "400Mi");
}

#[test]
fn zero_ephemeral_request_is_defaulted() {
    let mut ais = aistore();
    ais.spec.proxy_spec.resources = Some(ResourceRequirements {
        requests: Some(quantities(&[(EPHEMERAL_STORAGE, "0")])),
        ..ResourceRequirements::default()
    });
    let f = facts();
    let c = Cluster::new(&ais, &f).unwrap();
    let r = node_resources(&c, Role::Proxy).unwrap();
    assert_eq!(r.requests.unwrap()[EPHEMERAL_STORAGE].0, "656Mi");
}

#[test]
fn user_annotations_win() {
    let mut ais = aistore();
    ais.spec.network_attachment = Some("nad".into());
    ais.spec.proxy_spec.annotations = Some(BTreeMap::from([(
        RESTART_HASH_ANNOTATION.to_string(),
        "pinned".to_string(),
    )]));
    let f = facts();
    let c = Cluster::new(&ais, &f).unwrap();
    let a = pod_annotations(&c, Role::Proxy, "h");
    assert_eq!(a[RESTART_HASH_ANNOTATION], "pinned");
    assert_eq!(a[MULTUS_ANNOTATION], "nad");
    assert_eq!(
        pod_annotations(&c, Role::Target, "h")[RESTART_HASH_ANNOTATION],
        "h"
    );
}

#[test]
fn emptydir_state_has_no_subpath() {
    let mut ais = aistore();
    ais.spec.state_storage = Some(ais_crd::storage::StateStorage {
        empty_dir: Some(Default::default()),
        ..Default::default()
    });
    let f = facts();
    let c = Cluster::new(&ais, &f).unwrap();
    let m = common_mounts(&c, Role::Target);
    assert_eq!(m[2].name, "state-mount");
    assert!(m[2].sub_path_expr.is_none());
    let v = common_volumes(&c, Role::Target).unwrap();
    let names: Vec<_> = v.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "config-template",
            "config-mount",
            "config-global",
            "logs-dir",
            "state-mount"
        ]
    );
    assert!(v[4].empty_dir.is_some());
}
