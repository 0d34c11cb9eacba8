//! Snapshot tests of the full `Desired` object set: every AIStore of the reference samples
//! (`../shared/reference/data/samples-*`, namespace `ais` when the sample has none) and a few
//! specs of our own covering autoscale + PDB, external access + admin client, TLS certificate
//! (secret mode), csi mode + cloud credentials + AuthN + tracing + Multus + log sidecar, and PVC
//! state + host network before ReadyRebalance.
//!
//! Hand review of the reference-sample snapshots against anchor §2.16, field by field (and
//! against the reference builders at NVIDIA/ais-k8s 8bb21bf8 for order and defaults):
//! - init container `populate-env`: image = initImage, pullPolicy Always, the five args in
//!   order (+ `-hostname_map_file` only with a hostname map); env HOST_IPS (status.hostIPs),
//!   AIS_K8S_CLUSTER_DOMAIN, ENABLE_EXTERNAL_ACCESS, AIS_PUBLIC_DNS_MODE=IP, MY_NODE, MY_POD,
//!   K8S_NS, MY_SERVICE, then AIS_PUBLIC_HOSTNAME (status.hostIP) only with hostPort; every
//!   fieldRef with apiVersion v1; resources 1 cpu/1Gi (+48Mi ephemeral request); restricted SC
//!   with read-only root; the three config mounts in order template, output, global.
//! - `ais-node`: command `aisnode`, args `-config`, `-local_config`, `-role`, proxy
//!   `-ntargets=<target size>`; env MY_NODE/MY_POD/K8S_NS (+ AIS_AUTHN_SECRET_KEY from
//!   `SIGNING-KEY` on proxies of the AuthN samples); one `http` port = servicePort with the
//!   sample's hostPort; ephemeral-storage request 656Mi (512Mi+16Mi+128Mi); SC no escalation,
//!   drop ALL, root FS writable; startup/liveness/readiness on portPublic with the reference
//!   timings (30/10/5 failures, liveness delay 60, period/timeout 5, success 1), HTTPS scheme
//!   only in the samples with `use_https: true`; mounts config-mount, logs-dir (`$(MY_POD)` on
//!   targets), state-mount (`$(MY_POD)` on targets for hostPath), tls-certs and tracing-token
//!   read-only, data PVCs at the mount paths.
//! - volumes in reference order: config-template (`<name>-<role>`), config-mount (emptyDir),
//!   config-global (`<name>-global-cm`), both ConfigMaps with mode 0644 (420); logs-dir
//!   hostPath `<logsDir>/<ns>/<name>/<role>` or emptyDir (`logsDir:` null in a v1.7 sample);
//!   state-mount hostPath `<prefix>/<ns>/<name>/<role>` DirectoryOrCreate; the TLS Secret
//!   (v1.7 `tlsSecretName`) or csi.cert-manager.io volume (csi samples: issuer Issuer, common
//!   name `<name>-<role>.<ns>`, stable DNS names, key usages); tracing Secret.
//! - pod: serviceAccountName `<name>-sa`, default pod SC (runAsNonRoot false, RuntimeDefault),
//!   required hostname anti-affinity on the role selector, target dnsPolicy ClusterFirst,
//!   restart-hash annotation (`.initial`; the hash of the empty string without `net.http`).
//! - StatefulSets Parallel; proxy RollingUpdate, target OnDelete with the restart-hash
//!   annotation; StatefulSet labels without user labels; selector = name + component; VCT
//!   `<name><path with - for />` with the size as written (10Gi, 100Gi).
//! - ConfigMaps: `ais.json` with proxy URLs on the intra-control port, rebalance.enabled=true
//!   (facts say ReadyRebalance), `auth.enabled=true` for the AuthN samples, TLS paths forced
//!   for the TLS samples; `ais_local.json` with string ports and fspaths with labels; headless
//!   Services with pub/control/data targeting the same ports.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use ais_controller::build::{DEFAULT_CLUSTER_DOMAIN, Facts, PodSettings, build};
use ais_crd::{AIStore, Defaults};

const UID: &str = "7f3c1d2e-0000-4000-8000-000000000001";

/// The reference data, or `None` after saying that the test is skipped (a failure with
/// `AIS_REFERENCE_REQUIRED=1`, as in CI).
fn reference_dir() -> Option<PathBuf> {
    let dir = std::env::var("AIS_REFERENCE_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/data"),
        PathBuf::from,
    );
    if dir.is_dir() {
        return Some(dir);
    }
    let why = format!(
        "reference data not found at {} (set AIS_REFERENCE_DIR to the shared/reference/data directory)",
        dir.display()
    );
    assert!(
        std::env::var("AIS_REFERENCE_REQUIRED").as_deref() != Ok("1"),
        "{why}; AIS_REFERENCE_REQUIRED=1 makes that a failure"
    );
    // Past the test harness's capture, so the skip shows in every run.
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
    None
}

fn facts() -> Facts {
    Facts {
        rebalance_allowed: true,
        node_hosts: vec!["10.0.0.11".into(), "10.0.0.12".into()],
        ..Facts::unobserved(
            DEFAULT_CLUSTER_DOMAIN.to_string(),
            Defaults::default(),
            PodSettings::default(),
        )
    }
}

fn prepare(mut doc: serde_json::Value) -> AIStore {
    let meta = doc["metadata"].as_object_mut().unwrap();
    meta.entry("namespace").or_insert_with(|| "ais".into());
    meta.insert("uid".into(), UID.into());
    serde_json::from_value(doc).unwrap()
}

fn snapshot(name: &str, ais: &AIStore, facts: &Facts) {
    let desired = build(ais, facts).unwrap_or_else(|e| panic!("{name}: {e}"));
    insta::with_settings!({ snapshot_suffix => name.to_string(), prepend_module_to_snapshot => false }, {
        insta::assert_yaml_snapshot!("desired", desired);
    });
}

#[test]
fn reference_samples() {
    let Some(reference) = reference_dir() else {
        return;
    };
    let mut dirs: Vec<_> = std::fs::read_dir(reference)
        .expect("reading the reference data directory")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("samples-")
        })
        .collect();
    dirs.sort();
    let mut count = 0;
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                let value: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
                if value["kind"] != "AIStore" {
                    continue;
                }
                let ais = prepare(value);
                let name = format!(
                    "{}-{}-{}",
                    dir.file_name().unwrap().to_string_lossy(),
                    file.file_stem().unwrap().to_string_lossy(),
                    ais.metadata.name.as_deref().unwrap()
                );
                snapshot(&name, &ais, &facts());
                count += 1;
            }
        }
    }
    assert!(count >= 8, "expected the reference samples, found {count}");
}

fn own(yaml: &str) -> AIStore {
    let doc: serde_json::Value = serde_yaml::from_str(yaml).unwrap();
    prepare(doc)
}

#[test]
fn autoscale() {
    let ais = own(r#"
apiVersion: ais.nvidia.com/v1beta1
kind: AIStore
metadata: {name: auto, namespace: storage}
spec:
  size: -1
  nodeImage: aistorage/aisnode:v4.9
  initImage: aistorage/ais-init:v4.9
  stateStorage: {hostPath: {prefix: /var/lib/ais}}
  proxySpec:
    nodeSelector: {ais.nvidia.com/proxy: "true"}
  targetSpec:
    nodeSelector: {ais.nvidia.com/target: "true"}
    autoScale: {sizeLimit: 2, maxUnavailable: 1}
    pdb: {enabled: true, maxUnavailable: 1}
    mounts:
      - {path: /ais/nvme0, useHostPath: true, label: nvme}
      - {path: /ais/nvme1, useHostPath: true, label: nvme}
"#);
    let f = Facts {
        autoscale_proxy_nodes: vec!["n1".into(), "n2".into(), "n3".into()],
        autoscale_target_nodes: vec!["n1".into(), "n2".into(), "n3".into()],
        ..facts()
    };
    snapshot("own-autoscale", &ais, &f);
}

#[test]
fn external_access() {
    let ais = own(r#"
kind: AIStore
metadata: {name: ext}
spec:
  size: 2
  publicNetDNSMode: Node
  stateStorage: {emptyDir: {}}
  proxySpec:
    hostPort: 51080
    externalAccess:
      annotations: {service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing}
  targetSpec:
    hostPort: 51081
    externalAccess: {}
    mounts: [{path: /ais/sda, size: 500Gi, storageClass: local-path}]
  adminClient: {}
"#);
    snapshot("own-external-access", &ais, &facts());
}

#[test]
fn tls_certificate_secret_mode() {
    let ais = own(r#"
kind: AIStore
metadata: {name: secure, namespace: ais}
spec:
  size: 3
  hostnameMap: {"10.0.0.11": "data-1.example.com"}
  configToUpdate:
    net: {http: {use_https: true, skip_verify: false}}
    log: {max_total: 2GiB}
  tls:
    certificate:
      issuerRef: {name: ais-ca}
      additionalDNSNames: [ais.example.com]
      duration: 2160h
      renewBefore: 360h
  proxySpec:
    probes: {liveness: {initialDelaySeconds: 120}}
  targetSpec:
    mounts: [{path: /ais/sda, size: 1.5Ti}]
"#);
    let f = Facts {
        proxy_lb_hosts: vec!["203.0.113.10".into()],
        previous_restart_hash: Some("stale".into()),
        ..facts()
    };
    snapshot("own-tls-secret", &ais, &f);
}

#[test]
fn tls_csi_mode_and_cloud_credentials() {
    let ais = own(r#"
kind: AIStore
metadata: {name: cloud, namespace: ais}
spec:
  size: 2
  awsSecretName: aws-creds
  gcpSecretName: gcp-creds
  ociSecretName: oci-creds
  tracingTokenSecretName: otel-token
  issuerCAConfigMap: oidc-ca
  authNSecretName: authn-key
  auth: {profileRef: {name: corp}}
  networkAttachment: macvlan-conf
  priorityClassName: ais-critical
  logSidecar: {image: docker.io/library/busybox:1.36}
  tls:
    certificate:
      issuerRef: {name: ais-issuer, kind: Issuer}
      mode: csi
  proxySpec: {}
  targetSpec:
    env: [{name: AIS_AZURE_URL, value: "https://acct.blob.core.windows.net"}]
    mounts: [{path: /ais/sda, size: 100Gi}]
"#);
    snapshot("own-csi-cloud", &ais, &facts());
}

#[test]
fn pvc_state_before_ready_rebalance() {
    let ais = own(r#"
kind: AIStore
metadata: {name: pvc, namespace: ais}
spec:
  size: 1
  stateStorageClass: standard
  targetSpec:
    disablePodAntiAffinity: true
    hostNetwork: true
    pvcRetentionPolicy: {whenDeleted: Retain, whenScaled: Delete}
    mounts:
      - {path: /data/a, size: 10Gi, selector: {matchLabels: {disk: a}}}
  proxySpec:
    securityContext: {runAsUser: 1000, fsGroup: 1000}
"#);
    let f = Facts {
        rebalance_allowed: false,
        node_hosts: Vec::new(),
        ..facts()
    };
    snapshot("own-pvc-state", &ais, &f);
}
