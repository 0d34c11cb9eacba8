//! The admission endpoints: `POST /validate-ais-nvidia-com-v1beta1-aistore` (the reference
//! operator's path, so existing webhook configurations keep working) and
//! `POST /mutate-ais-nvidia-com-v1beta1-aistore`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ais_crd::Defaults;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionResponse, AdmissionReview};

use crate::admission::{Validated, Verdict, mutate_review, validate_review, with_warnings};
use crate::cluster::ClusterChecks;
use crate::metrics::Metrics;

/// Path of the validating endpoint.
pub const VALIDATE_PATH: &str = "/validate-ais-nvidia-com-v1beta1-aistore";
/// Path of the defaulting endpoint.
pub const MUTATE_PATH: &str = "/mutate-ais-nvidia-com-v1beta1-aistore";

/// Settings of the endpoints.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Values the defaulting fills in.
    pub defaults: Defaults,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Time allowed to receive the request body.
    pub body_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            defaults: Defaults::default(),
            max_body_bytes: 3 * 1024 * 1024,
            body_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
struct AppState {
    settings: Arc<Settings>,
    metrics: Metrics,
    checks: Option<Arc<ClusterChecks>>,
}

/// The router of the HTTPS port. `checks` adds the cluster-context checks (nodes, storage
/// classes, access reviews); without it only the pure checks run.
pub fn router(settings: Settings, metrics: Metrics, checks: Option<Arc<ClusterChecks>>) -> Router {
    Router::new()
        .route(VALIDATE_PATH, post(validate))
        .route(MUTATE_PATH, post(mutate))
        .with_state(AppState {
            settings: Arc::new(settings),
            metrics,
            checks,
        })
}

async fn validate(State(state): State<AppState>, body: Body) -> Response {
    let started = Instant::now();
    let (response, verdict) = match read_review(&state.settings, body).await {
        Err(bad) => {
            record(&state.metrics, "validate", "bad_request", started);
            return bad;
        }
        Ok(review) => match validate_review(review) {
            Validated::Done(response, verdict) => (response, verdict),
            Validated::Checked(parsed, response) => match &state.checks {
                None => (response, Verdict::Allowed),
                Some(checks) => {
                    let outcome = checks.check(&parsed).await;
                    let response = with_warnings(response, outcome.warnings);
                    if outcome.errors.is_empty() {
                        (response, Verdict::Allowed)
                    } else {
                        let msg = format!(
                            "AIStore {} is invalid: {}",
                            parsed.request.name,
                            outcome.errors.join("; ")
                        );
                        (response.deny(msg), Verdict::Denied)
                    }
                }
            },
        },
    };
    record(&state.metrics, "validate", verdict.as_str(), started);
    review_response(response)
}

async fn mutate(State(state): State<AppState>, body: Body) -> Response {
    let started = Instant::now();
    match read_review(&state.settings, body).await {
        Err(bad) => {
            record(&state.metrics, "mutate", "bad_request", started);
            bad
        }
        Ok(review) => {
            let (response, verdict) = mutate_review(review, &state.settings.defaults);
            record(&state.metrics, "mutate", verdict.as_str(), started);
            review_response(response)
        }
    }
}

fn record(metrics: &Metrics, endpoint: &str, verdict: &str, started: Instant) {
    metrics
        .requests
        .with_label_values(&[endpoint, verdict])
        .inc();
    metrics
        .latency
        .with_label_values(&[endpoint])
        .observe(started.elapsed().as_secs_f64());
}

/// Reads and parses the body, bounded in size and time. Anything that is not an
/// AdmissionReview gets a 400 saying why.
async fn read_review(
    settings: &Settings,
    body: Body,
) -> Result<AdmissionReview<DynamicObject>, Response> {
    let bytes: Bytes = match tokio::time::timeout(
        settings.body_timeout,
        axum::body::to_bytes(body, settings.max_body_bytes),
    )
    .await
    {
        Err(_) => {
            return Err(bad_request(format!(
                "request body not received within {:?}",
                settings.body_timeout
            )));
        }
        Ok(Err(err)) => {
            return Err(bad_request(format!(
                "request body unreadable or larger than {} bytes: {err}",
                settings.max_body_bytes
            )));
        }
        Ok(Ok(bytes)) => bytes,
    };
    serde_json::from_slice(&bytes)
        .map_err(|err| bad_request(format!("not an AdmissionReview: {err}")))
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

fn review_response(response: AdmissionResponse) -> Response {
    match serde_json::to_vec(&response.into_review()) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("serializing the review: {err}"),
        )
            .into_response(),
    }
}
