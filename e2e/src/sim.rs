//! **Benchmark infrastructure, not AIS.** A stand-in for the AIS API of clusters whose pods kwok
//! simulates (they run nothing), so that the controller goes through its real sequence at
//! scale: it answers health, the cluster map (made from the cluster's Running pods) and config
//! reads, and takes every action with 200. No test that claims AIS behaviour uses it; the
//! benchmark (`just bench`) and its request-count guard do.
//!
//! How requests reach it: kwok pod IPs (10.244.10+.x) are blackholed on the host. Each one the
//! pod watch sees is added as a /32 to a port-less bridge (a kind of link every kernel that runs
//! the local cluster has; `dummy` needs a module that is not always there), so connections to it
//! are local; the
//! simulator listens on the benchmark's AIS ports on all addresses and tells the cluster by the
//! request's `Host` (the pod IP the controller dialled).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_json::{Value, json};

/// The interface (a bridge without ports) that carries the simulated pods' IPs.
pub const INTERFACE: &str = "aissim0";

/// One simulated AIS pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPod {
    /// Namespace.
    pub ns: String,
    /// Pod name (`<cluster>-<role>-<ordinal>`).
    pub name: String,
    /// AIStore name (label `app.kubernetes.io/name`).
    pub cluster: String,
    /// `proxy` or `target`.
    pub role: String,
    /// Pod IP.
    pub ip: String,
    /// `status.phase == Running`.
    pub running: bool,
}

/// What the pod watch knows: pods by `namespace/name`.
#[derive(Debug, Default)]
pub struct Pods {
    by_key: RwLock<BTreeMap<String, SimPod>>,
}

impl Pods {
    fn upsert(&self, pod: SimPod) {
        if let Ok(mut map) = self.by_key.write() {
            map.insert(format!("{}/{}", pod.ns, pod.name), pod);
        }
    }

    fn remove(&self, key: &str) {
        if let Ok(mut map) = self.by_key.write() {
            map.remove(key);
        }
    }

    /// Forgets every pod: a new watch lists them all again, and a pod deleted while no watch
    /// ran would otherwise stay, its IP answering for the new pod that kwok gave it to.
    fn clear(&self) {
        if let Ok(mut map) = self.by_key.write() {
            map.clear();
        }
    }

    /// Every pod with an IP (a snapshot).
    pub fn all(&self) -> Vec<SimPod> {
        self.by_key
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Running pods (all clusters).
    pub fn running(&self) -> usize {
        self.by_key
            .read()
            .map(|m| m.values().filter(|p| p.running).count())
            .unwrap_or(0)
    }

    fn by_ip(&self, ip: &str) -> Option<SimPod> {
        self.by_key
            .read()
            .ok()?
            .values()
            .find(|p| p.ip == ip)
            .cloned()
    }

    /// The pod a request for `host` reaches: a pod IP, or the name of a cluster's proxy
    /// Service (`<cluster>-proxy.<namespace>[.svc...]`, as the reference operator dials it;
    /// [`Simulator::resolve_to_loopback`] makes such names resolve here), which reaches a
    /// running proxy of that cluster.
    fn by_host(&self, host: &str) -> Option<SimPod> {
        if let Some(pod) = self.by_ip(host) {
            return Some(pod);
        }
        let mut labels = host.split('.');
        let cluster = labels.next()?.strip_suffix("-proxy")?;
        let ns = labels.next()?;
        self.of_cluster(ns, cluster)
            .into_iter()
            .find(|p| p.role == "proxy")
    }

    fn of_cluster(&self, ns: &str, cluster: &str) -> Vec<SimPod> {
        self.by_key
            .read()
            .map(|m| {
                m.values()
                    .filter(|p| p.ns == ns && p.cluster == cluster && p.running)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Requests the simulator answered, by `METHOD path?what`.
#[derive(Debug, Default)]
pub struct Served {
    counts: RwLock<BTreeMap<String, u64>>,
    total: AtomicU64,
}

impl Served {
    fn note(&self, key: String) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut c) = self.counts.write() {
            *c.entry(key).or_default() += 1;
        }
    }

    /// A copy of the counts.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.read().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The running simulator: its pod watch, its listeners and the IPs it added. Dropping it
/// stops the watch and removes the interface.
#[derive(Debug)]
pub struct Simulator {
    /// The pods it knows.
    pub pods: Arc<Pods>,
    /// The requests it served.
    pub served: Arc<Served>,
    /// The running `kubectl` watch (replaced each time it ends).
    watch: Arc<Mutex<Option<Child>>>,
    /// How many times the pod watch ended and was started again.
    pub watch_restarts: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// Marks the simulator's block in `/etc/hosts`.
const HOSTS_BEGIN: &str = "# ais-sim begin (benchmark infrastructure; removed when it stops)";
const HOSTS_END: &str = "# ais-sim end";
const HOSTS_FILE: &str = "/etc/hosts";

/// `/etc/hosts` without the simulator's block.
fn without_block(hosts: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in hosts.lines() {
        if line == HOSTS_BEGIN {
            inside = true;
        } else if line == HOSTS_END {
            inside = false;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl Simulator {
    /// Makes each of `names` resolve to 127.0.0.1 on this host (a marked block in
    /// `/etc/hosts`), where the simulator listens: an operator that dials a cluster's proxy
    /// Service by name (the reference operator outside the cluster) reaches it.
    pub fn resolve_to_loopback(&self, names: &[String]) -> Result<(), String> {
        let hosts =
            std::fs::read_to_string(HOSTS_FILE).map_err(|e| format!("{HOSTS_FILE}: {e}"))?;
        let mut out = without_block(&hosts);
        out.push_str(HOSTS_BEGIN);
        out.push('\n');
        for name in names {
            out.push_str(&format!("127.0.0.1 {name}\n"));
        }
        out.push_str(HOSTS_END);
        out.push('\n');
        std::fs::write(HOSTS_FILE, out).map_err(|e| format!("{HOSTS_FILE}: {e}"))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Ok(hosts) = std::fs::read_to_string(HOSTS_FILE)
            && hosts.contains(HOSTS_BEGIN)
        {
            let _ = std::fs::write(HOSTS_FILE, without_block(&hosts));
        }
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut child) = self
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = Command::new("ip").args(["link", "del", INTERFACE]).status();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Starts the simulator for the AIS pods of namespaces whose name starts with `ns_prefix`,
/// answering on `ports` (the benchmark manifests' proxy and target ports).
pub fn start(ns_prefix: &str, ports: &[u16]) -> Result<Simulator, String> {
    let _ = ip(&["link", "del", INTERFACE]);
    ip(&["link", "add", INTERFACE, "type", "bridge"])?;
    ip(&["link", "set", INTERFACE, "up"])?;
    let pods = Arc::new(Pods::default());
    let served = Arc::new(Served::default());
    let stop = Arc::new(AtomicBool::new(false));
    for &port in ports {
        let listener =
            TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("listen :{port}: {e}"))?;
        let (pods, served, stop) = (pods.clone(), served.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (pods, served) = (pods.clone(), served.clone());
                std::thread::spawn(move || serve(conn, &pods, &served));
            }
        });
    }
    let watch = Arc::new(Mutex::new(None));
    let watch_restarts = Arc::new(AtomicU64::new(0));
    let first = spawn_watch()?;
    *watch.lock().unwrap_or_else(PoisonError::into_inner) = Some(first.0);
    let mut stdout = Some(first.1);
    let (prefix, slot, restarts, stopped) = (
        ns_prefix.to_string(),
        watch.clone(),
        watch_restarts.clone(),
        stop.clone(),
    );
    let pods_of_watch = pods.clone();
    // The API server ends every watch after a while (`--min-request-timeout`, 30 to 60 min),
    // and a long benchmark outlives it: a new watch starts (with a full list) whenever one ends.
    std::thread::spawn(move || {
        let mut added = HashSet::new();
        loop {
            let out = match stdout.take() {
                Some(out) => out,
                None => match spawn_watch() {
                    Ok((child, out)) => {
                        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
                        pods_of_watch.clear();
                        out
                    }
                    Err(_) => {
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    }
                },
            };
            follow(out, &prefix, &pods_of_watch, &mut added);
            if stopped.load(Ordering::Relaxed) {
                return;
            }
            if let Some(mut child) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            restarts.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    Ok(Simulator {
        pods,
        served,
        watch,
        watch_restarts,
        stop,
    })
}

/// `kubectl get pods -A --watch` (one stream, not a poll) of the operator's AIS pods; its
/// complaints go to `ais-sim-watch.log` in the temp directory.
fn spawn_watch() -> Result<(Child, std::process::ChildStdout), String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::temp_dir().join("ais-sim-watch.log"))
        .map_or_else(|_| Stdio::null(), Stdio::from);
    let mut child = Command::new(crate::kubectl_bin())
        .args([
            "get",
            "pods",
            "-A",
            "-l",
            "app.kubernetes.io/component in (proxy,target)",
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("kubectl watch: {e}"))?;
    let stdout = child.stdout.take().ok_or("kubectl watch: no stdout")?;
    Ok((child, stdout))
}

/// Follows one watch until it ends: each pod in a namespace with `prefix` goes into `pods`, and
/// its IP onto the interface.
fn follow(
    stdout: std::process::ChildStdout,
    prefix: &str,
    pods: &Pods,
    added: &mut HashSet<String>,
) {
    let stream = serde_json::Deserializer::from_reader(BufReader::new(stdout)).into_iter::<Value>();
    for event in stream {
        let Ok(event) = event else { break };
        let pod = &event["object"];
        let meta = &pod["metadata"];
        let (Some(ns), Some(name)) = (meta["namespace"].as_str(), meta["name"].as_str()) else {
            continue;
        };
        if !ns.starts_with(prefix) {
            continue;
        }
        // Only pods kwok runs: a real pod's IP put on the bridge would cut it off from the
        // host (the host would answer for it).
        let on_kwok = pod["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| n.starts_with("kwok"));
        let key = format!("{ns}/{name}");
        if event["type"] != "DELETED" && !on_kwok {
            continue;
        }
        if event["type"] == "DELETED" {
            pods.remove(&key);
            continue;
        }
        let Some(pod_ip) = pod["status"]["podIP"].as_str().filter(|s| !s.is_empty()) else {
            continue;
        };
        // Once per IP (a failure is an address already there).
        if added.insert(pod_ip.to_string()) {
            let _ = ip(&["addr", "add", &format!("{pod_ip}/32"), "dev", INTERFACE]);
        }
        pods.upsert(SimPod {
            ns: ns.to_string(),
            name: name.to_string(),
            cluster: meta["labels"]["app.kubernetes.io/name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            role: meta["labels"]["app.kubernetes.io/component"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            ip: pod_ip.to_string(),
            running: pod["status"]["phase"] == "Running",
        });
    }
}

/// One HTTP/1.1 connection: requests in a row (keep-alive), each answered from the pods.
fn serve(conn: TcpStream, pods: &Pods, served: &Served) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let (mut host, mut length) = (String::new(), 0usize);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "host" => host = v.trim().to_string(),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let pod_ip = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
        let (status, answer) = answer(pods, pod_ip, &method, &target);
        served.note(format!("{method} {}", route_key(&target)));
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            if status == 200 { "OK" } else { "Not Found" },
            answer.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// `path?what=...` without other query parameters: the key requests are counted by.
fn route_key(target: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let what = query
        .split('&')
        .find(|kv| kv.starts_with("what="))
        .map(|kv| format!("?{kv}"))
        .unwrap_or_default();
    format!("{path}{what}")
}

/// The answer to one request for the cluster of the pod at `pod_ip`.
fn answer(pods: &Pods, pod_ip: &str, method: &str, target: &str) -> (u16, String) {
    let Some(me) = pods.by_host(pod_ip) else {
        return (
            404,
            json!({"message": format!("no simulated pod at {pod_ip}")}).to_string(),
        );
    };
    let key = route_key(target);
    match (method, key.as_str()) {
        ("GET", k) if k.starts_with("/v1/health") => (200, String::new()),
        ("GET", "/v1/daemon?what=smap") => {
            (200, smap(&pods.of_cluster(&me.ns, &me.cluster)).to_string())
        }
        ("GET", "/v1/cluster?what=running_all") => (200, "null".into()),
        ("GET", _) => (200, "{}".into()),
        // Actions (set-config, maintenance, primary): taken, nothing changes.
        ("PUT" | "POST" | "DELETE", _) => (200, String::new()),
        _ => (404, String::new()),
    }
}

/// A cluster map of `pods` as AIS writes it: proxy 0 is the primary.
fn smap(pods: &[SimPod]) -> Value {
    let node = |p: &SimPod| {
        let headless = format!("{}-{}", p.cluster, p.role);
        json!({
            "daemon_id": format!("sim-{}", p.name),
            "daemon_type": p.role,
            "public_net": {"node_ip_addr": p.ip, "daemon_port": "0", "direct_url": ""},
            "intra_control_net": {
                "node_ip_addr": format!("{}.{headless}.{}.svc.cluster.local", p.name, p.ns),
                "daemon_port": "0",
                "direct_url": ""
            },
            "flags": 0
        })
    };
    let mut pmap = serde_json::Map::new();
    let mut tmap = serde_json::Map::new();
    let mut primary = Value::Null;
    for p in pods {
        let n = node(p);
        if p.role == "proxy" {
            if p.name.ends_with("-proxy-0") {
                primary = n.clone();
            }
            pmap.insert(format!("sim-{}", p.name), n);
        } else {
            tmap.insert(format!("sim-{}", p.name), n);
        }
    }
    json!({
        "pmap": pmap, "tmap": tmap, "proxy_si": primary,
        "uuid": "sim", "creation_time": "", "version": pods.len().to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, role: &str, ip: &str) -> SimPod {
        SimPod {
            ns: "bench-1".into(),
            name: name.into(),
            cluster: "c".into(),
            role: role.into(),
            ip: ip.into(),
            running: true,
        }
    }

    #[test]
    fn the_hosts_block_is_removed_whole() {
        let hosts = format!(
            "127.0.0.1 localhost\n{HOSTS_BEGIN}\n127.0.0.1 c-proxy.ns\n{HOSTS_END}\n::1 x\n"
        );
        assert_eq!(without_block(&hosts), "127.0.0.1 localhost\n::1 x\n");
    }

    #[test]
    fn the_cluster_map_parses_as_the_controller_reads_it() {
        let pods = Pods::default();
        pods.upsert(pod("c-proxy-0", "proxy", "10.244.10.2"));
        pods.upsert(pod("c-target-0", "target", "10.244.10.3"));
        let (code, body) = answer(&pods, "10.244.10.3", "GET", "/v1/daemon?what=smap");
        assert_eq!(code, 200);
        let smap: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(smap["proxy_si"]["daemon_id"], "sim-c-proxy-0");
        assert_eq!(
            smap["tmap"]["sim-c-target-0"]["intra_control_net"]["node_ip_addr"],
            "c-target-0.c-target.bench-1.svc.cluster.local"
        );
        assert_eq!(smap["version"], "2");
        // The proxy Service's name reaches the cluster's proxy.
        let (code, body) = answer(&pods, "c-proxy.bench-1", "GET", "/v1/daemon?what=smap");
        assert_eq!((code, body.contains("sim-c-target-0")), (200, true));
        assert_eq!(answer(&pods, "d-proxy.bench-1", "GET", "/v1/health").0, 404);
        // An IP no simulated pod has gets no answer that looks like AIS.
        assert_eq!(answer(&pods, "10.0.0.9", "GET", "/v1/health").0, 404);
        assert_eq!(route_key("/v1/health?prr=true"), "/v1/health");
    }
}
