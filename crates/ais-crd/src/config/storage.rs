//! Config sections of data and disks: write policy, versioning, space, LRU, mirror, EC,
//! checksums, chunks, rebalance, resilver, disk and filesystem health.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::IntOrStr;

/// The `write_policy` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WritePolicyConf {
    /// AIS cluster config `write_policy.data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// AIS cluster config `write_policy.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md: Option<String>,
}

/// The `versioning` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersioningConf {
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// AIS cluster config `versioning.synchronize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronize: Option<bool>,
    /// AIS cluster config `versioning.validate_warm_get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_warm_get: Option<bool>,
}

/// The `space` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SpaceConf {
    /// AIS cluster config `space.batch_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// Cleanup watermark: below this, nothing is cleaned up.
    #[schemars(range(min = 0, max = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanupwm: Option<i64>,
    /// AIS cluster config `space.dont_cleanup_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dont_cleanup_time: Option<String>,
    /// High watermark: eviction starts above this.
    #[schemars(range(min = 0, max = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highwm: Option<i64>,
    /// Low watermark: eviction stops below this.
    #[schemars(range(min = 0, max = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowwm: Option<i64>,
    /// Out-of-space watermark: writes fail above this.
    #[schemars(range(min = 0, max = 100))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_space: Option<i64>,
}

/// The `resilver` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResilverConf {
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The `rebalance` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RebalanceConf {
    /// Number of parallel streams per destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_multiplier: Option<i64>,
    /// Capacity of the in-memory work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_buffer: Option<i64>,
    /// Compression of transmitted data: "never", "always" or a ratio-driven policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// How long to retry an unreachable destination (duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_retry_time: Option<String>,
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The `mirror` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MirrorConf {
    /// Capacity of the in-memory work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_buffer: Option<i64>,
    /// Number of copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<i64>,
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The `lru` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LruConf {
    /// AIS cluster config `lru.batch_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// AIS cluster config `lru.capacity_upd_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_upd_time: Option<String>,
    /// AIS cluster config `lru.dont_evict_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dont_evict_time: Option<String>,
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// The `fshc` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FshcConf {
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// AIS cluster config `fshc.error_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_limit: Option<i64>,
    /// AIS cluster config `fshc.io_err_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_err_limit: Option<i64>,
    /// AIS cluster config `fshc.io_err_time`. Accepts an integer as written by v1.x manifests; strings such as "4MiB" or "10s" are preferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io_err_time: Option<IntOrStr>,
    /// AIS cluster config `fshc.test_files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_files: Option<i64>,
}

/// The `ec` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EcConf {
    /// Number of parallel streams per destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_multiplier: Option<i64>,
    /// Capacity of the in-memory work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_buffer: Option<i64>,
    /// Compression of transmitted data: "never", "always" or a ratio-driven policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Number of data slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_slices: Option<i64>,
    /// Keep erasure-coded slices on disk only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_only: Option<bool>,
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Objects smaller than this size are treated specially (see the AIS documentation of this section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objsize_limit: Option<i64>,
    /// Number of parity slices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity_slices: Option<i64>,
}

/// The `disk` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DiskConf {
    /// AIS cluster config `disk.disk_util_high_wm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_util_high_wm: Option<i64>,
    /// AIS cluster config `disk.disk_util_low_wm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_util_low_wm: Option<i64>,
    /// AIS cluster config `disk.disk_util_max_wm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_util_max_wm: Option<i64>,
    /// AIS cluster config `disk.iostat_time_long`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iostat_time_long: Option<String>,
    /// AIS cluster config `disk.iostat_time_short`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iostat_time_short: Option<String>,
    /// AIS cluster config `disk.iostat_time_smooth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iostat_time_smooth: Option<String>,
}

/// The `chunks` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChunksConf {
    /// AIS cluster config `chunks.checkpoint_every`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<i64>,
    /// AIS cluster config `chunks.chunk_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<String>,
    /// AIS cluster config `chunks.flags`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<i64>,
    /// AIS cluster config `chunks.max_monolithic_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_monolithic_size: Option<String>,
    /// Objects smaller than this size are treated specially (see the AIS documentation of this section).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objsize_limit: Option<String>,
}

/// The `checksum` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChecksumConf {
    /// AIS cluster config `checksum.enable_read_range`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_read_range: Option<bool>,
    /// Checksum type, such as "xxhash2", "md5" or "none".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    /// AIS cluster config `checksum.validate_cold_get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_cold_get: Option<bool>,
    /// AIS cluster config `checksum.validate_obj_move`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_obj_move: Option<bool>,
    /// AIS cluster config `checksum.validate_warm_get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_warm_get: Option<bool>,
}
