#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn node(name: &str, labels: &[(&str, &str)]) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn requirement(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.into(),
        operator: op.into(),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
    }
}

fn selector(reqs: Vec<NodeSelectorRequirement>) -> NodeSelector {
    NodeSelector {
        node_selector_terms: vec![NodeSelectorTerm {
            match_expressions: Some(reqs),
            match_fields: None,
        }],
    }
}

fn on_host(pod: &str, node: &str) -> TargetData {
    TargetData {
        pod: pod.into(),
        node: node.into(),
        host_paths: vec!["mount /ais1".into()],
        volumes: vec![],
    }
}

fn selecting(labels: &[(&str, &str)]) -> Placement {
    Placement {
        node_selector: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        required: None,
    }
}

#[test]
fn a_selector_that_drops_the_node_of_a_hostpath_target_warns_naming_pod_node_and_label() {
    let nodes = [
        node("n1", &[("disk", "hdd")]),
        node("n2", &[("disk", "ssd")]),
    ];
    let warning = stranded(
        &on_host("ais-target-0", "n1"),
        &nodes,
        &selecting(&[("disk", "ssd")]),
        "spec.targetSpec.nodeSelector",
    )
    .expect("the target's node is excluded");
    assert!(warning.starts_with("spec.targetSpec.nodeSelector: target pod \"ais-target-0\" keeps its data on node \"n1\" (mount /ais1)"), "{warning}");
    assert!(
        warning.contains("nodeSelector disk=ssd, the node has disk=hdd"),
        "{warning}"
    );
    assert!(warning.contains("scaleDownMode: decommission"), "{warning}");
}

#[test]
fn a_selector_that_keeps_the_node_is_silent() {
    let nodes = [node("n1", &[("disk", "ssd"), ("zone", "a")])];
    assert_eq!(
        stranded(
            &on_host("t0", "n1"),
            &nodes,
            &selecting(&[("disk", "ssd")]),
            "f"
        ),
        None
    );
}

#[test]
fn a_target_on_network_storage_can_move_anywhere() {
    let nodes = [node("n1", &[]), node("n2", &[("disk", "ssd")])];
    let target = TargetData {
        pod: "t0".into(),
        node: "n1".into(),
        host_paths: vec![],
        volumes: vec![],
    };
    assert_eq!(
        stranded(&target, &nodes, &selecting(&[("disk", "ssd")]), "f"),
        None
    );
}

#[test]
fn a_zonal_volume_may_move_within_its_zone_but_not_out_of_it() {
    let zonal = (
        "pv-1".to_string(),
        selector(vec![requirement(
            "topology.kubernetes.io/zone",
            "In",
            &["a"],
        )]),
    );
    let target = TargetData {
        pod: "t0".into(),
        node: "n1".into(),
        host_paths: vec![],
        volumes: vec![zonal],
    };
    let nodes = [
        node("n1", &[("topology.kubernetes.io/zone", "a")]),
        node(
            "n2",
            &[("topology.kubernetes.io/zone", "a"), ("disk", "ssd")],
        ),
        node("n3", &[("topology.kubernetes.io/zone", "b"), ("pool", "x")]),
    ];
    assert_eq!(
        stranded(&target, &nodes, &selecting(&[("disk", "ssd")]), "f"),
        None
    );
    let warning = stranded(&target, &nodes, &selecting(&[("pool", "x")]), "f").unwrap();
    assert!(warning.contains("PersistentVolume pv-1"), "{warning}");
    assert!(warning.contains("the node has no label pool"), "{warning}");
}

#[test]
fn required_node_affinity_is_evaluated_with_kubernetes_semantics() {
    let n = node("n1", &[("gen", "5"), ("disk", "ssd")]);
    let with = |reqs| Placement {
        node_selector: BTreeMap::new(),
        required: Some(selector(reqs)),
    };
    assert_eq!(
        with(vec![requirement("disk", "In", &["ssd", "nvme"])]).excludes(&n),
        None
    );
    assert_eq!(
        with(vec![requirement("disk", "NotIn", &["hdd"])]).excludes(&n),
        None
    );
    assert_eq!(
        with(vec![requirement("gen", "Gt", &["4"])]).excludes(&n),
        None
    );
    assert_eq!(
        with(vec![requirement("absent", "DoesNotExist", &[])]).excludes(&n),
        None
    );
    assert!(
        with(vec![requirement("gen", "Lt", &["5"])])
            .excludes(&n)
            .is_some()
    );
    assert!(
        with(vec![requirement("absent", "Exists", &[])])
            .excludes(&n)
            .is_some()
    );
    assert!(
        with(vec![
            requirement("disk", "In", &["ssd"]),
            requirement("gen", "In", &["4"])
        ])
        .excludes(&n)
        .is_some(),
        "the requirements of a term are ANDed"
    );
    let empty_term = Placement {
        node_selector: BTreeMap::new(),
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm::default()],
        }),
    };
    assert!(
        empty_term.excludes(&n).is_some(),
        "an empty term selects nothing"
    );
    let by_name = Placement {
        node_selector: BTreeMap::new(),
        required: Some(NodeSelector {
            node_selector_terms: vec![
                NodeSelectorTerm {
                    match_expressions: Some(vec![requirement("disk", "In", &["hdd"])]),
                    match_fields: None,
                },
                NodeSelectorTerm {
                    match_expressions: None,
                    match_fields: Some(vec![requirement("metadata.name", "In", &["n1"])]),
                },
            ],
        }),
    };
    assert_eq!(
        by_name.excludes(&n),
        None,
        "terms are ORed; matchFields sees the name"
    );
}

#[test]
fn the_changed_field_is_named_and_an_unchanged_placement_is_none() {
    let old = selecting(&[("disk", "hdd")]);
    assert_eq!(old.changed_field(&old.clone()), None);
    assert_eq!(
        selecting(&[("disk", "ssd")]).changed_field(&old),
        Some("spec.targetSpec.nodeSelector")
    );
    let affinity = Placement {
        required: Some(selector(vec![requirement("a", "Exists", &[])])),
        ..old.clone()
    };
    assert_eq!(
        affinity.changed_field(&old),
        Some("spec.targetSpec.affinity.nodeAffinity")
    );
}

#[test]
fn host_paths_are_the_host_path_mounts_and_the_host_path_state() {
    let spec: AIStoreSpec = serde_json::from_value(serde_json::json!({
        "size": 1,
        "stateStorage": {"hostPath": {"prefix": "/etc/ais"}},
        "targetSpec": {"mounts": [
            {"path": "/ais1", "useHostPath": true},
            {"path": "/ais2", "size": "1Gi"}
        ]}
    }))
    .unwrap();
    assert_eq!(host_paths(&spec), ["mount /ais1", "state under /etc/ais"]);
    let on_pvcs: AIStoreSpec = serde_json::from_value(serde_json::json!({
        "size": 1,
        "stateStorage": {"pvc": {"storageClass": "local"}},
        "targetSpec": {"mounts": [{"path": "/ais2", "size": "1Gi"}]}
    }))
    .unwrap();
    assert!(host_paths(&on_pvcs).is_empty());
}
