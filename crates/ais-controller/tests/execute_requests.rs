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
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    script: Vec<Expect>,
) -> tokio::task::JoinHandle<Vec<String>> {
    verifier_with_timeline(handle, script, Timeline::default())
}

/// Kubernetes requests and AIS calls in the order they happened.
type Timeline = Arc<Mutex<Vec<String>>>;

/// [`verifier`] that also writes each request it serves into `timeline`.
fn verifier_with_timeline(
    mut handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
    script: Vec<Expect>,
    timeline: Timeline,
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
            timeline
                .lock()
                .unwrap()
                .push(format!("{} {}", req.method(), req.uri().path()));
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
        // Empty: every object is read from the (mock) API server, as before the watches list.
        cache: ais_controller::reconcile::cache::OwnedCache::default(),
        last_writes: ais_controller::reconcile::last_write::LastWrites::default(),
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
    let ais_api = RecordingAis::default();
    push_config_ais_already_has(&ctx, ais, &spec, &observed, desired, ais_api.clone()).await;
    server.await.unwrap();
    assert!(
        ais_api.calls.lock().unwrap().is_empty(),
        "the config AIS has is not pushed again"
    );
}

/// Runs `PushConfig` for an AIStore annotated with the desired config's hash (AIS already has
/// that config).
async fn push_config_ais_already_has(
    ctx: &Context,
    mut ais: AIStore,
    spec: &ais_crd::AIStoreSpec,
    observed: &Observed,
    desired: build::Desired,
    ais_api: RecordingAis,
) {
    ais.metadata.annotations = Some(
        [(
            ais_controller::plan::CONFIG_HASH_ANNOTATION.to_string(),
            desired.config_hash.clone(),
        )]
        .into(),
    );
    let mut exec = Executor::new(
        ctx,
        &ais,
        spec,
        observed,
        Some(desired),
        facts(),
        Some(ais_api),
    );
    exec.run(&[Action::PushConfig]).await.unwrap();
}

#[tokio::test]
async fn a_converged_object_in_the_watch_cache_costs_no_request() {
    use ais_controller::reconcile::cache::Stores;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;

    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let ais = aistore();
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &ctx.defaults));
    let desired = build::build(&ais, &facts()).unwrap();
    // The watch has listed the ConfigMap as the builder makes it.
    let (config_maps, mut writer) = store();
    let mut live = desired.global_config_map.clone();
    live.metadata.namespace = Some("ais".into());
    writer.apply_watcher_event(&Event::Apply(live));
    ctx.cache.register(
        None,
        Stores {
            config_maps,
            ..Stores::default()
        },
    );
    let server = verifier(handle, Vec::new());
    let observed = Observed::default();
    push_config_ais_already_has(
        &ctx,
        ais,
        &spec,
        &observed,
        desired,
        RecordingAis::default(),
    )
    .await;
    // The verifier fails on any request: neither a read nor a write went out.
    server.await.unwrap();
}

fn statefulset_json(name: &str, uid: &str, generation: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "ais", "uid": uid, "generation": generation},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "ais"}},
            "serviceName": name, "template": {}}})
}

#[tokio::test]
async fn statefulsets_are_read_from_the_watch_cache_unless_it_lags_behind_our_write() {
    use ais_controller::reconcile::cache::Stores;
    use ais_controller::reconcile::live::Live;
    use ais_controller::reconcile::packed_statefulset::PackedStatefulSet;
    use k8s_openapi::api::apps::v1::StatefulSet;
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;

    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    // The watch caches StatefulSets packed, as the controller's watch does.
    let sts = |name: &str, uid: &str, generation: i64| -> StatefulSet {
        serde_json::from_value(statefulset_json(name, uid, generation)).unwrap()
    };
    let packed = |name: &str, uid: &str, generation: i64| {
        PackedStatefulSet::pack(sts(name, uid, generation))
    };
    let (statefulsets, mut writer) = store();
    writer.apply_watcher_event(&Event::Apply(packed("ais-proxy", "p", 1)));
    writer.apply_watcher_event(&Event::Apply(packed("ais-target", "t", 1)));
    ctx.cache.register(
        None,
        Stores {
            statefulsets,
            ..Stores::default()
        },
    );
    // Our last write to the target returned generation 2; the watch has not delivered it.
    ctx.cache.wrote("ais", &sts("ais-target", "t", 2));
    let server = verifier(
        handle,
        vec![
            expect(
                Method::GET,
                "/apis/apps/v1/namespaces/ais/statefulsets/ais-target",
                200,
                statefulset_json("ais-target", "t", 2),
            ),
            expect(
                Method::GET,
                "/api/v1/namespaces/ais/pods",
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": []}),
            ),
        ],
    );
    let live = Live::read(&ctx, "ais", "ais", false).await.unwrap();
    // The verifier fails on any other request: no GET of the proxy StatefulSet went out.
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    let generation = |s: Option<&StatefulSet>| s.and_then(|s| s.metadata.generation);
    assert_eq!(generation(live.proxy.as_ref()), Some(1), "from the cache");
    assert_eq!(generation(live.target.as_ref()), Some(2), "read fresh");
}

fn aistore_json() -> Value {
    serde_json::to_value(aistore()).unwrap()
}

#[tokio::test]
async fn a_target_restart_records_maintenance_before_ais_is_asked_then_deletes_the_pod() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    let ais = aistore();
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &ctx.defaults));
    let desired = build::build(&ais, &facts()).unwrap();
    let observed = Observed::default();
    let timeline = Timeline::default();
    let server = verifier_with_timeline(
        handle,
        vec![
            expect(
                Method::PATCH,
                "/apis/ais.nvidia.com/v1beta1/namespaces/ais/aistores/ais",
                200,
                aistore_json(),
            ),
            expect(
                Method::DELETE,
                "/api/v1/namespaces/ais/pods/ais-target-0",
                200,
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ais-target-0", "namespace": "ais"}}),
            ),
        ],
        timeline.clone(),
    );
    // The AIS calls go into the same timeline.
    let ais_api = RecordingAis {
        calls: timeline.clone(),
        fail: false,
    };
    let mut exec = Executor::new(
        &ctx,
        &ais,
        &spec,
        &observed,
        Some(desired),
        facts(),
        Some(ais_api),
    );
    exec.run(&[
        Action::Annotate {
            key: ais_controller::plan::MAINTAINED_ANNOTATION,
            value: "t1".into(),
        },
        Action::Ais(AisCall::StartMaintenance {
            node: "t1".into(),
            pod: "ais-target-0".into(),
        }),
        Action::DeletePod("ais-target-0".into()),
    ])
    .await
    .unwrap();
    let seen = server.await.unwrap();
    assert!(
        seen[0].contains("fieldManager=ais-operator"),
        "the record is the operator's write: {seen:#?}"
    );
    assert_eq!(
        *timeline.lock().unwrap(),
        vec![
            "PATCH /apis/ais.nvidia.com/v1beta1/namespaces/ais/aistores/ais".to_string(),
            "start maintenance of t1 (pod ais-target-0)".to_string(),
            "DELETE /api/v1/namespaces/ais/pods/ais-target-0".to_string(),
        ]
    );
}

#[tokio::test]
async fn deletion_cleanup_is_idempotent_and_ends_with_the_finalizer() {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = context(kube::Client::new(service, "default"));
    // State on the host: deletion with cleanupMetadata runs a cleanup Job per node.
    let mut ais = aistore();
    ais.spec.hostpath_prefix = Some("/etc/ais".into());
    ais.metadata.finalizers = Some(vec!["finalize.ais".into()]);
    let spec = ais_crd::legacy::effective_spec(&ais_crd::default_spec(&ais.spec, &ctx.defaults));
    let observed = Observed::default();
    let conflict = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409});
    let gone_pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "ais-ais-sda-ais-target-0", "namespace": "ais"}});
    let server = verifier(
        handle,
        vec![
            // Gone already (an earlier attempt): done.
            expect(
                Method::DELETE,
                "/api/v1/namespaces/ais/persistentvolumeclaims/ais-ais-sda-ais-target-0",
                404,
                not_found(),
            ),
            expect(
                Method::DELETE,
                "/api/v1/namespaces/ais/persistentvolumeclaims/ais-ais-sda-ais-target-1",
                200,
                gone_pvc,
            ),
            // Made by an earlier attempt: done, not an error.
            expect(
                Method::POST,
                "/apis/batch/v1/namespaces/ais/jobs",
                409,
                conflict,
            ),
            expect(
                Method::POST,
                "/apis/batch/v1/namespaces/ais/jobs",
                201,
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "ais"}}),
            ),
            expect(
                Method::PATCH,
                "/apis/ais.nvidia.com/v1beta1/namespaces/ais/aistores/ais",
                200,
                aistore_json(),
            ),
        ],
    );
    let mut exec = Executor::<RecordingAis>::new(&ctx, &ais, &spec, &observed, None, facts(), None);
    exec.run(&[
        Action::DeletePvc("ais-ais-sda-ais-target-0".into()),
        Action::DeletePvc("ais-ais-sda-ais-target-1".into()),
        Action::CreateCleanupJob { node: "n1".into() },
        Action::CreateCleanupJob { node: "n2".into() },
        Action::RemoveFinalizer,
    ])
    .await
    .unwrap();
    server.await.unwrap();
}
