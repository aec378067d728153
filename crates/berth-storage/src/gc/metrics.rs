//! Garbage collection's metrics.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

use berth_core::{ErrorKind, Result};
use berth_metrics::MetricsSource;
use berth_metrics::prometheus_client::metrics::counter::Counter;
use berth_metrics::prometheus_client::metrics::family::Family;
use berth_metrics::prometheus_client::metrics::gauge::Gauge;
use berth_metrics::prometheus_client::registry::Registry;

use super::GcReport;

/// What the collections of one registry did: registered as a
/// [`MetricsSource`], it reports
/// - `gc_runs_total{result}`: runs by outcome (`removed` after a run
///   that removed or found nothing to remove, `dry_run`, `busy` when
///   another run held the lease, `failed`);
/// - `gc_manifests_removed_total`, `gc_blobs_removed_total`,
///   `gc_bytes_removed_total`;
/// - `gc_last_run_duration_seconds`, `gc_last_success_timestamp_seconds`.
#[derive(Clone, Default)]
pub struct GcMetrics {
    runs: Family<[(&'static str, &'static str); 1], Counter>,
    manifests: Counter,
    blobs: Counter,
    bytes: Counter,
    duration: Gauge<f64, AtomicU64>,
    last_success: Gauge<f64, AtomicU64>,
}

impl fmt::Debug for GcMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GcMetrics(..)")
    }
}

impl GcMetrics {
    pub(crate) fn record(&self, result: &Result<GcReport>, took: Duration) {
        let outcome = match result {
            Ok(report) if report.dry_run => "dry_run",
            Ok(_) => "removed",
            Err(e) if e.kind() == ErrorKind::Unavailable => "busy",
            Err(_) => "failed",
        };
        self.runs.get_or_create(&[("result", outcome)]).inc();
        self.duration.set(took.as_secs_f64());
        if let Ok(report) = result {
            if !report.dry_run {
                self.manifests.inc_by(report.manifests_removed.len() as u64);
                self.blobs.inc_by(report.blobs_removed.len() as u64);
                self.bytes.inc_by(report.bytes_freed);
            }
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.last_success.set(now);
        }
    }

    /// How many runs ended with `result` (see the type's list).
    pub fn runs(&self, result: &'static str) -> u64 {
        self.runs.get_or_create(&[("result", result)]).get()
    }
}

impl MetricsSource for GcMetrics {
    fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "gc_runs",
            "Garbage collection runs by result",
            self.runs.clone(),
        );
        registry.register(
            "gc_manifests_removed",
            "Manifests garbage collection removed",
            self.manifests.clone(),
        );
        registry.register(
            "gc_blobs_removed",
            "Blobs garbage collection removed",
            self.blobs.clone(),
        );
        registry.register(
            "gc_bytes_removed",
            "Bytes of blobs garbage collection removed",
            self.bytes.clone(),
        );
        registry.register(
            "gc_last_run_duration_seconds",
            "How long the last garbage collection run took",
            self.duration.clone(),
        );
        registry.register(
            "gc_last_success_timestamp_seconds",
            "When a garbage collection run last succeeded (Unix time)",
            self.last_success.clone(),
        );
    }
}
