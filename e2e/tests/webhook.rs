//! The admission webhook behind a Service, called by the real API server: invalid objects are
//! rejected with field paths, warnings reach kubectl, a minimal AIStore is defaulted, and
//! immutable fields cannot change.
//!
//! The webhook runs as a host process on the node's bridge address, reached through a
//! selector-less Service and an EndpointSlice, exactly as the API server reaches a pod.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use ais_e2e::{
    Namespace, Process, env_path, eventually, install_crd, kubectl, kubectl_ok, require_cluster,
};
use base64::Engine;

const HOST_IP: &str = "10.244.0.1";

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

struct Webhook {
    ns: Namespace,
    _process: Process,
    _dir: tempfile_dir::Dir,
}

mod tempfile_dir {
    /// A temporary directory removed when dropped.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        /// One per test: tests of one process run at once, each with its own certificates.
        pub fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!("ais-e2e-webhook-{name}"));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn setup() -> Webhook {
    require_cluster();
    let ns = Namespace::create("e2e-webhook", &[]);
    kubectl_ok(
        &[
            "label",
            "namespace",
            &ns.0,
            &format!("ais-e2e-webhook={}", ns.0),
        ],
        None,
    );
    install_crd();

    // Certificates for the Service name, from a throwaway CA.
    let service = "ais-webhook";
    let dns = format!("{service}.{}.svc", ns.0);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "e2e webhook ca");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![dns.clone()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let dir = tempfile_dir::Dir::new(&ns.0);
    std::fs::write(dir.0.join("tls.crt"), leaf.pem()).unwrap();
    std::fs::write(dir.0.join("tls.key"), leaf_key.serialize_pem()).unwrap();

    // The webhook process.
    let port = free_port(HOST_IP);
    let health: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
        .parse()
        .unwrap();
    let bin = env_path(
        "AIS_WEBHOOK_BIN",
        "build it with `cargo build -p ais-webhook` and point AIS_WEBHOOK_BIN at it (`just e2e` does)",
    );
    let child = Command::new(bin)
        .args([
            "--listen-addr",
            &format!("{HOST_IP}:{port}"),
            "--health-addr",
            &health.to_string(),
        ])
        .args([
            "--cert-dir",
            dir.0.to_str().unwrap(),
            "--cert-reload-interval",
            "1s",
            "--log-level",
            "info",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let process = Process(child);
    eventually(Duration::from_secs(30), || {
        (http_get(health, "/readyz") == Some(200)).then_some(())
    });

    // Service → EndpointSlice → host process; webhook configurations scoped to this namespace.
    let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca_cert.pem());
    let manifests = format!(
        r#"
apiVersion: v1
kind: Service
metadata: {{name: {service}, namespace: {ns}}}
spec:
  ports: [{{name: https, port: 443, targetPort: {port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {service}-host
  namespace: {ns}
  labels: {{kubernetes.io/service-name: {service}}}
addressType: IPv4
endpoints: [{{addresses: ["{HOST_IP}"], conditions: {{ready: true}}}}]
ports: [{{name: https, port: {port}, protocol: TCP}}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {{name: {ns}}}
webhooks:
- name: maistore.kb.io
  admissionReviewVersions: [v1, v1beta1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  namespaceSelector: {{matchLabels: {{ais-e2e-webhook: {ns}}}}}
  rules: [{{apiGroups: [ais.nvidia.com], apiVersions: [v1beta1], operations: [CREATE, UPDATE], resources: [aistores]}}]
  clientConfig:
    caBundle: {ca_bundle}
    service: {{namespace: {ns}, name: {service}, path: /mutate-ais-nvidia-com-v1beta1-aistore, port: 443}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{name: {ns}}}
webhooks:
- name: vaistore.kb.io
  admissionReviewVersions: [v1, v1beta1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  namespaceSelector: {{matchLabels: {{ais-e2e-webhook: {ns}}}}}
  rules: [{{apiGroups: [ais.nvidia.com], apiVersions: [v1beta1], operations: [CREATE, UPDATE], resources: [aistores]}}]
  clientConfig:
    caBundle: {ca_bundle}
    service: {{namespace: {ns}, name: {service}, path: /validate-ais-nvidia-com-v1beta1-aistore, port: 443}}
"#,
        ns = ns.0
    );
    kubectl_ok(&["apply", "-f", "-"], Some(&manifests));
    Webhook {
        ns,
        _process: process,
        _dir: dir,
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = kubectl(
            &[
                "delete",
                "mutatingwebhookconfiguration",
                &self.ns.0,
                "--ignore-not-found",
            ],
            None,
        );
        let _ = kubectl(
            &[
                "delete",
                "validatingwebhookconfiguration",
                &self.ns.0,
                "--ignore-not-found",
            ],
            None,
        );
    }
}

fn aistore(name: &str, spec: &serde_json::Value) -> String {
    serde_json::json!({"apiVersion": "ais.nvidia.com/v1beta1", "kind": "AIStore", "metadata": {"name": name}, "spec": spec}).to_string()
}

fn apply(ns: &str, doc: &str) -> (bool, String) {
    let out = kubectl(&["apply", "-n", ns, "-f", "-"], Some(doc));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_api_server_calls_the_webhook_through_its_service() {
    let _case = ais_e2e::report::Case::start();
    let wh = setup();
    let ns = wh.ns.0.as_str();
    let mounts = serde_json::json!([{"path": "/ais1", "size": "1Gi"}]);

    // Invalid: rejected by our webhook, with every field path. Retried until the API server
    // has picked up the configuration.
    let invalid = aistore(
        "invalid",
        &serde_json::json!({"size": 0, "targetSpec": {"mounts": [{"path": "relative", "size": "1Gi"}]}}),
    );
    let message = eventually(Duration::from_secs(60), || {
        let (ok, out) = apply(ns, &invalid);
        assert!(!ok, "an invalid AIStore was accepted: {out}");
        out.contains("admission webhook \"vaistore.kb.io\" denied the request")
            .then_some(out)
    });
    assert!(
        message.contains("spec.size: Invalid value: invalid cluster size 0"),
        "{message}"
    );
    assert!(
        message.contains("spec.targetSpec.mounts[0].path"),
        "{message}"
    );

    // Minimal: name, size, mounts; created with the defaults filled in by the mutating webhook.
    let (ok, out) = apply(
        ns,
        &aistore(
            "minimal",
            &serde_json::json!({"size": 1, "targetSpec": {"mounts": mounts}}),
        ),
    );
    assert!(ok, "{out}");
    let got: serde_json::Value = serde_json::from_str(&kubectl_ok(
        &["get", "aistore", "-n", ns, "minimal", "-o", "json"],
        None,
    ))
    .unwrap();
    let spec = &got["spec"];
    assert_eq!(
        spec["nodeImage"], "docker.io/aistorage/aisnode:v4.9",
        "{spec}"
    );
    assert_eq!(spec["initImage"], "docker.io/aistorage/ais-init:v4.9");
    assert_eq!(spec["proxySpec"]["servicePort"], 51080);
    assert_eq!(spec["targetSpec"]["portPublic"], 51081);
    assert_eq!(spec["targetSpec"]["portIntraControl"], 51082);
    assert_eq!(spec["stateStorage"]["hostPath"]["prefix"], "/etc/ais");
    assert_eq!(spec["publicNetDNSMode"], "IP");

    // A deprecated field: accepted, and the warning reaches kubectl.
    let (ok, out) = apply(
        ns,
        &aistore(
            "legacy",
            &serde_json::json!({"size": 1, "hostpathPrefix": "/etc/ais", "targetSpec": {"mounts": mounts}}),
        ),
    );
    assert!(ok, "{out}");
    assert!(out.contains("Warning: spec.hostpathPrefix is deprecated and will be removed in a future release; use spec.stateStorage.hostPath.prefix instead"), "{out}");

    // Immutable field: rejected on update; a mutable one goes through.
    let out = kubectl(
        &[
            "patch",
            "aistore",
            "-n",
            ns,
            "minimal",
            "--type=merge",
            "-p",
            r#"{"spec":{"proxySpec":{"servicePort":52000}}}"#,
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "changing a port was accepted");
    assert!(stderr.contains("spec.proxySpec.servicePort: Forbidden: cannot update spec \"proxySpec\" for an existing cluster"), "{stderr}");
    kubectl_ok(
        &[
            "patch",
            "aistore",
            "-n",
            ns,
            "minimal",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":2}}"#,
        ],
        None,
    );

    // Cluster-context check: a state StorageClass that does not exist.
    let (ok, out) = apply(
        ns,
        &aistore(
            "no-class",
            &serde_json::json!({"size": 1, "stateStorage": {"pvc": {"storageClass": "does-not-exist"}}, "targetSpec": {"mounts": mounts}}),
        ),
    );
    assert!(!ok);
    assert!(
        out.contains("required storage class 'does-not-exist' not found"),
        "{out}"
    );

    // Deletion is never blocked.
    kubectl_ok(&["delete", "aistore", "-n", ns, "minimal", "legacy"], None);
}

/// A placement change that leaves a running target no node with its data is warned about, naming
/// the pod and its node; one that keeps the node is not. The target pod stands on a kwok node, so
/// that its node's labels are known and no AIS process is needed: the webhook reads only where
/// the pod runs.
#[test]
fn a_placement_that_strands_target_data_is_warned_about() {
    let _case = ais_e2e::report::Case::start();
    let wh = setup();
    let ns = wh.ns.0.as_str();
    let node = kubectl_ok(
        &[
            "get",
            "nodes",
            "-l",
            "type=kwok",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
        None,
    );
    assert!(!node.is_empty(), "the local cluster has no kwok node");
    let spec = serde_json::json!({"size": 1, "stateStorage": {"hostPath": {"prefix": "/etc/ais"}},
        "targetSpec": {"mounts": [{"path": "/ais1", "useHostPath": true}]}});
    let doc = aistore("placed", &spec);
    eventually(Duration::from_secs(60), || apply(ns, &doc).0.then_some(()));
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "placed-target-0", "labels": {
            "app.kubernetes.io/name": "placed", "app.kubernetes.io/component": "target"}},
        "spec": {"nodeName": node,
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
            "containers": [{"name": "ais-node", "image": "localhost/e2e/pause:3.10"}]}
    });
    kubectl_ok(&["apply", "-n", ns, "-f", "-"], Some(&pod.to_string()));

    let patch = |selector: serde_json::Value| {
        let out = kubectl(
            &[
                "patch",
                "aistore",
                "-n",
                ns,
                "placed",
                "--type=merge",
                "-p",
                &serde_json::json!({"spec": {"targetSpec": {"nodeSelector": selector}}})
                    .to_string(),
            ],
            None,
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let kept = patch(serde_json::json!({"type": "kwok"}));
    assert!(!kept.contains("keeps its data"), "{kept}");
    let stranded = patch(serde_json::json!({"type": "kwok", "disk": "ssd"}));
    let want = format!(
        "spec.targetSpec.nodeSelector: target pod \"placed-target-0\" keeps its data on node \"{node}\" (mount /ais1, state under /etc/ais)"
    );
    assert!(stranded.contains(&want), "{stranded}");
    assert!(
        stranded.contains("nodeSelector disk=ssd, the node has no label disk"),
        "{stranded}"
    );
}
