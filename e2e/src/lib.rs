//! Helpers for the end-to-end tests: `kubectl` against the cluster in `KUBECONFIG`, throwaway
//! namespaces, and child processes that are always stopped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod chaos;
pub mod cluster;
pub mod data;
pub mod report;
pub mod sim;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The kubectl binary: `$KUBECTL`, else `kubectl` on PATH.
pub fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_string())
}

/// Fails the test with a clear message when there is no cluster to test against.
pub fn require_cluster() {
    let kubeconfig = std::env::var("KUBECONFIG").unwrap_or_default();
    assert!(
        !kubeconfig.is_empty() && std::path::Path::new(&kubeconfig).exists(),
        "the e2e tests need a cluster: run `just cluster-up` and `export KUBECONFIG=$PWD/.cluster/kubeconfig` (or `just e2e`)"
    );
}

/// Runs kubectl with `args` and optional stdin.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(kubectl_bin());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("running kubectl");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// kubectl that must succeed; returns stdout.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Retries `f` until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "condition not met within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A namespace deleted when dropped.
#[derive(Debug)]
pub struct Namespace(pub String);

impl Namespace {
    /// Creates `prefix-<random>` with `labels`.
    pub fn create(prefix: &str, labels: &[(&str, &str)]) -> Self {
        let name = format!("{prefix}-{:06x}", rand_u32() & 0xff_ffff);
        kubectl_ok(&["create", "namespace", &name], None);
        for (k, v) in labels {
            kubectl_ok(&["label", "namespace", &name, &format!("{k}={v}")], None);
        }
        Self(name)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "namespace", &self.0, "--wait=false"], None);
    }
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A path from an environment variable, required.
pub fn env_path(var: &str, hint: &str) -> PathBuf {
    let value = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: {hint}"));
    PathBuf::from(value)
}

/// A number that differs from run to run (names of test objects, probe values).
pub fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

/// Applies the generated CRD and waits until the API server serves it.
pub fn install_crd() {
    require_cluster();
    let crd = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/crds/ais.nvidia.com_aistores.yaml");
    kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crd.to_str().unwrap_or_default(),
        ],
        None,
    );
    eventually(Duration::from_secs(60), || {
        let out = kubectl(
            &[
                "get",
                "crd",
                "aistores.ais.nvidia.com",
                "-o",
                r#"jsonpath={.status.conditions[?(@.type=="Established")].status}"#,
            ],
            None,
        );
        (String::from_utf8_lossy(&out.stdout).trim() == "True").then_some(())
    });
}

/// A free TCP port on `ip`.
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Status code of a plain-HTTP GET, or `None` when nothing answers.
pub fn http_get(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `kubectl get -o json`, parsed.
pub fn get_json(args: &[&str]) -> Option<serde_json::Value> {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    let out = kubectl(&full, None);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// A plain-HTTP GET answered with JSON (HTTP/1.0, so the body is never chunked).
pub fn http_get_json(addr: &str, path: &str) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.split_whitespace()
        .nth(1)
        .is_some_and(|code| code == "200")
        .then(|| serde_json::from_str(body).ok())
        .flatten()
}

/// A plain-HTTP request (HTTP/1.0, so the body is never chunked) with an optional JSON body:
/// the status code and the response body, or `None` when nothing answers.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// UTC now as the API server's audit log writes times (RFC 3339, microseconds), so that the
/// two compare as strings.
pub fn now_rfc3339() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%6NZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The identity (`user.username` in the audit log) the e2e controllers authenticate as.
pub fn operator_username() -> String {
    format!("system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_NAMESPACE}-controller")
}

/// Notes of the events of `ns` whose regarding object is `name`, oldest first.
pub fn event_notes(ns: &str, name: &str) -> Vec<String> {
    let Some(list) = get_json(&["events.events.k8s.io", "-n", ns]) else {
        return Vec::new();
    };
    let mut events: Vec<(String, String)> = list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["regarding"]["name"] == name)
                .map(|e| {
                    let at = e["eventTime"]
                        .as_str()
                        .or_else(|| e["metadata"]["creationTimestamp"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    (at, e["note"].as_str().unwrap_or_default().to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    events.sort();
    events.into_iter().map(|(_, note)| note).collect()
}

/// Controller flags for the local cluster, which has no registry and two cores: preloaded
/// images, never pulled, and a small init container.
pub const LOCAL_CLUSTER_ARGS: [&str; 8] = [
    "--cleanup-image",
    "localhost/e2e/cleanup-helper:1",
    "--ais-image-pull-policy",
    "IfNotPresent",
    "--init-cpu",
    "100m",
    "--init-memory",
    "128Mi",
];

/// Starts the controller binary (`AIS_CONTROLLER_BIN`) for namespace `ns` and waits until it
/// is ready.
pub fn start_controller(ns: &str, health_port: u16) -> Process {
    spawn_controller(Some(ns), health_port, controller_log(ns))
}

/// Starts the controller binary for namespace `watch` (`None`: every namespace), logging to
/// `log`, and waits until it is ready.
pub fn spawn_controller(watch: Option<&str>, health_port: u16, log: Stdio) -> Process {
    let bin = env_path(
        "AIS_CONTROLLER_BIN",
        "build it with `cargo build -p ais-controller` and point AIS_CONTROLLER_BIN at it (`just e2e` does)",
    );
    let mut command = Command::new(bin);
    command
        // The chart's RBAC, nothing more.
        .env("KUBECONFIG", operator_kubeconfig())
        // The controller runs on the host, outside the cluster DNS: it calls AIS on the pod
        // IPs, which the host reaches over the cluster bridge.
        .env("AIS_ENDPOINT_MODE", "pod-ip")
        // The host's resolv.conf has no `svc.<domain>` entry to discover the domain from.
        .env("KUBERNETES_CLUSTER_DOMAIN", "cluster.local")
        .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
        .args(LOCAL_CLUSTER_ARGS);
    if let Some(ns) = watch {
        command.args(["--watch-namespaces", ns]);
    }
    let child = command
        .stdout(log)
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let process = Process(child);
    eventually(Duration::from_secs(60), || {
        (http_get(&format!("127.0.0.1:{health_port}"), "/readyz") == Some(200)).then_some(())
    });
    process
}

/// Sets annotation `key_value` (`key=value`) on an AIStore, as `field_manager` when given: a
/// change that makes its controller reconcile at once (no generation filter), or a write
/// that looks like another operator's.
pub fn annotate_aistore(ns: &str, name: &str, key_value: &str, field_manager: Option<&str>) {
    let manager = field_manager.map(|m| format!("--field-manager={m}"));
    let mut args = vec![
        "annotate",
        "aistore",
        "-n",
        ns,
        name,
        key_value,
        "--overwrite",
    ];
    args.extend(manager.as_deref());
    kubectl_ok(&args, None);
}

/// Where a controller's log goes: `$AIS_E2E_LOG_DIR/controller-<ns>.log` when set (`just e2e`
/// sets it to the cluster's log directory), else nowhere.
pub fn controller_log(ns: &str) -> Stdio {
    std::env::var_os("AIS_E2E_LOG_DIR")
        .and_then(|dir| {
            // Appended: a controller restarted in the same namespace (chaos) keeps the log of
            // the one before.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(PathBuf::from(dir).join(format!("controller-{ns}.log")))
                .ok()
        })
        .map_or_else(Stdio::null, Stdio::from)
}

/// The aisnode image of the local cluster (preloaded): `$AIS_NODE_IMAGE` or the built one.
pub fn node_image() -> String {
    std::env::var("AIS_NODE_IMAGE").unwrap_or_else(|_| "localhost/aistore/aisnode:v1.4.9".into())
}

/// The ais-init image of the local cluster: `$AIS_INIT_IMAGE` or the built one.
pub fn init_image() -> String {
    std::env::var("AIS_INIT_IMAGE").unwrap_or_else(|_| "localhost/aistore/aisinit:v1.4.9".into())
}

/// An AIStore manifest for the local cluster's images with `extra` spec fields merged in.
pub fn aistore(name: &str, extra: Value) -> String {
    let (node, init) = (node_image(), init_image());
    let mut spec = json!({
        "size": 1, "nodeImage": node, "initImage": init,
        "stateStorage": {"emptyDir": {}},
        "proxySpec": {"servicePort": 51080, "portPublic": 51080, "portIntraControl": 51082, "portIntraData": 51083},
        "targetSpec": {"servicePort": 51081, "portPublic": 51081, "portIntraControl": 51082, "portIntraData": 51083,
                       "mounts": [{"path": "/ais1", "size": "1Gi", "label": "disk1"}]}
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore", "metadata": {"name": name}, "spec": spec}).to_string()
}

/// Pod name → UID in `ns`.
pub fn pod_uids(ns: &str) -> BTreeMap<String, String> {
    let pods = get_json(&["pods", "-n", ns]).unwrap();
    pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["metadata"]["uid"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits (up to 5 minutes) until the AIStore's `status.state` is `want`; a timeout shows the namespace.
pub fn wait_state(ns: &str, name: &str, want: &str) {
    wait_state_within(ns, name, want, Duration::from_secs(300));
}

/// Merges `spec` into an AIStore's spec.
pub fn patch_spec(ns: &str, name: &str, spec: &Value) {
    kubectl_ok(
        &[
            "patch",
            "aistore",
            "-n",
            ns,
            name,
            "--type=merge",
            "-p",
            &json!({ "spec": spec }).to_string(),
        ],
        None,
    );
}

/// The UIDs of a namespace's PVCs, space-separated (compare before and after).
pub fn pvc_uids(ns: &str) -> String {
    kubectl_ok(
        &[
            "get",
            "pvc",
            "-n",
            ns,
            "-o",
            "jsonpath={.items[*].metadata.uid}",
        ],
        None,
    )
}

/// Waits (up to 2 minutes) until the cert-manager Certificate `ns/name` is Ready.
pub fn wait_certificate(ns: &str, name: &str) {
    kubectl_ok(
        &[
            "wait",
            "-n",
            ns,
            "--for=condition=Ready",
            &format!("certificate/{name}"),
            "--timeout=120s",
        ],
        None,
    );
}

/// Deletes an AIStore and waits until it is gone (the operator's finalizer has run).
pub fn delete_aistore(ns: &str, name: &str) {
    kubectl_ok(
        &[
            "delete",
            "aistore",
            "-n",
            ns,
            name,
            "--wait=true",
            "--timeout=300s",
        ],
        None,
    );
}

/// `status.state` of an AIStore.
pub fn state(ns: &str, name: &str) -> Option<String> {
    get_json(&["aistore", "-n", ns, name])
        .and_then(|v| v["status"]["state"].as_str().map(String::from))
}

/// The helm binary: `$HELM`, else the one `e2e/cluster/build.sh` caches for `HELM_VERSION`.
pub fn helm_bin() -> String {
    std::env::var("HELM").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap();
        let version = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/versions.env"),
        )
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("HELM_VERSION=").map(str::to_string))
        .unwrap();
        format!("{home}/.cache/ais-operator/bin/helm-{version}/helm")
    })
}

/// Namespace (and Helm release name) of the chart RBAC the e2e controllers run with.
pub const OPERATOR_NAMESPACE: &str = "ais-operator-e2e";

/// A kubeconfig for the chart's controller ServiceAccount: the chart's RBAC templates are
/// rendered with helm and applied once per test binary, so every e2e controller runs with
/// exactly the rules the chart grants (and a missing rule shows up as `forbidden`).
pub fn operator_kubeconfig() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let ns = OPERATOR_NAMESPACE;
        let manifest = kubectl_ok(
            &["create", "namespace", ns, "--dry-run=client", "-o", "yaml"],
            None,
        );
        kubectl_ok(&["apply", "-f", "-"], Some(&manifest));
        let chart = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/ais-operator");
        let out = Command::new(helm_bin())
            .args(["template", ns])
            .arg(&chart)
            .args(["--namespace", ns, "--set", "crds.install=false"])
            .args(["--show-only", "templates/rbac-controller.yaml"])
            .output()
            .expect("running helm");
        assert!(
            out.status.success(),
            "helm template: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        kubectl_ok(
            &["apply", "-f", "-"],
            Some(&String::from_utf8_lossy(&out.stdout)),
        );
        let sa = format!("{ns}-controller");
        let token = kubectl_ok(
            &["create", "token", &sa, "-n", ns, "--duration", "6h"],
            None,
        );
        let admin: Value = serde_json::from_str(&kubectl_ok(
            &["config", "view", "--raw", "--minify", "-o", "json"],
            None,
        ))
        .unwrap();
        let cluster = &admin["clusters"][0]["cluster"];
        let config = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "e2e", "cluster": {
                "server": cluster["server"],
                "certificate-authority-data": cluster["certificate-authority-data"],
            }}],
            "users": [{"name": sa, "user": {"token": token.trim()}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": sa}}],
            "current-context": "e2e",
        });
        let path = std::env::temp_dir().join(format!(
            "ais-e2e-operator-{}.kubeconfig",
            std::process::id()
        ));
        std::fs::write(&path, config.to_string()).unwrap();
        path
    })
    .clone()
}

/// Like [`eventually`], but a timeout fails with `what` and the state of `ns`
/// ([`describe_namespace`]).
pub fn wait_for<T>(ns: &str, what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "not within {timeout:?}: {what}\n{}",
            describe_namespace(ns)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Waits until the AIStore's `status.state` is `want`; a timeout shows the namespace.
pub fn wait_state_within(ns: &str, name: &str, want: &str, timeout: Duration) {
    wait_for(
        ns,
        &format!("AIStore {ns}/{name} in state {want}"),
        timeout,
        || (state(ns, name).as_deref() == Some(want)).then_some(()),
    );
}

/// What runs in `ns`, for failure messages: the AIStores' status, the objects the operator
/// makes, the pods, the events, and where the controller's log is.
pub fn describe_namespace(ns: &str) -> String {
    let mut out = String::new();
    let kinds =
        "aistores,statefulsets,deployments,services,poddisruptionbudgets,configmaps,pods,pvc";
    let listing = kubectl(&["get", kinds, "-n", ns, "-o", "wide"], None);
    out.push_str(&String::from_utf8_lossy(&listing.stdout));
    out.push_str(&String::from_utf8_lossy(&listing.stderr));
    let certs = kubectl(&["get", "certificates.cert-manager.io", "-n", ns], None);
    out.push_str(&String::from_utf8_lossy(&certs.stdout));
    if let Some(list) = get_json(&["aistores", "-n", ns]) {
        for ais in list["items"].as_array().into_iter().flatten() {
            let name = ais["metadata"]["name"].as_str().unwrap_or_default();
            out.push_str(&format!(
                "--- AIStore {name} status: {}\n    finalizers: {}, deletionTimestamp: {}\n",
                ais["status"], ais["metadata"]["finalizers"], ais["metadata"]["deletionTimestamp"]
            ));
            out.push_str(&format!(
                "--- events of {name}:\n    {}\n",
                event_notes(ns, name).join("\n    ")
            ));
        }
    }
    if let Some(dir) = std::env::var_os("AIS_E2E_LOG_DIR") {
        out.push_str(&format!(
            "--- controller log: {}\n",
            PathBuf::from(dir)
                .join(format!("controller-{ns}.log"))
                .display()
        ));
    }
    out
}

/// Pod name → UID of the AIS pods (`<name>-proxy-*`, `<name>-target-*`) of cluster `name`.
pub fn ais_pod_uids(ns: &str, name: &str) -> BTreeMap<String, String> {
    let (proxy, target) = (format!("{name}-proxy-"), format!("{name}-target-"));
    pod_uids(ns)
        .into_iter()
        .filter(|(pod, _)| pod.starts_with(&proxy) || pod.starts_with(&target))
        .collect()
}

/// The private CA of `deploy/samples/tls-cert-manager.yaml` (self-signed root → CA Issuer
/// `ais-ca`), applied in `ns`; returns once the root Certificate `ais-root-ca` is Ready.
pub fn apply_sample_ca(ns: &str) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/samples/tls-cert-manager.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let docs: Vec<&str> = text
        .split("\n---")
        .filter(|d| !d.contains("kind: AIStore"))
        .collect();
    assert_eq!(docs.len(), 3, "the sample's CA objects changed: {text}");
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&docs.join("\n---\n")));
    wait_certificate(ns, "ais-root-ca");
}

/// A random lowercase hex string of `2 * bytes` characters (std only: every `RandomState` is
/// seeded from the OS).
pub fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut s = String::new();
    while s.len() < 2 * bytes {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos(),
        );
        s.push_str(&format!("{:016x}", h.finish()));
    }
    s.truncate(2 * bytes);
    s
}

/// The AuthN binary: `$AUTHN_BIN`, else the one `e2e/cluster/build.sh authn` builds for the
/// pinned `AISTORE_VERSION`.
pub fn authn_bin() -> PathBuf {
    let bin = std::env::var_os("AUTHN_BIN").map_or_else(
        || {
            let versions = std::fs::read_to_string(
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("cluster/versions.env"),
            )
            .unwrap();
            let version = versions
                .lines()
                .find_map(|l| l.trim().strip_prefix("AISTORE_VERSION="))
                .map(|v| v.trim().trim_matches('"').to_string())
                .unwrap();
            PathBuf::from(std::env::var("HOME").unwrap())
                .join(".cache/ais-operator/bin")
                .join(format!("authn-{version}"))
                .join("authn")
        },
        PathBuf::from,
    );
    assert!(
        bin.is_file(),
        "authn binary not found at {}: run `e2e/cluster/build.sh authn` (or set AUTHN_BIN)",
        bin.display()
    );
    bin
}

/// A real AIS AuthN server (`cmd/authn` of the pinned AIStore) on `127.0.0.1`, plain HTTP,
/// with its own config directory; killed (by PID) and its directory removed when dropped.
/// Its admin user is `admin` with [`Authn::admin_password`]; it signs tokens with HMAC
/// [`Authn::secret`] (AIS's `auth.signature.key`, method HS256).
#[derive(Debug)]
pub struct Authn {
    process: Process,
    dir: PathBuf,
    /// The port it listens on.
    pub port: u16,
    /// The HMAC signing secret.
    pub secret: String,
    /// The password of `admin`.
    pub admin_password: String,
}

impl Authn {
    /// Starts one on a free port (another port when the one picked was taken meanwhile).
    pub fn start() -> Self {
        for _ in 0..4 {
            if let Some(authn) = Self::try_start() {
                return authn;
            }
        }
        panic!("authn did not start");
    }

    fn try_start() -> Option<Self> {
        let port = free_port("127.0.0.1");
        let dir = std::env::temp_dir().join(format!("ais-e2e-authn-{port}-{}", random_hex(4)));
        std::fs::create_dir_all(dir.join("log")).unwrap();
        let secret = random_hex(32);
        let admin_password = format!("pw-{}", random_hex(12));
        // api/authn.Config of v1.4.9 (durations are Go duration strings).
        let config = json!({
            "log": {"dir": dir.join("log"), "level": "3", "flush_interval": "10s"},
            "net": {"http": {"port": port, "use_https": false, "server_crt": "server.crt", "server_key": "server.key"}},
            "auth": {"secret": secret, "expiration_time": "1h", "max_token_age": "2h"},
            "timeout": {"default_timeout": "30s"},
        });
        std::fs::write(dir.join("authn.json"), config.to_string()).unwrap();
        let out = std::fs::File::create(dir.join("out.log")).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(authn_bin());
        cmd.arg(format!("-config={}", dir.display()));
        for var in [
            "AIS_AUTHN_CONF_DIR",
            "AIS_AUTHN_LOG_DIR",
            "AIS_AUTHN_PORT",
            "AIS_AUTHN_USE_HTTPS",
            "AIS_AUTHN_SECRET_KEY",
            "AIS_AUTHN_PRIVATE_KEY_FILE",
            "AIS_AUTHN_PRIVATE_KEY_PASS",
            "AIS_AUTHN_EXTERNAL_URL",
            "AIS_SERVER_CRT",
            "AIS_SERVER_KEY",
        ] {
            cmd.env_remove(var);
        }
        // The initial admin user (cmd/authn/mgr.go initializeDB).
        cmd.env("AIS_AUTHN_SU_NAME", "admin")
            .env("AIS_AUTHN_SU_PASS", &admin_password)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut authn = Self {
            process: Process(cmd.spawn().unwrap()),
            dir,
            port,
            secret,
            admin_password,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = authn.process.0.try_wait() {
                let logs = authn.logs();
                if logs.contains("address already in use") {
                    return None;
                }
                panic!("authn exited: {status}\n{logs}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(authn);
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "authn not listening on {port}\n{}",
                authn.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A token for `admin` (`POST /v1/users/admin`, as the operator logs in).
    pub fn login(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--max-time", "10", "-X", "POST"])
            .args(["-H", "Content-Type: application/json", "-d"])
            .arg(json!({"expires_in": 0, "password": self.admin_password}).to_string())
            .arg(format!("{}/v1/users/admin", self.url()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "AuthN login: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        let body: Value = serde_json::from_slice(&out.stdout).unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    /// Its stdout, stderr and log files.
    pub fn logs(&self) -> String {
        let mut s = std::fs::read_to_string(self.dir.join("out.log")).unwrap_or_default();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("log")) {
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    s.push_str(&format!("--- {}\n{text}", e.path().display()));
                }
            }
        }
        s
    }
}

impl Drop for Authn {
    fn drop(&mut self) {
        let _ = self.process.0.kill();
        let _ = self.process.0.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Status code and body of a plain-HTTP GET with `Authorization: Bearer <token>` (HTTP/1.0,
/// so the body is never chunked), or `None` when nothing answers.
pub fn http_get_with_token(addr: &str, path: &str, token: &str) -> Option<(u16, String)> {
    http_get_text(addr, path, &format!("Authorization: Bearer {token}\r\n"))
}

/// Status code and body of a plain-HTTP GET (HTTP/1.0) with extra header lines (each ending
/// in `\r\n`), or `None` when nothing answers.
pub fn http_get_text(addr: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr: std::net::SocketAddr = addr.parse().ok()?;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n{headers}\r\n").ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// When dropped, removes the finalizers of the AIStores still in the namespace, so that the
/// namespace of a failed test can go although no controller runs any more. Declare it after
/// the [`Namespace`] and before the controller's [`Process`]: it then runs after the
/// controller stopped and before the namespace is deleted.
#[derive(Debug)]
pub struct ReleaseFinalizers(pub String);

impl Drop for ReleaseFinalizers {
    fn drop(&mut self) {
        let Some(list) = get_json(&["aistores", "-n", &self.0]) else {
            return;
        };
        for ais in list["items"].as_array().into_iter().flatten() {
            if let Some(name) = ais["metadata"]["name"].as_str() {
                let _ = kubectl(
                    &[
                        "patch",
                        "aistore",
                        "-n",
                        &self.0,
                        name,
                        "--type=merge",
                        "-p",
                        r#"{"metadata":{"finalizers":null}}"#,
                    ],
                    None,
                );
            }
        }
    }
}

/// Deletes an AIStore when dropped. Declared after the test's controller, it drops first, so
/// the controller, still running, releases its finalizer; if that takes over 3 minutes (a
/// failed test), the finalizer is removed so that the namespace can go.
#[derive(Debug)]
pub struct DeleteAistore<'a> {
    /// Its namespace.
    pub ns: &'a str,
    /// Its name.
    pub name: &'a str,
}

impl Drop for DeleteAistore<'_> {
    fn drop(&mut self) {
        let (ns, name) = (self.ns, self.name);
        let deleted = kubectl(
            &[
                "delete",
                "aistore",
                "-n",
                ns,
                name,
                "--ignore-not-found",
                "--wait=true",
                "--timeout=180s",
            ],
            None,
        );
        if !deleted.status.success() {
            let _ = kubectl(
                &[
                    "patch",
                    "aistore",
                    "-n",
                    ns,
                    name,
                    "--type=merge",
                    "-p",
                    r#"{"metadata":{"finalizers":null}}"#,
                ],
                None,
            );
        }
    }
}
