//! `ais-controller`: reconciles `AIStore` resources into running AIStore clusters.
//!
//! This first version serves the side port (health, readiness, metrics) and prints the CRD;
//! the reconcile loop is tracked in the controller issue. It reports not-ready until then, so
//! a Deployment of it never claims to manage clusters.

use std::io::Write;
use std::net::SocketAddr;

use ais_common::health::{Readiness, serve_until_signal};
use ais_common::telemetry::{self, LogFormat};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ais-controller",
    version,
    about = "AIStore operator controller"
)]
struct Args {
    /// Address of the plain-HTTP port for /healthz, /readyz and /metrics.
    #[arg(long, env = "AIS_HEALTH_ADDR", default_value = "0.0.0.0:8081")]
    health_addr: SocketAddr,
    /// Log format: text or json.
    #[arg(long, env = "AIS_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `ais_controller=debug,info`.
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
    serve_until_signal(
        args.health_addr,
        Readiness::default(),
        prometheus::Registry::new(),
    )
    .await?;
    Ok(())
}
