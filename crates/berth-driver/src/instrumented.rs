//! A driver wrapper that counts and times every operation.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use berth_metrics::MetricsSource;
use berth_metrics::prometheus_client::metrics::counter::Counter;
use berth_metrics::prometheus_client::metrics::family::Family;
use berth_metrics::prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use berth_metrics::prometheus_client::registry::Registry;
use bytes::Bytes;

use crate::{
    FileInfo, FileWriter, ListVersion, Listing, OwnedWalkFn, ReadStream, Result, StorageDriver,
    WalkFn,
};

/// `driver`, `operation`, `outcome`.
type OperationLabels = [(&'static str, &'static str); 3];
/// `driver`, `operation`.
type LatencyLabels = [(&'static str, &'static str); 2];

/// The storage operations' metrics: a counter by driver, operation and
/// outcome (`ok`, `not_found`, `error`) and a latency histogram by driver
/// and operation (50 µs to about 50 s).
///
/// Cheap to clone: clones count into the same metrics. Registered as a
/// [`MetricsSource`], it reports `storage_operations` and
/// `storage_operation_duration_seconds`.
#[derive(Clone)]
pub struct StorageMetrics {
    operations: Family<OperationLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
}

impl fmt::Debug for StorageMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageMetrics(..)")
    }
}

impl Default for StorageMetrics {
    fn default() -> StorageMetrics {
        StorageMetrics::new()
    }
}

impl StorageMetrics {
    /// No operation counted yet.
    pub fn new() -> StorageMetrics {
        StorageMetrics {
            operations: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.00005, 4.0, 11))
            }),
        }
    }

    /// How many `operation`s of `driver` ended with `outcome` (`ok`,
    /// `not_found` or `error`).
    pub fn count(
        &self,
        driver: &'static str,
        operation: &'static str,
        outcome: &'static str,
    ) -> u64 {
        self.operations
            .get(&[
                ("driver", driver),
                ("operation", operation),
                ("outcome", outcome),
            ])
            .map_or(0, |counter| counter.get())
    }

    /// The counter of `operation`s of `driver` ending with `outcome`.
    fn counter(
        &self,
        driver: &'static str,
        operation: &'static str,
        outcome: &'static str,
    ) -> Counter {
        self.operations
            .get_or_create(&[
                ("driver", driver),
                ("operation", operation),
                ("outcome", outcome),
            ])
            .clone()
    }

    /// The latency histogram of `operation`s of `driver`.
    fn histogram(&self, driver: &'static str, operation: &'static str) -> Histogram {
        self.latency
            .get_or_create(&[("driver", driver), ("operation", operation)])
            .clone()
    }
}

impl MetricsSource for StorageMetrics {
    fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "storage_operations",
            "Storage driver operations by driver, operation and outcome",
            self.operations.clone(),
        );
        registry.register(
            "storage_operation_duration_seconds",
            "Storage driver operation latency (to the first byte for reads)",
            self.latency.clone(),
        );
    }
}

/// The operations as counted (`list_if_changed` is a `list`, `walk_owned`
/// a `walk`, `move_to` a `move`).
#[derive(Clone, Copy)]
enum Op {
    GetContent,
    PutContent,
    Reader,
    Writer,
    Stat,
    List,
    Move,
    Delete,
    RedirectUrl,
    Walk,
}

/// How many [`Op`]s there are.
const OPS: usize = 10;
/// The outcomes, in the order of a handle's slots.
const OUTCOMES: [&str; 3] = ["ok", "not_found", "error"];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::GetContent => "get_content",
            Op::PutContent => "put_content",
            Op::Reader => "reader",
            Op::Writer => "writer",
            Op::Stat => "stat",
            Op::List => "list",
            Op::Move => "move",
            Op::Delete => "delete",
            Op::RedirectUrl => "redirect_url",
            Op::Walk => "walk",
        }
    }
}

/// The metric handles of one driver, made on first use (so that only
/// what happened shows in `/metrics`) and kept: a call then costs two
/// atomic updates, not two label-set look-ups in the families.
struct Handles {
    counters: [OnceLock<Counter>; OPS * OUTCOMES.len()],
    latency: [OnceLock<Histogram>; OPS],
}

impl Handles {
    fn new() -> Handles {
        Handles {
            counters: std::array::from_fn(|_| OnceLock::new()),
            latency: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

/// A storage driver that counts and times every operation of the one it
/// wraps into [`StorageMetrics`]. Reads are timed to their stream (the
/// first byte), writes to their writer; `list_if_changed` counts as a
/// `list`, `walk_owned` as a `walk`, `move_to` as a `move`.
pub struct InstrumentedDriver {
    inner: Arc<dyn StorageDriver>,
    metrics: StorageMetrics,
    handles: Handles,
}

impl fmt::Debug for InstrumentedDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentedDriver")
            .field("driver", &self.inner.name())
            .finish_non_exhaustive()
    }
}

impl InstrumentedDriver {
    /// Wraps `inner`, counting into `metrics`.
    pub fn new(inner: Arc<dyn StorageDriver>, metrics: StorageMetrics) -> InstrumentedDriver {
        InstrumentedDriver {
            inner,
            metrics,
            handles: Handles::new(),
        }
    }

    /// The metrics it counts into.
    pub fn metrics(&self) -> &StorageMetrics {
        &self.metrics
    }

    /// Counts and times one `op` that began at `started`.
    fn observe<T>(&self, op: Op, started: Instant, result: &Result<T>) {
        let outcome = match result {
            Ok(_) => 0,
            Err(e) if e.is_not_found() => 1,
            Err(_) => 2,
        };
        let driver = self.inner.name();
        let i = op as usize;
        self.handles.counters[i * OUTCOMES.len() + outcome]
            .get_or_init(|| self.metrics.counter(driver, op.name(), OUTCOMES[outcome]))
            .inc();
        self.handles.latency[i]
            .get_or_init(|| self.metrics.histogram(driver, op.name()))
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Times one call of the wrapped driver.
macro_rules! timed {
    ($self:ident, $op:expr, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.observe($op, started, &result);
        result
    }};
}

#[async_trait]
impl StorageDriver for InstrumentedDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn get_content(&self, path: &str) -> Result<Bytes> {
        timed!(self, Op::GetContent, self.inner.get_content(path))
    }
    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        timed!(self, Op::PutContent, self.inner.put_content(path, content))
    }
    async fn reader(&self, path: &str, offset: u64) -> Result<ReadStream> {
        timed!(self, Op::Reader, self.inner.reader(path, offset))
    }
    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        timed!(self, Op::Writer, self.inner.writer(path, append))
    }
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        timed!(self, Op::Stat, self.inner.stat(path))
    }
    async fn list(&self, path: &str) -> Result<Vec<String>> {
        timed!(self, Op::List, self.inner.list(path))
    }
    async fn list_if_changed(&self, path: &str, known: Option<&ListVersion>) -> Result<Listing> {
        timed!(self, Op::List, self.inner.list_if_changed(path, known))
    }
    async fn move_to(&self, source: &str, dest: &str) -> Result<()> {
        timed!(self, Op::Move, self.inner.move_to(source, dest))
    }
    async fn delete(&self, path: &str) -> Result<()> {
        timed!(self, Op::Delete, self.inner.delete(path))
    }
    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        timed!(self, Op::RedirectUrl, self.inner.redirect_url(path))
    }
    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> Result<()> {
        timed!(self, Op::Walk, self.inner.walk(from, visit))
    }
    async fn walk_owned(&self, from: &str, visit: Box<OwnedWalkFn>) -> Result<()> {
        timed!(self, Op::Walk, self.inner.walk_owned(from, visit))
    }
}

#[cfg(test)]
mod tests {
    use berth_metrics::MetricsRegistry;

    use super::*;
    use crate::InMemoryDriver;

    #[tokio::test]
    async fn operations_are_counted_by_outcome_and_timed() {
        let metrics = StorageMetrics::new();
        let driver = InstrumentedDriver::new(Arc::new(InMemoryDriver::new()), metrics.clone());
        assert_eq!(driver.name(), "inmemory");
        driver
            .put_content("/a", Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert!(driver.get_content("/missing").await.is_err());
        assert!(driver.get_content("/../escape").await.is_err());
        assert_eq!(metrics.count("inmemory", "put_content", "ok"), 1);
        assert_eq!(metrics.count("inmemory", "get_content", "not_found"), 1);
        assert_eq!(metrics.count("inmemory", "get_content", "error"), 1);

        let mut registry = MetricsRegistry::new();
        registry.register(&metrics);
        let text = registry.render();
        for line in [
            "# HELP berth_storage_operations Storage driver operations by driver, operation and outcome.",
            "# TYPE berth_storage_operations counter",
            r#"berth_storage_operations_total{driver="inmemory",operation="put_content",outcome="ok"} 1"#,
            "# HELP berth_storage_operation_duration_seconds Storage driver operation latency (to the first byte for reads).",
            "# TYPE berth_storage_operation_duration_seconds histogram",
            r#"berth_storage_operation_duration_seconds_count{driver="inmemory",operation="get_content"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
        }
    }
}
