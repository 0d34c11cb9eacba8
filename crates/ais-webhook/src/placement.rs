//! Whether a new target placement strands data. `nodeSelector` and `affinity` stay mutable
//! (docs/api.md), but a target whose data lives on a node (hostPath mounts or state) or on a
//! PersistentVolume reachable from some nodes only (a local PV, a zonal disk) cannot follow its
//! pod anywhere else: after its restart the pod stays Pending and the rollout pauses at it. The
//! webhook warns before that happens; this module decides, from what the API server returned,
//! without any I/O.

use std::collections::BTreeMap;

use ais_crd::AIStoreSpec;
use ais_crd::legacy::state_storage_mode;
use ais_crd::storage::StateStorageMode;
use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};

/// Where the spec lets target pods run: the parts of the placement that select nodes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    /// `targetSpec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `targetSpec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`.
    pub required: Option<NodeSelector>,
}

impl Placement {
    /// The target placement of an effective (legacy-mapped) spec.
    pub fn of_targets(spec: &AIStoreSpec) -> Self {
        let daemon = &spec.target_spec.daemon;
        Self {
            node_selector: daemon.node_selector.clone().unwrap_or_default(),
            required: daemon
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| {
                    n.required_during_scheduling_ignored_during_execution
                        .clone()
                }),
        }
    }

    /// The field a user changed between `old` and `self`, for the warning's path; `None` when
    /// the placement is the same.
    pub fn changed_field(&self, old: &Self) -> Option<&'static str> {
        if self.node_selector != old.node_selector {
            Some("spec.targetSpec.nodeSelector")
        } else if self.required != old.required {
            Some("spec.targetSpec.affinity.nodeAffinity")
        } else {
            None
        }
    }

    /// Why `node` cannot run a target under this placement, or `None` when it can.
    pub fn excludes(&self, node: &NodeFacts) -> Option<String> {
        for (key, want) in &self.node_selector {
            match node.labels.get(key) {
                Some(have) if have == want => {}
                Some(have) => {
                    return Some(format!(
                        "nodeSelector {key}={want}, the node has {key}={have}"
                    ));
                }
                None => {
                    return Some(format!(
                        "nodeSelector {key}={want}, the node has no label {key}"
                    ));
                }
            }
        }
        match &self.required {
            Some(required) if !selects(required, node) => {
                Some("no term of the required node affinity matches the node".to_string())
            }
            _ => None,
        }
    }
}

/// A node as the API server lists it: its name and labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeFacts {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

/// Where one running target's data can be reached from.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetData {
    /// The pod's name.
    pub pod: String,
    /// The node the pod runs on.
    pub node: String,
    /// Host directories the target keeps on its node (data mounts, state): they pin it there.
    pub host_paths: Vec<String>,
    /// Bound PersistentVolumes with a node affinity, by name: each pins the target to the
    /// nodes it selects.
    pub volumes: Vec<(String, NodeSelector)>,
}

/// The host directories of a target under `spec`: `useHostPath` mounts and hostPath state.
pub fn host_paths(spec: &AIStoreSpec) -> Vec<String> {
    let mut paths: Vec<String> = spec
        .target_spec
        .mounts
        .iter()
        .filter(|m| m.use_host_path == Some(true))
        .map(|m| format!("mount {}", m.path))
        .collect();
    if let StateStorageMode::HostPath(prefix) = state_storage_mode(spec) {
        paths.push(format!("state under {prefix}"));
    }
    paths
}

/// The warning for a target whose data no node of the new placement can reach, or `None`
/// when some listed node can run it with its data.
pub fn stranded(
    target: &TargetData,
    nodes: &[NodeFacts],
    placement: &Placement,
    field: &str,
) -> Option<String> {
    if target.host_paths.is_empty() && target.volumes.is_empty() {
        return None;
    }
    let reachable = |node: &&NodeFacts| {
        (target.host_paths.is_empty() || node.name == target.node)
            && target.volumes.iter().all(|(_, s)| selects(s, node))
    };
    let mut why = None;
    for node in nodes.iter().filter(reachable) {
        match placement.excludes(node) {
            None => return None,
            Some(reason) if node.name == target.node => why = Some(reason),
            Some(_) => {}
        }
    }
    let mut data = target.host_paths.clone();
    data.extend(
        target
            .volumes
            .iter()
            .map(|(pv, _)| format!("PersistentVolume {pv}")),
    );
    let why = why.map(|w| format!(" ({w})")).unwrap_or_default();
    Some(format!(
        "{field}: target pod {:?} keeps its data on node {:?} ({}), and the new placement excludes every node that can reach it{why}; after its restart the pod would stay Pending and the rollout would pause there. Keep that node selected, or move the data off it first (scale the targets down with scaleDownMode: decommission)",
        target.pod,
        target.node,
        data.join(", "),
    ))
}

/// Kubernetes' node selector semantics: the terms are ORed, the requirements of a term ANDed,
/// and an empty term selects nothing.
fn selects(selector: &NodeSelector, node: &NodeFacts) -> bool {
    selector
        .node_selector_terms
        .iter()
        .any(|t| term_selects(t, node))
}

fn term_selects(term: &NodeSelectorTerm, node: &NodeFacts) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let node_fields = BTreeMap::from([("metadata.name".to_string(), node.name.clone())]);
    expressions
        .iter()
        .all(|r| requirement_holds(r, &node.labels))
        && fields.iter().all(|r| requirement_holds(r, &node_fields))
}

fn requirement_holds(req: &NodeSelectorRequirement, values: &BTreeMap<String, String>) -> bool {
    let have = values.get(&req.key);
    let listed = req.values.as_deref().unwrap_or_default();
    let number = |v: &str| v.parse::<i64>().ok();
    match req.operator.as_str() {
        "In" => have.is_some_and(|h| listed.contains(h)),
        "NotIn" => have.is_none_or(|h| !listed.contains(h)),
        "Exists" => have.is_some(),
        "DoesNotExist" => have.is_none(),
        "Gt" | "Lt" => {
            let (Some(h), Some(bound)) = (
                have.and_then(|h| number(h)),
                listed.first().and_then(|v| number(v)),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                h > bound
            } else {
                h < bound
            }
        }
        // The API server rejects other operators; one that slipped through selects nothing.
        _ => false,
    }
}

#[cfg(test)]
mod tests;
