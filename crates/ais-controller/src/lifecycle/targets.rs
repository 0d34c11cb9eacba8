//! Target decisions: scale up, scale down by `scaleDownMode`, and ordered rollouts.
//!
//! Scaling and rollouts never overlap: a rollout in progress finishes before replicas change.
//! A target pod is deleted only when AIS has it in maintenance, or it never joined the
//! cluster map (unscheduled or crash-looping). The StatefulSet shrinks only when every
//! removed target is in maintenance (`retain`) or has left the map (the decommission modes).

use ais_crd::daemon::ScaleDownMode;

use super::{AisCall, RebalanceReason, RoleInput, Step};

/// What the target decisions observe beyond the role.
#[derive(Clone, Copy, Debug)]
pub struct TargetInput<'a> {
    /// StatefulSet, pods, cluster map.
    pub role: RoleInput<'a>,
    /// `spec.targetSpec.scaleDownMode` (default `safe_decommission`).
    pub mode: ScaleDownMode,
    /// Condition `ReadyRebalance` is True (the pushed config has `rebalance.enabled`).
    pub rebalance_enabled: bool,
}

/// The next step for the targets of a running cluster.
pub fn plan(t: &TargetInput<'_>) -> Step {
    let r = &t.role;
    let current = r.sts.replicas;
    if r.desired != current && !r.rolling() {
        if r.desired > current {
            // One rebalance after all new targets joined, not one per target.
            if current > 0 && r.desired - current > 1 && t.rebalance_enabled {
                return Step::SetRebalance {
                    enabled: false,
                    reason: RebalanceReason::Scaling,
                };
            }
            return Step::Scale(r.desired);
        }
        return scale_down(t);
    }
    if r.rolling() {
        return rollout(r);
    }
    if let Some(step) = resume(r) {
        return step;
    }
    if !r.sts.ready() {
        return Step::wait(format!(
            "waiting for target pods: {}/{} ready",
            r.sts.ready, r.sts.replicas
        ));
    }
    Step::Done
}

/// Shrinking from `sts.replicas` to `desired`: release each removed target in AIS (highest
/// ordinal first), wait until AIS finished, then scale.
pub fn scale_down(t: &TargetInput<'_>) -> Step {
    let r = &t.role;
    let Some(smap) = r.smap else {
        return Step::poll("AIS does not answer: targets are not removed until it confirms");
    };
    let retain = t.mode == ScaleDownMode::Retain;
    if !retain && !t.rebalance_enabled {
        // Decommissioned targets hand their data over through a rebalance.
        return Step::SetRebalance {
            enabled: true,
            reason: RebalanceReason::ScaleDown,
        };
    }
    let mut calls = Vec::new();
    let mut pending = Vec::new();
    let mut unmarked = Vec::new();
    for ordinal in (r.desired..r.sts.replicas).rev() {
        let name = r.pod_name(ordinal);
        let pod = r.pod(ordinal);
        let Some(node) = smap.find_by_pod_name(&name) else {
            match pod {
                // Gone, never joined, or decommissioned and removed: nothing to release.
                None => continue,
                Some(p) if p.not_serving() || (p.decommissioned && !retain) => continue,
                Some(_) => {
                    return Step::poll(format!(
                        "waiting for target {name} to register in the cluster map"
                    ));
                }
            }
        };
        if retain {
            if !node.in_maintenance() {
                calls.push(AisCall::StartMaintenance {
                    node: node.daemon_id.clone(),
                    pod: name,
                });
            }
            continue;
        }
        if !node.is_decommissioning() {
            calls.push(AisCall::Decommission {
                node: node.daemon_id.clone(),
                pod: name.clone(),
                rm_user_data: t.mode == ScaleDownMode::Decommission,
            });
        } else if pod.is_some_and(|p| !p.decommissioned) {
            unmarked.push(name.clone());
        }
        // Decommission ends when AIS removes the node from the map.
        pending.push(name);
    }
    if !calls.is_empty() {
        return Step::Call(calls);
    }
    if !unmarked.is_empty() {
        return Step::MarkDecommissioned(unmarked);
    }
    if !pending.is_empty() {
        return Step::poll(format!(
            "waiting for AIS to finish decommissioning {}",
            pending.join(", ")
        ));
    }
    Step::Scale(r.desired)
}

/// One step of an OnDelete rollout: ordinals in order, each pod put in maintenance and
/// deleted only after the previous one came back.
pub fn rollout(r: &RoleInput<'_>) -> Step {
    let Some(rev) = r.sts.update_revision.as_deref() else {
        return Step::wait("waiting for the StatefulSet controller to report the update revision");
    };
    for ordinal in 0..r.sts.replicas {
        let name = r.pod_name(ordinal);
        let Some(pod) = r.pod(ordinal) else {
            return Step::wait(format!("waiting for pod {name} to be created"));
        };
        if pod.terminating {
            return Step::wait(format!("waiting for pod {name} to terminate"));
        }
        if pod.revision.as_deref() == Some(rev) {
            // A restarted target that cannot be scheduled (a node selector or affinity that
            // excludes its node, its local volume's node gone) pauses the rollout: going on
            // would take the next target down the same way.
            if pod.unschedulable {
                return Step::Blocked(format!(
                    "the rollout pauses: target pod {name} stays Pending after its restart ({}); fix the pod's placement (nodeSelector, affinity, tolerations, its volume's node) or revert the change",
                    pod.pending_reason.as_deref().unwrap_or("unschedulable")
                ));
            }
            if !pod.ready {
                if let Some(step) = resume_pod(r, pod) {
                    return step;
                }
                if let Some(node) = r.node_of(&name).filter(|n| n.in_maintenance())
                    && !r.maintained.contains(&node.daemon_id)
                {
                    return Step::Blocked(format!(
                        "target pod {name} (AIS node {}) is in maintenance, which the operator did not start; it stays so until it is taken out of maintenance (ais cluster add-remove-nodes stop-maintenance), then the rollout goes on",
                        node.daemon_id
                    ));
                }
                return Step::wait(format!("waiting for the updated pod {name} to be ready"));
            }
            continue;
        }
        if pod.unschedulable {
            return Step::DeletePod(name);
        }
        let Some(smap) = r.smap else {
            if pod.crash_looping {
                return Step::DeletePod(name);
            }
            return Step::poll(format!(
                "AIS does not answer: pod {name} is not restarted until AIS puts it in maintenance"
            ));
        };
        return match smap.find_by_pod_name(&name) {
            Some(node) if node.in_maintenance() => Step::DeletePod(name),
            Some(node) => Step::Call(vec![AisCall::StartMaintenance {
                node: node.daemon_id.clone(),
                pod: name,
            }]),
            // Not in the map: AIS has nothing to release unless the pod is serving.
            None if !pod.ready || pod.not_serving() => Step::DeletePod(name),
            None => Step::poll(format!(
                "pod {name} is ready but not in the cluster map; waiting for it to register"
            )),
        };
    }
    Step::Done
}

/// A target that restarted while in maintenance comes back in maintenance and reports
/// not-ready (AIS v1.4.9: "starting in maintenance mode"), so a rolled or re-added pod whose
/// node is still in maintenance is taken out of it once its container runs.
fn resume(r: &RoleInput<'_>) -> Option<Step> {
    r.pods
        .iter()
        .filter(|p| p.ordinal < r.sts.replicas)
        .find_map(|p| resume_pod(r, p))
}

fn resume_pod(r: &RoleInput<'_>, pod: &crate::lifecycle::PodView) -> Option<Step> {
    if pod.ready || !pod.running || pod.terminating {
        return None;
    }
    let node = r.node_of(&pod.name)?;
    let ours = r.maintained.contains(&node.daemon_id);
    (ours && node.in_maintenance() && !node.is_decommissioning()).then(|| {
        Step::Call(vec![AisCall::StopMaintenance {
            node: node.daemon_id.clone(),
            pod: pod.name.clone(),
        }])
    })
}

#[cfg(test)]
mod tests {
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
        };
        assert!(
            matches!(plan(&t), Step::Call(c) if matches!(c[0], AisCall::StartMaintenance { .. }))
        );
    }
}
