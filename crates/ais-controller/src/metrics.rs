//! Prometheus metrics of the controller.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

/// Reconcile metrics, labelled by cluster (`namespace/name`); a handful of AIStore clusters
/// per operator keeps the cardinality small.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Reconciles by cluster and result (`ok`, `error`, `invalid`).
    pub reconciles: IntCounterVec,
    /// Reconcile duration by cluster.
    pub duration: HistogramVec,
    /// Objects written (server-side apply or status) by kind; zero in a steady state.
    pub writes: IntCounterVec,
    /// 1 while this replica reconciles (it leads, or leader election is off).
    pub leader: IntGauge,
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
            &["cluster"],
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
        Ok(Self {
            reconciles,
            duration,
            writes,
            leader,
        })
    }
}
