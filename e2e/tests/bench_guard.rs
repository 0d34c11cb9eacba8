//! The benchmark's regression guard (`docs/benchmarks.md`): ten AIStores at once on the kwok
//! nodes, their AIS API answered by the benchmark's simulator ([`ais_e2e::sim`]: benchmark
//! infrastructure, no AIS behaviour is claimed here). It counts the controller's API requests
//! in the API server's audit log: at most [`MAX_REQUESTS_PER_CLUSTER`] to bring one cluster to
//! Ready, and not one write in a 60 s window with nothing changing. It counts; it times
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ais_e2e::{
    Namespace, ReleaseFinalizers, audit, env_path, free_port, get_json, init_image, install_crd,
    kubectl_ok, node_image, now_rfc3339, operator_username, sim, spawn_controller, wait_for,
};
use serde_json::{Value, json};

/// The documented ceiling (`docs/benchmarks.md`): API requests of the controller per cluster,
/// from the AIStore's creation to Ready, reads included. Measured: 50–52 (67–75 before the
/// StatefulSets came from the watch cache; how many reconciles a cluster gets depends on how
/// its pods' events fall); the margin keeps the guard from flaking while still failing on a
/// new request per reconcile (+7) or a lost cache (+15 for the StatefulSets alone).
const MAX_REQUESTS_PER_CLUSTER: f64 = 60.0;
const CLUSTERS: usize = 10;
const PROXY_PORT: u16 = 58080;
const TARGET_PORT: u16 = 58081;

/// The requests in `ns` of the operator identity in `[from, to)` (other cases' controllers,
/// with the same identity, run at the same time in other namespaces).
fn requests(ns: &str, from: &str, to: &str) -> audit::Requests {
    let log = env_path(
        "AIS_E2E_AUDIT_LOG",
        "the API server's audit log (`just e2e` sets it)",
    );
    let user = operator_username();
    let filter = audit::Filter {
        user: &user,
        namespace: Some(ns),
        from,
        to,
    };
    audit::count(log.parent().unwrap(), &filter)
}

#[test]
fn ten_clusters_cost_at_most_the_documented_requests_and_no_writes_when_idle() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-bguard", &[]);
    let ns = ns_guard.0.as_str();
    let simulator = sim::start("e2e-bguard", &[PROXY_PORT, TARGET_PORT]).unwrap();
    let _release = ReleaseFinalizers(ns.to_string());
    let controller = spawn_controller(
        Some(ns),
        free_port("127.0.0.1"),
        ais_e2e::controller_log(ns),
    );
    let placement = json!({
        "nodeSelector": {"type": "kwok"},
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
    });
    let items: Vec<Value> = (0..CLUSTERS)
        .map(|i| {
            let mut proxy = json!({"servicePort": PROXY_PORT, "portPublic": PROXY_PORT, "portIntraControl": 58082, "portIntraData": 58083});
            let mut target = json!({"size": 3, "servicePort": TARGET_PORT, "portPublic": TARGET_PORT, "portIntraControl": 58082,
                "portIntraData": 58083, "disablePodAntiAffinity": true,
                "mounts": [{"path": "/ais1", "useHostPath": true, "label": "disk1"}]});
            for role in [&mut proxy, &mut target] {
                for (k, v) in placement.as_object().unwrap() {
                    role[k] = v.clone();
                }
            }
            json!({"apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore", "metadata": {"name": format!("c{i}")},
                "spec": {"size": 1, "nodeImage": node_image(), "initImage": init_image(), "stateStorage": {"emptyDir": {}},
                    "proxySpec": proxy, "targetSpec": target}})
        })
        .collect();
    let t0 = now_rfc3339();
    kubectl_ok(
        &["apply", "-n", ns, "-f", "-"],
        Some(&json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()),
    );
    wait_for(ns, "every AIStore Ready", Duration::from_secs(300), || {
        let list = get_json(&["aistores", "-n", ns])?;
        let ready = list["items"]
            .as_array()?
            .iter()
            .filter(|a| a["status"]["state"] == "Ready")
            .count();
        (ready == CLUSTERS).then_some(())
    });
    let t1 = now_rfc3339();
    // The last status writes complete within moments of Ready.
    std::thread::sleep(Duration::from_secs(3));
    let create = requests(ns, &t0, &t1);
    let total = create.total();
    let per_cluster = total as f64 / CLUSTERS as f64;
    println!(
        "{ns}: {total} requests for {CLUSTERS} clusters ({per_cluster:.1} each):\n  {}",
        create.lines().join("\n  ")
    );
    println!(
        "{ns}: AIS simulator requests: {:#?}",
        simulator.served.counts()
    );
    assert!(
        per_cluster <= MAX_REQUESTS_PER_CLUSTER,
        "{per_cluster:.1} requests per cluster, more than the documented {MAX_REQUESTS_PER_CLUSTER}: {:?}",
        create.lines()
    );

    // Nothing changes for 60 s: the controller writes nothing.
    let s0 = now_rfc3339();
    std::thread::sleep(Duration::from_secs(60));
    let steady = requests(ns, &s0, &now_rfc3339());
    println!(
        "{ns}: requests in 60 s of steady state: {:?}",
        steady.lines()
    );
    assert_eq!(
        steady.mutating(),
        0,
        "writes in the steady state: {:?}",
        steady.lines()
    );
    drop(controller);
}
