//! Prometheus metrics of the controller.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Reconcile metrics, labelled by cluster (`namespace/name`); a handful of AIStore clusters
/// per operator keeps the cardinality small.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Reconciles by cluster and result (`ok`, or the error category: `kube`, `ais`,
    /// `ais_access`, `build`, `serialize`, `finalizer`, `metadata`).
    pub reconciles: IntCounterVec,
    /// Reconcile duration by result (as [`Self::reconciles`]).
    pub duration: HistogramVec,
    /// Objects written (server-side apply or status) by kind; zero in a steady state.
    pub writes: IntCounterVec,
    /// 1 while this replica reconciles (it leads, or leader election is off).
    pub leader: IntGauge,
    /// Clusters by lifecycle state.
    pub clusters: IntGaugeVec,
    /// AIS API calls by cluster, call and result (`ok`, `error`).
    pub ais_calls: IntCounterVec,
    /// AIS API call latency by call.
    pub ais_call_duration: HistogramVec,
    states: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let reconciles = IntCounterVec::new(
            Opts::new("ais_operator_reconciles_total", "AIStore reconciles"),
            &["cluster", "result"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "ais_operator_reconcile_duration_seconds",
                "Time of one reconcile",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["result"],
        )?;
        let writes = IntCounterVec::new(
            Opts::new(
                "ais_operator_writes_total",
                "Writes to the API server, by kind",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        let leader = IntGauge::new("ais_operator_leader", "1 while this replica reconciles")?;
        registry.register(Box::new(writes.clone()))?;
        registry.register(Box::new(leader.clone()))?;
        let clusters = IntGaugeVec::new(
            Opts::new("ais_operator_clusters", "AIStore clusters by state"),
            &["state"],
        )?;
        registry.register(Box::new(clusters.clone()))?;
        let ais_calls = IntCounterVec::new(
            Opts::new(
                "ais_operator_ais_calls_total",
                "Calls to the AIStore API, by cluster, call and result",
            ),
            &["cluster", "call", "result"],
        )?;
        let ais_call_duration = HistogramVec::new(
            HistogramOpts::new(
                "ais_operator_ais_call_duration_seconds",
                "Latency of calls to the AIStore API",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["call"],
        )?;
        registry.register(Box::new(ais_calls.clone()))?;
        registry.register(Box::new(ais_call_duration.clone()))?;
        Ok(Self {
            reconciles,
            duration,
            writes,
            leader,
            clusters,
            ais_calls,
            ais_call_duration,
            states: std::sync::Arc::default(),
        })
    }

    /// Starts timing a reconcile of `cluster`; the timer records when it is dropped, as an
    /// error (`unfinished`) unless [`ReconcileTimer::finish`] gave the result, so a reconcile
    /// that is cancelled or panics is still counted.
    pub fn reconcile_timer(&self, cluster: &str) -> ReconcileTimer {
        ReconcileTimer {
            metrics: self.clone(),
            cluster: cluster.to_string(),
            started: std::time::Instant::now(),
            result: "unfinished",
        }
    }

    /// Records one AIS API call.
    pub fn ais_call(&self, cluster: &str, call: &str, ok: bool, seconds: f64) {
        let result = if ok { "ok" } else { "error" };
        self.ais_calls
            .with_label_values(&[cluster, call, result])
            .inc();
        self.ais_call_duration
            .with_label_values(&[call])
            .observe(seconds);
    }

    /// Records the state of `cluster` (`None` when it is gone) and refreshes the per-state gauge.
    pub fn set_state(&self, cluster: &str, state: Option<&str>) {
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state {
            Some(s) => {
                states.insert(cluster.to_string(), s.to_string());
            }
            None => {
                states.remove(cluster);
            }
        }
        self.clusters.reset();
        for s in states.values() {
            self.clusters.with_label_values(&[s.as_str()]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn clusters_by_state_follow_transitions() {
        let m = Metrics::new(&Registry::new()).unwrap();
        m.set_state("a/x", Some("Created"));
        m.set_state("a/y", Some("Created"));
        m.set_state("a/x", Some("Ready"));
        assert_eq!(m.clusters.with_label_values(&["Created"]).get(), 1);
        assert_eq!(m.clusters.with_label_values(&["Ready"]).get(), 1);
        m.set_state("a/y", None);
        assert_eq!(m.clusters.with_label_values(&["Created"]).get(), 0);
    }
}

/// Times one reconcile; records its duration and result when dropped.
#[derive(Debug)]
pub struct ReconcileTimer {
    metrics: Metrics,
    cluster: String,
    started: std::time::Instant,
    result: &'static str,
}

impl ReconcileTimer {
    /// Sets the result the timer records (`ok` or an error category).
    pub fn finish(&mut self, result: &'static str) {
        self.result = result;
    }
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.metrics
            .duration
            .with_label_values(&[self.result])
            .observe(self.started.elapsed().as_secs_f64());
        self.metrics
            .reconciles
            .with_label_values(&[self.cluster.as_str(), self.result])
            .inc();
    }
}
