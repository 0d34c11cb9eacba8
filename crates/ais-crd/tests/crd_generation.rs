//! The committed CRD files are exactly what the code generates, and the generated schema covers
//! every property of the reference CRDs (v3.4.0 and v1.7.0) with the same type.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use ais_crd::crd::{aistore_crd, aistore_crd_value, aistore_crd_yaml};
use serde_json::Value;

#[test]
fn committed_crd_matches_generated() {
    let generated = aistore_crd_yaml().unwrap();
    let root = common::repo_root();
    let committed =
        std::fs::read_to_string(root.join("deploy/crds/ais.nvidia.com_aistores.yaml")).unwrap();
    assert!(
        committed == generated,
        "deploy/crds/ais.nvidia.com_aistores.yaml is stale: run `just crds` and commit"
    );
    let chart = std::fs::read_to_string(
        root.join("charts/ais-operator/templates/crds/ais.nvidia.com_aistores.yaml"),
    )
    .unwrap();
    assert!(
        chart.contains(&generated),
        "the chart's CRD is stale: run `just crds` and commit"
    );
}

#[test]
fn crd_identity_and_printer_columns() {
    let crd = aistore_crd().unwrap();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("aistores.ais.nvidia.com")
    );
    assert_eq!(crd.spec.group, "ais.nvidia.com");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["ais".to_string()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1beta1");
    assert!(version.subresources.as_ref().unwrap().status.is_some());
    let columns: Vec<&str> = version
        .additional_printer_columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["State", "Proxies", "Targets", "Age"]);
}

/// Flattens a schema into `path -> type`, where the type is `int-or-string` for such values.
fn walk(schema: &Value, path: String, out: &mut BTreeMap<String, String>) {
    let ty = if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        "int-or-string".to_string()
    } else {
        schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    out.insert(path.clone(), ty);
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            walk(v, format!("{path}.{k}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(items, format!("{path}[]"), out);
    }
    if let Some(ap) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        walk(ap, format!("{path}{{}}"), out);
    }
}

fn schema_paths(crd: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        String::new(),
        &mut out,
    );
    out
}

fn reference_paths(version: &str) -> Option<BTreeMap<String, String>> {
    let path = common::reference_dir()?.join(format!("crd-{version}/ais.nvidia.com_aistores.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let value: Value = serde_yaml::from_str(&text).unwrap();
    Some(schema_paths(&value))
}

/// Values deliberately widened from string to int-or-string, so v1.x manifests that wrote
/// integers there keep applying (docs/api.md).
const WIDENED: &[&str] = &[
    ".spec.configToUpdate.log.max_size",
    ".spec.configToUpdate.log.max_total",
    ".spec.configToUpdate.memsys.default_buf",
    ".spec.configToUpdate.memsys.min_free",
    ".spec.configToUpdate.memsys.to_gc",
    ".spec.configToUpdate.fshc.io_err_time",
];

/// Fields of embedded Kubernetes types that are newer than the Kubernetes API level the
/// operator is built against (1.33, the oldest kube 5 supports): `EnvVar.valueFrom.fileKeyRef`
/// is alpha in 1.34. They appear once the API level is raised (docs/api.md).
fn newer_kubernetes_field(path: &str) -> bool {
    path.contains(".env[].valueFrom.fileKeyRef")
}

/// Root properties every Kubernetes object has; the API server supplies their schema.
const IMPLICIT: &[&str] = &[".apiVersion", ".kind", ".metadata"];

fn assert_covers(version: &str) {
    let ours = schema_paths(&aistore_crd_value().unwrap());
    let Some(reference) = reference_paths(version) else {
        return;
    };
    let mut problems = Vec::new();
    for (path, ty) in reference {
        if IMPLICIT.contains(&path.as_str()) || newer_kubernetes_field(&path) {
            continue;
        }
        match ours.get(&path) {
            None => problems.push(format!("missing {path} ({ty})")),
            Some(our) if our == &ty => {}
            Some(our) if our == "int-or-string" && WIDENED.contains(&path.as_str()) => {}
            Some(our) => problems.push(format!("{path}: reference {ty}, ours {our}")),
        }
    }
    assert!(
        problems.is_empty(),
        "schema differs from {version}:\n{}",
        problems.join("\n")
    );
}

#[test]
fn covers_every_v3_4_property_with_the_same_type() {
    assert_covers("v3.4.0");
}

#[test]
fn covers_every_v1_7_property() {
    assert_covers("v1.7.0");
}

#[test]
fn keeps_reference_defaults_enums_and_rules() {
    let crd = aistore_crd_value().unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["publicNetDNSMode"]["default"], "IP");
    assert_eq!(
        spec["properties"]["publicNetDNSMode"]["enum"],
        serde_json::json!(["IP", "Node", "Pod"])
    );
    let target = &spec["properties"]["targetSpec"];
    assert_eq!(
        target["properties"]["scaleDownMode"]["default"],
        "safe_decommission"
    );
    let cert = &spec["properties"]["tls"]["properties"]["certificate"];
    assert_eq!(cert["properties"]["mode"]["default"], "secret");
    assert_eq!(
        cert["properties"]["issuerRef"]["properties"]["kind"]["default"],
        "ClusterIssuer"
    );
    let rules: Vec<&str> = spec["x-kubernetes-validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "Invalid cluster size, it is either not specified or value is not valid",
            "cleanupData requires cleanupMetadata to be enabled"
        ]
    );
    let required: Vec<&str> = target["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        [
            "mounts",
            "portIntraControl",
            "portIntraData",
            "portPublic",
            "servicePort"
        ]
    );
}

/// Every property carries a description (`kubectl explain` shows it).
#[test]
fn every_property_is_documented() {
    fn check(schema: &Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let p = format!("{path}.{k}");
                if v.get("description")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    missing.push(p.clone());
                }
                check(v, &p, missing);
            }
        }
        if let Some(items) = schema.get("items") {
            check(items, &format!("{path}[]"), missing);
        }
    }
    let crd = aistore_crd_value().unwrap();
    let mut missing = Vec::new();
    check(
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"],
        ".spec",
        &mut missing,
    );
    check(
        &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"],
        ".status",
        &mut missing,
    );
    assert!(
        missing.is_empty(),
        "undocumented fields:\n{}",
        missing.join("\n")
    );
}

/// No `format` the API server would warn about.
#[test]
fn no_unknown_formats() {
    let text = aistore_crd_yaml().unwrap();
    for bad in [
        "format: uint",
        "format: uint32",
        "format: uint64",
        "format: int8",
        "format: uint8",
        "nullable: true",
    ] {
        assert!(!text.contains(bad), "generated CRD contains `{bad}`");
    }
}
