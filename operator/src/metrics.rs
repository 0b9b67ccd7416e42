//! Prometheus metrics of the operator. Labels carry only status strings and error kinds, never
//! names of buckets or anything from a Secret.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crds::BatchStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the failure counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The error kind (`kube`, `finalizer`, ...).
    pub error: String,
}

/// Labels of the batches gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// The interface's status string.
    pub status: String,
}

/// The operator's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    /// Reconciliations started.
    pub reconciliations: Counter,
    /// Reconciliations that failed, by error kind.
    pub failures: Family<ErrorLabels, Counter>,
    /// Time per reconcile, bucket scans included.
    pub reconcile_duration: Histogram,
    /// SpeechBatches by status, as last reconciled by this process.
    pub batches: Family<StatusLabels, Gauge>,
    known: Mutex<HashMap<String, BatchStatus>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("speechbatch_operator");
        let reconciliations = Counter::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let batches = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "reconciliations",
            "Reconciliations started",
            reconciliations.clone(),
        );
        registry.register(
            "reconcile_failures",
            "Reconciliations that failed, by error kind",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time per reconcile, bucket scans included",
            reconcile_duration.clone(),
        );
        registry.register("batches", "SpeechBatches by status", batches.clone());
        Metrics {
            registry,
            reconciliations,
            failures,
            reconcile_duration,
            batches,
            known: Mutex::new(HashMap::new()),
        }
    }
}

/// Observes a reconcile's duration when dropped.
pub struct ReconcileTimer<'a> {
    start: Instant,
    histogram: &'a Histogram,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

impl Metrics {
    /// Counts a reconcile and times it until the guard drops.
    pub fn reconcile(&self) -> ReconcileTimer<'_> {
        self.reconciliations.inc();
        ReconcileTimer {
            start: Instant::now(),
            histogram: &self.reconcile_duration,
        }
    }

    /// Counts a failed reconcile.
    pub fn failure(&self, kind: &str) {
        self.failures
            .get_or_create(&ErrorLabels {
                error: kind.to_owned(),
            })
            .inc();
    }

    /// Records the status of a batch (`None`: it is gone) and recomputes the gauge.
    pub fn set_batch(&self, key: &str, status: Option<BatchStatus>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match status {
            Some(s) => known.insert(key.to_owned(), s),
            None => known.remove(key),
        };
        for s in BatchStatus::ALL {
            let n = known.values().filter(|v| **v == s).count();
            self.batches
                .get_or_create(&StatusLabels {
                    status: s.as_str().to_owned(),
                })
                .set(n as i64);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}
