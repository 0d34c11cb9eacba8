//! Shutdown on SIGTERM (Kubernetes) or SIGINT (a terminal).

use tokio::signal::unix::{SignalKind, signal};

/// Errors while installing signal handlers.
#[derive(Debug, thiserror::Error)]
#[error("installing the {signal} handler: {source}")]
pub struct SignalError {
    signal: &'static str,
    source: std::io::Error,
}

/// Resolves when the process receives SIGTERM or SIGINT.
pub async fn signal_received() -> Result<&'static str, SignalError> {
    let mut term = signal(SignalKind::terminate()).map_err(|source| SignalError {
        signal: "SIGTERM",
        source,
    })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|source| SignalError {
        signal: "SIGINT",
        source,
    })?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
