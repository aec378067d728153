//! Prometheus metrics of the HTTP layer.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use berth_driver::{FileInfo, FileWriter, ReadStream, StorageDriver, WalkFn};
use bytes::Bytes;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// Labels of a latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

/// Labels of a storage driver operation counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriverLabels {
    driver: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

/// Labels of a storage driver latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DriverOpLabels {
    driver: &'static str,
    operation: &'static str,
}

/// Something whose counters are read when metrics are scraped (the
/// descriptor cache's hits, misses and errors).
pub trait ScrapeSource: Send + Sync {
    /// `(name, help, value)` of each unlabelled counter.
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        Vec::new()
    }

    /// Labelled counters and gauges; samples of one name are rendered as
    /// one metric family.
    fn samples(&self) -> Vec<Sample> {
        Vec::new()
    }
}

/// One labelled sample of a [`ScrapeSource`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name without the `berth_` prefix (and without `_total`
    /// for counters).
    pub name: &'static str,
    /// The help text.
    pub help: &'static str,
    /// A gauge (else a counter).
    pub gauge: bool,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: u64,
}

/// The registry's HTTP metrics, rendered in the Prometheus text format.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    bytes_in: Counter,
    bytes_out: Counter,
    uploads_in_flight: Gauge,
    served: std::sync::atomic::AtomicU64,
    driver_ops: Family<DriverLabels, Counter>,
    driver_latency: Family<DriverOpLabels, Histogram>,
    sources: Mutex<Vec<Arc<dyn ScrapeSource>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("berth");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 50 µs to about 50 s.
            Histogram::new(exponential_buckets(0.00005, 4.0, 11))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route and method",
            latency.clone(),
        );
        let bytes_in = Counter::default();
        registry.register(
            "http_request_body_bytes",
            "Request body bytes declared by Content-Length",
            bytes_in.clone(),
        );
        let bytes_out = Counter::default();
        registry.register(
            "http_response_body_bytes",
            "Response body bytes (sized bodies)",
            bytes_out.clone(),
        );
        let uploads_in_flight = Gauge::default();
        registry.register(
            "uploads_in_flight",
            "Upload requests (POST, PATCH, PUT of blobs) being served",
            uploads_in_flight.clone(),
        );
        let driver_ops = Family::<DriverLabels, Counter>::default();
        registry.register(
            "storage_operations",
            "Storage driver operations by driver, operation and outcome",
            driver_ops.clone(),
        );
        let driver_latency = Family::<DriverOpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00005, 4.0, 11))
        });
        registry.register(
            "storage_operation_duration_seconds",
            "Storage driver operation latency (to the first byte for reads)",
            driver_latency.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            uploads_in_flight,
            served: std::sync::atomic::AtomicU64::new(0),
            driver_ops,
            driver_latency,
            sources: Mutex::new(Vec::new()),
        }
    }

    /// Adds counters read at scrape time.
    pub fn add_source(&self, source: Arc<dyn ScrapeSource>) {
        if let Ok(mut sources) = self.sources.lock() {
            sources.push(source);
        }
    }

    fn observe_driver<T>(
        &self,
        driver: &'static str,
        operation: &'static str,
        started: Instant,
        result: &berth_driver::Result<T>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) if e.is_not_found() => "not_found",
            Err(_) => "error",
        };
        self.driver_ops
            .get_or_create(&DriverLabels {
                driver,
                operation,
                outcome,
            })
            .inc();
        self.driver_latency
            .get_or_create(&DriverOpLabels { driver, operation })
            .observe(started.elapsed().as_secs_f64());
    }

    /// Records one request.
    pub(crate) fn observe(
        &self,
        route: &'static str,
        method: &str,
        status: u16,
        seconds: f64,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route, method })
            .observe(seconds);
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
        self.served
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many requests have been answered since start.
    pub fn requests_served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Marks an upload request in flight until the guard drops.
    pub(crate) fn upload_started(&self) -> InFlight {
        self.uploads_in_flight.inc();
        InFlight(self.uploads_in_flight.clone())
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            return String::new();
        }
        let sources = self.sources.lock().map(|s| s.clone()).unwrap_or_default();
        let mut families: Vec<(&'static str, Vec<Sample>)> = Vec::new();
        for source in &sources {
            for (name, help, value) in source.counters() {
                out.push_str(&format!(
                    "# HELP berth_{name} {help}.\n# TYPE berth_{name} counter\nberth_{name}_total {value}\n"
                ));
            }
            for sample in source.samples() {
                match families.iter_mut().find(|(name, _)| *name == sample.name) {
                    Some((_, samples)) => samples.push(sample),
                    None => families.push((sample.name, vec![sample])),
                }
            }
        }
        for (name, samples) in &families {
            let first = &samples[0];
            let (kind, suffix) = if first.gauge {
                ("gauge", "")
            } else {
                ("counter", "_total")
            };
            out.push_str(&format!(
                "# HELP berth_{name} {}.\n# TYPE berth_{name} {kind}\n",
                first.help
            ));
            for sample in samples {
                let labels = sample
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                    .collect::<Vec<_>>()
                    .join(",");
                if labels.is_empty() {
                    out.push_str(&format!("berth_{name}{suffix} {}\n", sample.value));
                } else {
                    out.push_str(&format!(
                        "berth_{name}{suffix}{{{labels}}} {}\n",
                        sample.value
                    ));
                }
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

/// A label value escaped for the text format.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Decrements the in-flight gauge when dropped.
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A storage driver that counts and times every operation of the one it
/// wraps into [`Metrics`].
pub struct InstrumentedDriver {
    inner: Arc<dyn StorageDriver>,
    metrics: Arc<Metrics>,
}

impl InstrumentedDriver {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StorageDriver>, metrics: Arc<Metrics>) -> InstrumentedDriver {
        InstrumentedDriver { inner, metrics }
    }
}

/// Times one call of the wrapped driver.
macro_rules! timed {
    ($self:ident, $op:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self
            .metrics
            .observe_driver($self.inner.name(), $op, started, &result);
        result
    }};
}

#[async_trait]
impl StorageDriver for InstrumentedDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn get_content(&self, path: &str) -> berth_driver::Result<Bytes> {
        timed!(self, "get_content", self.inner.get_content(path))
    }
    async fn put_content(&self, path: &str, content: Bytes) -> berth_driver::Result<()> {
        timed!(self, "put_content", self.inner.put_content(path, content))
    }
    async fn reader(&self, path: &str, offset: u64) -> berth_driver::Result<ReadStream> {
        timed!(self, "reader", self.inner.reader(path, offset))
    }
    async fn writer(&self, path: &str, append: bool) -> berth_driver::Result<Box<dyn FileWriter>> {
        timed!(self, "writer", self.inner.writer(path, append))
    }
    async fn stat(&self, path: &str) -> berth_driver::Result<FileInfo> {
        timed!(self, "stat", self.inner.stat(path))
    }
    async fn list(&self, path: &str) -> berth_driver::Result<Vec<String>> {
        timed!(self, "list", self.inner.list(path))
    }
    async fn list_if_changed(
        &self,
        path: &str,
        known: Option<&berth_driver::ListVersion>,
    ) -> berth_driver::Result<berth_driver::Listing> {
        timed!(self, "list", self.inner.list_if_changed(path, known))
    }
    async fn move_to(&self, source: &str, dest: &str) -> berth_driver::Result<()> {
        timed!(self, "move", self.inner.move_to(source, dest))
    }
    async fn delete(&self, path: &str) -> berth_driver::Result<()> {
        timed!(self, "delete", self.inner.delete(path))
    }
    async fn redirect_url(&self, path: &str) -> berth_driver::Result<Option<String>> {
        timed!(self, "redirect_url", self.inner.redirect_url(path))
    }
    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> berth_driver::Result<()> {
        timed!(self, "walk", self.inner.walk(from, visit))
    }
    async fn walk_owned(
        &self,
        from: &str,
        visit: Box<berth_driver::OwnedWalkFn>,
    ) -> berth_driver::Result<()> {
        timed!(self, "walk", self.inner.walk_owned(from, visit))
    }
}

/// The `method` label: the HTTP methods the API knows, and `OTHER` for any
/// other (a client inventing methods must not grow the metrics without
/// bound).
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let metrics = Metrics::new();
        for method in ["GET", "BREW", "PROPFIND", "get"] {
            metrics.observe("base", method, 405, 0.001, 0, 0);
        }
        let text = metrics.render();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("berth_http_requests_total{"))
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains(r#"method="GET""#) && l.ends_with(" 1"))
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains(r#"method="OTHER""#) && l.ends_with(" 3"))
        );
    }
}
