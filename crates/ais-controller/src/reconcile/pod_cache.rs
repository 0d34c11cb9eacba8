//! A cluster's pods from the pod watch instead of a LIST on every reconcile (decision 016).
//!
//! The pod watch selects on the managed-by label, so its cache holds a cluster's pods only when
//! every one of them carries it: pods of reference-operator clusters before v3.3 do not, and a
//! StatefulSet recreates a pod of an old revision from that revision's template. So the cache
//! stands for a LIST only when a LIST proved it can ([`PodProof`]): every pod that LIST returned
//! carried the label, both StatefulSets' templates carry it, and neither StatefulSet has changed
//! (UID and generation) or runs two revisions since. Any change of the StatefulSets costs one
//! LIST that renews the proof.
//!
//! The cache must also hold this controller's own writes to pods before a decision reads it:
//! a pod we deleted that the cache still shows alive could be deleted again after the
//! StatefulSet recreated it. Each such write is recorded ([`PodWrite`]) until the cache shows
//! it; until then the pods are listed.
//!
//! Everything here is pure: the caller passes what the cache and the StatefulSets hold.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodStatus,
};
use kube::api::ObjectMeta;

use crate::build::labels::{MANAGED_BY, MANAGED_BY_VALUE};
use crate::lifecycle::views::DECOMMISSIONED_ANNOTATION;

/// A write of ours to a pod that decisions must see before they trust the cache again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodWrite {
    /// We deleted the pod with this UID: seen once the cache shows it terminating or gone.
    Deleted {
        /// Pod name.
        name: String,
        /// The deleted pod's UID.
        uid: String,
    },
    /// We annotated the pod with this UID: seen once the cache shows the annotation (or the
    /// pod gone).
    Annotated {
        /// Pod name.
        name: String,
        /// The annotated pod's UID.
        uid: String,
        /// The annotation key.
        key: String,
    },
}

impl PodWrite {
    /// Whether `cached` shows this write.
    pub fn seen_in(&self, cached: &[Pod]) -> bool {
        let same = |p: &&Pod, name: &str, uid: &str| {
            p.metadata.name.as_deref() == Some(name) && p.metadata.uid.as_deref() == Some(uid)
        };
        match self {
            Self::Deleted { name, uid } => !cached
                .iter()
                .any(|p| same(&p, name, uid) && p.metadata.deletion_timestamp.is_none()),
            Self::Annotated { name, uid, key } => !cached.iter().any(|p| {
                same(&p, name, uid)
                    && !p
                        .metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key(key))
            }),
        }
    }
}

/// The StatefulSets a LIST proved the cache complete for: the UID and generation of each
/// present one, in role order (proxy, target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodProof(Vec<(String, i64)>);

impl PodProof {
    /// What the present StatefulSets are now.
    pub fn of<'a>(sets: impl IntoIterator<Item = Option<&'a StatefulSet>>) -> Self {
        Self(
            sets.into_iter()
                .flatten()
                .map(|s| {
                    (
                        s.metadata.uid.clone().unwrap_or_default(),
                        s.metadata.generation.unwrap_or(0),
                    )
                })
                .collect(),
        )
    }

    /// The proof a LIST of `listed` gives with these StatefulSets: none when a pod lacks the
    /// label the pod watch selects on, or a StatefulSet could make such pods.
    pub fn from_list<'a>(
        sets: impl IntoIterator<Item = Option<&'a StatefulSet>> + Clone,
        listed: &[Pod],
    ) -> Option<Self> {
        let watched = listed.iter().all(|p| has_managed_label(&p.metadata));
        (watched && sets.clone().into_iter().flatten().all(makes_watched_pods))
            .then(|| Self::of(sets))
    }
}

/// Per cluster: the proof of the last LIST and our writes the cache has not shown yet.
#[derive(Clone, Debug, Default)]
pub struct ClusterPods {
    /// What the last LIST proved, if it proved the cache complete.
    pub proof: Option<PodProof>,
    /// Our pod writes not yet seen in the cache.
    pub pending: Vec<PodWrite>,
}

impl ClusterPods {
    /// Whether `cached` (the cluster's pods in the watch cache) can stand for a LIST with the
    /// StatefulSets as they are now; drops the pending writes it shows.
    pub fn trust<'a>(
        &mut self,
        sets: impl IntoIterator<Item = Option<&'a StatefulSet>> + Clone,
        cached: &[Pod],
    ) -> bool {
        self.pending.retain(|w| !w.seen_in(cached));
        let proven = self.proof.as_ref() == Some(&PodProof::of(sets.clone()));
        proven
            && self.pending.is_empty()
            && sets.into_iter().flatten().all(|s| {
                // Two revisions: the old one's template may lack the label.
                let status = s.status.as_ref();
                let current = status.and_then(|st| st.current_revision.as_deref());
                let update = status.and_then(|st| st.update_revision.as_deref());
                current.is_none() || update.is_none() || current == update
            })
    }
}

fn has_managed_label(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY))
        .map(String::as_str)
        == Some(MANAGED_BY_VALUE)
}

/// Whether the StatefulSet's pod template carries the label the pod watch selects on.
fn makes_watched_pods(sts: &StatefulSet) -> bool {
    sts.spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .is_some_and(has_managed_label)
}

/// Whether the pod of `meta` carries every label of `selector` (what a LIST with it would
/// match).
pub fn matches(meta: &ObjectMeta, selector: &BTreeMap<String, String>) -> bool {
    let labels = meta.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// A pod as the pod cache holds it and as a reconcile lists pods: its metadata and status,
/// [`CachedPod::trim`]med. Read straight from the API server's JSON, so a pod's spec is skipped
/// while it is parsed instead of deserialized and dropped (thousands of pods are cached, and on
/// a restart every cluster's first reconcile lists its pods at once), and without the room a
/// `Pod` keeps inline for a spec even when it has none (1.4 KiB).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct CachedPod {
    #[serde(default)]
    metadata: ObjectMeta,
    status: Option<PodStatus>,
}

impl CachedPod {
    /// What the cache keeps of `pod`.
    pub fn of(pod: Pod) -> Self {
        let mut cached = Self {
            metadata: pod.metadata,
            status: pod.status,
        };
        cached.trim();
        cached
    }

    /// Reduces the pod to what `PodView` and [`PodWrite::seen_in`] read: name, UID, labels,
    /// the decommission annotation, deletion time, phase, IPs, the Ready and PodScheduled
    /// conditions, waiting reasons.
    pub fn trim(&mut self) {
        let meta = std::mem::take(&mut self.metadata);
        self.metadata = ObjectMeta {
            name: meta.name,
            namespace: meta.namespace,
            uid: meta.uid,
            resource_version: meta.resource_version,
            labels: meta.labels,
            annotations: meta
                .annotations
                .map(|mut a| {
                    a.retain(|k, _| k == DECOMMISSIONED_ANNOTATION);
                    a
                })
                .filter(|a| !a.is_empty()),
            deletion_timestamp: meta.deletion_timestamp,
            ..ObjectMeta::default()
        };
        self.status = self.status.take().map(trim_status);
    }

    /// The pod, without spec.
    pub fn pod(&self) -> Pod {
        self.clone().into_pod()
    }

    /// The pod, without spec.
    pub fn into_pod(self) -> Pod {
        Pod {
            metadata: self.metadata,
            spec: None,
            status: self.status,
        }
    }
}

resource_as!(CachedPod, Pod, metadata);

fn trim_status(status: PodStatus) -> PodStatus {
    let waiting_only = |statuses: Option<Vec<ContainerStatus>>| {
        let kept: Vec<ContainerStatus> = statuses
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let reason = c.state?.waiting?.reason?;
                Some(ContainerStatus {
                    name: c.name,
                    state: Some(ContainerState {
                        waiting: Some(ContainerStateWaiting {
                            reason: Some(reason),
                            message: None,
                        }),
                        ..ContainerState::default()
                    }),
                    ..ContainerStatus::default()
                })
            })
            .collect();
        (!kept.is_empty()).then_some(kept)
    };
    PodStatus {
        phase: status.phase,
        pod_ip: status.pod_ip,
        host_ip: status.host_ip,
        conditions: status.conditions.map(|cs| {
            cs.into_iter()
                .filter(|c| c.type_ == "Ready" || c.type_ == "PodScheduled")
                .map(|c| PodCondition {
                    type_: c.type_,
                    status: c.status,
                    reason: c.reason,
                    message: c.message,
                    ..PodCondition::default()
                })
                .collect()
        }),
        container_statuses: waiting_only(status.container_statuses),
        init_container_statuses: waiting_only(status.init_container_statuses),
        ..PodStatus::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use k8s_openapi::api::apps::v1::{StatefulSetSpec, StatefulSetStatus};
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use serde_json::json;

    use super::*;
    use crate::lifecycle::views::PodView;

    fn pod(name: &str, uid: &str, labelled: bool) -> Pod {
        let mut labels = BTreeMap::from([("app.kubernetes.io/name".to_string(), "c".to_string())]);
        if labelled {
            labels.insert(MANAGED_BY.into(), MANAGED_BY_VALUE.into());
        }
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(uid.into()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    fn sts(uid: &str, generation: i64, labelled: bool, revisions: (&str, &str)) -> StatefulSet {
        let labels =
            labelled.then(|| BTreeMap::from([(MANAGED_BY.into(), MANAGED_BY_VALUE.into())]));
        StatefulSet {
            metadata: ObjectMeta {
                uid: Some(uid.into()),
                generation: Some(generation),
                ..ObjectMeta::default()
            },
            spec: Some(StatefulSetSpec {
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels,
                        ..ObjectMeta::default()
                    }),
                    spec: None,
                },
                ..StatefulSetSpec::default()
            }),
            status: Some(StatefulSetStatus {
                current_revision: Some(revisions.0.into()),
                update_revision: Some(revisions.1.into()),
                ..StatefulSetStatus::default()
            }),
        }
    }

    #[test]
    fn a_list_proves_the_cache_only_when_every_pod_and_template_carries_the_label() {
        let proxy = sts("p", 1, true, ("r1", "r1"));
        let target = sts("t", 2, true, ("r1", "r1"));
        let sets = [Some(&proxy), Some(&target)];
        let listed = [pod("c-proxy-0", "u0", true), pod("c-target-0", "u1", true)];
        assert_eq!(
            PodProof::from_list(sets, &listed),
            Some(PodProof(vec![("p".into(), 1), ("t".into(), 2)]))
        );
        let old = [pod("c-proxy-0", "u0", true), pod("c-target-0", "u1", false)];
        assert_eq!(PodProof::from_list(sets, &old), None, "a pre-v3.3 pod");
        let unlabelled = sts("t", 2, false, ("r1", "r1"));
        assert_eq!(
            PodProof::from_list([Some(&proxy), Some(&unlabelled)], &listed),
            None,
            "a template that makes unwatched pods"
        );
        assert_eq!(
            PodProof::from_list([None, None], &[]),
            Some(PodProof(vec![])),
            "nothing yet: the first StatefulSet write renews it"
        );
    }

    #[test]
    fn the_cache_is_trusted_while_the_statefulsets_are_as_proven_and_one_revision() {
        let proxy = sts("p", 1, true, ("r1", "r1"));
        let target = sts("t", 2, true, ("r1", "r1"));
        let listed = [pod("c-proxy-0", "u0", true)];
        let mut state = ClusterPods::default();
        assert!(
            !state.trust([Some(&proxy), Some(&target)], &listed),
            "no LIST yet"
        );
        state.proof = PodProof::from_list([Some(&proxy), Some(&target)], &listed);
        assert!(state.trust([Some(&proxy), Some(&target)], &listed));
        let scaled = sts("t", 3, true, ("r1", "r1"));
        assert!(
            !state.trust([Some(&proxy), Some(&scaled)], &listed),
            "a new generation"
        );
        let recreated = sts("t2", 2, true, ("r1", "r1"));
        assert!(
            !state.trust([Some(&proxy), Some(&recreated)], &listed),
            "a new UID"
        );
        let rolling = sts("t", 2, true, ("r1", "r2"));
        assert!(
            !state.trust([Some(&proxy), Some(&rolling)], &listed),
            "two revisions"
        );
        assert!(!state.trust([Some(&proxy), None], &listed), "one deleted");
    }

    #[test]
    fn our_pod_writes_must_show_in_the_cache_before_it_is_trusted() {
        let proxy = sts("p", 1, true, ("r1", "r1"));
        let alive = pod("c-proxy-0", "u0", true);
        let mut state = ClusterPods {
            proof: PodProof::from_list([Some(&proxy)], std::slice::from_ref(&alive)),
            pending: vec![PodWrite::Deleted {
                name: "c-proxy-0".into(),
                uid: "u0".into(),
            }],
        };
        assert!(
            !state.trust([Some(&proxy)], std::slice::from_ref(&alive)),
            "still alive"
        );
        let mut terminating = alive.clone();
        terminating.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2026-12-03T10:00:00Z")).unwrap());
        assert!(state.trust([Some(&proxy)], &[terminating]));
        assert!(state.pending.is_empty(), "a seen write is dropped");

        state.pending.push(PodWrite::Deleted {
            name: "c-proxy-0".into(),
            uid: "u0".into(),
        });
        let recreated = pod("c-proxy-0", "u9", true);
        assert!(
            state.trust([Some(&proxy)], &[recreated]),
            "a new pod of that name"
        );
        state.pending.push(PodWrite::Deleted {
            name: "c-proxy-0".into(),
            uid: "u0".into(),
        });
        assert!(state.trust([Some(&proxy)], &[]), "gone");

        state.pending.push(PodWrite::Annotated {
            name: "c-proxy-0".into(),
            uid: "u0".into(),
            key: DECOMMISSIONED_ANNOTATION.into(),
        });
        assert!(!state.trust([Some(&proxy)], std::slice::from_ref(&alive)));
        let mut annotated = alive.clone();
        annotated.metadata.annotations = Some(BTreeMap::from([(
            DECOMMISSIONED_ANNOTATION.into(),
            "n1".into(),
        )]));
        assert!(state.trust([Some(&proxy)], &[annotated]));
    }

    #[test]
    fn a_trimmed_pod_reads_as_the_full_one() {
        let full: Pod = serde_json::from_value(full_pod_json()).unwrap();
        // Read straight from JSON (a LIST, the watch) it is what trimming the typed pod keeps.
        let mut parsed: CachedPod = serde_json::from_value(full_pod_json()).unwrap();
        parsed.trim();
        assert_eq!(parsed.into_pod(), CachedPod::of(full.clone()).pod());
        let trimmed = CachedPod::of(full.clone()).pod();
        assert_eq!(
            PodView::of(&trimmed, "c-target"),
            PodView::of(&full, "c-target")
        );
        assert!(PodView::of(&full, "c-target").unwrap().crash_looping);
        assert!(trimmed.spec.is_none() && trimmed.metadata.managed_fields.is_none());
        assert!(has_managed_label(&trimmed.metadata));
        let write = PodWrite::Annotated {
            name: "c-target-2".into(),
            uid: "u2".into(),
            key: DECOMMISSIONED_ANNOTATION.into(),
        };
        assert_eq!(
            write.seen_in(std::slice::from_ref(&trimmed)),
            write.seen_in(std::slice::from_ref(&full))
        );
        assert!(trimmed.metadata.owner_references.is_none());
        assert_eq!(
            trimmed.metadata.annotations.as_ref().map(BTreeMap::len),
            Some(1)
        );
        let status = trimmed.status.as_ref().unwrap();
        assert_eq!(
            status.conditions.as_ref().map(Vec::len),
            Some(2),
            "Ready, PodScheduled"
        );
        assert_eq!(
            status.container_statuses.as_ref().map(Vec::len),
            Some(1),
            "the waiting one"
        );
    }

    #[test]
    fn a_selector_matches_what_a_list_would() {
        let p = pod("c-proxy-0", "u0", true);
        let sel = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(matches(
            &p.metadata,
            &sel(&[("app.kubernetes.io/name", "c")])
        ));
        assert!(!matches(
            &p.metadata,
            &sel(&[("app.kubernetes.io/name", "d")])
        ));
        assert!(!matches(&p.metadata, &sel(&[("app", "c")])));
        assert!(matches(&p.metadata, &sel(&[])));
    }

    fn full_pod_json() -> serde_json::Value {
        json!({
            "metadata": {
                "name": "c-target-2", "namespace": "ns", "uid": "u2", "resourceVersion": "7",
                "generateName": "c-target-",
                "labels": {"controller-revision-hash": "c-target-abc", MANAGED_BY: MANAGED_BY_VALUE},
                "annotations": {DECOMMISSIONED_ANNOTATION: "n1", "kubectl.kubernetes.io/restartedAt": "x"},
                "deletionTimestamp": "2026-12-03T10:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "c-target", "uid": "s"}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]
            },
            "spec": {"containers": [{"name": "ais-node", "image": "aistore/aisnode:v1"}], "nodeName": "n1"},
            "status": {
                "phase": "Running", "podIP": "10.0.0.7", "hostIP": "10.0.0.1",
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-03T10:00:00Z"},
                    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"},
                    {"type": "Initialized", "status": "True"}
                ],
                "containerStatuses": [
                    {"name": "ais-node", "image": "i", "imageID": "d", "ready": false, "restartCount": 4,
                     "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}},
                    {"name": "side", "image": "i", "imageID": "d", "ready": true, "restartCount": 0,
                     "state": {"running": {"startedAt": "2026-12-03T10:00:00Z"}}}
                ]
            }
        })
    }
}
