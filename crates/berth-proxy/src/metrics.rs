//! What the proxy counts: hits, misses, bytes and errors of the upstream;
//! and how it reports them through berth-metrics.

use std::sync::atomic::{AtomicU64, Ordering};

use berth_metrics::prometheus_client::registry::Registry;
use berth_metrics::{MetricsSource, collector};

use crate::ProxyNamespace;

/// The proxy's counters, shared by every repository handle. Read them
/// with [`ProxyMetrics::snapshot`].
#[derive(Debug, Default)]
pub struct ProxyMetrics {
    blob_hits: AtomicU64,
    blob_misses: AtomicU64,
    manifest_hits: AtomicU64,
    manifest_misses: AtomicU64,
    blob_bytes: AtomicU64,
    manifest_bytes: AtomicU64,
    upstream_requests: AtomicU64,
    upstream_errors: AtomicU64,
    blob_fetches: AtomicU64,
    shared_fetches: AtomicU64,
    expired_blobs: AtomicU64,
    expired_manifests: AtomicU64,
}

/// The proxy's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Blob reads served from local storage.
    pub blob_hits: u64,
    /// Blob reads that went to the upstream (fills and ranged
    /// pass-throughs).
    pub blob_misses: u64,
    /// Manifests served from local storage.
    pub manifest_hits: u64,
    /// Manifests fetched from the upstream.
    pub manifest_misses: u64,
    /// Blob bytes received from the upstream.
    pub blob_bytes_from_upstream: u64,
    /// Manifest bytes received from the upstream.
    pub manifest_bytes_from_upstream: u64,
    /// Requests sent to the upstream (tag look-ups, manifest and blob
    /// fetches, blob stats, tag lists, referrers), retries not counted
    /// apart.
    pub upstream_requests: u64,
    /// Upstream requests that failed for another reason than "not found"
    /// (unreachable, `5xx`, denied, a body that did not verify).
    pub upstream_errors: u64,
    /// Whole-blob fetches from the upstream that were started.
    pub blob_fetches: u64,
    /// Blob reads that joined a fetch already under way instead of
    /// starting one.
    pub shared_fetches: u64,
    /// Cached blobs removed by the TTL scheduler.
    pub expired_blobs: u64,
    /// Cached manifests removed by the TTL scheduler.
    pub expired_manifests: u64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl ProxyMetrics {
    /// The counters now.
    pub fn snapshot(&self) -> ProxyStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProxyStats {
            blob_hits: get(&self.blob_hits),
            blob_misses: get(&self.blob_misses),
            manifest_hits: get(&self.manifest_hits),
            manifest_misses: get(&self.manifest_misses),
            blob_bytes_from_upstream: get(&self.blob_bytes),
            manifest_bytes_from_upstream: get(&self.manifest_bytes),
            upstream_requests: get(&self.upstream_requests),
            upstream_errors: get(&self.upstream_errors),
            blob_fetches: get(&self.blob_fetches),
            shared_fetches: get(&self.shared_fetches),
            expired_blobs: get(&self.expired_blobs),
            expired_manifests: get(&self.expired_manifests),
        }
    }

    pub(crate) fn blob_hit(&self) {
        add(&self.blob_hits, 1);
    }

    pub(crate) fn blob_miss(&self) {
        add(&self.blob_misses, 1);
    }

    pub(crate) fn manifest_hit(&self) {
        add(&self.manifest_hits, 1);
    }

    pub(crate) fn manifest_miss(&self, bytes: u64) {
        add(&self.manifest_misses, 1);
        add(&self.manifest_bytes, bytes);
    }

    pub(crate) fn blob_bytes(&self, bytes: u64) {
        add(&self.blob_bytes, bytes);
    }

    pub(crate) fn upstream_request(&self) {
        add(&self.upstream_requests, 1);
    }

    /// Counts `err` as an upstream error unless it only says "not found".
    pub(crate) fn upstream_failed(&self, err: &berth_core::Error) {
        if !err.is_not_found() {
            add(&self.upstream_errors, 1);
        }
    }

    pub(crate) fn blob_fetch(&self) {
        add(&self.blob_fetches, 1);
    }

    pub(crate) fn shared_fetch(&self) {
        add(&self.shared_fetches, 1);
    }

    pub(crate) fn expired(&self, kind: crate::EntryKind) {
        match kind {
            crate::EntryKind::Blob => add(&self.expired_blobs, 1),
            crate::EntryKind::Manifest => add(&self.expired_manifests, 1),
        }
    }
}

/// The pull-through cache's metrics, read at each scrape: the upstream's
/// requests, errors and fetches (`proxy_upstream_requests`,
/// `proxy_upstream_errors`, `proxy_blob_fetches`, `proxy_shared_fetches`),
/// hits, misses, upstream bytes and expired content by `kind` (`blob`,
/// `manifest`), and the gauges `proxy_scheduled` (entries the TTL
/// scheduler holds) and `proxy_fetches_in_flight`.
impl MetricsSource for ProxyNamespace {
    fn register_metrics(&self, registry: &mut Registry) {
        let proxy = self.clone();
        registry.register_collector(collector("proxy", move |scrape| {
            let s = proxy.metrics().snapshot();
            scrape.counter(
                "proxy_upstream_requests",
                "Requests sent to the upstream registry",
                s.upstream_requests,
            )?;
            scrape.counter(
                "proxy_upstream_errors",
                "Upstream requests that failed (unreachable, 5xx, denied, a body that did not verify)",
                s.upstream_errors,
            )?;
            scrape.counter(
                "proxy_blob_fetches",
                "Whole-blob fetches from the upstream started",
                s.blob_fetches,
            )?;
            scrape.counter(
                "proxy_shared_fetches",
                "Blob reads that joined a fetch already under way",
                s.shared_fetches,
            )?;
            let (blob, manifest) = ([("kind", "blob")], [("kind", "manifest")]);
            scrape.counters(
                "proxy_hits",
                "Reads served from the cache (local storage)",
                &[(blob, s.blob_hits), (manifest, s.manifest_hits)],
            )?;
            scrape.counters(
                "proxy_misses",
                "Reads that went to the upstream registry",
                &[(blob, s.blob_misses), (manifest, s.manifest_misses)],
            )?;
            scrape.counters(
                "proxy_upstream_bytes",
                "Bytes received from the upstream registry",
                &[
                    (blob, s.blob_bytes_from_upstream),
                    (manifest, s.manifest_bytes_from_upstream),
                ],
            )?;
            scrape.counters(
                "proxy_expired",
                "Cached content removed by the TTL scheduler",
                &[(blob, s.expired_blobs), (manifest, s.expired_manifests)],
            )?;
            scrape.gauge(
                "proxy_scheduled",
                "Cached blobs and manifests scheduled for removal",
                proxy.scheduler().map_or(0, |s| s.len() as u64),
            )?;
            scrape.gauge(
                "proxy_fetches_in_flight",
                "Blob fetches from the upstream under way",
                proxy.fetches_in_flight() as u64,
            )
        }));
    }
}
