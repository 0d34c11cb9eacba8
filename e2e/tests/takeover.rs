//! Taking over a cluster that the reference operator (Go, v3.4.0) made, without a restart.
//!
//! The objects of `../shared/reference/data/go-operator-v3.4.0/mig3` are created as the
//! reference made them: the StatefulSets with Update under the field manager `manager`, the
//! other children with server-side apply under `ais-operator`, the AIStore's annotations,
//! finalizer and Ready status under `manager`. The StatefulSet controller runs real aisnode pods from them, the
//! test stores objects, and only then does this controller start. For five minutes no pod may
//! be replaced and no StatefulSet generation change (and `ais-controller migrate` said so
//! beforehand); the AIStore is Ready, every object reads
//! back intact, and a scale-up by one target is then carried out, again without restarting the
//! pods that ran.
//!
//! `legacy_marks_are_adopted_too` does the same with the marks of older reference releases:
//! no `config.aistore.nvidia.com/restart-hash` annotation at all (neither on the AIStore nor
//! on the pod templates), and pods without the `app.kubernetes.io/managed-by` label (before
//! v3.3). The first test then writes the AIStore as the reference would if it ran again, and
//! waits for the `SecondOperator` Warning.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ais_e2e::data::{self, Written};
use ais_e2e::{
    DeleteAistore, Namespace, ais_pod_uids, env_path, free_port, get_json, install_crd, kubectl,
    kubectl_ok, operator_kubeconfig, patch_spec, require_cluster, start_controller, state,
    wait_for,
};
use serde_json::{Value, json};

const NAME: &str = "mig3";
const FIXTURE_NS: &str = "go-bench";
const WATCH: Duration = Duration::from_secs(300);
const HASH: &str = "config.aistore.nvidia.com/hash";
const RESTART_HASH: &str = "config.aistore.nvidia.com/restart-hash";

fn fixture(file: &str) -> String {
    let dir = std::env::var("AIS_REFERENCE_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/data"),
        PathBuf::from,
    );
    let path = dir.join("go-operator-v3.4.0/mig3").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the takeover test needs the reference data beside the clone (or AIS_REFERENCE_DIR)",
            path.display()
        )
    })
}

/// The fixture's YAML for namespace `ns`, as JSON.
fn in_namespace(yaml: &str, ns: &str) -> Value {
    let yaml = yaml.replace(FIXTURE_NS, ns);
    serde_yaml::from_str(&yaml).unwrap()
}

fn strip_server_fields(obj: &mut Value) {
    let meta = obj["metadata"].as_object_mut().unwrap();
    for key in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
    ] {
        meta.remove(key);
    }
    obj.as_object_mut().unwrap().remove("status");
}

/// Which marks of older reference releases the replayed templates carry.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Marks {
    /// Exactly as v3.4.0 made them.
    AsMade,
    /// No restart-hash annotation, no managed-by label on the pods.
    Legacy,
}

/// Creates the AIStore and its children as the reference made them; returns the AIStore UID.
fn replay(ns: &str, marks: Marks) -> String {
    let mut ais = in_namespace(&fixture("aistore.yaml"), ns);
    let status = ais["status"].clone();
    strip_server_fields(&mut ais);
    // The reference's own marks on the AIStore (its hashes and finalizer) are its writes, as
    // `manager`; older releases wrote no restart hash.
    let meta = ais["metadata"].as_object_mut().unwrap();
    let finalizers = meta.remove("finalizers").unwrap();
    let annotations = meta["annotations"].as_object_mut().unwrap();
    let mut reference_marks = serde_json::Map::new();
    for key in [HASH, RESTART_HASH] {
        let value = annotations.remove(key).unwrap();
        if !(marks == Marks::Legacy && key == RESTART_HASH) {
            reference_marks.insert(key.to_string(), value);
        }
    }
    // `kubectl apply` made it (client-side: an Update under this manager).
    kubectl_ok(
        &[
            "create",
            "--field-manager=kubectl-client-side-apply",
            "-f",
            "-",
        ],
        Some(&ais.to_string()),
    );
    let marks_patch =
        json!({"metadata": {"annotations": reference_marks, "finalizers": finalizers}});
    kubectl_ok(
        &[
            "patch",
            "aistore",
            "-n",
            ns,
            NAME,
            "--type=merge",
            "--field-manager=manager",
            "-p",
            &marks_patch.to_string(),
        ],
        None,
    );
    kubectl_ok(
        &[
            "patch",
            "aistore",
            "-n",
            ns,
            NAME,
            "--subresource=status",
            "--type=merge",
            "--field-manager=manager",
            "-p",
            &json!({ "status": status }).to_string(),
        ],
        None,
    );
    let uid = kubectl_ok(
        &[
            "get",
            "aistore",
            "-n",
            ns,
            NAME,
            "-o",
            "jsonpath={.metadata.uid}",
        ],
        None,
    );

    let objects = in_namespace(&fixture("objects.yaml"), ns);
    let mut items = objects["items"].as_array().unwrap().clone();
    // What the pods need (ServiceAccount, ConfigMaps) before the StatefulSets that start them,
    // as the reference orders it: a pod refused for a missing ServiceAccount is retried with
    // the StatefulSet controller's backoff.
    items.sort_by_key(|o| o["kind"] == "StatefulSet");
    for mut obj in items {
        strip_server_fields(&mut obj);
        for owner in obj["metadata"]["ownerReferences"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            owner["uid"] = json!(uid);
        }
        if obj["kind"] == "StatefulSet" {
            if marks == Marks::Legacy {
                let template = &mut obj["spec"]["template"]["metadata"];
                template["annotations"]
                    .as_object_mut()
                    .unwrap()
                    .remove(RESTART_HASH);
                template["labels"]
                    .as_object_mut()
                    .unwrap()
                    .remove("app.kubernetes.io/managed-by");
            }
            // controller-runtime's Create: an Update under the manager `manager`.
            kubectl_ok(
                &["create", "--field-manager=manager", "-f", "-"],
                Some(&obj.to_string()),
            );
        } else {
            kubectl_ok(
                &[
                    "apply",
                    "--server-side",
                    "--field-manager=ais-operator",
                    "-f",
                    "-",
                ],
                Some(&obj.to_string()),
            );
        }
    }
    uid
}

fn proxy_addr(ns: &str) -> Option<String> {
    let pod = get_json(&["pod", "-n", ns, &format!("{NAME}-proxy-0")])?;
    let ip = pod["status"]["podIP"].as_str()?;
    Some(format!("{ip}:51080"))
}

fn target_count(ns: &str) -> Option<usize> {
    let smap = ais_e2e::http_get_json(&proxy_addr(ns)?, "/v1/daemon?what=smap")?;
    Some(smap["tmap"].as_object()?.len())
}

fn ready_pods(ns: &str) -> usize {
    get_json(&["pods", "-n", ns])
        .and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .count()
}

fn generations(ns: &str) -> BTreeMap<String, i64> {
    ["proxy", "target"]
        .iter()
        .map(|role| {
            let name = format!("{NAME}-{role}");
            let sts = get_json(&["statefulset", "-n", ns, &name]).unwrap();
            (name, sts["metadata"]["generation"].as_i64().unwrap())
        })
        .collect()
}

fn verify_all(ns: &str, written: &Written, when: &str) {
    data::assert_intact(&proxy_addr(ns).unwrap(), written, &format!("{ns} {when}"));
}

/// Takes the reference's finalizer off the AIStore when dropped, so that a test that fails
/// before any controller runs still lets its namespace go. Declared first, it drops last: after
/// [`DeleteAistore`] the AIStore is gone and this does nothing.
struct ReleaseFinalizer<'a>(&'a str);

impl Drop for ReleaseFinalizer<'_> {
    fn drop(&mut self) {
        let _ = kubectl(
            &[
                "patch",
                "aistore",
                "-n",
                self.0,
                NAME,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ],
            None,
        );
    }
}

fn takeover(marks: Marks) {
    require_cluster();
    install_crd();
    let ns = Namespace::create("e2e-takeover", &[]);
    let ns = ns.0.as_str();
    let _release = ReleaseFinalizer(ns);
    replay(ns, marks);

    // The cluster the reference made runs and serves objects before this controller starts.
    wait_for(
        ns,
        "the replayed cluster's 3 pods Ready",
        Duration::from_secs(300),
        || (ready_pods(ns) == 3 && target_count(ns) == Some(2)).then_some(()),
    );
    let addr = proxy_addr(ns).unwrap();
    let written = wait_for(ns, "objects stored", Duration::from_secs(120), || {
        data::write_objects(&addr, "takeover", 40, 64 * 1024)
            .map_err(|e| println!("{ns}: writing objects: {e}"))
            .ok()
    });
    verify_all(ns, &written, "before the takeover");
    let uids = ais_pod_uids(ns, NAME);
    assert_eq!(uids.len(), 3, "{uids:?}");
    if marks == Marks::Legacy {
        let labels = get_json(&["pod", "-n", ns, &format!("{NAME}-target-0")]).unwrap()["metadata"]
            ["labels"]
            .clone();
        assert!(
            labels.get("app.kubernetes.io/managed-by").is_none(),
            "{labels}"
        );
    }
    let gens = generations(ns);

    // `migrate` reads the live cluster and finds nothing to change (the flags are those the
    // controller runs with here, as the reference's were).
    let migrate = std::process::Command::new(env_path("AIS_CONTROLLER_BIN", "`just e2e` sets it"))
        .env("KUBECONFIG", operator_kubeconfig())
        .args(["migrate", "-n", ns])
        .args(["--ais-image-pull-policy", "IfNotPresent"])
        .args(["--init-cpu", "100m", "--init-memory", "128Mi"])
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    assert_eq!(
        String::from_utf8_lossy(&migrate.stdout),
        format!("{ns}/{NAME}: no change\n")
    );

    let health = free_port("127.0.0.1");
    let _controller = start_controller(ns, health);
    let _delete = DeleteAistore { ns, name: NAME };
    let start = Instant::now();
    while start.elapsed() < WATCH {
        std::thread::sleep(Duration::from_secs(15));
        assert_eq!(
            ais_pod_uids(ns, NAME),
            uids,
            "{ns}: a pod was replaced {:?} after the takeover\n{}",
            start.elapsed(),
            ais_e2e::describe_namespace(ns)
        );
        assert_eq!(
            generations(ns),
            gens,
            "{ns}: a StatefulSet changed {:?} after the takeover\n{}",
            start.elapsed(),
            ais_e2e::describe_namespace(ns)
        );
    }
    assert_eq!(state(ns, NAME).as_deref(), Some("Ready"), "{ns}");
    verify_all(ns, &written, "five minutes after the takeover");

    // A spec change after the takeover is carried out, and restarts none of the pods that ran.
    patch_spec(ns, NAME, &json!({"targetSpec": {"size": 3}}));
    wait_for(ns, "3 targets Ready", Duration::from_secs(300), || {
        (state(ns, NAME).as_deref() == Some("Ready") && target_count(ns) == Some(3)).then_some(())
    });
    let after = ais_pod_uids(ns, NAME);
    for (pod, uid) in &uids {
        assert_eq!(
            after.get(pod),
            Some(uid),
            "{ns}: {pod} was restarted by the scale-up"
        );
    }
    verify_all(ns, &written, "after the scale-up");

    // The takeover itself is no second operator's write.
    let notes = ais_e2e::event_notes(ns, NAME);
    assert!(
        !notes
            .iter()
            .any(|n| n.contains("field manager \"manager\"")),
        "{ns}: a SecondOperator warning for the takeover itself: {notes:#?}"
    );
    // The Go operator started again by mistake writes the AIStore as `manager`, again and
    // again as a running operator does: a Warning. (managedFields times have whole seconds,
    // so a write of ours in the same second, such as a status update still under way after
    // the scale-up, hides one write; the next one shows.)
    if marks == Marks::AsMade {
        let start = Instant::now();
        let mut writes = 0;
        wait_for(
            ns,
            "a SecondOperator warning",
            Duration::from_secs(120),
            || {
                if start.elapsed() >= Duration::from_secs(10 * writes) {
                    writes += 1;
                    ais_e2e::annotate_aistore(
                        ns,
                        NAME,
                        &format!("e2e/written-by=the-go-operator-{writes}"),
                        Some("manager"),
                    );
                }
                ais_e2e::event_notes(ns, NAME)
                    .into_iter()
                    .find(|n| n.contains("field manager \"manager\""))
            },
        );
    }
}

#[test]
fn a_cluster_the_reference_made_is_taken_over_without_a_restart() {
    let _case = ais_e2e::report::Case::start();
    takeover(Marks::AsMade);
}

#[test]
fn legacy_marks_are_adopted_too() {
    let _case = ais_e2e::report::Case::start();
    takeover(Marks::Legacy);
}
