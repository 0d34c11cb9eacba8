//! The operator under test: this project's controller, or the reference Go operator (NVIDIA
//! ais-k8s v3.4.0, built from source) for the comparison the issue asks for. Both run as host
//! processes under the same identity (the e2e ServiceAccount), so the audit log attributes
//! their requests alike.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ais_e2e::{Process, eventually, free_port, http_get, kubectl, kubectl_ok, operator_kubeconfig};
use anyhow::{Context, Result, bail};

/// Which operator a run measures.
#[derive(Debug, Clone)]
pub enum Operator {
    /// `AIS_CONTROLLER_BIN` (the release build under `just bench`).
    Rust,
    /// The reference operator's `manager` binary and its CRD directory (`config/base/crd`).
    Go {
        /// The binary.
        bin: PathBuf,
        /// Its CRDs (the AIStoreAuth kinds it also watches come from there).
        crds: PathBuf,
    },
}

/// A running operator.
#[derive(Debug)]
pub struct Running {
    /// The process (killed when dropped).
    pub process: Process,
    /// Where its metrics are served.
    pub metrics_port: u16,
}

/// The reference operator gets cluster-admin for the run: its own chart's RBAC is not this
/// project's, and the measurement is of its requests, not of its permissions.
const GO_BINDING: &str = "ais-bench-reference-operator";

impl Operator {
    /// `rust` or `go`: the suffix of the result files.
    pub fn name(&self) -> &'static str {
        match self {
            Operator::Rust => "rust",
            Operator::Go { .. } => "go",
        }
    }

    /// What the operator needs in the cluster before it starts.
    pub fn prepare(&self) -> Result<()> {
        let Operator::Go { crds, .. } = self else {
            return Ok(());
        };
        // The AIStore CRD stays this project's (a superset the reference reads); the
        // reference also watches its AIStoreAuth kinds, whose CRDs come from its tree.
        for entry in
            std::fs::read_dir(crds).with_context(|| format!("reading {}", crds.display()))?
        {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            // CRD files are `<group>_<plural>.yaml`; kustomization.yaml and the like are not.
            if name.ends_with(".yaml") && name.contains('_') && !name.contains("_aistores.") {
                kubectl_ok(
                    &["apply", "--server-side", "-f", &path.to_string_lossy()],
                    None,
                );
            }
        }
        let user = ais_e2e::operator_username();
        let sa = user.rsplit(':').next().unwrap_or_default();
        let ns = ais_e2e::OPERATOR_NAMESPACE;
        let _ = kubectl(
            &[
                "delete",
                "clusterrolebinding",
                GO_BINDING,
                "--ignore-not-found",
            ],
            None,
        );
        kubectl_ok(
            &[
                "create",
                "clusterrolebinding",
                GO_BINDING,
                "--clusterrole=cluster-admin",
                &format!("--serviceaccount={ns}:{sa}"),
            ],
            None,
        );
        Ok(())
    }

    /// Undoes [`Operator::prepare`].
    pub fn finish(&self) {
        if matches!(self, Operator::Go { .. }) {
            let _ = kubectl(
                &[
                    "delete",
                    "clusterrolebinding",
                    GO_BINDING,
                    "--ignore-not-found",
                ],
                None,
            );
        }
    }

    /// Starts the operator watching every namespace; returns once it is ready.
    pub fn spawn(&self, log: Stdio) -> Result<Running> {
        match self {
            Operator::Rust => {
                let port = free_port("127.0.0.1");
                Ok(Running {
                    process: ais_e2e::spawn_controller(None, port, log),
                    metrics_port: port,
                })
            }
            Operator::Go { bin, .. } => {
                let (probe, metrics) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
                let certs = webhook_certs()?;
                let child = Command::new(bin)
                    .env("KUBECONFIG", operator_kubeconfig())
                    .env("KUBERNETES_CLUSTER_DOMAIN", "cluster.local")
                    .arg(format!("--health-probe-bind-address=127.0.0.1:{probe}"))
                    .arg(format!("--metrics-bind-address=127.0.0.1:{metrics}"))
                    .arg("--metrics-secure=false")
                    // Its webhook server needs a certificate to start; no webhook
                    // configuration points at it (the AIStores are this project's CRD).
                    .arg(format!("--webhook-cert-path={}", certs.display()))
                    .stdout(log)
                    .stderr(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting {}", bin.display()))?;
                let process = Process(child);
                eventually(Duration::from_secs(60), || {
                    (http_get(&format!("127.0.0.1:{probe}"), "/readyz") == Some(200)).then_some(())
                });
                Ok(Running {
                    process,
                    metrics_port: metrics,
                })
            }
        }
    }

    /// Reconciles the operator has run since it started (its metrics).
    pub fn reconciles(&self, metrics_port: u16) -> f64 {
        let prefix = match self {
            Operator::Rust => "ais_operator_reconciles_total",
            Operator::Go { .. } => "controller_runtime_reconcile_total{controller=\"aistore\"",
        };
        crate::metrics(metrics_port)
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A self-signed serving certificate for the reference operator's (unused) webhook server.
fn webhook_certs() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("ais-bench-go-webhook");
    if dir.join("tls.crt").exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir)?;
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(dir.join("tls.key"))
        .arg("-out")
        .arg(dir.join("tls.crt"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running openssl")?;
    if !status.success() {
        bail!("openssl could not make the webhook certificate");
    }
    Ok(dir)
}
