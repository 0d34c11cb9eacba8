//! Scale-downs by the two `scaleDownMode`s that `lifecycle.rs` does not cover, and an upgrade
//! together with a scale-up in one patch, on real aisnode pods: objects stored before are read
//! back, checksummed, after each step, and a reader runs during each scale-down.
//!
//! - `decommission`: two targets leave at once; AIS migrates their objects, then deletes
//!   their data. The second decommission's rebalance renews the first's, after which AIS
//!   v1.4.9 removes only the second target from the map: the first is asked again.
//! - `retain`: the leaving target only goes into maintenance and keeps its data (objects on
//!   it are unreadable meanwhile: no rebalance); scaling up again brings it back, with its
//!   objects, out of maintenance.
//! - an env change and the scale-up in one patch: the returning target and the others all run
//!   the new template, and nothing is lost.
//!
//! All of it with the controller killed (SIGKILL) and restarted every 3 to 20 s
//! ([`ais_e2e::chaos`]): bootstrap, decommission, maintenance and rollout each converge no
//! matter where a controller died.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use ais_e2e::chaos::Chaos;
use ais_e2e::cluster::Ais;
use ais_e2e::data::Reader;
use ais_e2e::{
    DeleteAistore, Namespace, aistore, get_json, install_crd, kubectl_ok, patch_spec, wait_for,
};
use serde_json::{Value, json};

const NAME: &str = "ais";
const LONG: Duration = Duration::from_secs(420);

/// Waits until the AIStore is Ready with `n` of `n` targets and, when given, the map shows
/// `in_map`, killing the controller on the way; the map as it is then.
fn ready_with(
    ais: &Ais<'_>,
    chaos: &mut Chaos,
    n: usize,
    in_map: Option<(usize, usize)>,
) -> (usize, usize) {
    wait_for(
        ais.ns,
        &format!("Ready with {n}/{n} targets, {in_map:?} (targets, in maintenance) in the map"),
        LONG,
        || {
            chaos.tick();
            let map = ais.targets_in_map()?;
            (ais.ready_with(n) && in_map.is_none_or(|want| want == map)).then_some(map)
        },
    )
}

fn pod_uid(ns: &str, pod: &str) -> Option<String> {
    get_json(&["pod", "-n", ns, pod])?["metadata"]["uid"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn scale_downs_by_decommission_and_retain_and_an_upgrade_with_scale_up_keep_objects_under_controller_kills()
 {
    let _case = ais_e2e::report::Case::start();
    install_crd();
    let ns_guard = Namespace::create("e2e-scale", &[]);
    let ns = ns_guard.0.as_str();
    // Declared before the guard that deletes the AIStore, so a controller still runs then.
    let mut chaos = Chaos::start(ns);
    let _delete = DeleteAistore { ns, name: NAME };
    let ais = Ais { ns, name: NAME };
    let mut doc: Value = serde_json::from_str(&aistore(NAME, json!({}))).unwrap();
    doc["spec"]["targetSpec"]["size"] = json!(4);
    doc["spec"]["targetSpec"]["disablePodAntiAffinity"] = json!(true);
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&doc.to_string()));
    ready_with(&ais, &mut chaos, 4, Some((4, 0)));
    let written = ais.store("scaling", 40);

    // decommission of two targets: their objects migrate first; both leave the map.
    let reader = Reader::start(&ais.proxy_now(), &written);
    patch_spec(
        ns,
        NAME,
        &json!({"targetSpec": {"size": 2, "scaleDownMode": "decommission"}}),
    );
    ready_with(&ais, &mut chaos, 2, Some((2, 0)));
    let reads = reader.stop();
    println!(
        "{ns} decommission scale-down: {} reads, {} failed",
        reads.ok + reads.failed,
        reads.failed
    );
    ais.verify(&written, "after the decommission scale-down");

    // retain: the leaving target stays in the map, in maintenance, with its data.
    let reader = Reader::start(&ais.proxy_now(), &written);
    patch_spec(
        ns,
        NAME,
        &json!({"targetSpec": {"size": 1, "scaleDownMode": "retain"}}),
    );
    // The cluster map then: AIS v1.4.9 drops the node once its pod is gone (seen: (1, 0)); the
    // node comes back, with its objects, when its pod does below.
    let map = ready_with(&ais, &mut chaos, 1, None);
    println!("{ns} after the retain scale-down: (targets, in maintenance) in the map: {map:?}");
    let reads = reader.stop();
    println!(
        "{ns} retain scale-down: {} reads, {} failed (objects on the retained target are unreadable until it returns)",
        reads.ok + reads.failed,
        reads.failed
    );
    let target0 = pod_uid(ns, &format!("{NAME}-target-0")).unwrap();

    // An env change and the scale-up in one patch: the retained target returns out of
    // maintenance with its objects, and every target runs the new template.
    patch_spec(
        ns,
        NAME,
        &json!({"targetSpec": {"size": 2, "env": [{"name": "E2E_UPGRADE", "value": "1"}]}}),
    );
    wait_for(
        ns,
        "Ready with both targets on the new template",
        LONG,
        || {
            chaos.tick();
            let items = ais.pods("target")?;
            let updated = items
                .iter()
                .filter(|p| {
                    p["spec"]["containers"][0]["env"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["name"] == "E2E_UPGRADE")
                })
                .count();
            let ready = ais.resource()?["status"]["state"] == "Ready";
            (ready && items.len() == 2 && updated == 2 && ais.targets_in_map() == Some((2, 0)))
                .then_some(())
        },
    );
    assert_ne!(
        pod_uid(ns, &format!("{NAME}-target-0")).unwrap(),
        target0,
        "target-0 was not restarted for the new template"
    );
    ais.verify(&written, "after the upgrade and scale-up in one patch");
    println!(
        "{ns}: {} controller kills, every flow converged",
        chaos.kills()
    );
}
