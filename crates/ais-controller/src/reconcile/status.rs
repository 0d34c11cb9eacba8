//! The status the controller writes, computed from what it observed (pure).

use ais_crd::status::{RoleStatus, condition};
use ais_crd::{AIStoreStatus, ClusterState};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Ready and desired pods of one StatefulSet, and whether its status is current.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoleObservation {
    /// `spec.replicas`.
    pub desired: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// Pods on the latest revision.
    pub updated: i32,
    /// `status.observedGeneration == metadata.generation`.
    pub current: bool,
}

impl RoleObservation {
    /// Reads a StatefulSet.
    pub fn of(sts: &StatefulSet) -> Self {
        let desired = sts.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let status = sts.status.clone().unwrap_or_default();
        Self {
            desired,
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            current: status.observed_generation == sts.metadata.generation,
        }
    }

    /// Every desired pod is ready, on the latest revision, and the status is current.
    pub fn converged(&self) -> bool {
        self.current && self.ready == self.desired && self.updated >= self.desired
    }
}

/// What the reconcile observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// `metadata.generation` of the AIStore.
    pub generation: i64,
    /// Validation errors, joined; `None` when the spec is valid.
    pub invalid: Option<String>,
    /// Proxy StatefulSet, when it exists.
    pub proxies: Option<RoleObservation>,
    /// Target StatefulSet, when it exists.
    pub targets: Option<RoleObservation>,
    /// `status.intraClusterURL`.
    pub intra_cluster_url: Option<String>,
    /// `status.autoscaleStatus`, when a role autoscales.
    pub autoscale: Option<ais_crd::status::AutoScaleStatus>,
}

/// The next status. Conditions keep their `lastTransitionTime` unless their status flips, so a
/// converged cluster computes a status equal to the current one (and nothing is written).
pub fn next(current: Option<&AIStoreStatus>, obs: &Observation, now: Timestamp) -> AIStoreStatus {
    let mut status = current.cloned().unwrap_or_default();
    status.observed_generation = Some(obs.generation);
    if obs.intra_cluster_url.is_some() {
        status.intra_cluster_url.clone_from(&obs.intra_cluster_url);
    }
    if obs.autoscale.is_some() {
        status.autoscale_status.clone_from(&obs.autoscale);
    }
    let mut conds = std::mem::take(&mut status.conditions);
    let set = |conds: &mut Vec<Condition>, t: &str, ok: bool, reason: &str, message: &str| {
        set_condition(conds, t, ok, reason, message, obs.generation, now);
    };
    set(
        &mut conds,
        condition::INITIALIZED,
        true,
        "Initialized",
        "Success initializing cluster",
    );
    if let Some(msg) = &obs.invalid {
        set(&mut conds, condition::VALID, false, "InvalidSpec", msg);
        status.conditions = conds;
        return status;
    }
    set(
        &mut conds,
        condition::VALID,
        true,
        "Valid",
        "The spec passed validation",
    );
    status.proxies = obs.proxies.map(|p| RoleStatus::new(p.ready, p.desired));
    status.targets = obs.targets.map(|t| RoleStatus::new(t.ready, t.desired));
    let created = obs.proxies.is_some() && obs.targets.is_some();
    if created {
        set(
            &mut conds,
            condition::CREATED,
            true,
            "Created",
            "Success creating AIS cluster",
        );
    }
    let ready = created
        && obs.proxies.is_some_and(|p| p.converged())
        && obs.targets.is_some_and(|t| t.converged());
    let was_ready =
        status.state == Some(ClusterState::Ready) || status.state == Some(ClusterState::Upgrading);
    let state = if ready {
        set(
            &mut conds,
            condition::READY,
            true,
            "Ready",
            "Cluster is ready",
        );
        set(
            &mut conds,
            condition::READY_REBALANCE,
            true,
            "ReadyRebalance",
            "Cluster is ready to rebalance",
        );
        ClusterState::Ready
    } else if was_ready {
        set(
            &mut conds,
            condition::READY,
            false,
            "Upgrading",
            "Waiting for cluster to upgrade",
        );
        ClusterState::Upgrading
    } else if created {
        set(
            &mut conds,
            condition::READY,
            false,
            "Created",
            "Waiting for the pods to become ready",
        );
        ClusterState::Created
    } else {
        ClusterState::Initialized
    };
    status.state = Some(state);
    status.conditions = conds;
    status
}

/// Sets a condition, keeping its transition time when its status does not change.
pub fn set_condition(
    conds: &mut Vec<Condition>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: i64,
    now: Timestamp,
) {
    let status = if ok { "True" } else { "False" };
    let message = truncate(message, 32 * 1024);
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Time(now);
            }
            c.status = status.to_string();
            c.reason = reason.to_string();
            c.message = message;
            c.observed_generation = Some(generation);
        }
        None => conds.push(Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message,
            observed_generation: Some(generation),
            last_transition_time: Time(now),
        }),
    }
}

/// Whether the condition `type_` is True.
pub fn is_true(status: Option<&AIStoreStatus>, type_: &str) -> bool {
    status.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn obs(p: (i32, i32), t: (i32, i32)) -> Observation {
        let role = |(desired, ready): (i32, i32)| RoleObservation {
            desired,
            ready,
            updated: desired,
            current: true,
        };
        Observation {
            generation: 3,
            invalid: None,
            proxies: Some(role(p)),
            targets: Some(role(t)),
            intra_cluster_url: Some("http://x".into()),
            autoscale: None,
        }
    }

    #[test]
    fn lifecycle_created_ready_upgrading() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let s1 = next(None, &obs((1, 0), (2, 0)), t0);
        assert_eq!(s1.state, Some(ClusterState::Created));
        assert_eq!(s1.proxies.as_ref().unwrap().summary, "0/1");
        assert!(!is_true(Some(&s1), condition::READY));
        let s2 = next(Some(&s1), &obs((1, 1), (2, 2)), t0);
        assert_eq!(s2.state, Some(ClusterState::Ready));
        assert!(is_true(Some(&s2), condition::READY_REBALANCE));
        assert_eq!(s2.targets.as_ref().unwrap().summary, "2/2");
        let s3 = next(Some(&s2), &obs((1, 1), (2, 1)), t0);
        assert_eq!(s3.state, Some(ClusterState::Upgrading));
        assert_eq!(s3.observed_generation, Some(3));
    }

    #[test]
    fn a_converged_cluster_computes_the_same_status() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let s1 = next(None, &obs((1, 1), (1, 1)), t0);
        let s2 = next(Some(&s1), &obs((1, 1), (1, 1)), t1);
        assert_eq!(s1, s2, "no transition, no change, no write");
    }

    #[test]
    fn invalid_spec_sets_the_valid_condition_false() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let mut o = obs((1, 1), (1, 1));
        o.invalid = Some("spec.size: Invalid value".into());
        let s = next(None, &o, t0);
        let c = s
            .conditions
            .iter()
            .find(|c| c.type_ == condition::VALID)
            .unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(c.message.contains("spec.size"));
    }
}
