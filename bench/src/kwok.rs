//! kwok nodes for the scale runs: `kwok-bench-<i>`, each with its own /24 of pod IPs inside the
//! blackholed 10.244.0.0/16 (10.244.100+i.0/24, above the local cluster's own kwok nodes), a
//! label the benchmark's AIStores select, and kwok's taint. CPU and memory are sized so that
//! only the pod count limits a node: the reference operator's init containers request 1 CPU
//! and 1 GiB each.

use ais_e2e::kubectl_ok;

/// The label the benchmark's AIS pods select their nodes by.
pub const NODE_LABEL: &str = "ais-bench/node";
/// Pods kwok runs per node (the node's `pods` capacity).
pub const PODS_PER_NODE: usize = 110;

/// Makes sure `count` benchmark nodes exist (more are left alone).
pub fn ensure_nodes(count: usize) {
    let nodes: Vec<String> = (0..count.min(150))
        .map(|i| {
            format!(
                r#"---
apiVersion: v1
kind: Node
metadata:
  name: kwok-bench-{i}
  annotations: {{kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}}
  labels: {{type: kwok, {NODE_LABEL}: "true", kubernetes.io/hostname: kwok-bench-{i}, kubernetes.io/os: linux, kubernetes.io/arch: amd64}}
spec:
  podCIDR: 10.244.{cidr}.0/24
  podCIDRs: [10.244.{cidr}.0/24]
  providerID: kwok://kwok-bench-{i}
  taints: [{{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}}]
status:
  addresses: [{{type: InternalIP, address: 10.244.{cidr}.1}}, {{type: Hostname, address: kwok-bench-{i}}}]
  allocatable: {{cpu: "1000", memory: 4Ti, pods: "{PODS_PER_NODE}", ephemeral-storage: 1Ti}}
  capacity: {{cpu: "1000", memory: 4Ti, pods: "{PODS_PER_NODE}", ephemeral-storage: 1Ti}}
"#,
                cidr = 100 + i
            )
        })
        .collect();
    kubectl_ok(&["apply", "-f", "-"], Some(&nodes.concat()));
}

/// Nodes needed for `pods` pods, with one node to spare.
pub fn nodes_for(pods: usize) -> usize {
    pods.div_ceil(PODS_PER_NODE) + 1
}
