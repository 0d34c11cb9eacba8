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

/// A condition to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    /// `True` or `False`.
    pub ok: bool,
    /// Machine-readable reason.
    pub reason: String,
    /// What a person reads.
    pub message: String,
}

impl Cond {
    /// A condition value.
    pub fn new(ok: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            ok,
            reason: reason.to_string(),
            message: message.into(),
        }
    }
}

/// What the reconcile observed and decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// The lifecycle state reached; `None` keeps the current one.
    pub state: Option<ClusterState>,
    /// Both StatefulSets were bootstrapped (condition `Created`).
    pub created: bool,
    /// Condition `Ready`; `None` keeps it.
    pub ready: Option<Cond>,
    /// Condition `ReadyRebalance`; `None` keeps it.
    pub rebalance: Option<Cond>,
    /// Condition `TemplatesConverge`; `None` keeps it (it is set only once it was False).
    pub templates_converge: Option<Cond>,
    /// Condition `ObjectsApplied`; `None` keeps it (it is set only once it was False).
    pub objects_applied: Option<Cond>,
    /// `status.clusterID` (the AIS cluster map UUID), when AIS answered.
    pub cluster_id: Option<String>,
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
    if obs.cluster_id.is_some() {
        status.cluster_id.clone_from(&obs.cluster_id);
    }
    let mut conds = std::mem::take(&mut status.conditions);
    let mut set = |t: &str, c: &Cond| {
        set_condition(
            &mut conds,
            t,
            c.ok,
            &c.reason,
            &c.message,
            obs.generation,
            now,
        );
    };
    set(
        condition::INITIALIZED,
        &Cond::new(true, "Initialized", "Success initializing cluster"),
    );
    if let Some(msg) = &obs.invalid {
        set(
            condition::VALID,
            &Cond::new(false, "InvalidSpec", msg.clone()),
        );
        status.conditions = conds;
        return status;
    }
    set(
        condition::VALID,
        &Cond::new(true, "Valid", "The spec passed validation"),
    );
    if obs.proxies.is_some() {
        status.proxies = obs.proxies.map(|p| RoleStatus::new(p.ready, p.desired));
    }
    if obs.targets.is_some() {
        status.targets = obs.targets.map(|t| RoleStatus::new(t.ready, t.desired));
    }
    if obs.created {
        set(
            condition::CREATED,
            &Cond::new(true, "Created", "Success creating AIS cluster"),
        );
    }
    if let Some(c) = &obs.ready {
        set(condition::READY, c);
    }
    if let Some(c) = &obs.rebalance {
        set(condition::READY_REBALANCE, c);
    }
    if let Some(c) = &obs.templates_converge {
        set(condition::TEMPLATES_CONVERGE, c);
    }
    if let Some(c) = &obs.objects_applied {
        set(condition::OBJECTS_APPLIED, c);
    }
    if obs.state.is_some() {
        status.state = obs.state;
    }
    if status.state.is_none() {
        status.state = Some(ClusterState::Initialized);
    }
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

    fn role(desired: i32, ready: i32) -> Option<RoleObservation> {
        Some(RoleObservation {
            desired,
            ready,
            updated: desired,
            current: true,
        })
    }

    fn obs(state: ClusterState, ready: bool) -> Observation {
        Observation {
            generation: 3,
            proxies: role(1, i32::from(ready)),
            targets: role(2, 2 * i32::from(ready)),
            intra_cluster_url: Some("http://x".into()),
            state: Some(state),
            created: true,
            ready: Some(if ready {
                Cond::new(true, "Ready", "Cluster is ready")
            } else {
                Cond::new(false, "Upgrading", "waiting")
            }),
            ..Observation::default()
        }
    }

    #[test]
    fn states_and_counts_follow_the_observation() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let s1 = next(None, &obs(ClusterState::Created, false), t0);
        assert_eq!(s1.state, Some(ClusterState::Created));
        assert_eq!(s1.proxies.as_ref().unwrap().summary, "0/1");
        assert!(!is_true(Some(&s1), condition::READY));
        assert!(is_true(Some(&s1), condition::CREATED));
        let s2 = next(Some(&s1), &obs(ClusterState::Ready, true), t0);
        assert_eq!(s2.state, Some(ClusterState::Ready));
        assert_eq!(s2.targets.as_ref().unwrap().summary, "2/2");
        assert_eq!(s2.observed_generation, Some(3));
    }

    #[test]
    fn a_converged_cluster_computes_the_same_status() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let t1 = Timestamp::from_second(2_000).unwrap();
        let s1 = next(None, &obs(ClusterState::Ready, true), t0);
        let s2 = next(Some(&s1), &obs(ClusterState::Ready, true), t1);
        assert_eq!(s1, s2, "no transition, no change, no write");
    }

    #[test]
    fn unset_fields_keep_their_values() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let mut o = obs(ClusterState::Ready, true);
        o.cluster_id = Some("uuid".into());
        let s1 = next(None, &o, t0);
        let keep = Observation {
            generation: 3,
            ..Observation::default()
        };
        let s2 = next(Some(&s1), &keep, t0);
        assert_eq!(s2.state, Some(ClusterState::Ready));
        assert_eq!(s2.cluster_id.as_deref(), Some("uuid"));
        assert!(is_true(Some(&s2), condition::READY));
    }

    #[test]
    fn invalid_spec_sets_the_valid_condition_false() {
        let t0 = Timestamp::from_second(1_000).unwrap();
        let mut o = obs(ClusterState::Ready, true);
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
