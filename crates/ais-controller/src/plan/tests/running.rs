//! Plans of live clusters: bootstrap, rollouts, scaling, Ready, shutdown and resume.

use super::*;

#[test]
fn a_converged_cluster_applies_nothing_new_and_stays_ready() {
    let p = ready(1).plan();
    assert_eq!(
        p.actions,
        vec![
            Action::ApplyInventory { skip: vec![] },
            Action::SweepInventory,
            keep(Role::Proxy, 1),
            keep(Role::Target, 1),
            Action::PushConfig,
        ]
    );
    assert_eq!(state(&p), Some(ClusterState::Ready));
    assert_eq!(p.requeue, Requeue::AwaitChange);
    let ready_cond = p.status.as_ref().unwrap().ready.clone().unwrap();
    assert!(ready_cond.ok);
}

#[test]
fn a_new_cluster_starts_with_one_proxy() {
    let p = fresh().plan();
    assert_eq!(sts_applies(&p), vec![(Role::Proxy, 1, true)]);
    assert!(has(
        &p,
        &Action::Annotate {
            key: RESTART_HASH_ANNOTATION,
            value: fresh().desired().restart_hash
        }
    ));
    assert_eq!(state(&p), Some(ClusterState::Initialized));
}

#[test]
fn targets_start_once_a_proxy_is_ready() {
    let mut w = fresh();
    let d = w.desired();
    w.o.statefulsets.proxy = Some(live_sts(&d.proxy_statefulset, 1, 1, "r1", "r1"));
    w.o.pods.proxy = vec![pod("ais-proxy", 0, "r1")];
    let p = w.plan();
    assert_eq!(sts_applies(&p), vec![(Role::Target, 1, true)]);
    assert_eq!(state(&p), Some(ClusterState::Created));
    assert!(p.status.unwrap().created);
}

/// Three proxies asked for, the first one already ready when the others are: the proxy resize
/// and the target StatefulSet go in one reconcile; with the first proxy not yet ready, only
/// the proxies.
#[test]
fn a_ready_first_proxy_gets_the_other_proxies_and_the_targets_in_one_reconcile() {
    let mut w = fresh().with(|a| a.spec.proxy_spec.size = Some(3));
    let d = w.desired();
    w.o.statefulsets.proxy = Some(live_sts(&d.proxy_statefulset, 1, 1, "r1", "r1"));
    w.o.pods.proxy = vec![pod("ais-proxy", 0, "r1")];
    let p = w.plan();
    assert_eq!(
        sts_applies(&p),
        vec![(Role::Proxy, 3, true), (Role::Target, 1, true)]
    );
    assert_eq!(state(&p), Some(ClusterState::Created));
    assert!(p.status.unwrap().created);

    w.o.pods.proxy[0].ready = false;
    let p = w.plan();
    assert_eq!(sts_applies(&p), vec![(Role::Proxy, 3, true)]);
    assert!(!p.status.unwrap().created);
}

#[test]
fn load_balancers_without_addresses_hold_everything() {
    let w = fresh().with(|a| a.spec.enable_external_lb = Some(true));
    let p = w.plan();
    assert!(sts_applies(&p).is_empty());
    assert_eq!(
        state(&p),
        Some(ClusterState::InitializingLoadBalancerService)
    );
    let w = ready(1)
        .with(|a| a.spec.enable_external_lb = Some(true))
        .observe(|o| {
            o.lb_ingress
                .insert("ais-proxy-lb".into(), vec!["10.9.0.1".into()]);
        });
    assert_eq!(
        state(&w.plan()),
        Some(ClusterState::PendingLoadBalancerService),
        "ais-target-0 has no address"
    );
}

#[test]
fn image_changed_target_2_in_maintenance_target_1_updated_restarts_target_2_only() {
    let mut w = ready(3).observe(|o| o.rebalance_on = false);
    let d = w.desired();
    w.o.statefulsets.target = Some(live_sts(&d.target_statefulset, 3, 2, "r1", "r2"));
    w.o.pods.target = vec![
        pod("ais-target", 0, "r2"),
        pod("ais-target", 1, "r2"),
        pod("ais-target", 2, "r1"),
    ];
    w.o.ais = connected(smap(&[(0, 0)], &[(0, 0), (1, 0), (2, MAINT)], None));
    w.o.state = Some(ClusterState::Upgrading);
    let p = w.plan();
    assert_eq!(deletes_pods(&p), vec!["ais-target-2".to_string()]);
    assert!(ais_calls(&p).is_empty());
    assert_eq!(state(&p), Some(ClusterState::Upgrading));
}

#[test]
fn a_target_is_put_in_maintenance_before_its_restart() {
    let mut w = ready(2).observe(|o| o.rebalance_on = false);
    let d = w.desired();
    w.o.statefulsets.target = Some(live_sts(&d.target_statefulset, 2, 2, "r1", "r2"));
    let p = w.plan();
    assert!(deletes_pods(&p).is_empty());
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::StartMaintenance { pod, .. }] if pod == "ais-target-0"
    ));
    assert_eq!(p.requeue, Requeue::After(AFTER_CALL));
}

#[test]
fn a_new_target_template_turns_rebalance_off_first() {
    let mut w = ready(2);
    old_image(&mut w, Role::Target);
    let p = w.plan();
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: false,
            required: false
        }
    ));
    assert!(sts_applies(&p).iter().all(|(_, _, new)| !new));
    let mut w = ready(2).observe(|o| o.rebalance_on = false);
    old_image(&mut w, Role::Target);
    let p = w.plan();
    assert!(sts_applies(&p).contains(&(Role::Target, 2, true)));
    assert_eq!(state(&p), Some(ClusterState::Upgrading));
}

#[test]
fn the_only_proxy_rolls_with_partition_zero() {
    let mut w = ready(1);
    old_image(&mut w, Role::Proxy);
    let p = w.plan();
    assert!(has(
        &p,
        &Action::ApplyStatefulSet {
            role: Role::Proxy,
            replicas: 1,
            new_template: true,
            partition: Some(0)
        }
    ));
    assert!(
        !sts_applies(&p).iter().any(|(r, _, _)| *r == Role::Target),
        "targets wait for the proxies"
    );
}

#[test]
fn scale_up_by_more_than_one_turns_rebalance_off_then_scales() {
    let w = ready(1).with(|a| a.spec.target_spec.daemon.size = Some(3));
    let p = w.plan();
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: false,
            required: false
        }
    ));
    let p = w.observe(|o| o.rebalance_on = false).plan();
    assert!(sts_applies(&p).contains(&(Role::Target, 3, false)));
    assert_eq!(state(&p), Some(ClusterState::Scaling));
}

#[test]
fn scale_down_decommissions_before_the_statefulset_shrinks() {
    let w = ready(2).with(|a| a.spec.target_spec.daemon.size = Some(1));
    let p = w.plan();
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::Decommission { pod, rm_user_data: false, .. }] if pod == "ais-target-1"
    ));
    assert!(!sts_applies(&p).contains(&(Role::Target, 1, false)));
    assert_eq!(state(&p), Some(ClusterState::Scaling));
}

/// Decision 018: a leaving target still flagged after AIS awaits no rebalance is asked again,
/// without an event (the call repeats at every poll while AIS refuses it), and the
/// StatefulSet keeps its size until the node left the map.
#[test]
fn a_stalled_decommission_is_asked_again_without_an_event() {
    const DECOMM: u64 = 8;
    let stalled = |rebalance: Rebalance| {
        ready(3)
            .with(|a| a.spec.target_spec.daemon.size = Some(1))
            .observe(|o| {
                // ais-target-1 left the map; ais-target-2's rebalance was renewed.
                o.pods.target[1].decommissioned = true;
                o.pods.target[2].decommissioned = true;
                o.ais = connected(smap(&[(0, 0)], &[(0, 0), (2, DECOMM)], None));
                o.rebalance = rebalance;
            })
            .plan()
    };
    let p = stalled(Rebalance::Idle);
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::FinishDecommission { pod, .. }] if pod == "ais-target-2"
    ));
    assert!(!p.actions.iter().any(|a| matches!(a, Action::Event(_))));
    assert!(!sts_applies(&p).contains(&(Role::Target, 1, false)));
    for rebalance in [
        Rebalance::Unknown,
        Rebalance::Running("rebalance[g3]".into()),
    ] {
        let p = stalled(rebalance);
        assert!(ais_calls(&p).is_empty());
        assert_eq!(p.requeue, Requeue::After(POLL));
    }
}

#[test]
fn scale_down_without_ais_waits() {
    let w = ready(2)
        .with(|a| a.spec.target_spec.daemon.size = Some(1))
        .observe(|o| o.ais = AisView::Unavailable("no ready proxy".into()));
    let p = w.plan();
    assert!(ais_calls(&p).is_empty());
    assert!(!sts_applies(&p).contains(&(Role::Target, 1, false)));
    assert_eq!(p.requeue, Requeue::After(POLL));
}

#[test]
fn a_restarted_target_in_maintenance_is_taken_out_of_it() {
    let mut w = ready(1);
    w.o.pods.target[0].ready = false;
    w.o.ais = connected(smap(&[(0, 0)], &[(0, MAINT)], None));
    w.o.maintained = ["target0".to_string()].into();
    let p = w.plan();
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::StopMaintenance { pod, .. }] if pod == "ais-target-0"
    ));
    let call = p
        .actions
        .iter()
        .position(|a| matches!(a, Action::Ais(_)))
        .unwrap();
    assert_eq!(
        p.actions[call + 1],
        Action::Annotate {
            key: MAINTAINED_ANNOTATION,
            value: String::new()
        },
        "forgotten once AIS took it out"
    );
}

#[test]
fn an_admins_maintenance_is_never_undone() {
    let mut w = ready(1);
    w.o.pods.target[0].ready = false;
    let d = w.desired();
    w.o.statefulsets.target = Some(live_sts(&d.target_statefulset, 1, 0, "r1", "r1"));
    w.o.ais = connected(smap(&[(0, 0)], &[(0, MAINT)], None));
    for _ in 0..5 {
        let p = w.plan();
        assert!(ais_calls(&p).is_empty(), "{:?}", p.actions);
        // Not a step under way: the cluster stays Ready, and the reason says why a pod is not.
        assert_eq!(p.next_state(w.o.state), Some(ClusterState::Ready));
        let cond = p.status.as_ref().unwrap().ready.clone().unwrap();
        assert_eq!(cond.reason, "NodeInMaintenance");
        assert!(
            cond.message.contains("ais-target-0 (AIS node target0)"),
            "{}",
            cond.message
        );
        w.o.state = p.next_state(w.o.state);
    }
}

#[test]
fn an_admins_hold_ends_an_upgrade_state_but_hides_no_missing_pod() {
    let mut w = ready(2);
    w.o.state = Some(ClusterState::Upgrading);
    w.o.pods.target[0].ready = false;
    let d = w.desired();
    w.o.statefulsets.target = Some(live_sts(&d.target_statefulset, 2, 1, "r1", "r1"));
    w.o.ais = connected(smap(&[(0, 0)], &[(0, MAINT), (1, 0)], None));
    let p = w.plan();
    assert_eq!(p.next_state(w.o.state), Some(ClusterState::Ready));
    // The other target's pod is gone as well: that is not the admin's, so not "held".
    w.o.pods.target.truncate(1);
    let p = w.plan();
    let cond = p.status.as_ref().unwrap().ready.clone().unwrap();
    assert_ne!(cond.reason, "NodeInMaintenance", "{cond:?}");
}

#[test]
fn maintenance_is_recorded_before_ais_is_asked() {
    let mut w = ready(2).observe(|o| o.rebalance_on = false);
    let d = w.desired();
    w.o.statefulsets.target = Some(live_sts(&d.target_statefulset, 2, 2, "r1", "r2"));
    let p = w.plan();
    let record = p
        .actions
        .iter()
        .position(|a| {
            *a == Action::Annotate {
                key: MAINTAINED_ANNOTATION,
                value: "target0".into(),
            }
        })
        .unwrap();
    let call = p
        .actions
        .iter()
        .position(|a| matches!(a, Action::Ais(AisCall::StartMaintenance { .. })))
        .unwrap();
    assert!(record < call);
}

#[test]
fn ready_needs_health_and_every_node_in_the_map() {
    let w = ready(2).observe(|o| {
        o.ais = AisView::Connected {
            health: Err("503".into()),
            smap: Ok(Box::new(smap(&[(0, 0)], &[(0, 0), (1, 0)], None))),
        }
    });
    let p = w.plan();
    assert_eq!(state(&p), Some(ClusterState::Upgrading));
    assert_eq!(p.requeue, Requeue::After(POLL));
    let w = ready(2).observe(|o| o.ais = connected(smap(&[(0, 0)], &[(0, 0)], None)));
    let p = w.plan();
    let cond = p.status.as_ref().unwrap().ready.clone().unwrap();
    assert!(cond.message.contains("1 of 2 targets"), "{cond:?}");
}

#[test]
fn first_ready_turns_rebalance_on_and_must_reach_ais() {
    let w = ready(1).observe(|o| {
        o.rebalance_on = false;
        o.state = Some(ClusterState::Created);
    });
    let p = w.plan();
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: true,
            required: true
        }
    ));
    assert!(!has(&p, &Action::PushConfig));
    assert_eq!(state(&p), Some(ClusterState::Ready));
    assert_eq!(p.status.unwrap().cluster_id.as_deref(), Some("u1"));
}

#[test]
fn pdb_disabled_and_a_pdb_exists_sweeps_the_inventory() {
    let pdb = |enabled: bool| {
        move |a: &mut AIStore| {
            a.spec.target_spec.pdb = Some(ais_crd::daemon::PdbSpec {
                enabled: Some(enabled),
                max_unavailable: None,
            });
        }
    };
    let key = (OwnedKind::PodDisruptionBudget, "ais-target".to_string());
    // Enabled: the PDB is in the inventory (and so never swept).
    let on = ready(1).with(pdb(true)).rolled_out();
    assert!(on.desired().names().contains(&key));
    // Disabled: the sweep deletes what left the inventory, and the PDB left it.
    let w = ready(1).with(pdb(false)).rolled_out();
    assert!(has(&w.plan(), &Action::SweepInventory));
    let names = w.desired().names();
    assert!(!names.contains(&key));
    let found = vec![Found {
        kind: OwnedKind::PodDisruptionBudget,
        name: "ais-target".into(),
        owners: vec!["00000000-0000-0000-0000-000000000001".into()],
        deleting: false,
    }];
    assert_eq!(
        crate::build::inventory::orphans(&names, &found, "00000000-0000-0000-0000-000000000001"),
        vec![(OwnedKind::PodDisruptionBudget, "ais-target".to_string())]
    );
}

#[test]
fn shutdown_goes_through_shutting_down_to_shutdown() {
    let w = ready(1).with(|a| a.spec.shutdown_cluster = Some(true));
    let p = w.plan();
    assert_eq!(state(&p), Some(ClusterState::ShuttingDown));
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: false,
            required: false
        }
    ));
    let w = w.observe(|o| {
        o.state = Some(ClusterState::ShuttingDown);
        o.rebalance_on = false;
    });
    let p = w.plan();
    assert!(has(&p, &Action::ShutdownAis));
    assert!(sts_applies(&p).contains(&(Role::Proxy, 0, false)));
    assert!(sts_applies(&p).contains(&(Role::Target, 0, false)));
    let mut w = w;
    let d = w.desired();
    w.o.statefulsets = PerRole {
        proxy: Some(live_sts(&d.proxy_statefulset, 0, 0, "r1", "r1")),
        target: Some(live_sts(&d.target_statefulset, 0, 0, "r1", "r1")),
    };
    w.o.pods = PerRole::default();
    assert_eq!(state(&w.plan()), Some(ClusterState::Shutdown));
}

#[test]
fn resume_scales_the_proxies_up_first() {
    let mut w = ready(1).observe(|o| {
        o.state = Some(ClusterState::Shutdown);
        o.rebalance_on = false;
    });
    let d = w.desired();
    w.o.statefulsets = PerRole {
        proxy: Some(live_sts(&d.proxy_statefulset, 0, 0, "r1", "r1")),
        target: Some(live_sts(&d.target_statefulset, 0, 0, "r1", "r1")),
    };
    w.o.pods = PerRole::default();
    w.o.ais = AisView::Unavailable("no ready proxy".into());
    let p = w.plan();
    assert!(sts_applies(&p).contains(&(Role::Proxy, 1, false)));
    assert!(!sts_applies(&p).contains(&(Role::Target, 1, false)));
}

#[test]
fn a_rollout_restart_of_the_targets_rolls_like_an_upgrade() {
    // `kubectl rollout restart` adds an annotation (another field manager's) and the
    // StatefulSet controller moves the update revision; the OnDelete pods stay.
    let mut w = ready(2);
    let d = w.desired();
    let mut live = live_sts(&d.target_statefulset, 2, 2, "r1", "r2");
    let meta = live
        .spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .as_mut()
        .unwrap();
    meta.annotations.get_or_insert_default().insert(
        "kubectl.kubernetes.io/restartedAt".into(),
        "2026-12-02T07:00:00Z".into(),
    );
    w.o.statefulsets.target = Some(live);
    let p = w.plan();
    assert!(
        !sts_applies(&p)
            .iter()
            .any(|(r, _, new)| *r == Role::Target && *new),
        "the restart annotation is not removed"
    );
    assert!(has(
        &p,
        &Action::SetRebalance {
            enabled: false,
            required: false
        }
    ));
    let p = w.observe(|o| o.rebalance_on = false).plan();
    assert!(matches!(
        ais_calls(&p).as_slice(),
        [AisCall::StartMaintenance { pod, .. }] if pod == "ais-target-0"
    ));
    assert_eq!(state(&p), Some(ClusterState::Upgrading));
}
