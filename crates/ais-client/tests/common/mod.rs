//! Test harness: a real aisnode cluster (proxies + targets) on 127.0.0.1, as child processes.
//!
//! Each [`Cluster`] has its own temp dir (config, local configs, logs, test mountpaths) and
//! its own free ports. Dropping it kills the processes it started (by PID) and removes the
//! temp dir.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    missing_debug_implementations
)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ais_client::{AisClient, AisClientOptions, Smap, TlsOptions};

/// The aisnode binary: `$AISNODE_BIN`, else the one `e2e/cluster/build.sh aisnode` builds for
/// the pinned `AISTORE_VERSION`. See [`built_binary`] for what a missing one means.
pub fn aisnode_bin() -> Option<PathBuf> {
    built_binary("aisnode", "AISNODE_BIN")
}

/// A binary that `e2e/cluster/build.sh <name>` builds: `$<env_var>`, else the cache path for
/// the pinned `AISTORE_VERSION`. Without it the calling test says that it is skipped and how
/// to build it, and `None` tells it to return, so `cargo test` passes on a fresh clone; with
/// `AIS_BINARIES_REQUIRED=1` (`just test`, CI, which build them first) its absence fails.
pub fn built_binary(name: &str, env_var: &str) -> Option<PathBuf> {
    let bin = match std::env::var_os(env_var) {
        Some(p) => PathBuf::from(p),
        None => default_bin(name),
    };
    if bin.is_file() {
        return Some(bin);
    }
    let why = format!(
        "{name} binary not found at {}: run `e2e/cluster/build.sh {name}` first (or set {env_var})",
        bin.display()
    );
    assert!(
        std::env::var("AIS_BINARIES_REQUIRED").as_deref() != Ok("1"),
        "{why}; AIS_BINARIES_REQUIRED=1 makes that a failure"
    );
    // Past the test harness's capture, so the skip shows in every run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

fn default_bin(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let versions = manifest.join("../../e2e/cluster/versions.env");
    let text = fs::read_to_string(&versions)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", versions.display()));
    let version = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("AISTORE_VERSION="))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("AISTORE_VERSION not set in {}", versions.display()));
    let home = std::env::var_os("HOME").expect("HOME is not set");
    PathBuf::from(home)
        .join(".cache/ais-operator/bin")
        .join(format!("{name}-{version}"))
        .join(name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Proxy,
    Target,
}

#[derive(Debug)]
pub struct Node {
    pub id: String,
    pub role: Role,
    pub pub_port: u16,
    pub ctl_port: u16,
    pub data_port: u16,
    instance: usize,
    scheme: &'static str,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.pub_port)
    }
}

#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// HTTPS: the directory holding `ca.crt` (the CA that signed the nodes' certificate).
    pub tls_dir: Option<PathBuf>,
    pub nodes: Vec<Node>,
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it, as PEM files in
/// `dir`: `ca.crt`, `server.crt`, `server.key`.
pub fn write_test_pki(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ais-client test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    fs::write(dir.join("server.crt"), cert.pem()).unwrap();
    fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

/// Free TCP ports on loopback (all bound at once so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Cluster config per aistore-api.md §3.4 (v1.4.9 needs every section).
fn cluster_config(primary_url: &str) -> serde_json::Value {
    serde_json::json!({"backend":{},
     "mirror":{"copies":2,"burst_buffer":512,"enabled":false},
     "ec":{"objsize_limit":262144,"compression":"never","bundle_multiplier":2,"data_slices":1,"parity_slices":1,"enabled":false,"disk_only":false},
     "chunks":{"objsize_limit":"0","chunk_size":"1GiB","max_monolithic_size":"1TiB","checkpoint_every":0,"flags":0},
     "log":{"level":"3","max_size":"10mb","max_total":"256mb","flush_time":"10s","stats_time":"60s"},
     "periodic":{"stats_time":"10s","notif_time":"30s","retry_sync_time":"2s"},
     "timeout":{"cplane_operation":"2s","max_keepalive":"5s","cold_get_conflict":"5s","max_host_busy":"20s","startup_time":"1m","join_startup_time":"3m","send_file_time":"5m","ec_streams_time":"10m","object_md":"2h"},
     "client":{"client_timeout":"10s","client_long_timeout":"10m","list_timeout":"1m"},
     "proxy":{"primary_url":primary_url,"original_url":primary_url,"discovery_url":"","non_electable":false},
     "space":{"cleanupwm":65,"lowwm":75,"highwm":90,"out_of_space":95,"batch_size":32768,"dont_cleanup_time":"120m"},
     "lru":{"dont_evict_time":"120m","capacity_upd_time":"10m","batch_size":32768,"enabled":true},
     "disk":{"iostat_time_long":"2s","iostat_time_short":"100ms","iostat_time_smooth":"8s","disk_util_low_wm":20,"disk_util_high_wm":80,"disk_util_max_wm":95},
     "rebalance":{"dest_retry_time":"2m","compression":"never","bundle_multiplier":2,"burst_buffer":1024,"enabled":true},
     "resilver":{"enabled":true},
     "checksum":{"type":"xxhash2","validate_cold_get":false,"validate_warm_get":false,"validate_obj_move":false,"enable_read_range":false},
     "transport":{"max_header":4096,"burst_buffer":512,"idle_teardown":"4s","quiescent":"10s","lz4_block":"256kb","lz4_frame_checksum":false},
     "memsys":{"min_free":"2gb","default_buf":"32kb","to_gc":"4gb","hk_time":"3m","min_pct_total":0,"min_pct_free":0},
     "versioning":{"enabled":true,"validate_warm_get":false},
     "net":{"l4":{"proto":"tcp","sndrcv_buf_size":131072},
            "http":{"use_https":false,"server_crt":"server.crt","server_key":"server.key","domain_tls":"","client_ca_tls":"","client_auth_tls":0,
                    "idle_conn_time":"6s","idle_conns_per_host":32,"idle_conns":256,"write_buffer_size":65536,"read_buffer_size":65536,"chunked_transfer":true,"skip_verify":false},
            "use_ipv6":false},
     "fshc":{"test_files":4,"error_limit":2,"io_err_limit":10,"io_err_time":"10s","enabled":true},
     "auth":{"enabled":false},
     "keepalivetracker":{"proxy":{"interval":"10s","name":"heartbeat","factor":3},"target":{"interval":"10s","name":"heartbeat","factor":3},"num_retries":3,"retry_factor":4},
     "downloader":{"timeout":"1h"},
     "tcb":{"compression":"never","bundle_multiplier":2},"tco":{"compression":"never","bundle_multiplier":2},"arch":{"compression":"never","bundle_multiplier":2},
     "write_policy":{"data":"","md":""},
     "rate_limit":{"backend":{"num_retries":3,"interval":"1m","per_op_max_tokens":"","max_tokens":1000,"enabled":false},
                   "frontend":{"burst_size":375,"interval":"1m","per_op_max_tokens":"","max_tokens":1000,"enabled":false}},
     "get_batch":{"compression":"never","bundle_multiplier":0,"burst_buffer":0,"max_wait":"10s","warmup_workers":1,"max_soft_errs":8,"max_gfn":5},
     "features":"0"})
}

impl Cluster {
    /// Lay out `proxies` proxies (the first is the primary) and `targets` targets. Nothing
    /// runs yet: see [`Self::start_all`] / [`Self::start_node`]. `None` (the test is skipped)
    /// without the aisnode binary.
    pub fn new(proxies: usize, targets: usize) -> Option<Self> {
        Self::build(proxies, targets, false)
    }

    /// Like [`Self::new`], but every node serves HTTPS with a certificate from a test CA.
    pub fn new_https(proxies: usize, targets: usize) -> Option<Self> {
        Self::build(proxies, targets, true)
    }

    fn build(proxies: usize, targets: usize, https: bool) -> Option<Self> {
        let scheme = if https { "https" } else { "http" };
        let bin = aisnode_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("ais-client-test-")
            .tempdir()
            .expect("temp dir");
        let n = proxies + targets;
        let ports = free_ports(3 * n);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let role = if i < proxies {
                Role::Proxy
            } else {
                Role::Target
            };
            let id = match role {
                Role::Proxy => format!("aisprx{i:02}"),
                Role::Target => format!("aistgt{:02}", i - proxies),
            };
            nodes.push(Node {
                id,
                role,
                pub_port: ports[3 * i],
                ctl_port: ports[3 * i + 1],
                data_port: ports[3 * i + 2],
                instance: i,
                scheme,
                child: None,
            });
        }
        let tls_dir = https.then(|| dir.path().join("tls"));
        let cluster = Self {
            dir,
            bin,
            tls_dir,
            nodes,
        };
        let primary_url = cluster.nodes[0].url();
        let mut config = cluster_config(&primary_url);
        if let Some(tls) = &cluster.tls_dir {
            write_test_pki(tls);
            let http = &mut config["net"]["http"];
            http["use_https"] = true.into();
            http["server_crt"] = tls.join("server.crt").to_string_lossy().into();
            http["server_key"] = tls.join("server.key").to_string_lossy().into();
            // Node-to-node calls: the test CA is not in the system store.
            http["skip_verify"] = true.into();
        }
        fs::write(
            cluster.root().join("ais.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        for node in &cluster.nodes {
            let nd = cluster.root().join(&node.id);
            fs::create_dir_all(nd.join("conf")).unwrap();
            fs::create_dir_all(nd.join("log")).unwrap();
            let local = serde_json::json!({
                "confdir": nd.join("conf"),
                "log_dir": nd.join("log"),
                "host_net": {
                    "hostname": "127.0.0.1",
                    "hostname_intra_control": "127.0.0.1",
                    "hostname_intra_data": "127.0.0.1",
                    "port": node.pub_port.to_string(),
                    "port_intra_control": node.ctl_port.to_string(),
                    "port_intra_data": node.data_port.to_string(),
                },
                "fspaths": {},
                "test_fspaths": {
                    "root": cluster.root().join("mp"),
                    "count": 2,
                    "instance": node.instance,
                },
            });
            fs::write(
                nd.join("ais_local.json"),
                serde_json::to_vec_pretty(&local).unwrap(),
            )
            .unwrap();
        }
        Some(cluster)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn proxies(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Proxy)
    }

    pub fn targets(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Target)
    }

    pub fn node(&self, id: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// A client for node `i`'s public endpoint (trusting the test CA when HTTPS).
    pub fn client(&self, i: usize) -> AisClient {
        AisClient::with_options(AisClientOptions {
            timeout: Duration::from_secs(10),
            tls: self.tls_dir.as_ref().map(|d| TlsOptions {
                ca_dir: Some(d.clone()),
                ..TlsOptions::default()
            }),
            ..AisClientOptions::new(self.nodes[i].url())
        })
        .unwrap()
    }

    /// Start node `i` (idempotent: a running node is left alone).
    pub fn start_node(&mut self, i: usize) {
        if self.nodes[i].child.is_some() {
            return;
        }
        let ntargets = self.targets().count();
        let root = self.root().to_owned();
        let node = &mut self.nodes[i];
        let nd = root.join(&node.id);
        let out = fs::File::create(nd.join("out.log")).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.arg(format!("-config={}", root.join("ais.json").display()))
            .arg(format!(
                "-local_config={}",
                nd.join("ais_local.json").display()
            ))
            .arg(format!("-daemon_id={}", node.id))
            .arg(match node.role {
                Role::Proxy => "-role=proxy",
                Role::Target => "-role=target",
            });
        if i == 0 {
            cmd.arg(format!("-ntargets={ntargets}"));
        }
        // Not in Kubernetes, whatever the environment of the test runner says.
        cmd.env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env_remove("AIS_PRIMARY_EP")
            .env_remove("AIS_DAEMON_ID")
            .env_remove("MY_POD")
            .env_remove("K8S_NS")
            .current_dir(&nd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        node.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display())),
        );
    }

    /// Kill node `i` (as a pod deletion would) and wait for it to exit; its files stay, so
    /// [`Self::start_node`] restarts it from its persisted metadata.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Forget a node that exited by itself (e.g. after AIS decommissioned it).
    pub fn reap_node(&mut self, i: usize) -> Option<ExitStatus> {
        let child = self.nodes[i].child.as_mut()?;
        let status = child.try_wait().ok().flatten()?;
        self.nodes[i].child = None;
        Some(status)
    }

    /// Start the primary, then (after a moment) every other node.
    pub fn start_all(&mut self) {
        self.start_node(0);
        std::thread::sleep(Duration::from_millis(700));
        for i in 1..self.nodes.len() {
            self.start_node(i);
        }
    }

    /// Wait until the primary answers `health?prr=true` with 200 and its Smap has every
    /// proxy and target. Fails with the nodes' log tails on timeout.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Smap {
        let client = self.client(0);
        let want_p = self.proxies().count();
        let want_t = self.targets().count();
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_running();
            let last = match client.health(true).await {
                Ok(()) => match client.cluster_map().await {
                    Ok(smap)
                        if smap.count_proxies() == want_p && smap.count_targets() == want_t =>
                    {
                        return smap;
                    }
                    Ok(smap) => smap.to_string(),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                panic!(
                    "cluster not ready within {timeout:?}; last: {last}\n{}",
                    self.log_tails()
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Panics (with logs) if a started node has exited.
    pub fn assert_running(&mut self) {
        let mut dead = Vec::new();
        for n in &mut self.nodes {
            if let Some(c) = n.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                dead.push(format!("{} exited: {st}", n.id));
            }
        }
        if !dead.is_empty() {
            panic!("{}\n{}", dead.join("; "), self.log_tails());
        }
    }

    /// Wait for node `id` to exit by itself; its exit status.
    pub async fn wait_exit(&mut self, id: &str, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let node = self.nodes.iter_mut().find(|n| n.id == id).unwrap();
            let child = node.child.as_mut().expect("node not started");
            if let Some(st) = child.try_wait().unwrap() {
                node.child = None;
                return st;
            }
            if Instant::now() > deadline {
                panic!("{id} still running after {timeout:?}\n{}", self.log_tails());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last lines of every node's stdout/stderr and AIS log.
    pub fn log_tails(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            let nd = self.root().join(&n.id);
            let mut files = vec![nd.join("out.log")];
            if let Ok(rd) = fs::read_dir(nd.join("log")) {
                files.extend(rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| {
                    p.file_name()
                        .is_some_and(|f| f == "aisproxy.INFO" || f == "aistarget.INFO")
                }));
            }
            for f in files {
                if let Ok(text) = fs::read_to_string(&f) {
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(15)..];
                    s.push_str(&format!(
                        "--- {} {}\n{}\n",
                        n.id,
                        f.display(),
                        tail.join("\n")
                    ));
                }
            }
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // The TempDir removes the directory after this.
    }
}

/// Poll `f` until it returns `Some`, or panic with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
