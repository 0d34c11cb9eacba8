//! Node facts: which nodes autoscaling expects a role on, and the node addresses that go into
//! certificate SANs. Matching is pure (and unit-tested); reading nodes and pods is the I/O.

use std::collections::{BTreeMap, BTreeSet};

use ais_crd::daemon::DaemonSpec;
use ais_crd::{AIStoreSpec, PublicNetDnsMode};
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use super::Error;
use crate::build::Role;

/// Whether `toleration` tolerates `taint` (Kubernetes semantics).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    let key_matches = match toleration.key.as_deref() {
        None | Some("") => toleration.operator.as_deref() == Some("Exists"),
        Some(key) => key == taint.key,
    };
    key_matches
        && match toleration.operator.as_deref() {
            Some("Exists") => true,
            _ => toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        }
}

/// Whether `node`'s labels match a role's node selector (an empty selector matches all).
pub fn selector_matches(node: &Node, daemon: &DaemonSpec) -> bool {
    let labels = node.labels();
    daemon
        .node_selector
        .as_ref()
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// Whether a role's pods may be scheduled on `node`: its labels match the role's node selector
/// and every `NoSchedule`/`NoExecute` taint is tolerated. Unschedulable (cordoned) nodes do
/// not count.
pub fn schedulable_for(node: &Node, daemon: &DaemonSpec) -> bool {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    may_host(node, daemon) && !cordoned
}

/// Whether a role's pods can have run on `node`: its labels match the node selector and every
/// `NoSchedule`/`NoExecute` taint is tolerated. Cordoning does not count (a cordoned node may
/// still hold a cluster's state).
pub fn may_host(node: &Node, daemon: &DaemonSpec) -> bool {
    let tolerations = daemon.tolerations.as_deref().unwrap_or_default();
    let taints_ok = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .all(|t| tolerations.iter().any(|tol| tolerates(tol, t)));
    selector_matches(node, daemon) && taints_ok
}

/// Nodes autoscaling expects a role on: the schedulable matching nodes plus the nodes that run
/// the role's pods now (so cordoning a node does not by itself scale the cluster down).
pub fn expected_nodes(
    nodes: &[Node],
    daemon: &DaemonSpec,
    running_on: &BTreeSet<String>,
) -> Vec<String> {
    let mut out: BTreeSet<String> = nodes
        .iter()
        .filter(|n| schedulable_for(n, daemon))
        .map(ResourceExt::name_any)
        .collect();
    out.extend(running_on.iter().cloned());
    out.into_iter().collect()
}

/// The address a node is known by in certificates: its name (`Node` mode) or its InternalIP,
/// else ExternalIP (`IP` mode); `Pod` mode adds none.
pub fn public_host(node: &Node, mode: PublicNetDnsMode) -> Option<String> {
    match mode {
        PublicNetDnsMode::Pod => None,
        PublicNetDnsMode::Node => Some(node.name_any()),
        PublicNetDnsMode::Ip => {
            let addresses = node.status.as_ref()?.addresses.clone().unwrap_or_default();
            let by_type = |t: &str| {
                addresses
                    .iter()
                    .find(|a| a.type_ == t)
                    .map(|a| a.address.clone())
            };
            by_type("InternalIP").or_else(|| by_type("ExternalIP"))
        }
    }
}

/// What the reconcile learned about nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// Expected proxy nodes, when proxies autoscale.
    pub proxy_nodes: Option<Vec<String>>,
    /// Expected target nodes, when targets autoscale.
    pub target_nodes: Option<Vec<String>>,
    /// Node addresses for certificate SANs.
    pub hosts: Vec<String>,
}

/// Whether the spec needs node facts at all (so plain clusters cost no node reads).
pub fn needed(spec: &AIStoreSpec) -> bool {
    spec.is_proxy_autoscaling() || spec.is_target_autoscaling() || certificate_in_secret_mode(spec)
}

fn certificate_in_secret_mode(spec: &AIStoreSpec) -> bool {
    spec.tls
        .as_ref()
        .and_then(|t| t.certificate.as_ref())
        .is_some_and(|c| c.mode.unwrap_or_default() == ais_crd::tls::CertificateMode::Secret)
}

/// Reads nodes (and the role's pods when autoscaling) for `spec` (already effective).
pub async fn gather(
    client: &Client,
    namespace: &str,
    cluster: &str,
    spec: &AIStoreSpec,
) -> Result<NodeFacts, Error> {
    if !needed(spec) {
        return Ok(NodeFacts::default());
    }
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|source| Error::Kube {
            action: "listing nodes".into(),
            source,
        })?
        .items;
    let mut facts = NodeFacts::default();
    for (role, daemon, autoscaling) in [
        (Role::Proxy, &spec.proxy_spec, spec.is_proxy_autoscaling()),
        (
            Role::Target,
            &spec.target_spec.daemon,
            spec.is_target_autoscaling(),
        ),
    ] {
        let running = running_nodes(client, namespace, cluster, role).await?;
        let expected = expected_nodes(&nodes, daemon, &running);
        if autoscaling {
            match role {
                Role::Proxy => facts.proxy_nodes = Some(expected.clone()),
                Role::Target => facts.target_nodes = Some(expected.clone()),
            }
        }
        if certificate_in_secret_mode(spec) {
            let mode = spec.public_net_dns_mode.unwrap_or_default();
            let by_name: BTreeMap<String, &Node> =
                nodes.iter().map(|n| (n.name_any(), n)).collect();
            facts.hosts.extend(
                expected
                    .iter()
                    .filter_map(|n| by_name.get(n))
                    .filter_map(|n| public_host(n, mode)),
            );
        }
    }
    facts.hosts.sort();
    facts.hosts.dedup();
    Ok(facts)
}

async fn running_nodes(
    client: &Client,
    namespace: &str,
    cluster: &str,
    role: Role,
) -> Result<BTreeSet<String>, Error> {
    let selector = format!(
        "app.kubernetes.io/name={cluster},app.kubernetes.io/component={}",
        role.as_str()
    );
    let pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::Kube {
            action: format!("listing {} pods", role.as_str()),
            source,
        })?;
    Ok(pods
        .items
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use k8s_openapi::api::core::v1::{NodeAddress, NodeSpec, NodeStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn node(name: &str, labels: &[(&str, &str)], taints: Vec<Taint>, ip: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| ((*k).into(), (*v).into()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints: Some(taints),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                addresses: Some(vec![NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip.into(),
                }]),
                ..NodeStatus::default()
            }),
        }
    }

    fn taint(key: &str, value: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some(value.into()),
            effect: effect.into(),
            ..Taint::default()
        }
    }

    #[test]
    fn toleration_semantics() {
        let t = taint("k", "v", "NoSchedule");
        let tol =
            |key: Option<&str>, op: &str, value: Option<&str>, effect: Option<&str>| Toleration {
                key: key.map(Into::into),
                operator: Some(op.into()),
                value: value.map(Into::into),
                effect: effect.map(Into::into),
                ..Toleration::default()
            };
        assert!(tolerates(&tol(Some("k"), "Equal", Some("v"), None), &t));
        assert!(!tolerates(&tol(Some("k"), "Equal", Some("w"), None), &t));
        assert!(tolerates(
            &tol(Some("k"), "Exists", None, Some("NoSchedule")),
            &t
        ));
        assert!(!tolerates(
            &tol(Some("k"), "Exists", None, Some("NoExecute")),
            &t
        ));
        assert!(
            tolerates(&tol(None, "Exists", None, None), &t),
            "empty key with Exists tolerates everything"
        );
        assert!(!tolerates(&tol(Some("other"), "Exists", None, None), &t));
    }

    #[test]
    fn expected_nodes_match_selector_and_taints_and_keep_running_ones() {
        let nodes = vec![
            node("a", &[("ais", "yes")], vec![], "10.0.0.1"),
            node(
                "b",
                &[("ais", "yes")],
                vec![taint("fake", "x", "NoSchedule")],
                "10.0.0.2",
            ),
            node("c", &[("ais", "no")], vec![], "10.0.0.3"),
        ];
        let daemon = DaemonSpec {
            node_selector: Some([("ais".into(), "yes".into())].into()),
            ..DaemonSpec::default()
        };
        assert_eq!(expected_nodes(&nodes, &daemon, &BTreeSet::new()), vec!["a"]);
        let running: BTreeSet<String> = ["c".to_string()].into();
        assert_eq!(
            expected_nodes(&nodes, &daemon, &running),
            vec!["a", "c"],
            "a node still running a pod stays expected"
        );
        let tolerant = DaemonSpec {
            tolerations: Some(vec![Toleration {
                key: Some("fake".into()),
                operator: Some("Exists".into()),
                ..Toleration::default()
            }]),
            ..daemon
        };
        assert_eq!(
            expected_nodes(&nodes, &tolerant, &BTreeSet::new()),
            vec!["a", "b"]
        );
    }

    #[test]
    fn public_hosts_by_mode() {
        let n = node("a", &[], vec![], "10.0.0.1");
        assert_eq!(
            public_host(&n, PublicNetDnsMode::Ip).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            public_host(&n, PublicNetDnsMode::Node).as_deref(),
            Some("a")
        );
        assert_eq!(public_host(&n, PublicNetDnsMode::Pod), None);
    }
}
