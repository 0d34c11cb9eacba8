//! Taking over a cluster the reference operator v3.4.0 made (`../shared/reference/data/
//! go-operator-v3.4.0/mig3`): the pod templates this operator builds for that AIStore must not
//! differ from the live ones in anything that rolls pods.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use ais_controller::build::{self, Facts, PodSettings, Role};
use ais_controller::pod_template::{Ownership, template_change};
use ais_crd::{AIStore, Defaults};
use k8s_openapi::api::apps::v1::StatefulSet;

fn fixture_dir() -> Option<PathBuf> {
    let dir = std::env::var("AIS_REFERENCE_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/data"),
        PathBuf::from,
    );
    let dir = dir.join("go-operator-v3.4.0/mig3");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("AIS_REFERENCE_REQUIRED").as_deref() != Ok("1"),
        "{} is missing; AIS_REFERENCE_REQUIRED=1 makes that a failure",
        dir.display()
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {} not found", dir.display());
    None
}

#[test]
fn the_reference_operators_templates_roll_nothing() {
    let Some(dir) = fixture_dir() else { return };
    let ais: AIStore =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("aistore.yaml")).unwrap()).unwrap();
    let objects: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("objects.yaml")).unwrap()).unwrap();
    let sts = |name: &str| -> StatefulSet {
        let item = objects["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "StatefulSet" && o["metadata"]["name"] == name)
            .unwrap();
        serde_json::from_value(item.clone()).unwrap()
    };
    // The fixture's operator ran with these flags (its README).
    let facts = Facts {
        rebalance_allowed: true,
        previous_restart_hash: ais
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("config.aistore.nvidia.com/restart-hash").cloned()),
        ..Facts::unobserved(
            "cluster.local".into(),
            Defaults::default(),
            PodSettings {
                image_pull_policy: Some("IfNotPresent".into()),
                init_cpu: Some("100m".into()),
                init_memory: Some("128Mi".into()),
            },
        )
    };
    let desired = build::build(&ais, &facts).unwrap();
    let mut problems = Vec::new();
    for role in [Role::Proxy, Role::Target] {
        let name = format!("{}-{role}", ais.metadata.name.clone().unwrap());
        let live = sts(&name);
        let change = template_change(
            &live.spec.as_ref().unwrap().template,
            &desired.statefulset(role).spec.as_ref().unwrap().template,
            &Ownership::of(&live),
        );
        if let Some(change) = change {
            problems.push(format!("{name}: {change}"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
