//! The lifecycle decisions driven by real aisnode clusters on 127.0.0.1: real cluster maps,
//! real node flags, real decommission and maintenance, carried out through the controller's
//! own AIS session. Kubernetes is not involved, so the pods are described as the kubelet
//! would report them, and the one substitution is the node's control hostname: in
//! Kubernetes it is `<pod>.<service>.<ns>.svc...` (set by the init container); here every node
//! listens on 127.0.0.1, so [`as_in_kubernetes`] writes that name into the map.
//!
//! What these tests prove: no step deletes a target pod or shrinks a StatefulSet before AIS
//! confirms the node is in maintenance or has left the map.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../ais-client/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use ais_client::Smap;
use ais_controller::ais::{ClientSettings, Clients, Session};
use ais_controller::build::ApiAccess;
use ais_controller::lifecycle::proxies;
use ais_controller::lifecycle::targets::{self, TargetInput};
use ais_controller::lifecycle::{AisCall, PodView, Rebalance, RoleInput, Step, StsView};
use ais_controller::metrics::Metrics;
use ais_crd::daemon::ScaleDownMode;
use common::Cluster;

const READY: Duration = Duration::from_secs(90);
const SETTLE: Duration = Duration::from_secs(120);

/// Pod `ais-proxy-<i>` runs `aisprx0<i>`, pod `ais-target-<i>` runs `aistgt0<i>`.
fn pod_of(daemon_id: &str) -> String {
    if let Some(i) = daemon_id.strip_prefix("aisprx") {
        format!(
            "ais-proxy-{}",
            i.trim_start_matches('0').parse::<i32>().unwrap_or(0)
        )
    } else if let Some(i) = daemon_id.strip_prefix("aistgt") {
        format!(
            "ais-target-{}",
            i.trim_start_matches('0').parse::<i32>().unwrap_or(0)
        )
    } else {
        panic!("unexpected node {daemon_id}")
    }
}

fn as_in_kubernetes(mut smap: Smap) -> Smap {
    let rename = |n: &mut ais_client::Snode| {
        let pod = pod_of(&n.daemon_id);
        let svc = pod.rsplit_once('-').unwrap().0.to_string();
        n.intra_control_net.node_ip_addr = format!("{pod}.{svc}.ns.svc.cluster.local");
    };
    smap.pmap.values_mut().for_each(rename);
    smap.tmap.values_mut().for_each(rename);
    if let Some(p) = smap.proxy_si.as_mut() {
        rename(p);
    }
    smap
}

fn session(c: &Cluster) -> Session {
    let metrics = Metrics::new(&prometheus::Registry::new()).unwrap();
    Clients::new(ClientSettings::default())
        .session(
            "ns/ais",
            &c.nodes[0].url(),
            &ApiAccess::default(),
            None,
            metrics,
        )
        .unwrap()
}

async fn smap(s: &Session) -> Smap {
    as_in_kubernetes(s.smap().await.unwrap())
}

/// Ready pods `<sts>-0..n` on revision `rev`, as the kubelet reports them for running nodes.
fn pods(sts: &str, n: i32, rev: &str) -> Vec<PodView> {
    (0..n)
        .map(|i| PodView {
            name: format!("{sts}-{i}"),
            ordinal: i,
            running: true,
            ready: true,
            revision: Some(rev.into()),
            ..PodView::default()
        })
        .collect()
}

fn sts(n: i32, current: &str, update: &str) -> StsView {
    StsView {
        replicas: n,
        status_replicas: n,
        ready: n,
        updated: if current == update { n } else { 0 },
        current: n,
        current_revision: Some(current.into()),
        update_revision: Some(update.into()),
        observed: true,
        partition: 0,
    }
}

fn role<'a>(
    name: &'a str,
    desired: i32,
    s: &'a StsView,
    p: &'a [PodView],
    m: &'a Smap,
) -> RoleInput<'a> {
    // Every maintenance in these tests is the operator's own.
    let maintained: &'static std::collections::BTreeSet<String> =
        Box::leak(Box::new(m.tmap.keys().cloned().collect()));
    RoleInput {
        name,
        desired,
        sts: s,
        pods: p,
        smap: Some(m),
        maintained,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_scale_down_waits_until_ais_has_removed_the_node() {
    let Some(mut c) = Cluster::new(1, 3) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let s = session(&c);
    let view = sts(3, "a", "a");
    let mut pod_views = pods("ais-target", 3, "a");
    let input = |m: &Smap, p: &[PodView]| {
        let t = TargetInput {
            role: role("ais-target", 2, &view, p, m),
            mode: ScaleDownMode::SafeDecommission,
            rebalance_enabled: true,
            rebalance: &Rebalance::Unknown,
        };
        targets::plan(&t)
    };

    let m = smap(&s).await;
    let step = input(&m, &pod_views);
    let Step::Call(calls) = &step else {
        panic!("first step must ask AIS, got {step:?}")
    };
    assert_eq!(
        calls,
        &vec![AisCall::Decommission {
            node: "aistgt02".into(),
            pod: "ais-target-2".into(),
            rm_user_data: false
        }]
    );
    for call in calls {
        s.run(call, Some(&m)).await.unwrap();
    }
    // What the controller records right after AIS accepted the call.
    pod_views[2].decommissioned = true;

    // Until AIS drops the node from the map, the answer is never "scale".
    let deadline = Instant::now() + SETTLE;
    let mut saw_flag = false;
    loop {
        let m = smap(&s).await;
        let step = input(&m, &pod_views);
        match m.tmap.get("aistgt02") {
            Some(node) => {
                saw_flag |= node.is_decommissioning();
                assert!(
                    matches!(step, Step::Wait { poll: true, .. }),
                    "node still in the map ({:?}), but the decision was {step:?}",
                    node.flags
                );
            }
            None => {
                assert_eq!(step, Step::Scale(2), "node left the map: scale down now");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "AIS never finished the decommission"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        saw_flag || c.reap_node(3).is_some(),
        "the node was flagged or has exited"
    );
    // The remaining targets serve on.
    s.healthy().await.unwrap();
    assert_eq!(smap(&s).await.count_targets(), 2);
}

/// What the controller observes of AIS's rebalance while a target is being decommissioned.
async fn rebalance(s: &Session) -> Rebalance {
    match s.awaited_rebalance().await {
        Ok(running) => running
            .into_iter()
            .next()
            .map_or(Rebalance::Idle, Rebalance::Running),
        Err(_) => Rebalance::Unknown,
    }
}

/// Two targets leave in one step, as the controller asks for them. The second
/// decommission's rebalance may renew the first's, and AIS v1.4.9 then removes only the
/// second target: the decisions ask again for the first once no rebalance runs, and the
/// StatefulSet shrinks only after both left the map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_targets_decommissioned_at_once_both_leave_the_map() {
    let Some(mut c) = Cluster::new(1, 4) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let s = session(&c);
    let view = sts(4, "a", "a");
    let mut pod_views = pods("ais-target", 4, "a");
    let plan = |m: &Smap, p: &[PodView], rebalance: &Rebalance| {
        targets::plan(&TargetInput {
            role: role("ais-target", 2, &view, p, m),
            mode: ScaleDownMode::SafeDecommission,
            rebalance_enabled: true,
            rebalance,
        })
    };

    let m = smap(&s).await;
    let step = plan(&m, &pod_views, &Rebalance::Unknown);
    let Step::Call(calls) = &step else {
        panic!("first step must ask AIS, got {step:?}")
    };
    let asked: Vec<&str> = calls
        .iter()
        .map(|c| match c {
            AisCall::Decommission { pod, .. } => pod.as_str(),
            other => panic!("expected decommissions, got {other}"),
        })
        .collect();
    assert_eq!(asked, ["ais-target-3", "ais-target-2"]);
    for call in calls {
        s.run(call, Some(&m)).await.unwrap();
    }
    pod_views[2].decommissioned = true;
    pod_views[3].decommissioned = true;

    let deadline = Instant::now() + SETTLE;
    let mut asked_again = Vec::new();
    loop {
        let m = smap(&s).await;
        let leaving = ["aistgt02", "aistgt03"].map(|id| m.tmap.contains_key(id));
        let step = plan(&m, &pod_views, &rebalance(&s).await);
        match step {
            Step::Scale(n) => {
                assert_eq!(n, 2);
                assert_eq!(
                    leaving,
                    [false, false],
                    "scaled with a leaving node in the map"
                );
                break;
            }
            Step::Wait { poll: true, .. } => {}
            Step::Call(calls) => {
                for call in &calls {
                    let AisCall::FinishDecommission { node, .. } = call else {
                        panic!("only decommissions are asked again, got {call}")
                    };
                    assert!(m.tmap[node].is_decommissioning(), "{node} is flagged");
                    // A refusal (the node left meanwhile) is not an error.
                    s.run(call, Some(&m)).await.unwrap();
                    asked_again.push(node.clone());
                }
            }
            other => panic!("unexpected step {other:?} with the map {leaving:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the targets never left the map: {leaving:?} (asked again: {asked_again:?})\n{}",
            c.log_tails()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!("decommissions asked again: {asked_again:?}");
    s.healthy().await.unwrap();
    let m = smap(&s).await;
    assert_eq!(m.count_targets(), 2);
    assert!(m.nodes().all(|n| !n.in_maint_or_decomm()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_scale_down_waits_for_maintenance() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let s = session(&c);
    let view = sts(2, "a", "a");
    let pod_views = pods("ais-target", 2, "a");
    let plan = |m: &Smap| {
        targets::plan(&TargetInput {
            role: role("ais-target", 1, &view, &pod_views, m),
            mode: ScaleDownMode::Retain,
            rebalance_enabled: false,
            rebalance: &Rebalance::Unknown,
        })
    };
    let m = smap(&s).await;
    let Step::Call(calls) = plan(&m) else {
        panic!("retain must start maintenance first")
    };
    assert!(matches!(&calls[0], AisCall::StartMaintenance { node, .. } if node == "aistgt01"));
    // Before the call: the map has no maintenance flag, so no scale.
    assert_ne!(plan(&m), Step::Scale(1));
    s.run(&calls[0], Some(&m)).await.unwrap();
    let deadline = Instant::now() + SETTLE;
    loop {
        let m = smap(&s).await;
        let node = m
            .tmap
            .get("aistgt01")
            .expect("retain keeps the node in the map");
        if node.in_maintenance() {
            assert_eq!(plan(&m), Step::Scale(1));
            break;
        }
        assert_ne!(plan(&m), Step::Scale(1));
        assert!(
            Instant::now() < deadline,
            "maintenance never showed in the map"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_deletes_a_target_only_after_ais_put_it_in_maintenance() {
    let Some(mut c) = Cluster::new(1, 2) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let s = session(&c);
    let view = sts(2, "a", "b");
    let mut pod_views = pods("ais-target", 2, "a");

    let m = smap(&s).await;
    let step = targets::rollout(&role("ais-target", 2, &view, &pod_views, &m));
    assert_eq!(
        step,
        Step::Call(vec![AisCall::StartMaintenance {
            node: "aistgt00".into(),
            pod: "ais-target-0".into()
        }]),
        "the lowest ordinal goes first, into maintenance"
    );
    let Step::Call(calls) = step else {
        unreachable!()
    };
    s.run(&calls[0], Some(&m)).await.unwrap();

    let deadline = Instant::now() + SETTLE;
    loop {
        let m = smap(&s).await;
        let step = targets::rollout(&role("ais-target", 2, &view, &pod_views, &m));
        if m.tmap["aistgt00"].in_maintenance() {
            assert_eq!(step, Step::DeletePod("ais-target-0".into()));
            break;
        }
        assert!(
            !matches!(step, Step::DeletePod(_)),
            "deleted before maintenance: {step:?}"
        );
        assert!(
            Instant::now() < deadline,
            "maintenance never showed in the map"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The "pod deletion": the node restarts from its disks, as the new pod would.
    c.kill_node(1);
    c.start_node(1);
    pod_views[0].revision = Some("b".into());
    pod_views[0].ready = false;
    // It comes back in maintenance (AIS keeps the flag across restarts) and reports
    // not-ready, so the next step takes it out of maintenance; the next pod waits.
    let deadline = Instant::now() + SETTLE;
    let stop = loop {
        let m = smap(&s).await;
        let step = targets::rollout(&role("ais-target", 2, &view, &pod_views, &m));
        if let Step::Call(calls) = &step {
            break calls.clone();
        }
        assert!(
            matches!(step, Step::Wait { poll: false, .. }),
            "while target-0 restarts: {step:?}"
        );
        assert!(Instant::now() < deadline, "no step after the restart");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        stop,
        vec![AisCall::StopMaintenance {
            node: "aistgt00".into(),
            pod: "ais-target-0".into()
        }]
    );
    s.run(&stop[0], None).await.unwrap();
    // Now it reports ready, and the rollout moves on to the next target.
    let deadline = Instant::now() + SETTLE;
    while let Err(err) = c.client(1).node_readiness().await {
        if Instant::now() > deadline {
            panic!(
                "the restarted target never got ready: {err}\n{}",
                c.log_tails()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    pod_views[0].ready = true;
    let m = smap(&s).await;
    assert_eq!(
        targets::rollout(&role("ais-target", 2, &view, &pod_views, &m)),
        Step::Call(vec![AisCall::StartMaintenance {
            node: "aistgt01".into(),
            pod: "ais-target-1".into()
        }])
    );
    assert!(!m.tmap["aistgt00"].in_maint_or_decomm());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_scale_down_moves_the_primary_then_decommissions() {
    let Some(mut c) = Cluster::new(2, 1) else {
        return;
    };
    c.start_all();
    c.wait_ready(READY).await;
    let s = session(&c);
    // Make the proxy that is about to be removed the primary.
    let m = smap(&s).await;
    s.run(
        &AisCall::SetPrimary {
            node: "aisprx01".into(),
            pod: "ais-proxy-1".into(),
        },
        Some(&m),
    )
    .await
    .unwrap();
    let view = sts(2, "a", "a");
    let pod_views = pods("ais-proxy", 2, "a");
    let deadline = Instant::now() + SETTLE;
    let mut moved = false;
    let mut decommissioned = false;
    loop {
        let m = smap(&s).await;
        let step = proxies::plan(&role("ais-proxy", 1, &view, &pod_views, &m));
        match &step {
            Step::Call(calls) => {
                for call in calls {
                    match call {
                        AisCall::SetPrimary { node, .. } => {
                            assert_eq!(node, "aisprx00");
                            moved = true;
                        }
                        AisCall::Decommission { node, .. } => {
                            assert!(
                                moved || m.is_primary("aisprx00"),
                                "decommission before the primary moved"
                            );
                            assert_eq!(node, "aisprx01");
                            decommissioned = true;
                        }
                        other => panic!("unexpected {other}"),
                    }
                    s.run(call, Some(&m)).await.unwrap();
                }
            }
            Step::Scale(1) => {
                assert!(
                    !m.pmap.contains_key("aisprx01"),
                    "scaled while the proxy is in the map"
                );
                break;
            }
            Step::Wait { .. } => {}
            other => panic!("unexpected step {other:?} with {m}"),
        }
        assert!(
            Instant::now() < deadline,
            "proxy scale-down never finished; last {step:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(moved && decommissioned);
    assert!(smap(&s).await.is_primary("aisprx00"));
}
