//! The cluster map (`meta.Smap`, `GET /v1/daemon?what=smap`) and node helpers.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Node flag bitmask (`core/meta/smap.go`). Unknown bits are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeFlags(pub u64);

impl NodeFlags {
    pub const NON_ELECTABLE: Self = Self(1);
    pub const IC: Self = Self(2);
    pub const MAINTENANCE: Self = Self(4);
    pub const DECOMMISSION: Self = Self(8);
    pub const MAINT_POST_REBALANCE: Self = Self(16);

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

/// One network of a node (`meta.NetInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInfo {
    #[serde(default)]
    pub node_ip_addr: String,
    #[serde(default)]
    pub daemon_port: String,
    #[serde(default)]
    pub direct_url: String,
}

/// A node of the cluster map (`meta.Snode`). Unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snode {
    pub daemon_id: String,
    /// `"proxy"` or `"target"`.
    pub daemon_type: String,
    #[serde(default)]
    pub public_net: NetInfo,
    #[serde(default)]
    pub intra_control_net: NetInfo,
    #[serde(default)]
    pub intra_data_net: NetInfo,
    #[serde(default)]
    pub flags: NodeFlags,
    /// Can exceed 2^53: kept as u64.
    #[serde(default)]
    pub id_digest: u64,
}

impl Snode {
    pub fn is_proxy(&self) -> bool {
        self.daemon_type == "proxy"
    }

    pub fn is_target(&self) -> bool {
        self.daemon_type == "target"
    }

    /// `SnodeMaint` set (AIS `InMaint`).
    pub fn in_maintenance(&self) -> bool {
        self.flags.contains(NodeFlags::MAINTENANCE)
    }

    /// `SnodeDecomm` set: being decommissioned (it leaves the map when done).
    pub fn is_decommissioning(&self) -> bool {
        self.flags.contains(NodeFlags::DECOMMISSION)
    }

    /// Maintenance or decommission (AIS `InMaintOrDecomm`).
    pub fn in_maint_or_decomm(&self) -> bool {
        self.flags
            .intersects(NodeFlags::MAINTENANCE.union(NodeFlags::DECOMMISSION))
    }

    /// Maintenance finished its rebalance (`SnodeMaintPostReb`).
    pub fn maint_post_rebalance(&self) -> bool {
        self.flags.contains(NodeFlags::MAINT_POST_REBALANCE)
    }

    pub fn is_non_electable(&self) -> bool {
        self.flags.contains(NodeFlags::NON_ELECTABLE)
    }

    /// The hostname the pod lookup uses (`intra_control_net.node_ip_addr`).
    pub fn control_hostname(&self) -> &str {
        &self.intra_control_net.node_ip_addr
    }
}

impl NodeFlags {
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// The cluster map. `version` is a JSON string on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Smap {
    #[serde(default)]
    pub pmap: BTreeMap<String, Snode>,
    #[serde(default)]
    pub tmap: BTreeMap<String, Snode>,
    /// The primary proxy.
    #[serde(default)]
    pub proxy_si: Option<Snode>,
    #[serde(default)]
    pub uuid: String,
    #[serde(default)]
    pub creation_time: String,
    #[serde(default, deserialize_with = "de_version")]
    pub version: i64,
}

impl Smap {
    pub fn primary(&self) -> Option<&Snode> {
        self.proxy_si.as_ref()
    }

    pub fn primary_id(&self) -> Option<&str> {
        self.proxy_si.as_ref().map(|p| p.daemon_id.as_str())
    }

    pub fn is_primary(&self, daemon_id: &str) -> bool {
        self.primary_id() == Some(daemon_id)
    }

    pub fn count_proxies(&self) -> usize {
        self.pmap.len()
    }

    pub fn count_targets(&self) -> usize {
        self.tmap.len()
    }

    /// Any node (proxy or target) by daemon ID.
    pub fn get_node(&self, daemon_id: &str) -> Option<&Snode> {
        self.pmap
            .get(daemon_id)
            .or_else(|| self.tmap.get(daemon_id))
    }

    /// All nodes, proxies first.
    pub fn nodes(&self) -> impl Iterator<Item = &Snode> {
        self.pmap.values().chain(self.tmap.values())
    }

    /// The node a Kubernetes pod runs, by [`pod_matches_node`].
    pub fn find_by_pod_name(&self, pod_name: &str) -> Option<&Snode> {
        self.nodes().find(|n| pod_matches_node(pod_name, n))
    }

    /// Whether the primary runs in this pod.
    pub fn primary_is_pod(&self, pod_name: &str) -> bool {
        self.proxy_si
            .as_ref()
            .is_some_and(|p| pod_matches_node(pod_name, p))
    }
}

impl fmt::Display for Smap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "smap v{} ({} proxies, {} targets, primary {})",
            self.version,
            self.pmap.len(),
            self.tmap.len(),
            self.primary_id().unwrap_or("-")
        )
    }
}

/// Whether `pod_name` runs `node`: the first DNS label of the node's
/// `intra_control_net.node_ip_addr` equals the pod name exactly. (In Kubernetes the init
/// container sets that address to `<pod>.<service>.<ns>.svc.<domain>`.) So `ais-target-1`
/// does not match `ais-target-10.ais-target…`, and an empty pod name matches nothing.
pub fn pod_matches_node(pod_name: &str, node: &Snode) -> bool {
    if pod_name.is_empty() {
        return false;
    }
    let host = node.control_hostname();
    let first_label = host.split('.').next().unwrap_or(host);
    first_label == pod_name
}

/// `version` arrives as a JSON string (`json:"version,string"`); accept a number too.
fn de_version<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        N(i64),
    }
    match V::deserialize(d)? {
        V::N(n) => Ok(n),
        V::S(s) if s.is_empty() => Ok(0),
        V::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn node(id: &str, ty: &str, host: &str, flags: u64) -> Snode {
        Snode {
            daemon_id: id.into(),
            daemon_type: ty.into(),
            intra_control_net: NetInfo {
                node_ip_addr: host.into(),
                daemon_port: "9080".into(),
                direct_url: format!("http://{host}:9080"),
            },
            flags: NodeFlags(flags),
            ..Snode::default()
        }
    }

    #[test]
    fn pod_match_uses_exact_first_label() {
        let t10 = node(
            "t10",
            "target",
            "ais-target-10.ais-target.ns.svc.cluster.local",
            0,
        );
        let t1 = node(
            "t1",
            "target",
            "ais-target-1.ais-target.ns.svc.cluster.local",
            0,
        );
        assert!(!pod_matches_node("ais-target-1", &t10));
        assert!(pod_matches_node("ais-target-10", &t10));
        assert!(pod_matches_node("ais-target-1", &t1));
        assert!(!pod_matches_node("ais-target", &t1));
        assert!(!pod_matches_node("", &t1));
        assert!(!pod_matches_node("ais-target-1.ais-target", &t1));
        let bare = node("t2", "target", "ais-target-2", 0);
        assert!(pod_matches_node("ais-target-2", &bare));
        let empty = node("t3", "target", "", 0);
        assert!(!pod_matches_node("ais-target-3", &empty));
    }

    #[test]
    fn find_by_pod_name_ignores_prefix_collisions() {
        let mut smap = Smap::default();
        for (id, host) in [
            ("t10", "ais-target-10.ais-target.ns.svc.cluster.local"),
            ("t1", "ais-target-1.ais-target.ns.svc.cluster.local"),
        ] {
            smap.tmap.insert(id.into(), node(id, "target", host, 0));
        }
        let p0 = node("p0", "proxy", "ais-proxy-0.ais-proxy.ns.svc", 2);
        smap.pmap.insert("p0".into(), p0.clone());
        smap.proxy_si = Some(p0);
        assert_eq!(
            smap.find_by_pod_name("ais-target-1")
                .map(|n| n.daemon_id.as_str()),
            Some("t1")
        );
        assert_eq!(
            smap.find_by_pod_name("ais-target-10")
                .map(|n| n.daemon_id.as_str()),
            Some("t10")
        );
        assert!(smap.find_by_pod_name("ais-target-2").is_none());
        assert!(smap.primary_is_pod("ais-proxy-0"));
        assert!(!smap.primary_is_pod("ais-proxy-1"));
    }

    #[test]
    fn node_state_helpers() {
        let n = |f| node("x", "target", "h", f);
        assert!(!n(0).in_maintenance() && !n(0).in_maint_or_decomm());
        assert!(n(4).in_maintenance() && !n(4).is_decommissioning());
        assert!(n(4 | 16).maint_post_rebalance() && n(4 | 16).in_maintenance());
        assert!(n(8).is_decommissioning() && n(8).in_maint_or_decomm() && !n(8).in_maintenance());
        assert!(n(12).in_maint_or_decomm());
        assert!(n(1).is_non_electable() && !n(2).is_non_electable());
        assert!(!n(2 | 1 | 16).in_maint_or_decomm());
    }

    #[test]
    fn parses_wire_smap() {
        let raw = r#"{"pmap":{"Xkdp8080":{"public_net":{"node_ip_addr":"127.0.0.1","daemon_port":"8080","direct_url":"http://127.0.0.1:8080"},
   "intra_data_net":{"node_ip_addr":"127.0.0.1","daemon_port":"10080","direct_url":"http://127.0.0.1:10080"},
   "intra_control_net":{"node_ip_addr":"127.0.0.1","daemon_port":"9080","direct_url":"http://127.0.0.1:9080"},
   "daemon_type":"proxy","daemon_id":"Xkdp8080","flags":2,"id_digest":18446744073709551615}},
 "proxy_si":{"daemon_type":"proxy","daemon_id":"Xkdp8080","flags":2,"pub_extra":[],"ext":{"a":1}},
 "tmap":{"Qzrt8081":{"daemon_type":"target","daemon_id":"Qzrt8081","flags":20},
         "Mvat8082":{"daemon_type":"target","daemon_id":"Mvat8082","flags":0,"verifying_key":"AAAA"}},
 "uuid":"u1","creation_time":"2026","version":"7","unknown":true}"#;
        let smap: Smap = serde_json::from_str(raw).unwrap();
        assert_eq!(smap.version, 7);
        assert_eq!((smap.count_proxies(), smap.count_targets()), (1, 2));
        assert_eq!(smap.primary_id(), Some("Xkdp8080"));
        assert_eq!(smap.pmap["Xkdp8080"].id_digest, u64::MAX);
        assert_eq!(
            smap.pmap["Xkdp8080"].public_net.direct_url,
            "http://127.0.0.1:8080"
        );
        let t = &smap.tmap["Qzrt8081"];
        assert!(t.in_maintenance() && t.maint_post_rebalance() && t.is_target());
        assert!(
            smap.get_node("Mvat8082")
                .is_some_and(|n| !n.in_maint_or_decomm())
        );
        assert_eq!(
            smap.to_string(),
            "smap v7 (1 proxies, 2 targets, primary Xkdp8080)"
        );
    }

    #[test]
    fn version_as_number_or_bad_string() {
        let s: Smap = serde_json::from_str(r#"{"version":3}"#).unwrap();
        assert_eq!(s.version, 3);
        assert!(serde_json::from_str::<Smap>(r#"{"version":"x"}"#).is_err());
    }
}
