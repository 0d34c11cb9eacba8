//! Arbitrary bytes and arbitrary JSON never crash the endpoints: every answer is a 400 with a
//! reason, or a well-formed AdmissionReview response.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ais_webhook::metrics::Metrics;
use ais_webhook::routes::{MUTATE_PATH, Settings, VALIDATE_PATH, router};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

fn app() -> axum::Router {
    router(
        Settings::default(),
        Metrics::new(&prometheus::Registry::new()).unwrap(),
        None,
    )
}

fn call(path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = app()
            .oneshot(Request::post(path).body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (
            status,
            axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
    })
}

fn assert_well_formed(status: u16, body: &[u8]) {
    match status {
        400 => assert!(!body.is_empty(), "a 400 must say why"),
        200 => {
            let v: Value = serde_json::from_slice(body).expect("200 with a JSON review");
            assert_eq!(v["kind"], "AdmissionReview");
            let response = &v["response"];
            assert!(response["allowed"].is_boolean(), "{v}");
            assert!(response["uid"].is_string(), "{v}");
        }
        other => panic!("unexpected status {other}"),
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("spec".to_string()),
                    Just("size".to_string()),
                    Just("targetSpec".to_string()),
                    Just("mounts".to_string()),
                    Just("proxySpec".to_string()),
                    Just("stateStorage".to_string()),
                    Just("request".to_string()),
                    Just("object".to_string()),
                    "[a-zA-Z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512), mutate in any::<bool>()) {
        let (status, out) = call(if mutate { MUTATE_PATH } else { VALIDATE_PATH }, body);
        assert_well_formed(status, &out);
    }

    #[test]
    fn arbitrary_json_documents(doc in arb_json(), mutate in any::<bool>()) {
        let (status, out) = call(if mutate { MUTATE_PATH } else { VALIDATE_PATH }, serde_json::to_vec(&doc).unwrap());
        assert_well_formed(status, &out);
    }

    #[test]
    fn arbitrary_specs_in_valid_reviews(spec in arb_json(), op in prop_oneof![Just("CREATE"), Just("UPDATE"), Just("DELETE")], mutate in any::<bool>()) {
        let mut review: Value = serde_json::from_slice(&support::review(op, spec.clone())).unwrap();
        review["request"]["oldObject"] = review["request"]["object"].clone();
        let (status, out) = call(if mutate { MUTATE_PATH } else { VALIDATE_PATH }, serde_json::to_vec(&review).unwrap());
        prop_assert_eq!(status, 200);
        assert_well_formed(status, &out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(&v["response"]["uid"], "uid-1");
    }

    #[test]
    fn arbitrary_fields_on_a_valid_spec(extra in arb_json(), field in prop_oneof![
        Just("size"), Just("targetSpec"), Just("proxySpec"), Just("stateStorage"), Just("tls"), Just("auth"),
        Just("configToUpdate"), Just("nodeImage"), Just("hostpathPrefix"), Just("enableExternalLB")
    ]) {
        let mut spec = support::valid_spec();
        spec[field] = extra;
        let (status, out) = call(VALIDATE_PATH, support::review("CREATE", spec));
        prop_assert_eq!(status, 200);
        assert_well_formed(status, &out);
    }
}
