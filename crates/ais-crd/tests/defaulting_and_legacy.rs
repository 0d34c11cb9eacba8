//! Defaulting fills only what is absent and is idempotent; deprecated fields map onto their
//! modern equivalents; random specs never make validation or defaulting panic.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use ais_crd::daemon::ScaleDownMode;
use ais_crd::legacy::{effective_spec, state_storage_mode};
use ais_crd::storage::StateStorageMode;
use ais_crd::tls::{CertificateMode, IssuerKind};
use ais_crd::{AIStoreSpec, Defaults, PublicNetDnsMode, default_spec, validate};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use serde_json::{Value, json};

fn parse(v: Value) -> AIStoreSpec {
    serde_json::from_value(v).unwrap()
}

#[test]
fn minimal_spec_gets_every_default() {
    let minimal =
        parse(json!({"size": 1, "targetSpec": {"mounts": [{"path": "/ais1", "size": "1Gi"}]}}));
    let d = default_spec(&minimal, &Defaults::default());
    assert_eq!(d.node_image, "docker.io/aistorage/aisnode:v4.9");
    assert_eq!(d.init_image, "docker.io/aistorage/ais-init:v4.9");
    assert_eq!(
        d.proxy_spec.ports.service_port,
        Some(IntOrString::Int(51080))
    );
    assert_eq!(
        d.proxy_spec.ports.port_public,
        Some(IntOrString::Int(51080))
    );
    assert_eq!(
        d.target_spec.daemon.ports.service_port,
        Some(IntOrString::Int(51081))
    );
    assert_eq!(
        d.target_spec.daemon.ports.port_public,
        Some(IntOrString::Int(51081))
    );
    for ports in [&d.proxy_spec.ports, &d.target_spec.daemon.ports] {
        assert_eq!(ports.port_intra_control, Some(IntOrString::Int(51082)));
        assert_eq!(ports.port_intra_data, Some(IntOrString::Int(51083)));
    }
    assert_eq!(d.public_net_dns_mode, Some(PublicNetDnsMode::Ip));
    assert_eq!(
        d.target_spec.scale_down_mode,
        Some(ScaleDownMode::SafeDecommission)
    );
    assert_eq!(
        state_storage_mode(&d),
        StateStorageMode::HostPath("/etc/ais".into())
    );
    let r = validate(&d, None);
    assert!(r.is_valid(), "{}", r.error_message());
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn defaulting_never_rewrites_what_the_user_set() {
    let user = parse(json!({
        "size": 1, "nodeImage": "n", "initImage": "i", "publicNetDNSMode": "Pod",
        "proxySpec": {"servicePort": "9000", "portPublic": 9001, "portIntraControl": 9002, "portIntraData": 9003},
        "targetSpec": {"scaleDownMode": "retain", "mounts": [{"path": "/d", "size": "1Gi"}]},
        "hostpathPrefix": "/legacy",
        "tls": {"certificate": {"issuerRef": {"name": "x", "kind": "Issuer"}, "mode": "csi"}}
    }));
    let d = default_spec(&user, &Defaults::default());
    assert_eq!(d.node_image, "n");
    assert_eq!(d.proxy_spec.ports, user.proxy_spec.ports);
    assert_eq!(d.public_net_dns_mode, Some(PublicNetDnsMode::Pod));
    assert_eq!(d.target_spec.scale_down_mode, Some(ScaleDownMode::Retain));
    assert!(
        d.state_storage.is_none(),
        "legacy hostpathPrefix counts as set"
    );
    let cert = d.tls.unwrap().certificate.unwrap();
    assert_eq!(cert.mode, Some(CertificateMode::Csi));
    assert_eq!(cert.issuer_ref.kind, Some(IssuerKind::Issuer));
}

#[test]
fn certificate_defaults_match_the_crd() {
    let d = default_spec(
        &parse(json!({"tls": {"certificate": {"issuerRef": {"name": "x"}}}})),
        &Defaults::default(),
    );
    let cert = d.tls.unwrap().certificate.unwrap();
    assert_eq!(cert.mode, Some(CertificateMode::Secret));
    assert_eq!(cert.issuer_ref.kind, Some(IssuerKind::ClusterIssuer));
}

#[test]
fn configured_default_images_are_used() {
    let defaults = Defaults {
        node_image: "localhost/aisnode:dev".into(),
        init_image: "localhost/aisinit:dev".into(),
    };
    let d = default_spec(&parse(json!({})), &defaults);
    assert_eq!(d.node_image, "localhost/aisnode:dev");
    assert_eq!(d.init_image, "localhost/aisinit:dev");
}

#[test]
fn v1_fields_map_to_modern_equivalents() {
    let old = parse(json!({
        "hostpathPrefix": "/etc/ais",
        "tlsSecretName": "tls-certs",
        "logSidecarImage": "logs:1",
        "disablePodAntiAffinity": true,
        "enableExternalLB": true,
        "enablePromExporter": true,
        "proxySpec": {"capabilities": {"privileged": false}},
        "targetSpec": {"allowSharedNoDisks": true, "mounts": [{"path": "/a", "size": "1Gi"}, {"path": "/b", "size": "1Gi", "label": "mine"}]},
        "configToUpdate": {"auth": {"secret": "hmac"}, "memsys": {"min_free": 2147483648i64}, "fshc": {"io_err_time": 10_000_000_000i64}}
    }));
    let e = effective_spec(&old);
    let as_json = serde_json::to_value(&e).unwrap();
    assert_eq!(
        as_json["stateStorage"],
        json!({"hostPath": {"prefix": "/etc/ais"}})
    );
    assert_eq!(as_json["tls"], json!({"secretName": "tls-certs"}));
    assert_eq!(as_json["logSidecar"], json!({"image": "logs:1"}));
    assert_eq!(as_json["targetSpec"]["disablePodAntiAffinity"], json!(true));
    assert_eq!(as_json["proxySpec"]["externalAccess"], json!({}));
    assert_eq!(as_json["targetSpec"]["externalAccess"], json!({}));
    assert_eq!(
        as_json["proxySpec"]["aisContainerSecurityContext"],
        json!({"privileged": false})
    );
    assert_eq!(as_json["targetSpec"]["mounts"][0]["label"], json!("shared"));
    assert_eq!(as_json["targetSpec"]["mounts"][1]["label"], json!("mine"));
    assert_eq!(
        as_json["configToUpdate"]["auth"],
        json!({"signature": {"key": "hmac", "method": "HS256"}})
    );
    assert_eq!(
        as_json["configToUpdate"]["memsys"]["min_free"],
        json!("2147483648")
    );
    assert_eq!(
        as_json["configToUpdate"]["fshc"]["io_err_time"],
        json!("10000ms")
    );
    for legacy in [
        "hostpathPrefix",
        "tlsSecretName",
        "logSidecarImage",
        "disablePodAntiAffinity",
        "enableExternalLB",
        "enablePromExporter",
    ] {
        assert!(
            as_json.get(legacy).is_none(),
            "{legacy} survived the mapping"
        );
    }
    assert!(as_json["targetSpec"].get("allowSharedNoDisks").is_none());
    assert!(
        validate(&e, None)
            .warnings
            .iter()
            .all(|w| !w.contains("deprecated"))
    );
}

#[test]
fn cert_manager_issuer_name_maps_to_csi_certificate() {
    let e = effective_spec(&parse(json!({"tlsCertManagerIssuerName": "ais"})));
    let cert = e.tls.unwrap().certificate.unwrap();
    assert_eq!(cert.issuer_ref.name, "ais");
    assert_eq!(cert.issuer_ref.kind, Some(IssuerKind::Issuer));
    assert_eq!(cert.mode, Some(CertificateMode::Csi));
}

#[test]
fn modern_fields_win_over_deprecated_ones() {
    let e = effective_spec(&parse(json!({
        "stateStorage": {"pvc": {"storageClass": "fast"}}, "hostpathPrefix": "/x",
        "tls": {"secretName": "new"}, "tlsSecretName": "old",
        "disablePodAntiAffinity": true, "targetSpec": {"disablePodAntiAffinity": false}
    })));
    assert_eq!(state_storage_mode(&e), StateStorageMode::Pvc("fast".into()));
    assert_eq!(e.tls.unwrap().secret_name.as_deref(), Some("new"));
    assert_eq!(e.target_spec.disable_pod_anti_affinity, Some(false));
}

#[test]
fn state_class_wins_over_hostpath_prefix() {
    let spec = parse(json!({"hostpathPrefix": "/x", "stateStorageClass": "sc"}));
    assert_eq!(
        state_storage_mode(&spec),
        StateStorageMode::Pvc("sc".into())
    );
}

/// Loosely spec-shaped JSON: every interesting field may be absent or hold odd values.
fn arb_spec() -> impl Strategy<Value = Value> {
    let opt_int = || prop::option::of(-3i64..70000);
    let port = || {
        prop_oneof![
            Just(Value::Null),
            (-1i64..70000).prop_map(Value::from),
            "[0-9a-z]{0,6}".prop_map(Value::from)
        ]
    };
    let mount = ("/?[a-z]{0,4}(/[a-z]{1,3})?", prop::option::of("[1-9][0-9]?Gi"), prop::option::of(any::<bool>()), prop::option::of("[a-z]{0,3}"))
        .prop_map(|(path, size, host, label)| json!({"path": path, "size": size, "useHostPath": host, "label": label}));
    let role = move || {
        (port(), port(), port(), port(), opt_int(), prop::option::of(prop::collection::btree_map("[a-z]{1,3}", "[a-z]{0,3}", 0..2)))
        .prop_map(|(a, b, c, d, size, sel)| json!({"servicePort": a, "portPublic": b, "portIntraControl": c, "portIntraData": d, "size": size, "nodeSelector": sel}))
    };
    let state = prop_oneof![
        Just(Value::Null),
        Just(json!({"hostPath": {"prefix": "/p"}})),
        Just(json!({"pvc": {"storageClass": "c"}})),
        Just(json!({"emptyDir": {}})),
        Just(json!({})),
        Just(json!({"emptyDir": {}, "pvc": {"storageClass": "c"}})),
    ];
    let tls = prop_oneof![
        Just(Value::Null),
        Just(json!({})),
        Just(json!({"secretName": "s"})),
        Just(json!({"certificate": {"issuerRef": {"name": "i"}}})),
        Just(
            json!({"secretName": "s", "certificate": {"issuerRef": {"name": "i", "kind": "Issuer"}, "mode": "csi"}})
        ),
    ];
    let legacy = (
        prop::option::of("/[a-z]{1,4}"),
        prop::option::of("[a-z]{1,4}"),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<i64>()),
    );
    (
        (opt_int(), prop::option::of("[a-z:0-9]{0,8}"), role(), role(), prop::collection::vec(mount, 0..4)),
        (state, tls, legacy, prop::option::of(any::<bool>()), prop::option::of(any::<bool>()), prop::option::of(any::<bool>())),
    )
        .prop_map(|((size, image, proxy, mut target, mounts), (state, tls, (hp, sc, lb, shared, min_free), shutdown, cm, cd))| {
            target["mounts"] = Value::from(mounts);
            target["allowSharedNoDisks"] = json!(shared);
            let mut v = json!({
                "size": size, "nodeImage": image, "initImage": image, "proxySpec": proxy, "targetSpec": target,
                "stateStorage": state, "tls": tls, "hostpathPrefix": hp, "stateStorageClass": sc,
                "enableExternalLB": lb, "shutdownCluster": shutdown, "cleanupMetadata": cm, "cleanupData": cd,
                "configToUpdate": {"memsys": {"min_free": min_free}, "rebalance": {"enabled": cd}}
            });
            strip_nulls(&mut v);
            v
        })
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        m.values_mut().for_each(strip_nulls);
    } else if let Value::Array(a) = v {
        a.iter_mut().for_each(strip_nulls);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn defaulting_is_idempotent(raw in arb_spec()) {
        let Ok(spec) = serde_json::from_value::<AIStoreSpec>(raw) else { return Ok(()); };
        let once = default_spec(&spec, &Defaults::default());
        let twice = default_spec(&once, &Defaults::default());
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn defaulting_only_adds(raw in arb_spec()) {
        let Ok(spec) = serde_json::from_value::<AIStoreSpec>(raw) else { return Ok(()); };
        let before = serde_json::to_value(&spec).unwrap();
        let after = serde_json::to_value(default_spec(&spec, &Defaults::default())).unwrap();
        assert_contained(&before, &after, "spec");
    }

    #[test]
    fn validation_never_panics(raw in arb_spec(), old in arb_spec()) {
        let Ok(spec) = serde_json::from_value::<AIStoreSpec>(raw) else { return Ok(()); };
        let result = validate(&spec, None);
        for e in &result.errors {
            prop_assert!(e.path.starts_with("spec"));
            prop_assert!(!e.message.is_empty() && !e.fix.is_empty());
        }
        if let Ok(old) = serde_json::from_value::<AIStoreSpec>(old) {
            let _ = validate(&spec, Some(&old));
            let _ = effective_spec(&spec);
        }
    }
}

/// Every value in `before` is present, unchanged, in `after`.
fn assert_contained(before: &Value, after: &Value, path: &str) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in b {
                let next = a.get(k).unwrap_or_else(|| panic!("{path}.{k} was removed"));
                assert_contained(v, next, &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(before, after, "{path} was rewritten"),
    }
}
