//! Prometheus metrics of the HTTP layer.

use std::sync::Arc;

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
    method: String,
    status: u16,
}

/// Labels of a latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: String,
}

/// Something whose counters are read when metrics are scraped (the
/// descriptor cache's hits, misses and errors).
pub trait ScrapeSource: Send + Sync {
    /// `(name, help, value)` of each counter.
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)>;
}

/// The registry's HTTP metrics, rendered in the Prometheus text format.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    bytes_in: Counter,
    bytes_out: Counter,
    uploads_in_flight: Gauge,
    sources: Vec<Arc<dyn ScrapeSource>>,
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
        Metrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            uploads_in_flight,
            sources: Vec::new(),
        }
    }

    /// Adds counters read at scrape time.
    pub fn add_source(&mut self, source: Arc<dyn ScrapeSource>) {
        self.sources.push(source);
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
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route,
                method: method.to_owned(),
            })
            .observe(seconds);
        self.bytes_in.inc_by(bytes_in);
        self.bytes_out.inc_by(bytes_out);
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
        for source in &self.sources {
            for (name, help, value) in source.counters() {
                out.push_str(&format!(
                    "# HELP berth_{name} {help}.\n# TYPE berth_{name} counter\nberth_{name}_total {value}\n"
                ));
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

/// Decrements the in-flight gauge when dropped.
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
