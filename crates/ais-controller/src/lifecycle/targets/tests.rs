//! Unit tests of the parent module.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::lifecycle::testing::{pod, smap, sts};

const MAINT: u64 = 4;
const DECOMM: u64 = 8;

/// Every node these tests put into maintenance is the operator's.
static OURS: std::sync::LazyLock<std::collections::BTreeSet<String>> =
    std::sync::LazyLock::new(|| (0..4).map(|i| format!("target{i}")).collect());

fn input<'a>(
    desired: i32,
    s: &'a crate::lifecycle::StsView,
    pods: &'a [crate::lifecycle::PodView],
    m: Option<&'a ais_client::Smap>,
) -> RoleInput<'a> {
    RoleInput {
        name: "ais-target",
        desired,
        sts: s,
        pods,
        smap: m,
        maintained: &OURS,
    }
}

fn targets(n: i32, rev: &str) -> Vec<crate::lifecycle::PodView> {
    (0..n).map(|i| pod("ais-target", i, rev)).collect()
}

#[test]
fn converged_targets_are_done() {
    let (s, p) = (sts(3, "a"), targets(3, "a"));
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0)], None);
    let t = TargetInput {
        role: input(3, &s, &p, Some(&m)),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(plan(&t), Step::Done);
}

#[test]
fn scale_up_by_one_scales_by_more_disables_rebalance_first() {
    let (s, p) = (sts(2, "a"), targets(2, "a"));
    let mut t = TargetInput {
        role: input(3, &s, &p, None),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(plan(&t), Step::Scale(3));
    t.role.desired = 5;
    assert_eq!(
        plan(&t),
        Step::SetRebalance {
            enabled: false,
            reason: RebalanceReason::Scaling
        }
    );
    t.rebalance_enabled = false;
    assert_eq!(plan(&t), Step::Scale(5));
}

#[test]
fn safe_decommission_releases_highest_first_and_waits_for_the_map() {
    let (s, p) = (sts(3, "a"), targets(3, "a"));
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0)], None);
    let mut t = TargetInput {
        role: input(1, &s, &p, Some(&m)),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(
        plan(&t),
        Step::Call(vec![
            AisCall::Decommission {
                node: "target2".into(),
                pod: "ais-target-2".into(),
                rm_user_data: false
            },
            AisCall::Decommission {
                node: "target1".into(),
                pod: "ais-target-1".into(),
                rm_user_data: false
            },
        ])
    );
    // AIS is migrating the data: the pods are marked (normally right after the call), and
    // nothing scales yet.
    let m = smap(&[(0, 0)], &[(0, 0), (1, DECOMM), (2, DECOMM)], None);
    t.role.smap = Some(&m);
    assert_eq!(
        plan(&t),
        Step::MarkDecommissioned(vec!["ais-target-2".into(), "ais-target-1".into()])
    );
    let mut marked = p.clone();
    marked[1].decommissioned = true;
    marked[2].decommissioned = true;
    t.role.pods = &marked;
    assert!(matches!(plan(&t), Step::Wait { poll: true, .. }));
    // One left the map; the other still decommissions.
    let m = smap(&[(0, 0)], &[(0, 0), (1, DECOMM)], None);
    t.role.smap = Some(&m);
    assert!(matches!(plan(&t), Step::Wait { poll: true, .. }));
    let m = smap(&[(0, 0)], &[(0, 0)], None);
    t.role.smap = Some(&m);
    assert_eq!(plan(&t), Step::Scale(1));
}

#[test]
fn decommission_mode_removes_user_data() {
    let (s, p) = (sts(2, "a"), targets(2, "a"));
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0)], None);
    let t = TargetInput {
        role: input(1, &s, &p, Some(&m)),
        mode: ScaleDownMode::Decommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(
        plan(&t),
        Step::Call(vec![AisCall::Decommission {
            node: "target1".into(),
            pod: "ais-target-1".into(),
            rm_user_data: true
        }])
    );
}

#[test]
fn retain_puts_in_maintenance_and_keeps_the_node_in_the_map() {
    let (s, p) = (sts(2, "a"), targets(2, "a"));
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0)], None);
    let mut t = TargetInput {
        role: input(1, &s, &p, Some(&m)),
        mode: ScaleDownMode::Retain,
        rebalance_enabled: false,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(
        plan(&t),
        Step::Call(vec![AisCall::StartMaintenance {
            node: "target1".into(),
            pod: "ais-target-1".into()
        }])
    );
    let m = smap(&[(0, 0)], &[(0, 0), (1, MAINT)], None);
    t.role.smap = Some(&m);
    assert_eq!(plan(&t), Step::Scale(1));
}

#[test]
fn scale_down_needs_rebalance_on_except_retain() {
    let (s, p) = (sts(2, "a"), targets(2, "a"));
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0)], None);
    let t = TargetInput {
        role: input(1, &s, &p, Some(&m)),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: false,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(
        plan(&t),
        Step::SetRebalance {
            enabled: true,
            reason: RebalanceReason::ScaleDown
        }
    );
}

#[test]
fn scale_down_never_proceeds_without_the_cluster_map() {
    let (s, p) = (sts(2, "a"), targets(2, "a"));
    let t = TargetInput {
        role: input(1, &s, &p, None),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert!(matches!(plan(&t), Step::Wait { poll: true, .. }));
}

#[test]
fn scale_down_skips_pods_that_never_joined_but_waits_for_running_ones() {
    let s = sts(3, "a");
    let mut p = targets(3, "a");
    p[2].ready = false;
    p[2].unschedulable = true;
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0)], None);
    let t = TargetInput {
        role: input(2, &s, &p, Some(&m)),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(plan(&t), Step::Scale(2), "target-2 was never scheduled");
    // A running pod absent from the map may be joining: wait, do not scale.
    let p = targets(3, "a");
    let t = TargetInput {
        role: input(2, &s, &p, Some(&m)),
        ..t
    };
    assert!(matches!(plan(&t), Step::Wait { poll: true, .. }));
}

#[test]
fn prefix_names_do_not_match_the_wrong_node() {
    // Scaling 11 → 10 removes ais-target-10; ais-target-1 must not be touched.
    let s = sts(11, "a");
    let p = targets(11, "a");
    let all: Vec<(i32, u64)> = (0..11).map(|i| (i, 0)).collect();
    let m = smap(&[(0, 0)], &all, None);
    let t = TargetInput {
        role: input(10, &s, &p, Some(&m)),
        mode: ScaleDownMode::Retain,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(
        plan(&t),
        Step::Call(vec![AisCall::StartMaintenance {
            node: "target10".into(),
            pod: "ais-target-10".into()
        }])
    );
}

#[test]
fn rollout_puts_the_lowest_outdated_target_in_maintenance_before_deleting_it() {
    let mut s = sts(3, "a");
    s.update_revision = Some("b".into());
    let p = targets(3, "a");
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0)], None);
    let t = TargetInput {
        role: input(3, &s, &p, Some(&m)),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: false,
        rebalance: &Rebalance::Unknown,
    };
    assert_eq!(
        plan(&t),
        Step::Call(vec![AisCall::StartMaintenance {
            node: "target0".into(),
            pod: "ais-target-0".into()
        }])
    );
    let m = smap(&[(0, 0)], &[(0, MAINT), (1, 0), (2, 0)], None);
    let t = TargetInput {
        role: input(3, &s, &p, Some(&m)),
        ..t
    };
    assert_eq!(plan(&t), Step::DeletePod("ais-target-0".into()));
}

#[test]
fn rollout_waits_for_the_previous_pod_and_for_terminating_pods() {
    let mut s = sts(3, "a");
    s.update_revision = Some("b".into());
    let mut p = targets(3, "a");
    p[0].revision = Some("b".into());
    p[0].ready = false;
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0)], None);
    let role = input(3, &s, &p, Some(&m));
    assert_eq!(
        rollout(&role),
        Step::wait("waiting for the updated pod ais-target-0 to be ready")
    );
    p[0].ready = true;
    p[1].terminating = true;
    let role = input(3, &s, &p, Some(&m));
    assert_eq!(
        rollout(&role),
        Step::wait("waiting for pod ais-target-1 to terminate")
    );
}

#[test]
fn a_restarted_target_still_in_maintenance_is_taken_out_of_it() {
    let mut s = sts(2, "a");
    s.update_revision = Some("b".into());
    let mut p = targets(2, "a");
    p[0].revision = Some("b".into());
    p[0].ready = false;
    let m = smap(&[(0, 0)], &[(0, MAINT), (1, 0)], None);
    let role = input(2, &s, &p, Some(&m));
    assert_eq!(
        rollout(&role),
        Step::Call(vec![AisCall::StopMaintenance {
            node: "target0".into(),
            pod: "ais-target-0".into()
        }])
    );
    // Not while its container is not running yet.
    p[0].running = false;
    let role = input(2, &s, &p, Some(&m));
    assert!(matches!(rollout(&role), Step::Wait { poll: false, .. }));
    // Outside a rollout too (a target kept with `retain` and scaled back up).
    let s = sts(2, "a");
    let mut p = targets(2, "a");
    p[1].ready = false;
    let m = smap(&[(0, 0)], &[(0, 0), (1, MAINT)], None);
    let t = TargetInput {
        role: input(2, &s, &p, Some(&m)),
        mode: ScaleDownMode::Retain,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert!(
        matches!(plan(&t), Step::Call(c) if matches!(&c[0], AisCall::StopMaintenance { node, .. } if node == "target1"))
    );
}

#[test]
fn a_target_an_admin_put_in_maintenance_stays_there() {
    let mut s = sts(2, "a");
    s.update_revision = Some("b".into());
    let mut p = targets(2, "a");
    p[0].revision = Some("b".into());
    p[0].ready = false;
    let m = smap(&[(0, 0)], &[(0, MAINT), (1, 0)], None);
    let none = std::collections::BTreeSet::new();
    let role = RoleInput {
        maintained: &none,
        ..input(2, &s, &p, Some(&m))
    };
    assert!(
        matches!(rollout(&role), Step::Blocked(msg) if msg.contains("did not start")),
        "the rollout waits for the admin"
    );
    let s = sts(2, "a");
    let mut p = targets(2, "a");
    p[0].ready = false;
    let t = TargetInput {
        role: RoleInput {
            maintained: &none,
            ..input(2, &s, &p, Some(&m))
        },
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert!(
        !matches!(plan(&t), Step::Call(c) if matches!(&c[0], AisCall::StopMaintenance { .. })),
        "never taken out of a maintenance the operator did not start"
    );
}

#[test]
fn rollout_without_the_map_deletes_only_pods_that_cannot_serve() {
    let mut s = sts(2, "a");
    s.update_revision = Some("b".into());
    let mut p = targets(2, "a");
    let role = input(2, &s, &p, None);
    assert!(matches!(rollout(&role), Step::Wait { poll: true, .. }));
    p[0].crash_looping = true;
    p[0].ready = false;
    let role = input(2, &s, &p, None);
    assert_eq!(rollout(&role), Step::DeletePod("ais-target-0".into()));
}

#[test]
fn rollout_replaces_an_unschedulable_pod_then_pauses_if_it_stays_pending() {
    let mut s = sts(2, "a");
    s.update_revision = Some("b".into());
    let mut p = targets(2, "a");
    p[0].ready = false;
    p[0].unschedulable = true;
    let m = smap(&[(0, 0)], &[(1, 0)], None);
    let role = input(2, &s, &p, Some(&m));
    assert_eq!(rollout(&role), Step::DeletePod("ais-target-0".into()));
    p[0].revision = Some("b".into());
    p[0].pending_reason = Some("0/4 nodes are available: node(s) didn't match selector".into());
    let role = input(2, &s, &p, Some(&m));
    assert!(
        matches!(rollout(&role), Step::Blocked(msg) if msg.contains("ais-target-0") && msg.contains("didn't match")),
        "never past a target that stays Pending after its restart"
    );
    // Placed and ready again: the next target goes.
    p[0].unschedulable = false;
    p[0].ready = true;
    let role = input(2, &s, &p, Some(&m));
    assert_eq!(
        rollout(&role),
        Step::Call(vec![AisCall::StartMaintenance {
            node: "target1".into(),
            pod: "ais-target-1".into()
        }])
    );
}

#[test]
fn a_ready_pod_missing_from_the_map_is_not_deleted() {
    let mut s = sts(1, "a");
    s.update_revision = Some("b".into());
    let p = targets(1, "a");
    let m = smap(&[(0, 0)], &[], None);
    let role = input(1, &s, &p, Some(&m));
    assert!(matches!(rollout(&role), Step::Wait { poll: true, .. }));
}

#[test]
fn scaling_waits_for_a_rollout_to_finish() {
    let mut s = sts(3, "a");
    s.update_revision = Some("b".into());
    let p = targets(3, "a");
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0)], None);
    let t = TargetInput {
        role: input(1, &s, &p, Some(&m)),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &Rebalance::Unknown,
    };
    assert!(matches!(plan(&t), Step::Call(c) if matches!(c[0], AisCall::StartMaintenance { .. })));
}

/// Two targets decommissioned at once: the second decommission's rebalance renews the
/// first's, and AIS v1.4.9 then removes only the second target. The first stays flagged
/// until it is asked again with no rebalance running (the 4 December bench run waited on it
/// for ten minutes).
#[test]
fn a_decommission_whose_rebalance_was_renewed_is_asked_again_once_none_runs() {
    let s = sts(5, "a");
    let mut p = targets(5, "a");
    p[3].decommissioned = true;
    p[4].decommissioned = true;
    // ais-target-3 left the map (its rebalance ended); ais-target-4 is still flagged.
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0), (4, DECOMM)], None);
    let running = Rebalance::Running("rebalance[g2]".into());
    let mut t = TargetInput {
        role: input(3, &s, &p, Some(&m)),
        mode: ScaleDownMode::SafeDecommission,
        rebalance_enabled: true,
        rebalance: &running,
    };
    // While a rebalance is awaited (or nobody knows), the decommission may still be under way.
    let step = plan(&t);
    assert!(
        matches!(&step, Step::Wait { reason, poll: true }
            if reason.contains("ais-target-4") && reason.contains("rebalance[g2] is awaited")),
        "{step:?}"
    );
    t.rebalance = &Rebalance::Unknown;
    assert!(matches!(plan(&t), Step::Wait { poll: true, .. }));
    t.rebalance = &Rebalance::Idle;
    assert_eq!(
        plan(&t),
        Step::Call(vec![AisCall::FinishDecommission {
            node: "target4".into(),
            pod: "ais-target-4".into(),
            rm_user_data: false
        }])
    );
    // A target not yet marked is marked first, as for a fresh decommission.
    let mut unmarked = p.clone();
    unmarked[4].decommissioned = false;
    t.role.pods = &unmarked;
    assert_eq!(
        plan(&t),
        Step::MarkDecommissioned(vec!["ais-target-4".into()])
    );
    // Gone from the map: the StatefulSet shrinks.
    t.role.pods = &p;
    let m = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0)], None);
    t.role.smap = Some(&m);
    assert_eq!(plan(&t), Step::Scale(3));
}

/// The e2e case that lost objects (decision 021): an upgrade and a scale-down 3 -> 2 in one
/// patch; the rollout restarted the last target, whose pod exists again on the new revision
/// but is not ready, its node still in the operator's maintenance.
#[test]
fn a_target_restarted_in_maintenance_is_brought_back_before_its_decommission() {
    let s = sts(3, "b");
    let in_maintenance = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, MAINT)], None);
    let back = smap(&[(0, 0)], &[(0, 0), (1, 0), (2, 0)], None);
    let step = |pods: &[crate::lifecycle::PodView], m: &ais_client::Smap| {
        plan(&TargetInput {
            role: input(2, &s, pods, Some(m)),
            mode: ScaleDownMode::SafeDecommission,
            rebalance_enabled: true,
            rebalance: &Rebalance::Unknown,
        })
    };
    let mut starting = targets(3, "b");
    starting[2].ready = false;
    starting[2].running = false;
    let waiting = step(&starting, &in_maintenance);
    assert!(matches!(waiting, Step::Wait { .. }), "{waiting:?}");
    let mut running = starting.clone();
    running[2].running = true;
    assert_eq!(
        step(&running, &in_maintenance),
        Step::Call(vec![AisCall::StopMaintenance {
            node: "target2".into(),
            pod: "ais-target-2".into(),
        }])
    );
    // Back and serving, out of maintenance: now its data can move.
    let decommission = step(&targets(3, "b"), &back);
    assert!(
        matches!(&decommission, Step::Call(c) if matches!(c[0], AisCall::Decommission { .. })),
        "{decommission:?}"
    );
}
