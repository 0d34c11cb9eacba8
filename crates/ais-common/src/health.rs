//! The plain-HTTP side port: `/healthz` (the process serves), `/readyz` (ready for work) and
//! `/metrics` (Prometheus text format).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};

/// Readiness flag shared between the component that becomes ready and the endpoint.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the process ready or not ready.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Errors of the side port.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("binding the health port {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving the health port: {0}")]
    Serve(std::io::Error),
}

/// Serves the side port on `addr` until SIGTERM or SIGINT.
pub async fn serve_until_signal(
    addr: std::net::SocketAddr,
    readiness: Readiness,
    registry: Registry,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    tracing::info!(%addr, "serving /healthz, /readyz, /metrics");
    axum::serve(listener, router(readiness, registry))
        .with_graceful_shutdown(async {
            match crate::shutdown::signal_received().await {
                Ok(sig) => tracing::info!(signal = sig, "shutting down"),
                Err(err) => tracing::error!(%err, "cannot wait for signals; shutting down"),
            }
        })
        .await
        .map_err(ServeError::Serve)
}

#[derive(Clone)]
struct AppState {
    readiness: Readiness,
    registry: Registry,
}

/// Routes of the side port.
pub fn router(readiness: Readiness, registry: Registry) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AppState {
            readiness,
            registry,
        })
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_string())],
            body,
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain".to_string())],
            format!("encoding metrics: {err}").into_bytes(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(app: &Router, path: &str) -> (StatusCode, String) {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readiness_follows_the_flag() {
        let readiness = Readiness::default();
        let app = router(readiness.clone(), Registry::new());
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        readiness.set(true);
        assert_eq!(get(&app, "/readyz").await, (StatusCode::OK, "ready".into()));
    }

    #[tokio::test]
    async fn metrics_are_served_in_text_format() {
        let registry = Registry::new();
        let counter = prometheus::IntCounter::new("demo_total", "a demo counter").unwrap();
        registry.register(Box::new(counter.clone())).unwrap();
        counter.inc_by(3);
        let (status, body) = get(&router(Readiness::default(), registry), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("demo_total 3"), "{body}");
    }
}
