//! Target decisions: scale up, scale down by `scaleDownMode`, and ordered rollouts.
//!
//! Scaling and rollouts never overlap: a rollout in progress finishes before replicas change.
//! A target pod is deleted only when AIS has it in maintenance, or it never joined the
//! cluster map (unscheduled or crash-looping). The StatefulSet shrinks only when every
//! removed target is in maintenance (`retain`) or has left the map (the decommission modes).

use ais_crd::daemon::ScaleDownMode;

use super::{AisCall, PodView, Rebalance, RebalanceReason, RoleInput, Step};

/// What the target decisions observe beyond the role.
#[derive(Clone, Copy, Debug)]
pub struct TargetInput<'a> {
    /// StatefulSet, pods, cluster map.
    pub role: RoleInput<'a>,
    /// `spec.targetSpec.scaleDownMode` (default `safe_decommission`).
    pub mode: ScaleDownMode,
    /// Condition `ReadyRebalance` is True (the pushed config has `rebalance.enabled`).
    pub rebalance_enabled: bool,
    /// Whether AIS still awaits a rebalance (asked while a target is being decommissioned).
    pub rebalance: &'a Rebalance,
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
    if let Some(held) = held_by_admin(r) {
        return held;
    }
    if !r.sts.ready() {
        return Step::wait(format!(
            "waiting for target pods: {}/{} ready",
            r.sts.ready, r.sts.replicas
        ));
    }
    Step::Done
}

/// [`Step::Held`] when some target pods are not ready and every one of them is an AIS node in
/// maintenance that the operator did not start: an admin's decision, not a step under way.
fn held_by_admin(r: &RoleInput<'_>) -> Option<Step> {
    // A pod that does not exist is no admin's doing.
    if i32::try_from(r.pods.len()).ok() != Some(r.sts.replicas) {
        return None;
    }
    let not_ready: Vec<&PodView> = r.pods.iter().filter(|p| !p.ready).collect();
    let mut held = Vec::new();
    for pod in &not_ready {
        let node = r
            .node_of(&pod.name)
            .filter(|n| n.in_maintenance() && !n.is_decommissioning())
            .filter(|n| !r.maintained.contains(&n.daemon_id))?;
        held.push(format!("{} (AIS node {})", pod.name, node.daemon_id));
    }
    (!held.is_empty()).then(|| {
        Step::Held(format!(
            "target pod {} is in maintenance, which the operator did not start; the cluster serves without it until it is taken out of maintenance (ais cluster add-remove-nodes stop-maintenance)",
            held.join(", ")
        ))
    })
}

/// Shrinking from `sts.replicas` to `desired`: release each removed target in AIS (highest
/// ordinal first, all at once: one rebalance moves their data), wait until AIS finished,
/// asking again for a decommission whose rebalance a newer one renewed, then scale.
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
    let mut stalled = Vec::new();
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
        // A target the rollout restarted is in the operator's maintenance until it is back;
        // `rolling()` ends once its pod exists on the new revision, ready or not. Asked to
        // decommission a target that is not running, AIS removes it without moving its data,
        // so it is brought back first (a broken pod, which will not come back, goes as is).
        if !retain
            && node.in_maintenance()
            && !node.is_decommissioning()
            && r.maintained.contains(&node.daemon_id)
            && !pod.is_some_and(|p| p.ready || p.not_serving())
        {
            return pod.and_then(|p| resume_pod(r, p)).unwrap_or_else(|| {
                Step::poll(format!(
                    "waiting for target {name}, restarted in maintenance, to run again before it is decommissioned (its data moves only from a running target)"
                ))
            });
        }
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
        } else {
            stalled.push(AisCall::FinishDecommission {
                node: node.daemon_id.clone(),
                pod: name.clone(),
                rm_user_data: t.mode == ScaleDownMode::Decommission,
            });
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
    // AIS removes a decommissioned target from the map when the rebalance its decommission
    // started ends. A rebalance renewed by a newer one (the next target's decommission, a
    // node joining) ends without removing it, and the target stays flagged for good (AIS
    // v1.4.9 logs "got renewed (interrupted) - will not remove"). The newer rebalance ran on
    // a map that excludes it, so its data moved; asked again once no rebalance is awaited,
    // AIS removes it without one (and refuses while one is).
    if !stalled.is_empty() && *t.rebalance == Rebalance::Idle {
        return Step::Call(stalled);
    }
    if !pending.is_empty() {
        let running = t
            .rebalance
            .running()
            .map(|x| format!(" ({x} is awaited)"))
            .unwrap_or_default();
        return Step::poll(format!(
            "waiting for AIS to finish decommissioning {}{running}",
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

fn resume_pod(r: &RoleInput<'_>, pod: &PodView) -> Option<Step> {
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
mod tests;
