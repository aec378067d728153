//! The libraries' counters as `/metrics` scrape sources.

use std::sync::Arc;

/// The pull-through cache's counters for `/metrics`.
pub(crate) struct ProxyCounters(pub(crate) berth_proxy::ProxyNamespace);

impl berth_handlers::ScrapeSource for ProxyCounters {
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        let s = self.0.metrics().snapshot();
        vec![
            (
                "proxy_upstream_requests",
                "Requests sent to the upstream registry",
                s.upstream_requests,
            ),
            (
                "proxy_upstream_errors",
                "Upstream requests that failed (unreachable, 5xx, denied, a body that did not verify)",
                s.upstream_errors,
            ),
            (
                "proxy_blob_fetches",
                "Whole-blob fetches from the upstream started",
                s.blob_fetches,
            ),
            (
                "proxy_shared_fetches",
                "Blob reads that joined a fetch already under way",
                s.shared_fetches,
            ),
        ]
    }

    fn samples(&self) -> Vec<berth_handlers::Sample> {
        let s = self.0.metrics().snapshot();
        let sample = |name, help, gauge, kind: Option<&str>, value| berth_handlers::Sample {
            name,
            help,
            gauge,
            labels: kind
                .map(|k| vec![("kind", k.to_owned())])
                .unwrap_or_default(),
            value,
        };
        let hits = "Reads served from the cache (local storage)";
        let misses = "Reads that went to the upstream registry";
        let bytes = "Bytes received from the upstream registry";
        let expired = "Cached content removed by the TTL scheduler";
        let (blob, manifest) = (Some("blob"), Some("manifest"));
        vec![
            sample("proxy_hits", hits, false, blob, s.blob_hits),
            sample("proxy_hits", hits, false, manifest, s.manifest_hits),
            sample("proxy_misses", misses, false, blob, s.blob_misses),
            sample("proxy_misses", misses, false, manifest, s.manifest_misses),
            sample(
                "proxy_upstream_bytes",
                bytes,
                false,
                blob,
                s.blob_bytes_from_upstream,
            ),
            sample(
                "proxy_upstream_bytes",
                bytes,
                false,
                manifest,
                s.manifest_bytes_from_upstream,
            ),
            sample("proxy_expired", expired, false, blob, s.expired_blobs),
            sample(
                "proxy_expired",
                expired,
                false,
                manifest,
                s.expired_manifests,
            ),
            sample(
                "proxy_scheduled",
                "Cached blobs and manifests scheduled for removal",
                true,
                None,
                self.0.scheduler().map_or(0, |s| s.len() as u64),
            ),
            sample(
                "proxy_fetches_in_flight",
                "Blob fetches from the upstream under way",
                true,
                None,
                self.0.fetches_in_flight() as u64,
            ),
        ]
    }
}

/// The descriptor cache's counters, read when metrics are scraped.
pub(crate) struct CacheCounters(pub(crate) Arc<berth_cache::CacheHealth>);

impl berth_handlers::ScrapeSource for CacheCounters {
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            ("cache_hits", "Blob descriptor cache hits", self.0.hits()),
            (
                "cache_misses",
                "Blob descriptor cache misses",
                self.0.misses(),
            ),
            (
                "cache_errors",
                "Blob descriptor cache errors (served from storage)",
                self.0.errors(),
            ),
        ]
    }
}

/// Per-endpoint notification counters for `/metrics`.
pub(crate) struct EndpointCounters(pub(crate) berth_notifications::Notifier);

impl berth_handlers::ScrapeSource for EndpointCounters {
    fn samples(&self) -> Vec<berth_handlers::Sample> {
        let mut out = Vec::new();
        for stats in self.0.stats() {
            let sample = |name, help, gauge, value| berth_handlers::Sample {
                name,
                help,
                gauge,
                labels: vec![("endpoint", stats.name.clone())],
                value,
            };
            out.extend([
                sample(
                    "notifications_pending",
                    "Events queued for an endpoint, not yet delivered",
                    true,
                    stats.pending,
                ),
                sample(
                    "notifications_queue_bytes",
                    "Bytes of an endpoint's queue on disk",
                    true,
                    stats.queue_bytes,
                ),
                sample(
                    "notifications_delivered",
                    "Events an endpoint accepted (2xx or 3xx)",
                    false,
                    stats.delivered,
                ),
                sample(
                    "notifications_failed",
                    "Delivery attempts that failed",
                    false,
                    stats.failed,
                ),
                sample(
                    "notifications_retries",
                    "Delivery attempts that repeated an earlier one",
                    false,
                    stats.retries,
                ),
                sample(
                    "notifications_dropped",
                    "Events dropped (queue full, or unreadable records)",
                    false,
                    stats.dropped,
                ),
                sample(
                    "notifications_spool_errors",
                    "Errors writing or reading an endpoint's queue",
                    false,
                    stats.spool_errors,
                ),
                sample(
                    "notifications_last_status",
                    "The HTTP status of the last delivery attempt (0: none, or no response)",
                    true,
                    u64::from(stats.last_status.unwrap_or(0)),
                ),
            ]);
        }
        out
    }
}
