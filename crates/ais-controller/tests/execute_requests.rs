//! The executor against a mock API server: the exact sequence of Kubernetes requests it issues
//! for a plan's actions (in the style of kube-rs controller-rs's `ApiServerVerifier`), and the
//! AIS calls it makes through a recording [`AisApi`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ais_client::{AisError, Smap};
use ais_controller::ais::{ClientSettings, Clients, EndpointMode};
use ais_controller::build::{self, Facts, PodSettings, Role};
use ais_controller::lifecycle::AisCall;
use ais_controller::metrics::Metrics;
use ais_controller::plan::{Action, Observed};
use ais_controller::reconcile::Context;
use ais_controller::reconcile::execute::{AisApi, Executor};
use ais_controller::reconcile::owned::Swept;
use ais_crd::{AIStore, Defaults};
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use serde_json::{Value, json};

const UID: &str = "00000000-0000-0000-0000-000000000001";

/// One expected request and the answer to it.
struct Expect {
    method: Method,
    path: &'static str,
    status: StatusCode,
    body: Value,
}

fn expect(method: Method, path: &'static str, status: u16, body: Value) -> Expect {
    Expect {
        method,
        path,
        status: StatusCode::from_u16(status).unwrap(),
        body,
    }
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

fn metadata_list(items: Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {}, "items": items})
}

/// Serves `script` in order and fails on any other request; returns the requests it saw.
fn verifier(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    script: Vec<Expect>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut seen = Vec::new();
        for step in script {
            let (req, send) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
                .await
                .unwrap_or_else(|_| {
                    panic!("no request came; expected {} {}", step.method, step.path)
                })
                .expect("the client is gone");
            let line = format!("{} {}", req.method(), req.uri());
            assert_eq!(
                (req.method(), req.uri().path()),
                (&step.method, step.path),
                "unexpected request {line}; seen so far: {seen:#?}"
            );
            seen.push(line);
            send.send_response(
                Response::builder()
                    .status(step.status)
                    .body(Body::from(serde_json::to_vec(&step.body).unwrap()))
                    .unwrap(),
            );
        }
        // Nothing more may come.
        let more = tokio::time::timeout(Duration::from_millis(300), handle.next_request()).await;
        if let Ok(Some((req, _))) = more {
            panic!(
                "an unexpected request after the script: {} {}",
                req.method(),
                req.uri()
            );
        }
        seen
    })
}

fn context(client: kube::Client) -> Context {
    let registry = prometheus::Registry::new();
    Context {
        recorder: Recorder::new(client.clone(), Reporter::from("ais-operator-test")),
        client,
        metrics: Metrics::new(&registry).unwrap(),
        cluster_domain: "cluster.local".into(),
        defaults: Defaults::default(),
        pods: PodSettings::default(),
        clients: Clients::new(ClientSettings {
            mode: EndpointMode::PodIp,
            timeout: Duration::from_secs(1),
            skip_verify: false,
            ca_dir: None,
            client_cert_dir: std::env::temp_dir(),
            client_cert_per_cluster: false,
        }),
        cleanup_image: "cleanup:1".into(),
        swept: Swept::default(),
        futile: ais_controller::reconcile::futile::FutileApplies::default(),
    }
}

fn aistore() -> AIStore {
    serde_yaml::from_str(&format!(
        r#"
apiVersion: ais.nvidia.com/v1beta1
kind: AIStore
metadata: {{name: ais, namespace: ais, uid: "{UID}", generation: 1}}
spec:
  size: 1
  nodeImage: aistorage/aisnode:v4.9
  initImage: aistorage/ais-init:v4.9
  proxySpec: {{}}
  targetSpec:
    mounts: [{{path: /ais/sda, size: 10Gi}}]
"#
    ))
    .unwrap()
}

fn facts() -> Facts {
    Facts::unobserved(
        "cluster.local".into(),
        Defaults::default(),
        PodSettings::default(),
    )
}

/// Records the AIS calls; fails them when told to.
#[derive(Clone, Default)]
struct RecordingAis {
    calls: Arc<Mutex<Vec<String>>>,
    fail: bool,
}

impl RecordingAis {
    fn record(&self, call: &str) -> Result<(), AisError> {
        self.calls.lock().unwrap().push(call.to_string());
        if self.fail {
            return Err(AisError::Status {
                call: "test",
                url: "http://ais".into(),
                status: 401,
                body: "token required".into(),
            });
        }
        Ok(())
    }
}

impl AisApi for RecordingAis {
    async fn run(&self, call: &AisCall, _smap: Option<&Smap>) -> Result<(), AisError> {
        self.record(&call.to_string())
    }
    async fn set_config(&self, _config: &Value) -> Result<(), AisError> {
        self.record("set_config")
    }
    async fn shutdown_cluster(&self) -> Result<(), AisError> {
        self.record("shutdown_cluster")
    }
    async fn decommission_cluster(&self, rm_user_data: bool) -> Result<(), AisError> {
        self.record(&format!("decommission_cluster rm_user_data={rm_user_data}"))
    }
}

#[tokio::test]
async fn a_pdb_that_left_the_inventory_is_found_and_deleted_once() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let ais = aistore();
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &ctx.defaults));
    let desired = build::build(&ais, &facts()).unwrap();
    let observed = Observed::default();
    let owned_pdb = json!([{"metadata": {"name": "ais-target", "namespace": "ais",
        "ownerReferences": [{"apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore", "name": "ais", "uid": UID}]}}]);
    let server = verifier(
        handle,
        vec![
            expect(
                Method::GET,
                "/api/v1/namespaces/ais/configmaps",
                200,
                metadata_list(json!([])),
            ),
            expect(
                Method::GET,
                "/api/v1/namespaces/ais/services",
                200,
                metadata_list(json!([])),
            ),
            expect(
                Method::GET,
                "/apis/cert-manager.io/v1/namespaces/ais/certificates",
                404,
                not_found(),
            ),
            expect(
                Method::GET,
                "/apis/policy/v1/namespaces/ais/poddisruptionbudgets",
                200,
                metadata_list(owned_pdb),
            ),
            expect(
                Method::GET,
                "/apis/apps/v1/namespaces/ais/deployments",
                200,
                metadata_list(json!([])),
            ),
            // Found by name: the admin client carries its own name label.
            expect(
                Method::GET,
                "/apis/apps/v1/namespaces/ais/deployments/ais-client",
                404,
                not_found(),
            ),
            expect(
                Method::GET,
                "/api/v1/namespaces/ais/configmaps/ais-statsd",
                404,
                not_found(),
            ),
            expect(
                Method::DELETE,
                "/apis/policy/v1/namespaces/ais/poddisruptionbudgets/ais-target",
                200,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
            ),
            expect(
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/ais/events",
                201,
                json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ais"}, "eventTime": null, "reportingController": "x", "reportingInstance": "x", "action": "DeleteUnneeded", "reason": "Deleted"}),
            ),
        ],
    );
    let mut exec = Executor::<RecordingAis>::new(
        &ctx,
        &ais,
        &spec,
        &observed,
        Some(desired.clone()),
        facts(),
        None,
    );
    exec.run(&[Action::SweepInventory]).await.unwrap();
    // The same inventory again: no list, no delete.
    exec.run(&[Action::SweepInventory]).await.unwrap();
    let seen = server.await.unwrap();
    assert!(
        seen[0].contains("labelSelector=app.kubernetes.io%2Fname%3Dais"),
        "lists select by the cluster's name label: {seen:#?}"
    );
}

#[tokio::test]
async fn deletion_stops_ais_before_scaling_to_zero() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let ais = aistore();
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &ctx.defaults));
    let observed = Observed::default();
    let sts = |name: &str| json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "ais"}, "spec": {"replicas": 0, "selector": {}, "serviceName": name, "template": {}}});
    let server = verifier(
        handle,
        vec![
            expect(
                Method::PATCH,
                "/apis/apps/v1/namespaces/ais/statefulsets/ais-proxy",
                200,
                sts("ais-proxy"),
            ),
            expect(
                Method::PATCH,
                "/apis/apps/v1/namespaces/ais/statefulsets/ais-target",
                200,
                sts("ais-target"),
            ),
        ],
    );
    let ais_api = RecordingAis::default();
    let mut exec = Executor::new(
        &ctx,
        &ais,
        &spec,
        &observed,
        None,
        facts(),
        Some(ais_api.clone()),
    );
    exec.run(&[
        Action::StopAis {
            decommission: true,
            rm_user_data: false,
        },
        Action::ScaleToZero(Role::Proxy),
        Action::ScaleToZero(Role::Target),
    ])
    .await
    .unwrap();
    server.await.unwrap();
    assert_eq!(
        *ais_api.calls.lock().unwrap(),
        vec!["decommission_cluster rm_user_data=false".to_string()]
    );
}

#[tokio::test]
async fn a_refused_stop_writes_nothing_to_kubernetes() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let ais = aistore();
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &ctx.defaults));
    let observed = Observed::default();
    let server = verifier(handle, vec![]);
    let ais_api = RecordingAis {
        fail: true,
        ..RecordingAis::default()
    };
    let mut exec = Executor::new(
        &ctx,
        &ais,
        &spec,
        &observed,
        None,
        facts(),
        Some(ais_api.clone()),
    );
    let err = exec
        .run(&[
            Action::StopAis {
                decommission: false,
                rm_user_data: false,
            },
            Action::ScaleToZero(Role::Proxy),
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    server.await.unwrap();
    assert_eq!(
        *ais_api.calls.lock().unwrap(),
        vec!["shutdown_cluster".to_string()]
    );
}

#[tokio::test]
async fn a_converged_cluster_costs_reads_and_no_writes() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let ais = aistore();
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &ctx.defaults));
    let desired = build::build(&ais, &facts()).unwrap();
    let observed = Observed::default();
    // The live ConfigMap is what the builder makes: the executor reads it and writes nothing.
    let live_cm = serde_json::to_value(&desired.global_config_map).unwrap();
    let server = verifier(
        handle,
        vec![expect(
            Method::GET,
            "/api/v1/namespaces/ais/configmaps/ais-global-cm",
            200,
            live_cm,
        )],
    );
    let mut ais = ais;
    ais.metadata.annotations = Some(
        [(
            ais_controller::plan::CONFIG_HASH_ANNOTATION.to_string(),
            desired.config_hash.clone(),
        )]
        .into(),
    );
    let ais_api = RecordingAis::default();
    let mut exec = Executor::new(
        &ctx,
        &ais,
        &spec,
        &observed,
        Some(desired),
        facts(),
        Some(ais_api.clone()),
    );
    exec.run(&[Action::PushConfig]).await.unwrap();
    server.await.unwrap();
    assert!(
        ais_api.calls.lock().unwrap().is_empty(),
        "the config AIS has is not pushed again"
    );
}
