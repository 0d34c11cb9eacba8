//! Taking over a cluster the reference operator v3.4.0 made (`../shared/reference/data/
//! go-operator-v3.4.0/mig3`): the pod templates this operator builds for that AIStore must not
//! differ from the live ones in anything that rolls pods.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use ais_controller::build::{self, Facts, PodSettings, Role};
use ais_controller::migrate;
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

/// The flags the fixture's operator ran with (its README).
fn fixture_flags() -> Facts {
    Facts::unobserved(
        "cluster.local".into(),
        Defaults::default(),
        PodSettings {
            image_pull_policy: Some("IfNotPresent".into()),
            init_cpu: Some("100m".into()),
            init_memory: Some("128Mi".into()),
        },
    )
}

#[test]
fn migrate_says_no_change_for_the_fixture_and_names_the_field_of_an_edit() {
    let Some(dir) = fixture_dir() else { return };
    let aistores = dir.join("aistore.yaml");
    let found =
        migrate::from_files(&aistores, &dir.join("objects.yaml"), &fixture_flags()).unwrap();
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(lines, ["go-bench/mig3: no change"]);

    // The same cluster, with a target image the reference's spec does not ask for.
    let objects = std::fs::read_to_string(dir.join("objects.yaml")).unwrap();
    let mut value: serde_json::Value = serde_yaml::from_str(&objects).unwrap();
    for item in value["items"].as_array_mut().unwrap() {
        if item["metadata"]["name"] == "mig3-target" && item["kind"] == "StatefulSet" {
            item["spec"]["template"]["spec"]["containers"][0]["image"] =
                "localhost/aistore/aisnode:v1.4.8".into();
        }
    }
    let edited = std::env::temp_dir().join(format!("migrate-edited-{}.yaml", std::process::id()));
    std::fs::write(&edited, serde_yaml::to_string(&value).unwrap()).unwrap();
    let found = migrate::from_files(&aistores, &edited, &fixture_flags()).unwrap();
    let _ = std::fs::remove_file(&edited);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].changes,
        [
            "mig3-target: pod template containers (ais-node) image changed: its pods would be restarted, one at a time"
        ],
        "{}",
        found[0]
    );
}

#[test]
fn templates_without_the_marks_of_later_releases_roll_nothing() {
    let Some(dir) = fixture_dir() else { return };
    // Before v3.3 pods had no managed-by label; a cluster may have no restart hash at all.
    let objects = std::fs::read_to_string(dir.join("objects.yaml")).unwrap();
    let mut value: serde_json::Value = serde_yaml::from_str(&objects).unwrap();
    for item in value["items"].as_array_mut().unwrap() {
        if item["kind"] == "StatefulSet" {
            let meta = &mut item["spec"]["template"]["metadata"];
            meta["labels"]
                .as_object_mut()
                .unwrap()
                .remove("app.kubernetes.io/managed-by");
            meta["annotations"]
                .as_object_mut()
                .unwrap()
                .remove("config.aistore.nvidia.com/restart-hash");
        }
    }
    let edited = std::env::temp_dir().join(format!("migrate-legacy-{}.yaml", std::process::id()));
    std::fs::write(&edited, serde_yaml::to_string(&value).unwrap()).unwrap();
    let found = migrate::from_files(&dir.join("aistore.yaml"), &edited, &fixture_flags()).unwrap();
    let _ = std::fs::remove_file(&edited);
    assert_eq!(found[0].to_string(), "go-bench/mig3: no change");

    // A restart hash that says more than "never restarted" (a net.http change, which needs
    // new pods) is still written where the annotation is missing.
    let mut ais: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("aistore.yaml")).unwrap()).unwrap();
    ais["spec"]["configToUpdate"] =
        serde_json::json!({"net": {"http": {"use_https": false, "idle_conn_time": "7s"}}});
    let ais_file = std::env::temp_dir().join(format!("migrate-ais-{}.yaml", std::process::id()));
    let obj_file = std::env::temp_dir().join(format!("migrate-obj-{}.yaml", std::process::id()));
    std::fs::write(&ais_file, serde_yaml::to_string(&ais).unwrap()).unwrap();
    std::fs::write(&obj_file, serde_yaml::to_string(&value).unwrap()).unwrap();
    let found = migrate::from_files(&ais_file, &obj_file, &fixture_flags()).unwrap();
    let _ = std::fs::remove_file(&ais_file);
    let _ = std::fs::remove_file(&obj_file);
    for role in ["proxy", "target"] {
        let want = format!(
            "mig3-{role}: pod template annotations changed: its pods would be restarted, one at a time"
        );
        assert!(found[0].changes.contains(&want), "{}", found[0]);
    }
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
    let facts = Facts {
        rebalance_allowed: true,
        previous_restart_hash: ais
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("config.aistore.nvidia.com/restart-hash").cloned()),
        ..fixture_flags()
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
