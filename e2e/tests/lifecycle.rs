//! The AIS lifecycle on the real cluster with real aisnode pods: a target rollout with
//! maintenance, a safe_decommission scale-down, deletion with cleanupMetadata (PVCs go), and a
//! graceful shutdown and resume from persisted metadata (PVCs and cluster ID stay). Objects
//! stored before each step are read back, checksummed, after it; a reader runs during the
//! rollout and the scale-down, and its failed reads are printed. A v1.x-era reference sample
//! deploys a cluster that stores and serves objects, and `kubectl get ais` shows its ready
//! counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ais_e2e::data::{self, Reader, Written};
use ais_e2e::{
    DeleteAistore, Namespace, aistore, delete_aistore, event_notes, eventually, free_port,
    get_json, http_get_json, init_image, install_crd, kubectl_ok, node_image, patch_spec, pod_uids,
    pvc_uids, start_controller, state, wait_state,
};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(300);

/// The cluster map, read from the primary proxy pod.
fn smap(ns: &str, name: &str) -> Option<Value> {
    let pod = get_json(&["pod", "-n", ns, &format!("{name}-proxy-0")])?;
    let ip = pod["status"]["podIP"].as_str()?;
    http_get_json(&format!("{ip}:51080"), "/v1/daemon?what=smap")
}

fn proxy(ns: &str, name: &str) -> String {
    let pod = get_json(&["pod", "-n", ns, &format!("{name}-proxy-0")]).unwrap();
    format!("{}:51080", pod["status"]["podIP"].as_str().unwrap())
}

/// Stores `count` objects in a new bucket of the cluster (retried while AIS settles).
fn store(ns: &str, name: &str, bucket: &str, count: usize) -> Written {
    eventually(Duration::from_secs(120), || {
        data::write_objects(&proxy(ns, name), bucket, count, 32 * 1024)
            .map_err(|e| println!("{ns}: storing objects: {e}"))
            .ok()
    })
}

/// Every object of `written` reads back with its checksum.
fn verify(ns: &str, name: &str, written: &Written, when: &str) {
    data::assert_intact(&proxy(ns, name), written, &format!("{ns} {when}"));
}

fn targets_in_map(ns: &str, name: &str) -> Option<usize> {
    smap(ns, name)?["tmap"]
        .as_object()
        .map(serde_json::Map::len)
}

/// Sets `cleanupMetadata`, deletes the AIStore and waits until its PVCs are gone.
fn delete_with_cleanup(ns: &str, name: &str) {
    patch_spec(ns, name, &json!({"cleanupMetadata": true}));
    eventually(Duration::from_secs(30), || {
        (get_json(&["aistore", "-n", ns, name])?["spec"]["cleanupMetadata"] == true).then_some(())
    });
    delete_aistore(ns, name);
    eventually(Duration::from_secs(120), || {
        let pvcs = kubectl_ok(&["get", "pvc", "-n", ns, "-o", "name"], None);
        pvcs.trim().is_empty().then_some(())
    });
}

fn position(notes: &[String], needle: &str) -> usize {
    notes
        .iter()
        .position(|n| n.contains(needle))
        .unwrap_or_else(|| panic!("no event with {needle:?} in {notes:#?}"))
}

#[test]
fn rollout_scale_down_and_deletion_with_cleanup() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-life", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    let name = "ais";
    // On a failure, the AIStore goes while the controller runs, so the namespace can go too.
    let _delete = DeleteAistore { ns, name };
    // Two targets on the one real node: anti-affinity off for targets.
    let manifest = aistore(name, json!({}));
    let mut doc: Value = serde_json::from_str(&manifest).unwrap();
    doc["spec"]["targetSpec"]["size"] = json!(2);
    doc["spec"]["targetSpec"]["disablePodAntiAffinity"] = json!(true);
    // A target PDB and the admin client too (their objects are applied and cleaned up).
    doc["spec"]["targetSpec"]["pdb"] = json!({"enabled": true});
    doc["spec"]["adminClient"] = json!({"enabled": true, "image": "localhost/e2e/busybox:1", "imagePullPolicy": "IfNotPresent"});
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&doc.to_string()));
    wait_state(ns, name, "Ready");
    assert_eq!(targets_in_map(ns, name), Some(2));
    assert!(get_json(&["pdb", "-n", ns, "ais-target"]).is_some());
    assert!(get_json(&["deployment", "-n", ns, "ais-client"]).is_some());
    let ais = get_json(&["aistore", "-n", ns, name]).unwrap();
    assert!(
        ais["status"]["clusterID"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let rebalance = ais["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ReadyRebalance")
        .cloned()
        .unwrap();
    assert_eq!(rebalance["status"], "True", "{rebalance}");

    let written = store(ns, name, "lifecycle", 40);

    // Rollout: a target env change restarts the targets one at a time, each put in
    // maintenance first; the proxy keeps running.
    let before = pod_uids(ns);
    let reader = Reader::start(&proxy(ns, name), &written);
    patch_spec(
        ns,
        name,
        &json!({"targetSpec": {"env": [{"name": "E2E_ROLLOUT", "value": "1"}]}}),
    );
    eventually(LONG, || {
        let now = pod_uids(ns);
        let rolled = ["ais-target-0", "ais-target-1"]
            .iter()
            .all(|p| now.get(*p).is_some_and(|uid| Some(uid) != before.get(*p)));
        (rolled && state(ns, name).as_deref() == Some("Ready")).then_some(())
    });
    let reads = reader.stop();
    println!(
        "{ns} target rollout: {} reads, {} failed",
        reads.ok + reads.failed,
        reads.failed
    );
    assert!(reads.ok > 0, "no read succeeded during the rollout");
    verify(ns, name, &written, "after the target rollout");
    assert_eq!(
        pod_uids(ns).get("ais-proxy-0"),
        before.get("ais-proxy-0"),
        "a target-only change restarted the proxy"
    );
    let notes = event_notes(ns, name);
    let maint0 = position(&notes, "start maintenance of");
    let restart0 = position(&notes, "Restarting pod ais-target-0");
    let restart1 = position(&notes, "Restarting pod ais-target-1");
    assert!(maint0 < restart0 && restart0 < restart1, "{notes:#?}");
    assert!(
        notes.iter().any(|n| n.contains("Rebalance disabled")),
        "rebalance off for the rollout: {notes:#?}"
    );
    assert_eq!(targets_in_map(ns, name), Some(2));
    let smap_now = smap(ns, name).unwrap();
    for (_, node) in smap_now["tmap"].as_object().unwrap() {
        assert_eq!(
            node["flags"],
            json!(0),
            "a target stayed in maintenance: {node}"
        );
    }

    // Scale down with safe_decommission: AIS removes the node before the pod goes, and
    // migrates its objects to the target that stays.
    let reader = Reader::start(&proxy(ns, name), &written);
    patch_spec(ns, name, &json!({"targetSpec": {"size": 1}}));
    eventually(LONG, || {
        let ais = get_json(&["aistore", "-n", ns, name])?;
        (ais["status"]["state"] == "Ready" && ais["status"]["targets"]["summary"] == "1/1")
            .then_some(())
    });
    assert_eq!(targets_in_map(ns, name), Some(1));
    let reads = reader.stop();
    println!(
        "{ns} safe_decommission scale-down: {} reads, {} failed",
        reads.ok + reads.failed,
        reads.failed
    );
    verify(ns, name, &written, "after the safe_decommission scale-down");
    let notes = event_notes(ns, name);
    let decomm = position(&notes, "decommission ");
    let scaled = position(&notes, "Scaling targets from 2 to 1");
    assert!(
        decomm < scaled,
        "scaled before AIS decommissioned: {notes:#?}"
    );

    // Deletion with cleanupMetadata: AIS is decommissioned and the PVCs go.
    delete_with_cleanup(ns, name);
}

#[test]
fn shutdown_and_resume_keep_the_data_and_the_cluster() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-shut", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    let name = "ais";
    let _delete = DeleteAistore { ns, name };
    let state_dir = format!("/tmp/ais-e2e-state-{ns}");
    let manifest = aistore(
        name,
        json!({"stateStorage": {"hostPath": {"prefix": state_dir}}}),
    );
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&manifest));
    wait_state(ns, name, "Ready");
    let id = get_json(&["aistore", "-n", ns, name]).unwrap()["status"]["clusterID"].clone();
    assert!(id.as_str().is_some_and(|s| !s.is_empty()));
    let pvcs = pvc_uids(ns);
    assert!(!pvcs.trim().is_empty());
    let written = store(ns, name, "shutdown", 30);

    patch_spec(ns, name, &json!({"shutdownCluster": true}));
    wait_state(ns, name, "Shutdown");
    assert!(
        pod_uids(ns).keys().all(|p| !p.starts_with("ais-")),
        "AIS pods still run"
    );
    for sts in ["ais-proxy", "ais-target"] {
        assert_eq!(
            get_json(&["statefulset", "-n", ns, sts]).unwrap()["spec"]["replicas"],
            json!(0)
        );
    }
    let notes = event_notes(ns, name);
    position(&notes, "Shutdown completed");
    assert_eq!(pvc_uids(ns), pvcs, "shutdown touched the PVCs");

    patch_spec(ns, name, &json!({"shutdownCluster": false}));
    wait_state(ns, name, "Ready");
    let after = get_json(&["aistore", "-n", ns, name]).unwrap();
    assert_eq!(
        after["status"]["clusterID"], id,
        "resume made a new cluster"
    );
    assert_eq!(targets_in_map(ns, name), Some(1));
    verify(ns, name, &written, "after the shutdown and resume");

    // Deletion without cleanupMetadata: AIS shuts down, PVCs and host state stay.
    delete_aistore(ns, name);
    assert_eq!(
        pvc_uids(ns),
        pvcs,
        "deletion without cleanupMetadata removed PVCs"
    );
    let host_state = format!("{state_dir}/{ns}/{name}");
    assert!(std::path::Path::new(&host_state).exists());

    // A cluster of the same name comes back from the kept metadata: the same cluster ID.
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&manifest));
    wait_state(ns, name, "Ready");
    assert_eq!(
        get_json(&["aistore", "-n", ns, name]).unwrap()["status"]["clusterID"],
        id,
        "the kept metadata did not bring the cluster back"
    );
    verify(
        ns,
        name,
        &written,
        "after deletion and re-creation from the kept metadata",
    );

    // Deletion with cleanupMetadata: PVCs go, and a Job on the node empties the host state.
    delete_with_cleanup(ns, name);
    let left: Vec<_> = std::fs::read_dir(&host_state)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "host state left in {host_state}: {left:?}");
    let notes = event_notes(ns, name);
    position(&notes, "Removing ");
    assert_eq!(
        kubectl_ok(&["get", "jobs", "-n", ns, "-o", "name"], None).trim(),
        "",
        "cleanup Jobs left behind"
    );
    let _ = std::fs::remove_dir_all(&state_dir);
}

/// The v1.7.0 reference sample, as written then (deprecated `hostpathPrefix`, `logsDir`,
/// `allowSharedNoDisks`, `enableExternalLB`, host ports), with only its images swapped for the
/// local cluster's: a working cluster that stores and serves objects.
#[test]
fn a_v1_sample_stores_and_serves_objects() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-v1", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    let name = "aistore-sample";
    let _delete = DeleteAistore { ns, name };
    let dir = std::env::var("AIS_REFERENCE_DIR").map_or_else(
        |_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/data")
        },
        std::path::PathBuf::from,
    );
    let path = dir.join("samples-v1.7.0/ais_v1beta1_aistore.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the reference data beside the clone)",
            path.display()
        )
    });
    let mut doc: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        doc["spec"]["hostpathPrefix"], "/etc/ais",
        "not the v1.x sample"
    );
    doc["spec"]["nodeImage"] = json!(node_image());
    doc["spec"]["initImage"] = json!(init_image());
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&doc.to_string()));
    wait_state(ns, name, "Ready");
    // `kubectl get ais` shows the live ready counts.
    eventually(Duration::from_secs(60), || {
        let row = kubectl_ok(&["get", "ais", "-n", ns, name, "--no-headers"], None);
        let cols: Vec<&str> = row.split_whitespace().collect();
        (cols.get(1..4) == Some(&["Ready", "1/1", "1/1"][..]))
            .then_some(())
            .or_else(|| {
                println!("{ns}: kubectl get ais: {row}");
                None
            })
    });
    let written = store(ns, name, "v1-sample", 25);
    verify(ns, name, &written, "on the v1.x sample's cluster");
    // Its host state under /etc/ais goes with it.
    delete_with_cleanup(ns, name);
}
