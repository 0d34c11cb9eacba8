//! Prometheus metrics of the webhook.

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

/// The webhook's metrics, registered in one registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Reviews answered, by endpoint and verdict (`allowed`, `denied`, `patched`, `bad_request`).
    pub requests: IntCounterVec,
    /// Time to answer a review, by endpoint.
    pub latency: HistogramVec,
    /// `notAfter` of the serving certificate, as Unix seconds.
    pub cert_not_after: Gauge,
    /// Certificate reloads that failed (the previous pair stays in use).
    pub cert_reload_errors: IntCounter,
    /// Certificate pairs loaded.
    pub cert_reloads: IntCounter,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let requests = IntCounterVec::new(
            Opts::new("ais_webhook_requests_total", "Admission reviews answered"),
            &["endpoint", "verdict"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "ais_webhook_request_duration_seconds",
                "Time to answer an admission review",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
            ]),
            &["endpoint"],
        )?;
        let cert_not_after = Gauge::new(
            "ais_webhook_cert_not_after_seconds",
            "Expiry (notAfter) of the serving certificate, Unix seconds",
        )?;
        let cert_reload_errors = IntCounter::new(
            "ais_webhook_cert_reload_errors_total",
            "Serving certificate reloads that failed; the previous certificate stays in use",
        )?;
        let cert_reloads = IntCounter::new(
            "ais_webhook_cert_reloads_total",
            "Serving certificate pairs loaded",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(cert_not_after.clone()))?;
        registry.register(Box::new(cert_reload_errors.clone()))?;
        registry.register(Box::new(cert_reloads.clone()))?;
        Ok(Self {
            requests,
            latency,
            cert_not_after,
            cert_reload_errors,
            cert_reloads,
        })
    }
}
