//! Every reference sample (v1.7.0 and v3.4.0) parses into the Rust types, round-trips through
//! serde without losing a field, and passes validation; v1.x samples draw the expected
//! deprecation warnings.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use ais_crd::{AIStore, Defaults, default_spec, validate};

#[test]
fn samples_exist() {
    let Some(samples) = common::aistore_samples() else {
        return;
    };
    assert!(
        samples.len() >= 8,
        "expected the reference samples, found {}",
        samples.len()
    );
}

#[test]
fn every_sample_round_trips_without_loss() {
    let Some(samples) = common::aistore_samples() else {
        return;
    };
    for (file, doc) in samples {
        let ais: AIStore = serde_json::from_value(doc.clone())
            .unwrap_or_else(|e| panic!("{file}: does not parse: {e}"));
        let back = serde_json::to_value(&ais.spec).unwrap();
        let mut original = doc["spec"].clone();
        drop_nulls(&mut original);
        assert_eq!(back, original, "{file}: spec changed in a serde round trip");
    }
}

#[test]
fn every_sample_passes_validation() {
    let Some(samples) = common::aistore_samples() else {
        return;
    };
    for (file, doc) in samples {
        let ais: AIStore = serde_json::from_value(doc).unwrap();
        let result = validate(&ais.spec, None);
        assert!(
            result.is_valid(),
            "{file} ({}): {}",
            ais.metadata.name.unwrap_or_default(),
            result.error_message()
        );
        let defaulted = default_spec(&ais.spec, &Defaults::default());
        let result = validate(&defaulted, None);
        assert!(
            result.is_valid(),
            "{file} after defaulting: {}",
            result.error_message()
        );
    }
}

#[test]
fn v1_samples_warn_about_their_deprecated_fields() {
    let Some(samples) = common::aistore_samples() else {
        return;
    };
    for (file, doc) in samples {
        if !file.starts_with("samples-v1.7.0") {
            continue;
        }
        let ais: AIStore = serde_json::from_value(doc).unwrap();
        let warnings = validate(&ais.spec, None).warnings;
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("spec.hostpathPrefix is deprecated")),
            "{file}: {warnings:?}"
        );
        if ais.spec.tls_secret_name.is_some() {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.starts_with("spec.tlsSecretName is deprecated")),
                "{file}: {warnings:?}"
            );
        }
        if ais.spec.target_spec.allow_shared_no_disks.is_some() {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.starts_with("spec.targetSpec.allowSharedNoDisks is deprecated")),
                "{file}: {warnings:?}"
            );
        }
        if ais.spec.tls_cert_manager_issuer_name.is_some() {
            assert!(
                warnings
                    .iter()
                    .any(|w| w.starts_with("spec.tlsCertManagerIssuerName is deprecated")),
                "{file}: {warnings:?}"
            );
        }
    }
}

#[test]
fn v3_samples_without_legacy_fields_draw_no_deprecation_warning() {
    let Some(samples) = common::aistore_samples() else {
        return;
    };
    for (file, doc) in samples {
        if !file.ends_with("samples-v3.4.0/ais_v1beta1_aistore_tracing.yaml") {
            continue;
        }
        let ais: AIStore = serde_json::from_value(doc).unwrap();
        let warnings = validate(&ais.spec, None).warnings;
        assert!(
            warnings.iter().all(|w| !w.contains("deprecated")),
            "{file}: {warnings:?}"
        );
    }
}

/// The API server prunes null values (`logsDir:` with nothing after it) before storing them.
fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}
