//! Upgrades on real aisnode pods, the reference's "Upgrade" and "Scale error recovery" cases
//! and the faults beyond it, each with objects stored before and read back, checksummed,
//! after:
//!
//! - an image change rolls every pod, targets through maintenance with `skip_rebalance` and
//!   one rebalance as each returns (objects written during the rollout are read back), with
//!   the target PDB on and the controller killed every 3 to 20 s;
//! - a node drain is refused by the target PDB and restarts nothing;
//! - the controller and a target pod killed together: the cluster comes back whole;
//! - an image change and a scale-down in one patch;
//! - deletion with `cleanupData` while the controller is killed;
//! - a broken upgrade (an image that cannot be pulled) reverted;
//! - an upgrade while a target pod is unschedulable, and the broken scale-up that made it
//!   so reverted.
//!
//! The new image is a second tag of the local cluster's AIS build (`:<version>-next`, tagged
//! by `e2e/cluster/images.sh`): Kubernetes sees an image change, as with a new release.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ais_e2e::chaos::Chaos;
use ais_e2e::cluster::{Ais, image_of, is_ready, waiting_reasons};
use ais_e2e::data::{Reader, Written};
use ais_e2e::{
    DeleteAistore, Namespace, aistore, free_port, get_json, init_image, install_crd, kubectl,
    kubectl_ok, node_image, patch_spec, start_controller, wait_for,
};
use serde_json::{Value, json};

const NAME: &str = "ais";
const LONG: Duration = Duration::from_secs(480);

fn next(image: &str) -> String {
    format!("{image}-next")
}

/// Whether every proxy and target pod of `ais` runs `image`, is ready, and the AIStore is
/// Ready with `targets` targets.
fn all_on(ais: &Ais<'_>, image: &str, targets: usize) -> bool {
    let (Some(proxies), Some(tpods)) = (ais.pods("proxy"), ais.pods("target")) else {
        return false;
    };
    tpods.len() == targets
        && proxies
            .iter()
            .chain(&tpods)
            .all(|p| image_of(p) == image && is_ready(p))
        && ais.ready_with(targets)
}

fn manifest(targets: u32, extra: Value) -> String {
    let mut doc: Value = serde_json::from_str(&aistore(NAME, json!({}))).unwrap();
    doc["spec"]["targetSpec"]["size"] = json!(targets);
    doc["spec"]["targetSpec"]["disablePodAntiAffinity"] = json!(true);
    // State on PVCs, as in production: the one proxy may restart for a new image (with an
    // emptyDir the operator refuses: a restarted lone proxy would start a new cluster).
    doc["spec"]["stateStorage"] = json!({"pvc": {"storageClass": "e2e-hostpath"}});
    if let (Some(spec), Some(extra)) = (doc["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            match (spec.get_mut(k), v) {
                (Some(Value::Object(have)), Value::Object(add)) => {
                    have.extend(add.clone());
                }
                _ => {
                    spec.insert(k.clone(), v.clone());
                }
            }
        }
    }
    doc.to_string()
}

/// Uncordons the node when dropped, so a failed drain check never leaves it cordoned.
struct Uncordon(String);

impl Drop for Uncordon {
    fn drop(&mut self) {
        let _ = kubectl(&["uncordon", &self.0], None);
    }
}

/// `kubectl drain` of the node, limited to the pods labelled `e2e-drain=<ns>`: the target PDB
/// (`maxUnavailable: 0`) refuses every eviction, so the drain gives up and nothing restarted.
fn drain_is_refused(ais: &Ais<'_>) {
    let before = ais_e2e::ais_pod_uids(ais.ns, ais.name);
    let nodes = get_json(&["nodes", "-l", "ais-e2e/node=real"]).unwrap();
    let node = nodes["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let uncordon = Uncordon(node.clone());
    let out = kubectl(
        &[
            "drain",
            &node,
            &format!("--pod-selector=e2e-drain={}", ais.ns),
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=15s",
        ],
        None,
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && said.contains("disruption budget"),
        "the drain was not refused by the PDB: {said}"
    );
    println!("{}: drain refused by the target PDB", ais.ns);
    drop(uncordon);
    assert_eq!(
        ais_e2e::ais_pod_uids(ais.ns, ais.name),
        before,
        "a refused drain restarted AIS pods"
    );
}

#[test]
fn image_upgrade_drain_kills_and_upgrade_with_scale_down_keep_objects_under_controller_kills() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-upgrade", &[]);
    let ns = ns_guard.0.as_str();
    // Declared before the guard that deletes the AIStore, so a controller still runs then.
    let mut chaos = Chaos::start(ns);
    let _delete = DeleteAistore { ns, name: NAME };
    let ais = Ais { ns, name: NAME };
    let (image, init) = (node_image(), init_image());
    kubectl_ok(
        &["apply", "-n", ns, "-f", "-"],
        Some(&manifest(
            3,
            json!({"targetSpec": {"pdb": {"enabled": true}, "labels": {"e2e-drain": ns}}}),
        )),
    );
    wait_for(ns, "Ready with 3/3 targets", LONG, || {
        chaos.tick();
        (ais.ready_with(3) && ais.targets_in_map() == Some((3, 0))).then_some(())
    });
    let written = ais.store("upgrade", 40);

    // An image change: every pod restarts on the new image, each target through maintenance
    // with skip_rebalance (nothing moves off a target that goes down). Each returning target
    // gets one rebalance: objects written while it was away are placed on it again (AIS looks
    // for a misplaced object on the other targets only while a rebalance runs; the reference
    // skips it, and such objects become unreadable). Objects are written during the rollout
    // and read back after it.
    let rebalances = wait_for(
        ns,
        "the rebalances AIS ran",
        Duration::from_secs(60),
        || ais.rebalance_ids(),
    );
    let reader = Reader::start(&ais.proxy_now(), &written);
    let mut during = Written::into_bucket(&written.bucket);
    patch_spec(
        ns,
        NAME,
        &json!({"nodeImage": next(&image), "initImage": next(&init)}),
    );
    wait_for(ns, "every pod on the new image, Ready", LONG, || {
        chaos.tick();
        if let Some(addr) = ais.proxy() {
            let _ = during.put_one(&addr, 16 * 1024);
        }
        (all_on(&ais, &next(&image), 3) && ais.targets_in_map() == Some((3, 0))).then_some(())
    });
    let reads = reader.stop();
    println!(
        "{ns} image upgrade: {} reads, {} failed; {} objects written during it",
        reads.ok + reads.failed,
        reads.failed,
        during.objects.len()
    );
    ais.verify(&written, "after the image upgrade");
    ais.verify(
        &during,
        "after the image upgrade (objects written during it)",
    );
    let after = wait_for(
        ns,
        "the rebalances AIS ran",
        Duration::from_secs(60),
        || ais.rebalance_ids(),
    );
    let new: Vec<&String> = after.difference(&rebalances).collect();
    println!("{ns} image upgrade: rebalances {new:?}");
    assert!(
        new.len() <= 3,
        "the image upgrade of 3 targets ran more than one rebalance per target: {new:?}"
    );

    drain_is_refused(&ais);

    // The controller and a target pod killed together (SIGKILL and a forced delete): the
    // target comes back with its objects and the cluster converges.
    let target = format!("{NAME}-target-1");
    kubectl_ok(
        &[
            "delete",
            "pod",
            "-n",
            ns,
            &target,
            "--force",
            "--grace-period=0",
            "--wait=false",
        ],
        None,
    );
    chaos.kill_now();
    wait_for(ns, "Ready with 3/3 targets after the kills", LONG, || {
        chaos.tick();
        let back = ais.pods("target")?.iter().all(is_ready);
        (back && ais.ready_with(3) && ais.targets_in_map() == Some((3, 0))).then_some(())
    });
    ais.verify(
        &written,
        "after the controller and a target were killed together",
    );

    // The old image again and one target fewer, in one patch.
    let reader = Reader::start(&ais.proxy_now(), &written);
    patch_spec(
        ns,
        NAME,
        &json!({"nodeImage": image, "initImage": init, "targetSpec": {"size": 2}}),
    );
    wait_for(
        ns,
        "2 targets, every pod on the old image, Ready",
        LONG,
        || {
            chaos.tick();
            (all_on(&ais, &image, 2) && ais.targets_in_map() == Some((2, 0))).then_some(())
        },
    );
    let reads = reader.stop();
    println!(
        "{ns} upgrade with scale-down: {} reads, {} failed",
        reads.ok + reads.failed,
        reads.failed
    );
    ais.verify(&written, "after the upgrade and scale-down in one patch");

    // Deletion with cleanupData while the controller is killed: the AIStore goes, and with
    // it every PVC.
    patch_spec(
        ns,
        NAME,
        &json!({"cleanupData": true, "cleanupMetadata": true}),
    );
    kubectl_ok(&["delete", "aistore", "-n", ns, NAME, "--wait=false"], None);
    wait_for(ns, "the AIStore and its PVCs gone", LONG, || {
        chaos.tick();
        let pvcs = get_json(&["pvc", "-n", ns])?;
        (ais.resource().is_none() && pvcs["items"].as_array()?.is_empty()).then_some(())
    });
    println!(
        "{ns}: {} controller kills, every flow converged",
        chaos.kills()
    );
}

#[test]
fn broken_upgrade_and_broken_scale_up_are_reverted_and_an_upgrade_passes_an_unschedulable_pod() {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-revert", &[]);
    let ns = ns_guard.0.as_str();
    let _controller = start_controller(ns, free_port("127.0.0.1"));
    let _delete = DeleteAistore { ns, name: NAME };
    let ais = Ais { ns, name: NAME };
    let image = node_image();
    kubectl_ok(
        &["apply", "-n", ns, "-f", "-"],
        Some(&manifest(2, json!({}))),
    );
    wait_for(ns, "Ready with 2/2 targets", LONG, || {
        ais.ready_with(2).then_some(())
    });
    let written = ais.store("revert", 20);

    // A broken upgrade: an image that cannot be pulled. A pod gets stuck on it; reverting the
    // image brings every pod back on the good one.
    let missing = "localhost/aistore/aisnode:e2e-missing";
    patch_spec(ns, NAME, &json!({"nodeImage": missing}));
    let stuck = wait_for(ns, "a pod stuck on the missing image", LONG, || {
        ais.pods("proxy")?
            .into_iter()
            .chain(ais.pods("target")?)
            .find(|p| {
                image_of(p) == missing
                    && waiting_reasons(p)
                        .iter()
                        .any(|r| r == "ErrImagePull" || r == "ImagePullBackOff")
            })
            .map(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    });
    println!("{ns}: {stuck} is stuck on {missing}; reverting");
    patch_spec(ns, NAME, &json!({"nodeImage": image}));
    wait_for(ns, "every pod back on the good image, Ready", LONG, || {
        (all_on(&ais, &image, 2) && ais.targets_in_map() == Some((2, 0))).then_some(())
    });
    ais.verify(&written, "after the broken upgrade was reverted");

    // A broken scale-up: target-2's volume can never be provisioned (its claim, made ahead,
    // names a storage class nobody serves), so its pod stays unschedulable.
    let claim0 = get_json(&["pvc", "-n", ns]).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["metadata"]["name"].as_str())
        .find(|n| n.ends_with(&format!("{NAME}-target-0")))
        .unwrap()
        .to_string();
    let claim2 = claim0.replace("-target-0", "-target-2");
    let pvc = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim2},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "e2e-no-provisioner",
                 "resources": {"requests": {"storage": "1Gi"}}}
    });
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&pvc.to_string()));
    patch_spec(ns, NAME, &json!({"targetSpec": {"size": 3}}));
    let pending = format!("{NAME}-target-2");
    let unschedulable = |ns: &str| {
        get_json(&["pod", "-n", ns, &pending]).is_some_and(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
            })
        })
    };
    wait_for(ns, "target-2 unschedulable", LONG, || {
        unschedulable(ns).then_some(())
    });

    // An upgrade while that pod is unschedulable: the running targets roll, and the pending
    // one is made again from the new template.
    patch_spec(
        ns,
        NAME,
        &json!({"targetSpec": {"env": [{"name": "E2E_UPGRADE", "value": "1"}]}}),
    );
    let upgraded = |p: &Value| {
        p["spec"]["containers"][0]["env"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["name"] == "E2E_UPGRADE"))
    };
    wait_for(
        ns,
        "every target on the new template (target-2 still pending)",
        LONG,
        || {
            let pods = ais.pods("target")?;
            let running_updated = pods.iter().filter(|p| upgraded(p) && is_ready(p)).count();
            let pending_updated = pods
                .iter()
                .any(|p| p["metadata"]["name"] == pending.as_str() && upgraded(p));
            (running_updated == 2 && pending_updated && ais.targets_in_map() == Some((2, 0)))
                .then_some(())
        },
    );
    assert!(unschedulable(ns), "target-2 was scheduled after all");
    ais.verify(&written, "after the upgrade past the unschedulable pod");

    // Reverting the scale-up: the pending target goes, the cluster is Ready with two.
    patch_spec(ns, NAME, &json!({"targetSpec": {"size": 2}}));
    wait_for(ns, "Ready with 2/2 targets after the revert", LONG, || {
        let pods = ais.pods("target")?;
        (pods.len() == 2 && pods.iter().all(|p| upgraded(p) && is_ready(p)) && ais.ready_with(2))
            .then_some(())
    });
    ais.verify(&written, "after the broken scale-up was reverted");
}
