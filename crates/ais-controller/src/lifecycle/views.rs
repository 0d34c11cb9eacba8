//! What the lifecycle decisions read of Kubernetes objects: small, plain views of the
//! StatefulSets and Pods of one role, made from the API objects by pure functions.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

/// Pod label that names the StatefulSet revision a pod was created from.
pub const REVISION_LABEL: &str = "controller-revision-hash";
/// Pod annotation the operator sets once AIS accepted the decommission of the pod's node
/// (value: the node ID). A node that then leaves the cluster map has finished, and is not
/// mistaken for one that never joined.
pub const DECOMMISSIONED_ANNOTATION: &str = "ais.nvidia.com/decommissioned";

/// One pod of a role's StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodView {
    /// Pod name (`<cluster>-<role>-<ordinal>`).
    pub name: String,
    /// StatefulSet ordinal.
    pub ordinal: i32,
    /// `status.phase == Running`.
    pub running: bool,
    /// Condition `Ready` is True.
    pub ready: bool,
    /// The StatefulSet revision the pod was made from.
    pub revision: Option<String>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// The scheduler could not place it (`PodScheduled=False`, reason `Unschedulable`).
    pub unschedulable: bool,
    /// A container waits in `CrashLoopBackOff`.
    pub crash_looping: bool,
    /// Why the scheduler cannot place it (the `PodScheduled` condition's message).
    pub pending_reason: Option<String>,
    /// `status.podIP`.
    pub pod_ip: Option<String>,
    /// `status.hostIP`.
    pub host_ip: Option<String>,
    /// AIS accepted the decommission of the pod's node ([`DECOMMISSIONED_ANNOTATION`]).
    pub decommissioned: bool,
}

impl PodView {
    /// Reads a pod of StatefulSet `sts_name`; `None` when the name carries no ordinal of it.
    pub fn of(pod: &Pod, sts_name: &str) -> Option<Self> {
        let name = pod.metadata.name.clone()?;
        let ordinal = ordinal_of(&name, sts_name)?;
        let status = pod.status.clone().unwrap_or_default();
        let conditions = status.conditions.unwrap_or_default();
        let cond = |t: &str| conditions.iter().find(|c| c.type_ == t);
        let unschedulable = cond("PodScheduled")
            .is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
        let pending_reason = cond("PodScheduled")
            .filter(|_| unschedulable)
            .and_then(|c| c.message.clone());
        let crash_looping = status
            .container_statuses
            .unwrap_or_default()
            .iter()
            .chain(status.init_container_statuses.unwrap_or_default().iter())
            .any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
            });
        Some(Self {
            ordinal,
            running: status.phase.as_deref() == Some("Running"),
            ready: cond("Ready").is_some_and(|c| c.status == "True"),
            revision: pod
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(REVISION_LABEL).cloned()),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            unschedulable,
            crash_looping,
            pending_reason,
            decommissioned: pod
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(DECOMMISSIONED_ANNOTATION)),
            pod_ip: status.pod_ip.filter(|s| !s.is_empty()),
            host_ip: status.host_ip.filter(|s| !s.is_empty()),
            name,
        })
    }

    /// Whether the pod cannot be running AIS: it was never scheduled, or it crash-loops.
    pub fn not_serving(&self) -> bool {
        self.unschedulable || self.crash_looping
    }
}

/// The ordinal of pod `name` of StatefulSet `sts_name` (`<sts>-<n>`), exactly.
pub fn ordinal_of(name: &str, sts_name: &str) -> Option<i32> {
    let rest = name.strip_prefix(sts_name)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The pods of one StatefulSet, by ordinal.
pub fn pods_of(pods: &[Pod], sts_name: &str) -> Vec<PodView> {
    let mut views: Vec<PodView> = pods
        .iter()
        .filter_map(|p| PodView::of(p, sts_name))
        .collect();
    views.sort_by_key(|p| p.ordinal);
    views
}

/// A role's StatefulSet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StsView {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.replicas`: pods that exist.
    pub status_replicas: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.updatedReplicas`.
    pub updated: i32,
    /// `status.currentReplicas`.
    pub current: i32,
    /// `status.currentRevision`.
    pub current_revision: Option<String>,
    /// `status.updateRevision`.
    pub update_revision: Option<String>,
    /// `status.observedGeneration == metadata.generation`.
    pub observed: bool,
    /// `spec.updateStrategy.rollingUpdate.partition` (0 when unset).
    pub partition: i32,
}

impl StsView {
    /// Reads a StatefulSet.
    pub fn of(sts: &StatefulSet) -> Self {
        let spec = sts.spec.clone().unwrap_or_default();
        let status = sts.status.clone().unwrap_or_default();
        Self {
            replicas: spec.replicas.unwrap_or(1),
            status_replicas: status.replicas,
            ready: status.ready_replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            current: status.current_replicas.unwrap_or(0),
            current_revision: status.current_revision,
            update_revision: status.update_revision,
            observed: status.observed_generation.is_some()
                && status.observed_generation == sts.metadata.generation,
            partition: spec
                .update_strategy
                .and_then(|u| u.rolling_update)
                .and_then(|r| r.partition)
                .unwrap_or(0),
        }
    }

    /// Every wanted pod exists, is ready and the status is current.
    pub fn ready(&self) -> bool {
        self.observed && self.status_replicas == self.replicas && self.ready >= self.replicas
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ordinals_are_exact() {
        assert_eq!(ordinal_of("ais-target-10", "ais-target"), Some(10));
        assert_eq!(ordinal_of("ais-target-1", "ais-target"), Some(1));
        assert_eq!(ordinal_of("ais-target-x", "ais-target"), None);
        assert_eq!(ordinal_of("ais-targets-1", "ais-target"), None);
        assert_eq!(ordinal_of("ais-target-", "ais-target"), None);
        assert_eq!(ordinal_of("ais-target", "ais-target"), None);
    }

    #[test]
    fn reads_pod_facts() {
        let p = pod(json!({
            "metadata": {"name": "ais-target-2", "labels": {REVISION_LABEL: "rev1"}},
            "status": {
                "phase": "Running", "podIP": "10.0.0.5", "hostIP": "",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "ais-node", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
                    "state": {"running": {}}}]
            }
        }));
        let v = PodView::of(&p, "ais-target").unwrap();
        assert_eq!(v.ordinal, 2);
        assert!(v.running && v.ready && !v.not_serving());
        assert_eq!(v.revision.as_deref(), Some("rev1"));
        assert_eq!(v.pod_ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(v.host_ip, None);
        assert!(PodView::of(&p, "ais-proxy").is_none());
    }

    #[test]
    fn unschedulable_and_crash_looping() {
        let pending = pod(json!({
            "metadata": {"name": "ais-target-0"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
        }));
        assert!(PodView::of(&pending, "ais-target").unwrap().unschedulable);
        let looping = pod(json!({
            "metadata": {"name": "ais-target-0"},
            "status": {"phase": "Running", "containerStatuses": [{"name": "ais-node", "image": "x", "imageID": "", "ready": false,
                "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        }));
        let v = PodView::of(&looping, "ais-target").unwrap();
        assert!(v.crash_looping && v.not_serving() && !v.ready);
    }

    #[test]
    fn statefulset_readiness() {
        let sts: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "ais-proxy", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "serviceName": "ais-proxy", "template": {},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}},
            "status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 3, "updateRevision": "b", "currentRevision": "a"}
        }))
        .unwrap();
        let v = StsView::of(&sts);
        assert!(v.ready());
        assert_eq!(v.partition, 1);
        let mut stale = v.clone();
        stale.observed = false;
        assert!(!stale.ready());
    }
}
