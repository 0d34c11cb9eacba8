//! Config sections of the network, the processes and their jobs: transport, streams, timeouts,
//! rate limits, keepalive, proxy, logging, memory, tracing, downloader, dsort and get-batch.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::IntOrStr;

/// The `transport` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TransportConf {
    /// Capacity of the in-memory work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_buffer: Option<i64>,
    /// AIS cluster config `transport.idle_teardown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_teardown: Option<String>,
    /// AIS cluster config `transport.lz4_block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lz4_block: Option<i64>,
    /// AIS cluster config `transport.lz4_frame_checksum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lz4_frame_checksum: Option<bool>,
    /// AIS cluster config `transport.max_header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_header: Option<i64>,
    /// AIS cluster config `transport.quiescent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiescent: Option<String>,
}

/// The `tracing` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TracingConf {
    /// Extra resource attributes on every span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// AIS cluster config `tracing.exporter_auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_auth: Option<TracingExporterAuthConf>,
    /// OTLP exporter endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_endpoint: Option<String>,
    /// Sampling probability, as a decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler_probability: Option<String>,
    /// Prefix of the service name reported to the exporter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name_prefix: Option<String>,
    /// Skip verification of peer certificates (testing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
}

/// The `tracing.exporter_auth` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TracingExporterAuthConf {
    /// File holding the exporter token (spec.tracingTokenSecretName mounts it at /var/traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// HTTP header that carries the exporter token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_header: Option<String>,
}

/// The `timeout` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimeoutConf {
    /// AIS cluster config `timeout.cold_get_conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_get_conflict: Option<String>,
    /// AIS cluster config `timeout.cplane_operation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cplane_operation: Option<String>,
    /// AIS cluster config `timeout.ec_streams_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ec_streams_time: Option<String>,
    /// AIS cluster config `timeout.join_startup_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_startup_time: Option<String>,
    /// AIS cluster config `timeout.max_host_busy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_host_busy: Option<String>,
    /// AIS cluster config `timeout.max_keepalive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_keepalive: Option<String>,
    /// AIS cluster config `timeout.object_md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_md: Option<String>,
    /// AIS cluster config `timeout.send_file_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_file_time: Option<String>,
    /// AIS cluster config `timeout.startup_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_time: Option<String>,
}

/// The `rate_limit` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimitConf {
    /// AIS cluster config `rate_limit.backend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<RateLimitBackendConf>,
    /// AIS cluster config `rate_limit.frontend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend: Option<RateLimitFrontendConf>,
}

/// The `rate_limit.frontend` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimitFrontendConf {
    /// AIS cluster config `rate_limit.frontend.burst_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_size: Option<i64>,
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Interval (duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// AIS cluster config `rate_limit.frontend.max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// AIS cluster config `rate_limit.frontend.per_op_max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_op_max_tokens: Option<String>,
}

/// The `rate_limit.backend` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimitBackendConf {
    /// Enables this feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Interval (duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// AIS cluster config `rate_limit.backend.max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<i64>,
    /// AIS cluster config `rate_limit.backend.num_retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<i64>,
    /// AIS cluster config `rate_limit.backend.per_op_max_tokens`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_op_max_tokens: Option<String>,
}

/// The `proxy` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProxyConf {
    /// URL used to discover the primary proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// Whether this proxy may never become primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_electable: Option<bool>,
    /// URL of the original primary proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_url: Option<String>,
    /// URL of the primary proxy at bootstrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_url: Option<String>,
}

/// The `periodic` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PeriodicConf {
    /// AIS cluster config `periodic.notif_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notif_time: Option<String>,
    /// AIS cluster config `periodic.retry_sync_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_sync_time: Option<String>,
    /// How often statistics are logged (duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_time: Option<String>,
}

/// The `net` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NetConf {
    /// AIS cluster config `net.http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<NetHttpConf>,
}

/// The `net.http` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NetHttpConf {
    /// AIS cluster config `net.http.chunked_transfer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunked_transfer: Option<bool>,
    /// Client certificate policy (Go tls.ClientAuthType: 0 none ... 4 require and verify).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth_tls: Option<i64>,
    /// Path of the CA bundle used to verify client certificates. Managed by the operator when spec.tls is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_tls: Option<String>,
    /// Domain name checked in peer certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_tls: Option<String>,
    /// AIS cluster config `net.http.idle_conn_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_conn_time: Option<String>,
    /// AIS cluster config `net.http.idle_conns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_conns: Option<i64>,
    /// AIS cluster config `net.http.idle_conns_per_host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_conns_per_host: Option<i64>,
    /// AIS cluster config `net.http.read_buffer_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_buffer_size: Option<i64>,
    /// Path of the server certificate. Managed by the operator when spec.tls is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_crt: Option<String>,
    /// Path of the server private key. Managed by the operator when spec.tls is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
    /// Skip verification of peer certificates (testing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_verify: Option<bool>,
    /// Serve HTTPS instead of HTTP. This is what turns TLS on, also for probes and the operator client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_https: Option<bool>,
    /// AIS cluster config `net.http.write_buffer_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_buffer_size: Option<i64>,
}

/// The `memsys` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MemsysConf {
    /// AIS cluster config `memsys.default_buf`. Accepts an integer as written by v1.x manifests; strings such as "4MiB" or "10s" are preferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_buf: Option<IntOrStr>,
    /// AIS cluster config `memsys.hk_time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hk_time: Option<String>,
    /// AIS cluster config `memsys.min_free`. Accepts an integer as written by v1.x manifests; strings such as "4MiB" or "10s" are preferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_free: Option<IntOrStr>,
    /// AIS cluster config `memsys.min_pct_free`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pct_free: Option<i64>,
    /// AIS cluster config `memsys.min_pct_total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pct_total: Option<i64>,
    /// AIS cluster config `memsys.to_gc`. Accepts an integer as written by v1.x manifests; strings such as "4MiB" or "10s" are preferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_gc: Option<IntOrStr>,
}

/// The `log` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LogConf {
    /// How often the log is flushed (duration string such as "60s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_time: Option<String>,
    /// Log verbosity, as a string ("3" is the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Rotate a log file when it reaches this size (IEC string such as "4MiB"). Accepts an integer as written by v1.x manifests; strings such as "4MiB" or "10s" are preferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<IntOrStr>,
    /// Total size of all log files kept (IEC string); also sizes the pod ephemeral-storage request. Accepts an integer as written by v1.x manifests; strings such as "4MiB" or "10s" are preferred.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_total: Option<IntOrStr>,
    /// How often statistics are logged (duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_time: Option<String>,
    /// Also write the log to standard error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_stderr: Option<bool>,
}

/// The `keepalivetracker` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeepalivetrackerConf {
    /// AIS cluster config `keepalivetracker.num_retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<i64>,
    /// AIS cluster config `keepalivetracker.proxy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<KeepaliveRoleConf>,
    /// AIS cluster config `keepalivetracker.retry_factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_factor: Option<i64>,
    /// AIS cluster config `keepalivetracker.target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<KeepaliveRoleConf>,
}

/// Keepalive tracking of one role (`keepalivetracker.proxy` and `keepalivetracker.target`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeepaliveRoleConf {
    /// Multiplier of the interval before a node is declared lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Interval (duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Tracker name; AIS accepts "heartbeat".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The `get_batch` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GetBatchConf {
    /// Number of parallel streams per destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_multiplier: Option<i64>,
    /// Capacity of the in-memory work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_buffer: Option<i64>,
    /// Compression of transmitted data: "never", "always" or a ratio-driven policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// AIS cluster config `get_batch.max_gfn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gfn: Option<i64>,
    /// AIS cluster config `get_batch.max_soft_errs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_soft_errs: Option<i64>,
    /// AIS cluster config `get_batch.max_wait`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_wait: Option<String>,
    /// AIS cluster config `get_batch.warmup_workers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_workers: Option<i64>,
}

/// The `downloader` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DownloaderConf {
    /// Timeout (duration string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The `distributed_sort` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DistributedSortConf {
    /// Number of parallel streams per destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_multiplier: Option<i64>,
    /// Capacity of the in-memory work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_buffer: Option<i64>,
    /// AIS cluster config `distributed_sort.call_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_timeout: Option<String>,
    /// Compression of transmitted data: "never", "always" or a ratio-driven policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// AIS cluster config `distributed_sort.default_max_mem_usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_mem_usage: Option<String>,
    /// AIS cluster config `distributed_sort.dsorter_mem_threshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsorter_mem_threshold: Option<String>,
    /// AIS cluster config `distributed_sort.duplicated_records`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicated_records: Option<String>,
    /// AIS cluster config `distributed_sort.ekm_malformed_line`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekm_malformed_line: Option<String>,
    /// AIS cluster config `distributed_sort.ekm_missing_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ekm_missing_key: Option<String>,
    /// AIS cluster config `distributed_sort.missing_shards`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_shards: Option<String>,
}

/// The `client` section of the AIS cluster config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClientConf {
    /// AIS cluster config `client.client_long_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_long_timeout: Option<String>,
    /// AIS cluster config `client.client_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_timeout: Option<String>,
    /// AIS cluster config `client.list_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_timeout: Option<String>,
}

/// Streaming settings of a bulk job (`arch`, `tcb` and `tco` sections of the AIS cluster config).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamConf {
    /// Number of parallel streams per destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_multiplier: Option<i64>,
    /// Capacity of the in-memory work queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst_buffer: Option<i64>,
    /// Compression of transmitted data: "never", "always" or a ratio-driven policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}
