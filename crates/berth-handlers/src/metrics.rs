//! Prometheus metrics of the HTTP layer, reported through berth-metrics.

use berth_metrics::MetricsSource;
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

/// The registry's HTTP metrics: requests by route, method and status,
/// their latency, body bytes in and out, uploads in flight.
///
/// A [`MetricsSource`]: the server registers it with the other libraries'
/// metrics (`http_requests`, `http_request_duration_seconds`,
/// `http_request_body_bytes`, `http_response_body_bytes`,
/// `uploads_in_flight`), and the debug server renders them all.
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    bytes_in: Counter,
    bytes_out: Counter,
    uploads_in_flight: Gauge,
    served: std::sync::atomic::AtomicU64,
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
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                // 50 µs to about 50 s.
                Histogram::new(exponential_buckets(0.00005, 4.0, 11))
            }),
            bytes_in: Counter::default(),
            bytes_out: Counter::default(),
            uploads_in_flight: Gauge::default(),
            served: std::sync::atomic::AtomicU64::new(0),
        }
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
}

impl MetricsSource for Metrics {
    fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route and method",
            self.latency.clone(),
        );
        registry.register(
            "http_request_body_bytes",
            "Request body bytes declared by Content-Length",
            self.bytes_in.clone(),
        );
        registry.register(
            "http_response_body_bytes",
            "Response body bytes (sized bodies)",
            self.bytes_out.clone(),
        );
        registry.register(
            "uploads_in_flight",
            "Upload requests (POST, PATCH, PUT of blobs) being served",
            self.uploads_in_flight.clone(),
        );
    }
}

/// Decrements the in-flight gauge when dropped.
pub(crate) struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
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
        let mut registry = berth_metrics::MetricsRegistry::new();
        registry.register(&metrics);
        let text = registry.render();
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
