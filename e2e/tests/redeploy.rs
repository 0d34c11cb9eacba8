//! Clusters side by side and clusters made again: two AIStores in one namespace and the same
//! name in another namespace keep their objects apart; an AIStore deleted with `cleanupData`
//! and made again under its name starts without the old bucket, on other ports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ais_e2e::data::{self, Written};
use ais_e2e::{
    DeleteAistore, Namespace, aistore, delete_aistore, free_port, get_json, install_crd,
    kubectl_ok, patch_spec, start_controller, wait_for, wait_state,
};
use serde_json::{Value, json};

/// The proxy's API address at `port` (`None` while its pod has no IP).
fn proxy(ns: &str, name: &str, port: u16) -> Option<String> {
    let pod = get_json(&["pod", "-n", ns, &format!("{name}-proxy-0")])?;
    Some(format!("{}:{port}", pod["status"]["podIP"].as_str()?))
}

fn store(ns: &str, name: &str, port: u16, bucket: &str, count: usize) -> Written {
    wait_for(ns, "objects stored", Duration::from_secs(120), || {
        data::write_objects(&proxy(ns, name, port)?, bucket, count, 16 * 1024)
            .map_err(|e| println!("{ns}/{name}: storing objects: {e}"))
            .ok()
    })
}

fn apply(ns: &str, doc: &Value) {
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&doc.to_string()));
}

fn manifest(name: &str) -> Value {
    serde_json::from_str(&aistore(name, json!({}))).unwrap()
}

#[test]
fn two_clusters_in_one_namespace_and_one_name_in_two_keep_their_objects_apart() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let first = Namespace::create("e2e-pair", &[]);
    let second = Namespace::create("e2e-twin", &[]);
    let (ns1, ns2) = (first.0.as_str(), second.0.as_str());
    let _c1 = start_controller(ns1, free_port("127.0.0.1"));
    let _c2 = start_controller(ns2, free_port("127.0.0.1"));
    let clusters = [(ns1, "ais-a"), (ns1, "ais-b"), (ns2, "ais-a")];
    let _deletes: Vec<DeleteAistore<'_>> = clusters
        .iter()
        .map(|&(ns, name)| DeleteAistore { ns, name })
        .collect();
    for (ns, name) in clusters {
        apply(ns, &manifest(name));
    }
    for (ns, name) in clusters {
        wait_state(ns, name, "Ready");
    }
    // The same bucket name in each: each cluster reads back exactly what was written to it
    // (random content, so a cluster that served another's objects fails the checksum).
    let written: Vec<Written> = clusters
        .iter()
        .map(|&(ns, name)| store(ns, name, 51080, "shared-name", 15))
        .collect();
    for ((ns, name), w) in clusters.iter().zip(&written) {
        data::assert_intact(
            &proxy(ns, name, 51080).unwrap(),
            w,
            &format!("{ns}/{name} beside the other clusters"),
        );
    }
    // Each cluster has its own objects (Services, StatefulSets, ConfigMaps by name).
    for (ns, name) in clusters {
        for sts in ["proxy", "target"] {
            let s = get_json(&["statefulset", "-n", ns, &format!("{name}-{sts}")]).unwrap();
            assert_eq!(
                s["metadata"]["ownerReferences"][0]["name"], name,
                "{ns}/{name}"
            );
        }
    }
}

#[test]
fn a_cluster_made_again_after_cleanup_data_starts_empty_on_other_ports() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-redeploy", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    let name = "ais";
    let _delete = DeleteAistore { ns, name };
    apply(ns, &manifest(name));
    wait_state(ns, name, "Ready");
    let old = store(ns, name, 51080, "before", 10);
    data::assert_intact(
        &proxy(ns, name, 51080).unwrap(),
        &old,
        "before the deletion",
    );

    patch_spec(
        ns,
        name,
        &json!({"cleanupMetadata": true, "cleanupData": true}),
    );
    wait_for(ns, "cleanupData set", Duration::from_secs(30), || {
        (get_json(&["aistore", "-n", ns, name])?["spec"]["cleanupData"] == true).then_some(())
    });
    delete_aistore(ns, name);
    wait_for(ns, "the PVCs gone", Duration::from_secs(120), || {
        kubectl_ok(&["get", "pvc", "-n", ns, "-o", "name"], None)
            .trim()
            .is_empty()
            .then_some(())
    });

    // Made again under the same name, on other ports (fixed for a running cluster).
    let mut doc = manifest(name);
    doc["spec"]["proxySpec"] = json!({"servicePort": 52080, "portPublic": 52080, "portIntraControl": 52082, "portIntraData": 52083});
    doc["spec"]["targetSpec"]["servicePort"] = json!(52081);
    doc["spec"]["targetSpec"]["portPublic"] = json!(52081);
    doc["spec"]["targetSpec"]["portIntraControl"] = json!(52082);
    doc["spec"]["targetSpec"]["portIntraData"] = json!(52083);
    apply(ns, &doc);
    wait_state(ns, name, "Ready");
    let addr = wait_for(
        ns,
        "the proxy on port 52080",
        Duration::from_secs(60),
        || proxy(ns, name, 52080),
    );
    assert_eq!(
        data::bucket_exists(&addr, "before"),
        Ok(false),
        "the bucket of the deleted cluster is back"
    );
    let new = store(ns, name, 52080, "after", 10);
    data::assert_intact(&addr, &new, "on the cluster made again");
}
