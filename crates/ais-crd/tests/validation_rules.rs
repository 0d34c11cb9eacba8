//! Table-driven tests of every validation rule and message.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ais_crd::validation::ErrorKind;
use ais_crd::{AIStoreSpec, validate};
use serde_json::{Value, json};

/// A valid, fully specified spec.
fn base() -> Value {
    json!({
        "size": 1,
        "nodeImage": "aistorage/aisnode:v4.9",
        "initImage": "aistorage/ais-init:v4.9",
        "stateStorage": {"hostPath": {"prefix": "/etc/ais"}},
        "proxySpec": {"servicePort": 51080, "portPublic": 51080, "portIntraControl": 51082, "portIntraData": 51083},
        "targetSpec": {
            "servicePort": 51081, "portPublic": 51081, "portIntraControl": 51082, "portIntraData": 51083,
            "mounts": [{"path": "/ais1", "size": "10Gi"}]
        }
    })
}

/// Applies a JSON merge patch (null removes a key).
fn merge(target: &mut Value, patch: &Value) {
    if let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

fn spec(patch: Value) -> AIStoreSpec {
    let mut v = base();
    merge(&mut v, &patch);
    serde_json::from_value(v).unwrap()
}

#[test]
fn base_spec_is_valid_without_warnings() {
    let r = validate(&spec(json!({})), None);
    assert!(r.is_valid(), "{}", r.error_message());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

/// (name, patch, field path, kind, message fragment)
#[test]
fn errors() {
    let cases: Vec<(&str, Value, &str, ErrorKind, &str)> = vec![
        (
            "missing node image",
            json!({"nodeImage": null}),
            "spec.nodeImage",
            ErrorKind::Required,
            "an image is required",
        ),
        (
            "missing init image",
            json!({"initImage": null}),
            "spec.initImage",
            ErrorKind::Required,
            "an image is required",
        ),
        (
            "proxy size zero",
            json!({"proxySpec": {"size": 0}}),
            "spec.proxySpec.size",
            ErrorKind::Invalid,
            "invalid proxy daemon size 0, should be at least 1",
        ),
        (
            "target size negative",
            json!({"targetSpec": {"size": -3}}),
            "spec.targetSpec.size",
            ErrorKind::Invalid,
            "invalid target daemon size -3, should be at least 1",
        ),
        (
            "no size",
            json!({"size": null}),
            "spec.size",
            ErrorKind::Required,
            "cluster size is not specified",
        ),
        (
            "size zero",
            json!({"size": 0}),
            "spec.size",
            ErrorKind::Invalid,
            "invalid cluster size 0, should be at least 1 or -1 for autoScaling",
        ),
        (
            "size -2",
            json!({"size": -2}),
            "spec.size",
            ErrorKind::Invalid,
            "invalid cluster size -2, should be at least 1 or -1 for autoScaling",
        ),
        (
            "two state modes",
            json!({"stateStorage": {"pvc": {"storageClass": "fast"}}}),
            "spec.stateStorage",
            ErrorKind::Invalid,
            "AIS spec stateStorage must define exactly one of hostPath, pvc, or emptyDir",
        ),
        (
            "no state mode",
            json!({"stateStorage": {"hostPath": null}}),
            "spec.stateStorage",
            ErrorKind::Invalid,
            "exactly one of hostPath, pvc, or emptyDir",
        ),
        (
            "shutdown with emptyDir",
            json!({"stateStorage": {"hostPath": null, "emptyDir": {}}, "shutdownCluster": true}),
            "spec.shutdownCluster",
            ErrorKind::Forbidden,
            "shutdownCluster cannot be enabled when stateStorage.emptyDir is used",
        ),
        (
            "autoscale targets without selector",
            json!({"size": -1, "proxySpec": {"nodeSelector": {"a": "b"}}}),
            "spec.targetSpec.nodeSelector",
            ErrorKind::Required,
            "missing nodeSelector for target; nodeSelector is required when autoScale is enabled",
        ),
        (
            "autoscale proxies without selector",
            json!({"size": -1, "targetSpec": {"nodeSelector": {"a": "b"}}}),
            "spec.proxySpec.nodeSelector",
            ErrorKind::Required,
            "missing nodeSelector for proxy",
        ),
        (
            "port zero",
            json!({"proxySpec": {"portPublic": 0}}),
            "spec.proxySpec.portPublic",
            ErrorKind::Invalid,
            "must be between 1 and 65535",
        ),
        (
            "port too large",
            json!({"targetSpec": {"portIntraData": 70000}}),
            "spec.targetSpec.portIntraData",
            ErrorKind::Invalid,
            "must be between 1 and 65535",
        ),
        (
            "port not a number",
            json!({"targetSpec": {"servicePort": "http"}}),
            "spec.targetSpec.servicePort",
            ErrorKind::Invalid,
            "\"http\": must be between 1 and 65535",
        ),
        (
            "port missing",
            json!({"proxySpec": {"portIntraControl": null}}),
            "spec.proxySpec.portIntraControl",
            ErrorKind::Required,
            "port is required",
        ),
        (
            "host port zero",
            json!({"proxySpec": {"hostPort": 0}}),
            "spec.proxySpec.hostPort",
            ErrorKind::Invalid,
            "0: must be between 1 and 65535",
        ),
        (
            "host port out of range",
            json!({"proxySpec": {"hostPort": 70000}}),
            "spec.proxySpec.hostPort",
            ErrorKind::Invalid,
            "must be between 1 and 65535",
        ),
        (
            "no mounts",
            json!({"targetSpec": {"mounts": []}}),
            "spec.targetSpec.mounts",
            ErrorKind::Required,
            "at least one mount is required",
        ),
        (
            "relative mount",
            json!({"targetSpec": {"mounts": [{"path": "ais1", "size": "1Gi"}]}}),
            "spec.targetSpec.mounts[0].path",
            ErrorKind::Invalid,
            "is not an absolute path",
        ),
        (
            "duplicate mounts",
            json!({"targetSpec": {"mounts": [{"path": "/ais1", "size": "1Gi"}, {"path": "/ais1/", "size": "1Gi"}]}}),
            "spec.targetSpec.mounts[1].path",
            ErrorKind::Invalid,
            "duplicates spec.targetSpec.mounts[0].path",
        ),
        (
            "nested mounts",
            json!({"targetSpec": {"mounts": [{"path": "/ais", "size": "1Gi"}, {"path": "/ais/d2", "size": "1Gi"}]}}),
            "spec.targetSpec.mounts[1].path",
            ErrorKind::Invalid,
            "are nested",
        ),
        (
            "cleanupData alone",
            json!({"cleanupData": true}),
            "spec.cleanupData",
            ErrorKind::Invalid,
            "cleanupData requires cleanupMetadata to be enabled",
        ),
        (
            "tls both sources",
            json!({"tls": {"secretName": "s", "certificate": {"issuerRef": {"name": "i"}}}}),
            "spec.tls",
            ErrorKind::Invalid,
            "specify only one: secretName or certificate",
        ),
        (
            "tls no source",
            json!({"tls": {}}),
            "spec.tls",
            ErrorKind::Required,
            "names no certificate source",
        ),
        (
            "tls with cert paths",
            json!({"tls": {"secretName": "s"}, "configToUpdate": {"net": {"http": {"server_crt": "/x", "client_ca_tls": "/y"}}}}),
            "spec.configToUpdate.net.http",
            ErrorKind::Forbidden,
            "configToUpdate.net.http.[server_crt,client_ca_tls] cannot be set together with spec.tls; the operator manages cert paths under /var/certs",
        ),
        (
            "auth with neither mode",
            json!({"auth": {"serviceURL": "https://a"}}),
            "spec.auth",
            ErrorKind::Invalid,
            "exactly one of usernamePassword or tokenExchange must be specified when profileRef is not set",
        ),
        (
            "auth with both modes",
            json!({"auth": {"usernamePassword": {"secretName": "s"}, "tokenExchange": {}}}),
            "spec.auth",
            ErrorKind::Invalid,
            "exactly one of usernamePassword or tokenExchange",
        ),
    ];
    for (name, patch, path, kind, fragment) in cases {
        let r = validate(&spec(patch), None);
        let found = r.errors.iter().find(|e| e.path == path);
        let Some(err) = found else {
            panic!("{name}: no error at {path}; got: {}", r.error_message());
        };
        assert_eq!(err.kind, kind, "{name}");
        assert!(
            err.message.contains(fragment),
            "{name}: {:?} lacks {fragment:?}",
            err.message
        );
        assert!(!err.fix.is_empty(), "{name}: no fix given");
        assert!(
            err.to_string().starts_with(path),
            "{name}: display must lead with the path"
        );
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let r = validate(
        &spec(
            json!({"size": 0, "nodeImage": null, "targetSpec": {"mounts": []}, "proxySpec": {"portPublic": 0}}),
        ),
        None,
    );
    let paths: Vec<&str> = r.errors.iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "spec.nodeImage",
        "spec.size",
        "spec.targetSpec.mounts",
        "spec.proxySpec.portPublic",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
}

/// (name, patch, warning fragment)
#[test]
fn warnings() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "hostpathPrefix",
            json!({"stateStorage": null, "hostpathPrefix": "/etc/ais"}),
            "spec.hostpathPrefix is deprecated and will be removed in a future release; use spec.stateStorage.hostPath.prefix instead",
        ),
        (
            "stateStorageClass",
            json!({"stateStorage": null, "stateStorageClass": "sc"}),
            "spec.stateStorageClass is deprecated",
        ),
        (
            "both legacy",
            json!({"stateStorage": null, "stateStorageClass": "sc", "hostpathPrefix": "/x"}),
            "Spec defines both hostpathPrefix and stateStorageClass. Using stateStorageClass sc",
        ),
        (
            "legacy with modern",
            json!({"hostpathPrefix": "/x"}),
            "spec.stateStorage is set; ignoring legacy hostpathPrefix and stateStorageClass fields",
        ),
        (
            "no state storage",
            json!({"stateStorage": null}),
            "spec.stateStorage is not set",
        ),
        (
            "serviceURL",
            json!({"auth": {"serviceURL": "https://a", "tokenExchange": {}}}),
            "spec.auth.serviceURL is deprecated and will be removed in a future release; use spec.auth.profileRef instead",
        ),
        (
            "usernamePassword",
            json!({"auth": {"usernamePassword": {"secretName": "s"}}}),
            "spec.auth.usernamePassword is deprecated",
        ),
        (
            "tokenExchange",
            json!({"auth": {"tokenExchange": {}}}),
            "spec.auth.tokenExchange is deprecated",
        ),
        (
            "auth tls",
            json!({"auth": {"profileRef": {"name": "p"}, "tls": {}}}),
            "spec.auth.tls is deprecated",
        ),
        (
            "clusterDomain",
            json!({"clusterDomain": "x.local"}),
            "spec.clusterDomain is deprecated and will be removed in a future release; use the operator's configured or discovered cluster domain instead",
        ),
        (
            "enableExternalLB",
            json!({"enableExternalLB": true}),
            "spec.enableExternalLB is deprecated and will be removed in a future release; use spec.proxySpec.externalAccess and/or spec.targetSpec.externalAccess instead",
        ),
        (
            "proxy capabilities",
            json!({"proxySpec": {"capabilities": {}}}),
            "spec.proxySpec.capabilities is deprecated",
        ),
        (
            "target capabilities",
            json!({"targetSpec": {"capabilities": {}}}),
            "spec.targetSpec.capabilities is deprecated",
        ),
        (
            "tlsSecretName",
            json!({"tlsSecretName": "s"}),
            "spec.tlsSecretName is deprecated",
        ),
        (
            "tlsCertManagerIssuerName",
            json!({"tlsCertManagerIssuerName": "i"}),
            "spec.tlsCertManagerIssuerName is deprecated",
        ),
        (
            "enablePromExporter",
            json!({"enablePromExporter": true}),
            "spec.enablePromExporter is deprecated",
        ),
        (
            "logSidecarImage",
            json!({"logSidecarImage": "x"}),
            "spec.logSidecarImage is deprecated",
        ),
        (
            "allowSharedNoDisks",
            json!({"targetSpec": {"allowSharedNoDisks": true}}),
            "spec.targetSpec.allowSharedNoDisks is deprecated",
        ),
        (
            "top-level anti-affinity",
            json!({"disablePodAntiAffinity": true}),
            "spec.disablePodAntiAffinity is deprecated",
        ),
        (
            "auth.secret",
            json!({"configToUpdate": {"auth": {"secret": "k"}}}),
            "spec.configToUpdate.auth.secret is deprecated",
        ),
        (
            "integer sizes",
            json!({"configToUpdate": {"memsys": {"min_free": 2147483648i64}}}),
            "integer values of spec.configToUpdate",
        ),
        (
            "autoscale role size",
            json!({"size": -1, "targetSpec": {"size": 3, "nodeSelector": {"a": "b"}}, "proxySpec": {"nodeSelector": {"a": "b"}}}),
            "spec.targetSpec.size is set when spec.Size is -1; defaulting to use the -1 of spec.Size",
        ),
        (
            "cleanup on all nodes",
            json!({"cleanupMetadata": true}),
            "cleanupMetadata is enabled with hostpath state and empty nodeSelector; host cleanup jobs will run on ALL nodes in the cluster",
        ),
        (
            "pvc mount without size (accepted, as by the reference)",
            json!({"targetSpec": {"mounts": [{"path": "/ais1", "label": "disk1"}]}}),
            "spec.targetSpec.mounts[0].size is not set",
        ),
        (
            "one proxy with its state in an emptyDir",
            json!({"size": 1, "stateStorage": {"hostPath": null, "emptyDir": {}}}),
            "the cluster map lives only in that proxy's emptyDir",
        ),
        (
            "safe decommission without rebalance",
            json!({"configToUpdate": {"rebalance": {"enabled": false}}}),
            "scaleDownMode is \"safe_decommission\" but rebalance is disabled; enable configToUpdate.rebalance.enabled so target data is migrated on scale-down",
        ),
        (
            "HMAC signing key in the config",
            json!({"configToUpdate": {"auth": {"enabled": true, "signature": {"key": "k", "method": "HS256"}}}}),
            "spec.configToUpdate.auth.signature.key: ais-init writes an HMAC signing key into the node config as \"**********\"",
        ),
        (
            "v1.x auth secret in the config",
            json!({"configToUpdate": {"auth": {"enabled": true, "secret": "k"}}}),
            "spec.configToUpdate.auth.secret: ais-init writes",
        ),
    ];
    for (name, patch, fragment) in cases {
        let r = validate(&spec(patch), None);
        assert!(
            r.warnings.iter().any(|w| w.contains(fragment)),
            "{name}: {:?}",
            r.warnings
        );
    }
}

#[test]
fn no_signing_key_warning_for_an_rsa_key_or_a_key_in_a_secret() {
    let key_warning = |patch| {
        validate(&spec(patch), None)
            .warnings
            .into_iter()
            .filter(|w| w.contains("ais-init writes an HMAC signing key"))
            .collect::<Vec<_>>()
    };
    let rsa = json!({"configToUpdate": {"auth": {"signature": {"key": "pem", "method": "RS256"}}}});
    assert!(key_warning(rsa).is_empty());
    let with_secret = json!({"authNSecretName": "signing", "configToUpdate": {"auth": {"signature": {"key": "k", "method": "HS256"}}}});
    assert!(key_warning(with_secret).is_empty());
}

#[test]
fn no_warning_when_retain_mode_disables_rebalance() {
    let r = validate(
        &spec(
            json!({"targetSpec": {"scaleDownMode": "retain"}, "configToUpdate": {"rebalance": {"enabled": false}}}),
        ),
        None,
    );
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn explicit_false_external_lb_is_not_a_deprecation_warning() {
    let r = validate(&spec(json!({"enableExternalLB": false})), None);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

/// (name, old patch, new patch, expected error path or None when the update is allowed)
#[test]
fn updates() {
    let cases: Vec<(&str, Value, Value, Option<&str>)> = vec![
        ("scale", json!({}), json!({"size": 3}), None),
        (
            "images",
            json!({}),
            json!({"nodeImage": "a:2", "initImage": "b:2"}),
            None,
        ),
        (
            "config",
            json!({}),
            json!({"configToUpdate": {"log": {"level": "4"}}}),
            None,
        ),
        (
            "tolerations",
            json!({}),
            json!({"targetSpec": {"tolerations": [{"key": "k", "operator": "Exists"}]}}),
            None,
        ),
        (
            "node selector",
            json!({}),
            json!({"proxySpec": {"nodeSelector": {"a": "b"}}}),
            None,
        ),
        (
            "scale-down mode",
            json!({}),
            json!({"targetSpec": {"scaleDownMode": "retain"}}),
            None,
        ),
        (
            "port as string of the same number",
            json!({}),
            json!({"proxySpec": {"portPublic": "51080"}}),
            None,
        ),
        (
            "legacy state to modern, same place",
            json!({"stateStorage": null, "hostpathPrefix": "/etc/ais"}),
            json!({}),
            None,
        ),
        (
            "no state to explicit default",
            json!({"stateStorage": null}),
            json!({}),
            None,
        ),
        (
            "enableExternalLB to externalAccess",
            json!({"enableExternalLB": true}),
            json!({"proxySpec": {"externalAccess": {}}, "targetSpec": {"externalAccess": {}}}),
            None,
        ),
        (
            "proxy port",
            json!({}),
            json!({"proxySpec": {"servicePort": 52000}}),
            Some("spec.proxySpec.servicePort"),
        ),
        (
            "target intra port",
            json!({}),
            json!({"targetSpec": {"portIntraData": 52000}}),
            Some("spec.targetSpec.portIntraData"),
        ),
        (
            "host port",
            json!({}),
            json!({"targetSpec": {"hostPort": 51081}}),
            Some("spec.targetSpec.hostPort"),
        ),
        (
            "mount path",
            json!({}),
            json!({"targetSpec": {"mounts": [{"path": "/ais9", "size": "10Gi"}]}}),
            Some("spec.targetSpec.mounts"),
        ),
        (
            "mount label",
            json!({}),
            json!({"targetSpec": {"mounts": [{"path": "/ais1", "size": "10Gi", "label": "x"}]}}),
            Some("spec.targetSpec.mounts"),
        ),
        (
            "host network",
            json!({}),
            json!({"targetSpec": {"hostNetwork": true}}),
            Some("spec.targetSpec.hostNetwork"),
        ),
        (
            "external access",
            json!({}),
            json!({"targetSpec": {"externalAccess": {}}}),
            Some("spec.targetSpec.externalAccess"),
        ),
        (
            "enableExternalLB",
            json!({}),
            json!({"enableExternalLB": true}),
            Some("spec.proxySpec.externalAccess"),
        ),
        (
            "state pvc class",
            json!({"stateStorage": {"hostPath": null, "pvc": {"storageClass": "a"}}}),
            json!({"stateStorage": {"hostPath": null, "pvc": {"storageClass": "b"}}}),
            Some("spec.stateStorage"),
        ),
        (
            "state pvc to hostPath",
            json!({"stateStorage": {"hostPath": null, "pvc": {"storageClass": "a"}}}),
            json!({}),
            Some("spec.stateStorage"),
        ),
    ];
    for (name, old, new, expected) in cases {
        let r = validate(&spec(new), Some(&spec(old)));
        match expected {
            None => assert!(r.is_valid(), "{name}: {}", r.error_message()),
            Some(path) => {
                let err = r
                    .errors
                    .iter()
                    .find(|e| e.path == path)
                    .unwrap_or_else(|| panic!("{name}: {}", r.error_message()));
                assert_eq!(err.kind, ErrorKind::Forbidden, "{name}");
                assert!(
                    err.message.contains("for an existing cluster"),
                    "{name}: {}",
                    err.message
                );
            }
        }
    }
}
