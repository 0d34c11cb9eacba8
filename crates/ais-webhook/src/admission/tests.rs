#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ais_crd::Defaults;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionResponse, AdmissionReview};
use serde_json::{Value, json};

use super::*;

pub(crate) fn spec() -> Value {
    json!({
        "size": 1,
        "nodeImage": "aistorage/aisnode:v4.9",
        "initImage": "aistorage/ais-init:v4.9",
        "stateStorage": {"hostPath": {"prefix": "/etc/ais"}},
        "proxySpec": {"servicePort": 51080, "portPublic": 51080, "portIntraControl": 51082, "portIntraData": 51083},
        "targetSpec": {"servicePort": 51081, "portPublic": 51081, "portIntraControl": 51082, "portIntraData": 51083,
                        "mounts": [{"path": "/ais1", "size": "10Gi"}]}
    })
}

pub(crate) fn review(op: &str, object: Option<Value>, old: Option<Value>) -> Value {
    let wrap = |spec: Value| {
        json!({"apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore",
        "metadata": {"name": "ais", "namespace": "ns"}, "spec": spec})
    };
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "ais.nvidia.com", "version": "v1beta1", "kind": "AIStore"},
            "resource": {"group": "ais.nvidia.com", "version": "v1beta1", "resource": "aistores"},
            "name": "ais", "namespace": "ns", "operation": op,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object.map(wrap), "oldObject": old.map(wrap), "dryRun": false
        }
    })
}

fn parse(v: Value) -> AdmissionReview<DynamicObject> {
    serde_json::from_value(v).unwrap()
}

fn validated(v: Value) -> (AdmissionResponse, Verdict) {
    match validate_review(parse(v)) {
        Validated::Done(r, verdict) => (r, verdict),
        Validated::Checked(_, r) => (r, Verdict::Allowed),
    }
}

fn with(mut base: Value, path: &[&str], value: Value) -> Value {
    let mut cur = &mut base;
    for (i, key) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cur[*key] = value;
            break;
        }
        cur = &mut cur[*key];
    }
    base
}

#[test]
fn a_valid_create_is_allowed_and_echoes_the_uid() {
    let (r, verdict) = validated(review("CREATE", Some(spec()), None));
    assert!(r.allowed);
    assert_eq!(verdict, Verdict::Allowed);
    assert_eq!(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert!(r.warnings.is_none());
}

#[test]
fn an_invalid_create_is_denied_with_every_field_path() {
    let bad = with(
        with(spec(), &["size"], json!(0)),
        &["targetSpec", "mounts"],
        json!([]),
    );
    let (r, verdict) = validated(review("CREATE", Some(bad), None));
    assert!(!r.allowed);
    assert_eq!(verdict, Verdict::Denied);
    assert!(
        r.result.message.starts_with("AIStore ns/ais is invalid: "),
        "{}",
        r.result.message
    );
    assert!(
        r.result
            .message
            .contains("spec.size: Invalid value: invalid cluster size 0"),
        "{}",
        r.result.message
    );
    assert!(
        r.result
            .message
            .contains("spec.targetSpec.mounts: Required value"),
        "{}",
        r.result.message
    );
}

#[test]
fn deprecation_warnings_are_returned_as_admission_warnings() {
    let legacy = with(
        with(spec(), &["stateStorage"], Value::Null),
        &["hostpathPrefix"],
        json!("/etc/ais"),
    );
    let (r, _) = validated(review("CREATE", Some(legacy), None));
    assert!(r.allowed);
    let warnings = r.warnings.unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("spec.hostpathPrefix is deprecated")),
        "{warnings:?}"
    );
}

#[test]
fn an_update_of_an_immutable_field_is_denied() {
    let new = with(spec(), &["proxySpec", "servicePort"], json!(52000));
    let (r, _) = validated(review("UPDATE", Some(new), Some(spec())));
    assert!(!r.allowed);
    assert!(r.result.message.contains("spec.proxySpec.servicePort: Forbidden: cannot update spec \"proxySpec\" for an existing cluster"), "{}", r.result.message);
}

#[test]
fn a_metadata_only_update_is_never_blocked() {
    // Stored before a rule tightened: still invalid, but finalizer removal must go through.
    let invalid = with(spec(), &["targetSpec", "mounts"], json!([]));
    let (r, verdict) = validated(review("UPDATE", Some(invalid.clone()), Some(invalid)));
    assert!(r.allowed);
    assert_eq!(verdict, Verdict::Allowed);
}

#[test]
fn delete_is_allowed() {
    let (r, _) = validated(review("DELETE", None, Some(spec())));
    assert!(r.allowed);
}

#[test]
fn malformed_reviews_get_well_formed_denials() {
    let mut no_request = review("CREATE", Some(spec()), None);
    no_request.as_object_mut().unwrap().remove("request");
    let (r, _) = validated(no_request);
    assert!(!r.allowed && r.result.message.contains("has no request"));

    let wrong_kind = with(
        review("CREATE", Some(spec()), None),
        &["request", "kind"],
        json!({"group": "", "version": "v1", "kind": "Pod"}),
    );
    let (r, _) = validated(wrong_kind);
    assert!(
        !r.allowed
            && r.result
                .message
                .contains("reviews ais.nvidia.com AIStore objects only, not /v1 Pod"),
        "{}",
        r.result.message
    );
    assert_eq!(r.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");

    let (r, _) = validated(review("CREATE", None, None));
    assert!(!r.allowed && r.result.message.contains("has no object"));

    let (r, _) = validated(review("UPDATE", Some(spec()), None));
    assert!(!r.allowed && r.result.message.contains("has no oldObject"));

    let wrong_type = with(spec(), &["targetSpec", "mounts"], json!("not-a-list"));
    let (r, _) = validated(review("CREATE", Some(wrong_type), None));
    assert!(!r.allowed);
    assert!(
        r.result
            .message
            .starts_with("spec.targetSpec.mounts: invalid type"),
        "{}",
        r.result.message
    );
}

#[test]
fn v1beta1_reviews_are_answered_in_v1beta1() {
    let v = with(
        review("CREATE", Some(spec()), None),
        &["apiVersion"],
        json!("admission.k8s.io/v1beta1"),
    );
    let (r, _) = validated(v);
    let out = serde_json::to_value(r.into_review()).unwrap();
    assert_eq!(out["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(out["response"]["allowed"], true);
}

fn apply(review_json: &Value, response: &AdmissionResponse) -> Value {
    let mut object = review_json["request"]["object"].clone();
    if let Some(bytes) = &response.patch {
        let patch: json_patch::Patch = serde_json::from_slice(bytes).unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
    }
    object
}

#[test]
fn mutate_fills_defaults_of_a_minimal_spec() {
    let minimal = json!({"size": 1, "targetSpec": {"mounts": [{"path": "/ais1", "size": "1Gi"}]}});
    let input = review("CREATE", Some(minimal), None);
    let (r, verdict) = mutate_review(parse(input.clone()), &Defaults::default());
    assert!(r.allowed);
    assert_eq!(verdict, Verdict::Patched);
    let object = apply(&input, &r);
    assert_eq!(
        object["spec"]["nodeImage"],
        "docker.io/aistorage/aisnode:v4.9"
    );
    assert_eq!(object["spec"]["proxySpec"]["servicePort"], 51080);
    assert_eq!(object["spec"]["targetSpec"]["portPublic"], 51081);
    assert_eq!(object["spec"]["targetSpec"]["portIntraData"], 51083);
    assert_eq!(
        object["spec"]["stateStorage"],
        json!({"hostPath": {"prefix": "/etc/ais"}})
    );
    // The defaulted object passes validation.
    let (r, _) = validated(review("CREATE", Some(object["spec"].clone()), None));
    assert!(r.allowed, "{}", r.result.message);
}

#[test]
fn mutate_never_rewrites_and_is_empty_for_a_complete_spec() {
    let mut full = spec();
    full["publicNetDNSMode"] = json!("IP");
    full["targetSpec"]["scaleDownMode"] = json!("safe_decommission");
    full["proxySpec"]["portPublic"] = json!("51080");
    let input = review("CREATE", Some(full.clone()), None);
    let (r, verdict) = mutate_review(parse(input), &Defaults::default());
    assert_eq!(verdict, Verdict::Allowed);
    assert!(r.patch.is_none());
}

#[test]
fn mutate_leaves_unparseable_specs_to_validation() {
    let input = review("CREATE", Some(json!({"size": "three"})), None);
    let (r, verdict) = mutate_review(parse(input), &Defaults::default());
    assert!(r.allowed && r.patch.is_none());
    assert_eq!(verdict, Verdict::Allowed);
}
