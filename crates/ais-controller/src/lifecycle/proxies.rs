//! Proxy decisions: scale down with the primary moved first, and rolling updates with the
//! partition handoff (the primary sits on pod 0 while pods N-1…1 update, then moves to an
//! updated pod before pod 0 updates), so the primary restarts at most once.

use super::{AisCall, RoleInput, Step};

/// How to replace the proxy pod template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateUpdate {
    /// Apply the template now with this rolling-update partition.
    Apply {
        /// `spec.updateStrategy.rollingUpdate.partition`.
        partition: i32,
    },
    /// Do this first (move the primary to pod 0), then ask again.
    First(Step),
}

/// The next step for the proxies of a running cluster (template changes aside: see
/// [`template_update`]).
pub fn plan(r: &RoleInput<'_>) -> Step {
    let rolling = r.rolling() || r.sts.partition > 0;
    if r.desired != r.sts.replicas && !rolling {
        if r.desired > r.sts.replicas {
            return Step::Scale(r.desired);
        }
        return scale_down(r);
    }
    if rolling {
        return rollout(r);
    }
    if !r.sts.ready() {
        return Step::wait(format!(
            "waiting for proxy pods: {}/{} ready",
            r.sts.ready, r.sts.replicas
        ));
    }
    Step::Done
}

/// Before a new template goes in: with more than one proxy, make pod 0 the primary and hold
/// it back with partition 1, so pods N-1…1 update first.
pub fn template_update(r: &RoleInput<'_>) -> TemplateUpdate {
    let any_ready = r.pods.iter().any(|p| p.ready);
    if r.sts.replicas <= 1 || !any_ready {
        // Nothing to hand over to: one proxy, or none serves (a repair must go on).
        return TemplateUpdate::Apply { partition: 0 };
    }
    let Some(smap) = r.smap else {
        return TemplateUpdate::First(Step::poll(
            "AIS does not answer: the new proxy template waits until AIS can move the primary (a primary never restarts without a handoff)",
        ));
    };
    let first = r.pod_name(0);
    if smap.primary_is_pod(&first) {
        return TemplateUpdate::Apply { partition: 1 };
    }
    match (smap.find_by_pod_name(&first), r.pod(0)) {
        (Some(node), Some(pod)) if pod.ready && !node.in_maint_or_decomm() => {
            TemplateUpdate::First(Step::Call(vec![AisCall::SetPrimary {
                node: node.daemon_id.clone(),
                pod: first,
            }]))
        }
        // Pod 0 cannot lead: a plain rolling update.
        _ => TemplateUpdate::Apply { partition: 0 },
    }
}

/// A rolling update in progress.
pub fn rollout(r: &RoleInput<'_>) -> Step {
    let Some(rev) = r.sts.update_revision.as_deref() else {
        return Step::wait("waiting for the StatefulSet controller to report the update revision");
    };
    let partition = r.sts.partition;
    let outdated_or_unready = |from: i32| {
        (from..r.sts.replicas).find(|&i| {
            r.pod(i)
                .is_none_or(|p| p.revision.as_deref() != Some(rev) || !p.ready || p.terminating)
        })
    };
    if partition == 0 {
        return match outdated_or_unready(0) {
            Some(i) => Step::wait(format!("waiting for proxy {} to update", r.pod_name(i))),
            None => Step::Done,
        };
    }
    if let Some(i) = outdated_or_unready(partition) {
        return Step::wait(format!("waiting for proxy {} to update", r.pod_name(i)));
    }
    // Pods from the partition up are updated and ready: hand the primary to the highest one
    // before pod 0 restarts. When a scale-down waits for the rollout (an image and a size
    // changed in one edit), a pod that stays is preferred: the primary on a removed pod would
    // have to move a second time, while pod 0 may still be rejoining.
    let Some(smap) = r.smap else {
        return Step::poll("AIS does not answer: the primary stays until it can be moved");
    };
    let primary_below = (0..partition).any(|i| smap.primary_is_pod(&r.pod_name(i)));
    if primary_below {
        let electable = |i: i32| {
            let name = r.pod_name(i);
            smap.find_by_pod_name(&name)
                .filter(|n| !n.in_maint_or_decomm() && !n.is_non_electable())
                .map(|n| (n.daemon_id.clone(), name))
        };
        let staying = partition..r.sts.replicas.min(r.desired);
        let candidate = staying
            .rev()
            .find_map(electable)
            .or_else(|| (partition..r.sts.replicas).rev().find_map(electable));
        return match candidate {
            Some((node, pod)) => Step::Call(vec![AisCall::SetPrimary { node, pod }]),
            None => Step::poll("waiting for an updated proxy to join the cluster map"),
        };
    }
    Step::SetPartition(0)
}

/// Shrinking the proxies: move the primary below the new size, decommission the removed
/// proxies, wait until they left the map, then scale.
pub fn scale_down(r: &RoleInput<'_>) -> Step {
    let Some(smap) = r.smap else {
        return Step::poll("AIS does not answer: proxies are not removed until it confirms");
    };
    let primary_ordinal =
        (0..r.sts.replicas.max(r.desired)).find(|&i| smap.primary_is_pod(&r.pod_name(i)));
    if primary_ordinal.is_none_or(|o| o >= r.desired) {
        let rev = r.sts.update_revision.as_deref();
        let candidate = (0..r.desired).find_map(|i| {
            let pod = r.pod(i)?;
            let on_rev = rev.is_none_or(|rev| pod.revision.as_deref() == Some(rev));
            let node = smap.find_by_pod_name(&pod.name)?;
            (pod.ready && on_rev && !node.in_maint_or_decomm() && !node.is_non_electable())
                .then(|| (node.daemon_id.clone(), pod.name.clone()))
        });
        return match candidate {
            Some((node, pod)) => Step::Call(vec![AisCall::SetPrimary { node, pod }]),
            None => Step::Blocked(format!(
                "no proxy below ordinal {} is ready, up to date and in the cluster map to take over as primary",
                r.desired
            )),
        };
    }
    let mut calls = Vec::new();
    let mut pending = Vec::new();
    for ordinal in (r.desired..r.sts.replicas).rev() {
        let name = r.pod_name(ordinal);
        let Some(node) = smap.find_by_pod_name(&name) else {
            continue;
        };
        if !node.is_decommissioning() {
            calls.push(AisCall::Decommission {
                node: node.daemon_id.clone(),
                pod: name.clone(),
                rm_user_data: false,
            });
        }
        pending.push(name);
    }
    if !calls.is_empty() {
        return Step::Call(calls);
    }
    if !pending.is_empty() {
        return Step::poll(format!(
            "waiting for proxies {} to leave the cluster map",
            pending.join(", ")
        ));
    }
    Step::Scale(r.desired)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lifecycle::testing::{pod, smap, sts};
    use crate::lifecycle::{PodView, StsView};

    static NONE: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();

    fn input<'a>(
        desired: i32,
        s: &'a StsView,
        p: &'a [PodView],
        m: Option<&'a ais_client::Smap>,
    ) -> RoleInput<'a> {
        RoleInput {
            name: "ais-proxy",
            desired,
            sts: s,
            pods: p,
            smap: m,
            maintained: &NONE,
        }
    }

    fn proxies(n: i32, rev: &str) -> Vec<PodView> {
        (0..n).map(|i| pod("ais-proxy", i, rev)).collect()
    }

    #[test]
    fn scale_down_moves_the_primary_first() {
        let (s, p) = (sts(3, "a"), proxies(3, "a"));
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(2));
        let step = plan(&input(1, &s, &p, Some(&m)));
        assert_eq!(
            step,
            Step::Call(vec![AisCall::SetPrimary {
                node: "proxy0".into(),
                pod: "ais-proxy-0".into()
            }])
        );
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(0));
        assert_eq!(
            plan(&input(1, &s, &p, Some(&m))),
            Step::Call(vec![
                AisCall::Decommission {
                    node: "proxy2".into(),
                    pod: "ais-proxy-2".into(),
                    rm_user_data: false
                },
                AisCall::Decommission {
                    node: "proxy1".into(),
                    pod: "ais-proxy-1".into(),
                    rm_user_data: false
                },
            ])
        );
        let m = smap(&[(0, 0), (2, 8)], &[], Some(0));
        assert!(matches!(
            plan(&input(1, &s, &p, Some(&m))),
            Step::Wait { poll: true, .. }
        ));
        let m = smap(&[(0, 0)], &[], Some(0));
        assert_eq!(plan(&input(1, &s, &p, Some(&m))), Step::Scale(1));
    }

    #[test]
    fn no_eligible_primary_blocks() {
        let (s, mut p) = (sts(2, "a"), proxies(2, "a"));
        p[0].ready = false;
        let m = smap(&[(0, 0), (1, 0)], &[], Some(1));
        assert!(matches!(
            plan(&input(1, &s, &p, Some(&m))),
            Step::Blocked(_)
        ));
    }

    #[test]
    fn template_update_moves_primary_to_pod_zero_then_holds_it_back() {
        let (s, p) = (sts(3, "a"), proxies(3, "a"));
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(1));
        assert_eq!(
            template_update(&input(3, &s, &p, Some(&m))),
            TemplateUpdate::First(Step::Call(vec![AisCall::SetPrimary {
                node: "proxy0".into(),
                pod: "ais-proxy-0".into()
            }]))
        );
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(0));
        assert_eq!(
            template_update(&input(3, &s, &p, Some(&m))),
            TemplateUpdate::Apply { partition: 1 }
        );
        let (s1, p1) = (sts(1, "a"), proxies(1, "a"));
        assert_eq!(
            template_update(&input(1, &s1, &p1, Some(&m))),
            TemplateUpdate::Apply { partition: 0 }
        );
    }

    #[test]
    fn rollout_hands_the_primary_to_an_updated_pod_before_pod_zero() {
        let mut s = sts(3, "a");
        s.update_revision = Some("b".into());
        s.partition = 1;
        let mut p = proxies(3, "a");
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(0));
        assert!(matches!(
            plan(&input(3, &s, &p, Some(&m))),
            Step::Wait { poll: false, .. }
        ));
        p[1].revision = Some("b".into());
        p[2].revision = Some("b".into());
        assert_eq!(
            plan(&input(3, &s, &p, Some(&m))),
            Step::Call(vec![AisCall::SetPrimary {
                node: "proxy2".into(),
                pod: "ais-proxy-2".into()
            }])
        );
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(2));
        assert_eq!(plan(&input(3, &s, &p, Some(&m))), Step::SetPartition(0));
        s.partition = 0;
        assert!(matches!(
            plan(&input(3, &s, &p, Some(&m))),
            Step::Wait { .. }
        ));
        p[0].revision = Some("b".into());
        assert_eq!(plan(&input(3, &s, &p, Some(&m))), Step::Done);
    }

    /// An image change and 3 → 2 proxies in one edit: the rollout hands the primary to a pod
    /// that stays, so the scale-down that follows (while pod 0 still rejoins) moves nothing.
    #[test]
    fn a_rollout_before_a_scale_down_hands_the_primary_to_a_pod_that_stays() {
        let mut s = sts(3, "a");
        s.update_revision = Some("b".into());
        s.partition = 1;
        let mut p = proxies(3, "a");
        p[1].revision = Some("b".into());
        p[2].revision = Some("b".into());
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(0));
        assert_eq!(
            plan(&input(2, &s, &p, Some(&m))),
            Step::Call(vec![AisCall::SetPrimary {
                node: "proxy1".into(),
                pod: "ais-proxy-1".into()
            }])
        );
        // Pod 0 restarted on the new revision and is not ready yet: the rollout no longer
        // holds the scale-down, which decommissions the removed proxy without a handoff.
        s.partition = 0;
        p[0].revision = Some("b".into());
        p[0].ready = false;
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(1));
        assert_eq!(
            plan(&input(2, &s, &p, Some(&m))),
            Step::Call(vec![AisCall::Decommission {
                node: "proxy2".into(),
                pod: "ais-proxy-2".into(),
                rm_user_data: false
            }])
        );
        // With one proxy left, the only updated pod still leads.
        let m = smap(&[(0, 0), (1, 0), (2, 0)], &[], Some(0));
        s.partition = 1;
        p[0] = pod("ais-proxy", 0, "a");
        assert_eq!(
            plan(&input(1, &s, &p, Some(&m))),
            Step::Call(vec![AisCall::SetPrimary {
                node: "proxy2".into(),
                pod: "ais-proxy-2".into()
            }])
        );
    }
}
