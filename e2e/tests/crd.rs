//! The generated CRD on a real API server: it installs, every reference sample applies with
//! `--validate=strict`, the schema defaults and CEL rules act as in the reference operator, and
//! the printer columns and `kubectl explain` show what they should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use ais_e2e::{Namespace, install_crd, kubectl, kubectl_ok};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The AIStore documents of a sample file, without their namespace.
fn aistore_docs(file: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| <serde_json::Value as serde::Deserialize>::deserialize(doc).unwrap())
        .filter(|d| d["kind"] == "AIStore")
        .map(|mut d| {
            d["metadata"].as_object_mut().unwrap().remove("namespace");
            d
        })
        .collect()
}

#[test]
fn every_reference_sample_applies_with_strict_validation() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns = Namespace::create("e2e-crd", &[]);
    let reference = std::env::var("AIS_REFERENCE_DIR")
        .map_or_else(|_| repo().join("../shared/reference/data"), PathBuf::from);
    let mut applied = 0;
    for dir in std::fs::read_dir(&reference).unwrap() {
        let dir = dir.unwrap().path();
        if !dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("samples-")
        {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            for doc in aistore_docs(&file) {
                let name = doc["metadata"]["name"].as_str().unwrap().to_string();
                let out = kubectl(
                    &["apply", "--validate=strict", "-n", &ns.0, "-f", "-"],
                    Some(&doc.to_string()),
                );
                assert!(
                    out.status.success(),
                    "{}: {name}: {}",
                    file.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                kubectl_ok(
                    &["delete", "aistore", "-n", &ns.0, &name, "--wait=false"],
                    None,
                );
                applied += 1;
            }
        }
    }
    assert!(applied >= 11, "only {applied} samples applied");
}

fn minimal(name: &str, extra: serde_json::Value) -> String {
    let mut doc = serde_json::json!({
        "apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore", "metadata": {"name": name},
        "spec": {
            "size": 1, "nodeImage": "n:1", "initImage": "i:1",
            "proxySpec": {"servicePort": 51080, "portPublic": 51080, "portIntraControl": 51082, "portIntraData": 51083},
            "targetSpec": {"servicePort": 51081, "portPublic": 51081, "portIntraControl": 51082, "portIntraData": 51083,
                           "mounts": [{"path": "/ais1", "size": "1Gi"}]}
        }
    });
    merge(&mut doc["spec"], &extra);
    doc.to_string()
}

fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

#[test]
fn schema_defaults_and_cel_rules_match_the_reference() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns = Namespace::create("e2e-cel", &[]);
    kubectl_ok(
        &["apply", "-n", &ns.0, "-f", "-"],
        Some(&minimal(
            "defaults",
            serde_json::json!({"tls": {"certificate": {"issuerRef": {"name": "ca"}}}}),
        )),
    );
    let got: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["get", "aistore", "-n", &ns.0, "defaults", "-o", "json"],
        None,
    ))
    .unwrap();
    assert_eq!(got["spec"]["publicNetDNSMode"], "IP");
    assert_eq!(
        got["spec"]["targetSpec"]["scaleDownMode"],
        "safe_decommission"
    );
    assert_eq!(got["spec"]["tls"]["certificate"]["mode"], "secret");
    assert_eq!(
        got["spec"]["tls"]["certificate"]["issuerRef"]["kind"],
        "ClusterIssuer"
    );

    let rejected = [
        (
            serde_json::json!({"size": null}),
            "Invalid cluster size, it is either not specified or value is not valid",
        ),
        (
            serde_json::json!({"cleanupData": true}),
            "cleanupData requires cleanupMetadata to be enabled",
        ),
        (
            serde_json::json!({"stateStorage": {"emptyDir": {}, "pvc": {"storageClass": "x"}}}),
            "exactly one of hostPath, pvc, or emptyDir must be set",
        ),
        (
            serde_json::json!({"tls": {"secretName": "s", "certificate": {"issuerRef": {"name": "i"}}}}),
            "specify only one: secretName or certificate",
        ),
        (
            serde_json::json!({"auth": {"serviceURL": "https://x"}}),
            "exactly one of usernamePassword or tokenExchange must be specified when profileRef is not set",
        ),
        (
            serde_json::json!({"size": -2}),
            "spec.size: Invalid value: -2: spec.size in body should be greater than or equal to -1",
        ),
        (
            serde_json::json!({"targetSpec": {"scaleDownMode": "wipe"}}),
            "Unsupported value: \"wipe\"",
        ),
        (
            serde_json::json!({"nodeImage": ""}),
            "spec.nodeImage in body should be at least 1 chars long",
        ),
        (
            serde_json::json!({"proxySpec": {"portPublic": null}}),
            "spec.proxySpec.portPublic: Required value",
        ),
    ];
    for (i, (patch, message)) in rejected.iter().enumerate() {
        let out = kubectl(
            &["apply", "-n", &ns.0, "-f", "-"],
            Some(&minimal(&format!("bad-{i}"), patch.clone())),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(message),
            "case {i} ({patch}): expected {message:?}, got {stderr}"
        );
    }

    let explain = kubectl_ok(&["explain", "aistore.spec.targetSpec.mounts.label"], None);
    assert!(
        explain.contains("Mountpaths with the same label may share a disk"),
        "{explain}"
    );
    let table = kubectl_ok(&["get", "ais", "-n", &ns.0], None);
    let header = table.lines().next().unwrap();
    for column in ["NAME", "STATE", "PROXIES", "TARGETS", "AGE"] {
        assert!(header.contains(column), "{header}");
    }
}
