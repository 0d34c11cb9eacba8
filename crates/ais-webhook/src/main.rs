//! `ais-webhook`: the validating and defaulting admission webhook for `AIStore` resources.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ais_common::health::{Readiness, serve_until_signal};
use ais_common::shutdown::signal_received;
use ais_common::telemetry::{self, LogFormat};
use ais_crd::Defaults;
use ais_webhook::certs::{CertPaths, CertStore};
use ais_webhook::cluster::ClusterChecks;
use ais_webhook::metrics::Metrics;
use ais_webhook::routes::{Settings, router};
use ais_webhook::server::{Limits, serve, tls_config};
use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ais-webhook",
    version,
    about = "AIStore admission webhook (validating and defaulting)"
)]
struct Args {
    /// Address of the HTTPS port the API server calls.
    #[arg(long, env = "AIS_WEBHOOK_ADDR", default_value = "0.0.0.0:9443")]
    listen_addr: SocketAddr,
    /// Directory with the serving certificate (cert-manager mounts it here).
    #[arg(
        long,
        env = "AIS_WEBHOOK_CERT_DIR",
        default_value = "/tmp/k8s-webhook-server/serving-certs"
    )]
    cert_dir: PathBuf,
    /// Certificate file name inside --cert-dir.
    #[arg(long, default_value = "tls.crt")]
    cert_name: String,
    /// Key file name inside --cert-dir.
    #[arg(long, default_value = "tls.key")]
    key_name: String,
    /// How often the certificate files are checked for a rotation.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    cert_reload_interval: Duration,
    /// Address of the plain-HTTP port for /healthz, /readyz and /metrics.
    #[arg(long, env = "AIS_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Run the checks that need the cluster (nodes, storage classes, access reviews).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    cluster_checks: bool,
    /// aisnode image the defaulting fills in when a spec names none.
    #[arg(long, env = "AIS_DEFAULT_NODE_IMAGE", default_value = ais_crd::defaults::DEFAULT_NODE_IMAGE)]
    default_node_image: String,
    /// ais-init image the defaulting fills in when a spec names none.
    #[arg(long, env = "AIS_DEFAULT_INIT_IMAGE", default_value = ais_crd::defaults::DEFAULT_INIT_IMAGE)]
    default_init_image: String,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Log format: text or json.
    #[arg(long, env = "AIS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `ais_webhook=debug,info`.
    #[arg(long, env = "AIS_LOG_LEVEL", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the AIStore CustomResourceDefinition as YAML.
    Crd,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 10s, 500ms or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?}: unknown unit {unit:?}; use ms, s or m")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Command::Crd) = args.command {
        let yaml = ais_crd::crd::aistore_crd_yaml()?;
        return match std::io::stdout().lock().write_all(yaml.as_bytes()) {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err.into()),
            _ => Ok(()),
        };
    }
    telemetry::init(args.log_format, &args.log_level)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // One process-wide provider, so nothing else in the graph picks a different one.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let registry = prometheus::Registry::new();
    let metrics = Metrics::new(&registry).context("registering metrics")?;
    let readiness = Readiness::default();
    let store = CertStore::new(
        CertPaths {
            cert: args.cert_dir.join(&args.cert_name),
            key: args.cert_dir.join(&args.key_name),
        },
        provider.clone(),
        metrics.clone(),
        readiness.clone(),
    );
    if let Err(err) = store.reload() {
        tracing::warn!(%err, "no serving certificate yet; not ready until one loads");
    }
    let checks = if args.cluster_checks {
        let client = ais_common::client::kube_client("webhook")
            .await
            .context("connecting to the Kubernetes API for the cluster checks (pass --cluster-checks=false to run without)")?;
        Some(Arc::new(ClusterChecks::new(client)))
    } else {
        None
    };
    let settings = Settings {
        defaults: Defaults {
            node_image: args.default_node_image,
            init_image: args.default_init_image,
        },
        max_body_bytes: args.max_body_bytes,
        ..Settings::default()
    };
    let tls =
        Arc::new(tls_config(provider, store.clone()).context("building the TLS configuration")?);
    let listener = tokio::net::TcpListener::bind(args.listen_addr)
        .await
        .with_context(|| format!("binding the webhook port {}", args.listen_addr))?;
    tracing::info!(addr = %args.listen_addr, "serving admission reviews over TLS");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let watcher = tokio::spawn(
        store
            .clone()
            .watch(args.cert_reload_interval, stopped(stop_rx.clone())),
    );
    let health = tokio::spawn(serve_until_signal(args.health_addr, readiness, registry));
    let app = router(settings, metrics, checks);
    let server = serve(listener, tls, app, Limits::default(), stopped(stop_rx));
    tokio::pin!(server);
    tokio::select! {
        () = &mut server => {}
        sig = signal_received() => {
            let sig = sig?;
            tracing::info!(signal = sig, "shutting down: no new connections, finishing in-flight reviews");
            let _ = stop_tx.send(true);
            server.await;
        }
    }
    let _ = watcher.await;
    health
        .await
        .context("health task")?
        .context("health port")?;
    Ok(())
}
