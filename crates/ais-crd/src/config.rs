//! `spec.configToUpdate`: a typed mirror of AIStore's `cmn.ConfigToSet`.
//!
//! Every key is the JSON key AIS itself uses, so the section serializes straight into the
//! `set-config` message and the global ConfigMap. Unknown keys are rejected by the CRD schema
//! (pruned by the API server), so a typo shows up in `kubectl apply --validate=strict`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod auth;
mod network;
mod storage;

pub use auth::*;
pub use network::*;
pub use storage::*;

/// Configuration of one remote backend. AIS takes an empty object for the built-in backends.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BackendConf {}

/// Overrides of the AIS cluster configuration. The keys are AIS config JSON keys, one for one; the operator
/// writes them into the global ConfigMap for new nodes and pushes changes to the running cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfigToUpdate {
    /// Archiving (TAR/ZIP shards) transport settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<StreamConf>,
    /// Authentication of client requests (AuthN tokens, OIDC issuers, intra-cluster keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConf>,
    /// Remote backends (aws, gcp, oci, azure, ...) enabled in the cluster; the operator adds the ones whose credentials are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BTreeMap<String, BackendConf>>,
    /// Object checksumming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ChecksumConf>,
    /// Chunked object storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<ChunksConf>,
    /// Timeouts AIS nodes use as clients of each other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientConf>,
    /// Disk utilization sampling and watermarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskConf>,
    /// Distributed sort (dsort) job settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed_sort: Option<DistributedSortConf>,
    /// Downloader job settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloader: Option<DownloaderConf>,
    /// Erasure coding defaults for new buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec: Option<EcConf>,
    /// Feature flags, as the decimal string of the AIS feature bitmask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<String>,
    /// Filesystem health checker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fshc: Option<FshcConf>,
    /// Multi-object GET (get-batch) settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_batch: Option<GetBatchConf>,
    /// Keepalive (heartbeat) tracking between nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalivetracker: Option<KeepalivetrackerConf>,
    /// Node logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogConf>,
    /// LRU eviction of cached remote objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lru: Option<LruConf>,
    /// Memory manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memsys: Option<MemsysConf>,
    /// N-way mirroring defaults for new buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorConf>,
    /// Networking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<NetConf>,
    /// Periodic housekeeping intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periodic: Option<PeriodicConf>,
    /// Primary proxy and discovery URLs. The operator sets these itself; override only when you know why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyConf>,
    /// Rate limiting of backend and frontend requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitConf>,
    /// Global rebalance. The operator keeps rebalance off while it bootstraps, upgrades or bulk-scales the cluster and restores this value afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceConf>,
    /// Resilvering after mountpath changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resilver: Option<ResilverConf>,
    /// Capacity watermarks, in percent of total capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space: Option<SpaceConf>,
    /// Copy-bucket (TCB) transport settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcb: Option<StreamConf>,
    /// Copy-objects (TCO) transport settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tco: Option<StreamConf>,
    /// Control-plane and data-plane timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeoutConf>,
    /// OpenTelemetry tracing. Changing it requires a node restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingConf>,
    /// Intra-cluster streaming transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<TransportConf>,
    /// Object versioning defaults for new buckets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<VersioningConf>,
    /// Default write policies for data and metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_policy: Option<WritePolicyConf>,
}
