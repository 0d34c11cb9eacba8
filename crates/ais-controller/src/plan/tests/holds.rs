//! Plans that hold a live cluster back, or report beside it, instead of acting: the only copy
//! of the cluster map, an unreachable AIS, templates that do not converge, a shutdown during a
//! step, foreign objects, autoscale scale-downs and a second operator.

use super::*;

#[test]
fn the_only_proxy_with_its_map_in_an_empty_dir_is_not_restarted() {
    let mut w = ready(1).with(|a| {
        a.spec.state_storage =
            Some(serde_json::from_value(serde_json::json!({"emptyDir": {}})).unwrap());
    });
    old_image(&mut w, Role::Proxy);
    let p = w.plan();
    assert!(
        !sts_applies(&p).iter().any(|(_, _, new)| *new),
        "no new template: {:?}",
        p.actions
    );
    let cond = p.status.as_ref().unwrap().ready.clone().unwrap();
    assert_eq!(cond.reason, "Blocked");
    assert!(cond.message.contains("emptyDir"), "{cond:?}");
    assert_eq!(p.requeue, Requeue::After(BLOCKED));
}

/// The proxy StatefulSet at 2 replicas, `ready` of them ready, still with `w`'s live (old)
/// template.
fn with_live_proxy_template(w: &World, ready: i32) -> StatefulSet {
    let mut live = live_sts(&w.desired().proxy_statefulset, 2, ready, "r1", "r1");
    let old =
        w.o.statefulsets
            .proxy
            .as_ref()
            .unwrap()
            .spec
            .as_ref()
            .unwrap();
    live.spec.as_mut().unwrap().template = old.template.clone();
    live
}

#[test]
fn the_way_out_of_the_empty_dir_block_scales_the_proxies_first_then_rolls() {
    let empty_dir = |a: &mut AIStore| {
        a.spec.state_storage =
            Some(serde_json::from_value(serde_json::json!({"emptyDir": {}})).unwrap());
    };
    // As the Blocked message says: spec.proxySpec.size 2, with the image change still pending.
    let mut w = ready(1).with(empty_dir);
    old_image(&mut w, Role::Proxy);
    let mut w = w.with(|a| a.spec.proxy_spec.size = Some(2));
    let p = w.plan();
    assert_eq!(
        sts_applies(&p)
            .into_iter()
            .filter(|(role, ..)| *role == Role::Proxy)
            .collect::<Vec<_>>(),
        vec![(Role::Proxy, 1, false), (Role::Proxy, 2, false)],
        "the live template, then a second proxy with it: {:?}",
        p.actions
    );
    assert_ne!(
        p.status.as_ref().unwrap().ready.as_ref().unwrap().reason,
        "Blocked"
    );
    // The second replica is asked for but has not joined the map: still the live template,
    // and pod 0 (the only copy of the map) is never part of a rollout.
    let live = with_live_proxy_template(&w, 1);
    let between = w.observe(|o| {
        o.statefulsets.proxy = Some(live);
        o.pods.proxy = vec![pod("ais-proxy", 0, "r1")];
    });
    let p = between.plan();
    assert!(
        sts_applies(&p)
            .iter()
            .all(|(role, _, new)| *role != Role::Proxy || !*new),
        "no new proxy template before a second proxy is in the map: {:?}",
        p.actions
    );
    w = between;
    // Both proxies serve the map: the change rolls, one proxy at a time.
    w.o.statefulsets.proxy = Some(with_live_proxy_template(&w, 2));
    w.o.pods.proxy = vec![pod("ais-proxy", 0, "r1"), pod("ais-proxy", 1, "r1")];
    w.o.ais = connected(smap(&[(0, 0), (1, 0)], &[(0, 0)], None));
    let p = w.plan();
    assert!(
        has(
            &p,
            &Action::ApplyStatefulSet {
                role: Role::Proxy,
                replicas: 2,
                new_template: true,
                partition: Some(1)
            }
        ),
        "{:?}",
        p.actions
    );
}

#[test]
fn a_proxy_change_waits_while_ais_cannot_move_the_primary() {
    let mut w = ready(1).with(|a| a.spec.proxy_spec.size = Some(2));
    let d = w.desired();
    w.o.statefulsets.proxy = Some(live_sts(&d.proxy_statefulset, 2, 2, "r1", "r1"));
    w.o.pods.proxy = vec![pod("ais-proxy", 0, "r1"), pod("ais-proxy", 1, "r1")];
    old_image(&mut w, Role::Proxy);
    w.o.ais = AisView::Unavailable("no cluster map".into());
    let p = w.plan();
    assert!(!sts_applies(&p).iter().any(|(_, _, new)| *new));
    assert_eq!(p.requeue, Requeue::After(POLL));
    // With the map, the primary moves to pod 0 first (here it is there), then the template
    // goes in with partition 1.
    w.o.ais = connected(smap(&[(0, 0), (1, 0)], &[(0, 0)], None));
    let p = w.plan();
    assert!(has(
        &p,
        &Action::ApplyStatefulSet {
            role: Role::Proxy,
            replicas: 2,
            new_template: true,
            partition: Some(1)
        }
    ));
}

#[test]
fn a_template_that_applying_does_not_change_is_reported_not_applied_forever() {
    let mut w = ready(1).observe(|o| o.rebalance_on = false);
    old_image(&mut w, Role::Target);
    for n in 0..MAX_FUTILE_APPLIES {
        w.o.futile_applies.target = n;
        let p = w.plan();
        assert!(
            sts_applies(&p).contains(&(Role::Target, 1, true)),
            "apply {n}"
        );
    }
    w.o.futile_applies.target = MAX_FUTILE_APPLIES;
    let p = w.plan();
    assert!(!sts_applies(&p).iter().any(|(_, _, new)| *new));
    let cond = p
        .status
        .as_ref()
        .unwrap()
        .templates_converge
        .clone()
        .unwrap();
    assert!(!cond.ok);
    assert!(cond.message.contains("image"), "names the field: {cond:?}");
    // Converged again (the spec or the field changed): the condition goes back to True.
    let w = ready(1).observe(|o| o.templates_stuck = true);
    let cond = w.plan().status.unwrap().templates_converge.unwrap();
    assert!(cond.ok);
}

#[test]
fn shutdown_waits_for_a_decommission_a_restart_or_a_rebalance_under_way() {
    const DECOMM: u64 = 8;
    let w = ready(2)
        .with(|a| a.spec.shutdown_cluster = Some(true))
        .observe(|o| o.ais = connected(smap(&[(0, 0)], &[(0, 0), (1, DECOMM)], None)));
    let p = w.plan();
    assert_ne!(state(&p), Some(ClusterState::ShuttingDown));
    assert!(!has(&p, &Action::ShutdownAis));
    let msg = p.status.as_ref().unwrap().ready.clone().unwrap().message;
    assert!(msg.contains("decommission of target1"), "{msg}");
    let w = ready(2)
        .with(|a| a.spec.shutdown_cluster = Some(true))
        .observe(|o| o.pods.target[1].terminating = true);
    assert_ne!(state(&w.plan()), Some(ClusterState::ShuttingDown));
    let w = ready(2)
        .with(|a| a.spec.shutdown_cluster = Some(true))
        .observe(|o| o.rebalance = Rebalance::Running("rebalance[g7]".into()));
    let p = w.plan();
    assert_ne!(state(&p), Some(ClusterState::ShuttingDown));
    assert!(!has(&p, &Action::ShutdownAis));
    let msg = p.status.as_ref().unwrap().ready.clone().unwrap().message;
    assert!(msg.contains("the rebalance rebalance[g7]"), "{msg}");
    let w = ready(2).with(|a| a.spec.shutdown_cluster = Some(true));
    assert_eq!(state(&w.plan()), Some(ClusterState::ShuttingDown));
}

#[test]
fn a_foreign_admin_client_is_left_alone_and_reported() {
    let w = ready(1)
        .with(|a| {
            a.spec.admin_client =
                Some(serde_json::from_value(serde_json::json!({"enabled": true})).unwrap());
        })
        .observe(|o| o.foreign = vec![(OwnedKind::Deployment, "ais-client".into())]);
    let p = w.plan();
    assert!(has(
        &p,
        &Action::ApplyInventory {
            skip: vec![(OwnedKind::Deployment, "ais-client".into())]
        }
    ));
    let cond = p.status.as_ref().unwrap().objects_applied.clone().unwrap();
    assert!(
        !cond.ok && cond.message.contains("Deployment ais-client"),
        "{cond:?}"
    );
}

/// A cluster of three autoscaled targets whose nodes now number `nodes`.
fn autoscaled(nodes: usize, max_unavailable: Option<i32>) -> World {
    let mut w = ready(3).with(|a| {
        a.spec.size = None;
        a.spec.proxy_spec.size = Some(1);
        a.spec.target_spec.daemon.size = Some(-1);
        a.spec.target_spec.daemon.node_selector =
            Some([("ais".to_string(), "yes".to_string())].into());
        a.spec.target_spec.daemon.auto_scale = Some(ais_crd::daemon::AutoScaleConf {
            size_limit: None,
            max_unavailable,
        });
    });
    w.autoscale_nodes = (0..nodes).map(|i| format!("n{i}")).collect();
    w.rolled_out()
}

#[test]
fn an_autoscale_shrink_within_max_unavailable_is_deferred() {
    // Every target serves, so nothing but maxUnavailable holds the shrink back.
    let p = autoscaled(2, Some(1)).plan();
    assert!(ais_calls(&p).is_empty(), "{:?}", p.actions);
    assert!(!sts_applies(&p).contains(&(Role::Target, 2, false)));
    assert_eq!(state(&p), Some(ClusterState::Ready));
    // One node fewer than maxUnavailable allows: the scale-down starts (decommission first).
    let p = autoscaled(1, Some(1)).plan();
    assert!(
        matches!(ais_calls(&p).first(), Some(AisCall::Decommission { pod, .. }) if pod == "ais-target-2"),
        "{:?}",
        p.actions
    );
    // Without maxUnavailable the same shrink is not deferred.
    let p = autoscaled(2, None).plan();
    assert!(!ais_calls(&p).is_empty(), "{:?}", p.actions);
}

#[test]
fn a_lost_node_never_decommissions_a_healthy_target() {
    let mut w = autoscaled(2, None).with(|a| {
        a.spec.target_spec.scale_down_mode = Some(ais_crd::daemon::ScaleDownMode::Decommission);
    });
    // target-0's node is gone; target-2 (the highest ordinal) runs on a healthy node.
    w.o.pods.target[0].ready = false;
    w.o.pods.target[0].unschedulable = true;
    let p = w.plan();
    assert!(ais_calls(&p).is_empty(), "no decommission: {:?}", p.actions);
    let cond = p.status.as_ref().unwrap().ready.clone().unwrap();
    assert_eq!(cond.reason, "Blocked");
    assert!(cond.message.contains("ais-target-2"), "{cond:?}");
    // Every target serves (a node label was taken away on purpose): the shrink goes on.
    let w = autoscaled(2, None);
    assert!(matches!(
        ais_calls(&w.plan()).as_slice(),
        [AisCall::Decommission { pod, .. }] if pod == "ais-target-2"
    ));
}

#[test]
fn a_write_of_the_reference_operator_after_the_takeover_is_warned_about_once() {
    let warnings = |p: &Plan| -> Vec<String> {
        p.actions
            .iter()
            .filter_map(|a| match a {
                Action::Event(n) if n.warning && n.reason == "SecondOperator" => {
                    Some(n.text.clone())
                }
                _ => None,
            })
            .collect()
    };
    let w = ready(1);
    assert!(warnings(&w.plan()).is_empty());
    let w = ready(1).observe(|o| o.reference_wrote_at = Some("2026-12-02T06:10:00Z".into()));
    let p = w.plan();
    let found = warnings(&p);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "the AIStore was written at 2026-12-02T06:10:00Z by the field manager \"manager\""
        ),
        "{found:?}"
    );
    // Recording it is the operator's newest write: the next look finds no later write.
    assert!(has(
        &p,
        &Action::Annotate {
            key: SECOND_OPERATOR_ANNOTATION,
            value: "2026-12-02T06:10:00Z".into()
        }
    ));
}
