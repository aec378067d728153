//! A backend of record behind a cache, where a cache failure is a miss.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use berth_core::{BlobDescriptorService, BlobStatter, Error, ErrorKind, Result};
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_metrics::MetricsSource;
use berth_metrics::prometheus_client::metrics::counter::Counter;
use berth_metrics::prometheus_client::registry::Registry;

/// How long a burst of cache failures is logged once.
const WARN_WINDOW: Duration = Duration::from_secs(10);

/// Counters and failure state shared by every [`CachedBlobStatter`] over
/// one cache (the global one and each repository's): how many stats hit,
/// missed or met a cache error, the back-off after a cache that is
/// unavailable, and the rate limit of the warnings.
///
/// Share one `Arc<CacheHealth>` between the wrappers of one cache
/// ([`CachedBlobStatter::with_health`]) so that the counters add up, one
/// outage opens one back-off for all, and a burst of failures logs once.
///
/// As a [`MetricsSource`] it reports its hits, misses and errors:
/// `cache_hits`, `cache_misses` and `cache_errors` (counters).
pub struct CacheHealth {
    hits: Counter,
    misses: Counter,
    errors: Counter,
    bypassed: AtomicU64,
    retry_after: Duration,
    origin: Instant,
    /// Milliseconds since `origin` before which the cache is skipped.
    bypass_until: AtomicU64,
    warnings: Mutex<WarnWindow>,
    /// Bumped by [`invalidated`](CacheHealth::invalidated): a fill whose
    /// backend read began before the bump is dropped.
    generation: AtomicU64,
}

/// The warnings' rate limit: one per window, counting the rest.
#[derive(Default)]
struct WarnWindow {
    started: Option<Instant>,
    suppressed: u64,
}

impl WarnWindow {
    /// Whether to log now, and how many warnings were held back since
    /// the last one logged.
    fn admit(&mut self, now: Instant, window: Duration) -> Option<u64> {
        match self.started {
            Some(started) if now.saturating_duration_since(started) < window => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.started = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

impl CacheHealth {
    /// Default time the cache is skipped after it was found unavailable.
    pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

    /// Fresh counters, with the default back-off.
    pub fn new() -> CacheHealth {
        CacheHealth::with_retry_after(CacheHealth::DEFAULT_RETRY_AFTER)
    }

    /// Fresh counters; after the cache is found unavailable (connection
    /// refused, timeout), reads and fills skip it for `retry_after`, so
    /// that a dead cache costs one timeout per `retry_after` rather than
    /// one per request. Zero disables the back-off.
    pub fn with_retry_after(retry_after: Duration) -> CacheHealth {
        CacheHealth {
            hits: Counter::default(),
            misses: Counter::default(),
            errors: Counter::default(),
            bypassed: AtomicU64::new(0),
            retry_after,
            origin: Instant::now(),
            bypass_until: AtomicU64::new(0),
            warnings: Mutex::new(WarnWindow::default()),
            generation: AtomicU64::new(0),
        }
    }

    /// Stats answered by the cache.
    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    /// Stats answered by the backend: the cache missed, failed or was
    /// skipped.
    pub fn misses(&self) -> u64 {
        self.misses.get()
    }

    /// Cache calls (stat, fill, set, clear) that failed other than by a
    /// miss.
    pub fn errors(&self) -> u64 {
        self.errors.get()
    }

    /// Cache calls skipped during a back-off.
    pub fn bypassed(&self) -> u64 {
        self.bypassed.load(Ordering::Relaxed)
    }

    /// Says that entries were just invalidated (garbage collection removed
    /// what they describe): a miss whose backend read began before this
    /// call does not fill the cache, so an answer read before a removal
    /// cannot come back after the entries were cleared.
    pub fn invalidated(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the cache is being skipped now, after a failure.
    pub fn is_backing_off(&self) -> bool {
        self.now_ms() < self.bypass_until.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether to call the cache now; counts a skipped call.
    fn usable(&self) -> bool {
        if self.is_backing_off() {
            self.bypassed.fetch_add(1, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    /// Records a cache failure: counts it, starts a back-off when the
    /// cache is unavailable, and warns once per window.
    fn failed(&self, operation: &str, digest: &Digest, error: &Error) {
        self.errors.inc();
        if error.kind() == ErrorKind::Unavailable && !self.retry_after.is_zero() {
            let retry_ms = u64::try_from(self.retry_after.as_millis()).unwrap_or(u64::MAX);
            self.bypass_until
                .store(self.now_ms().saturating_add(retry_ms), Ordering::Relaxed);
        }
        let admitted = self
            .warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(Instant::now(), WARN_WINDOW);
        if let Some(suppressed) = admitted {
            tracing::warn!(
                operation,
                %digest,
                %error,
                suppressed,
                window_secs = WARN_WINDOW.as_secs(),
                "blob descriptor cache failed; using storage (`suppressed` similar \
                 warnings were held back since the last one)"
            );
        }
    }
}

impl MetricsSource for CacheHealth {
    fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "cache_hits",
            "Blob descriptor cache hits",
            self.hits.clone(),
        );
        registry.register(
            "cache_misses",
            "Blob descriptor cache misses",
            self.misses.clone(),
        );
        registry.register(
            "cache_errors",
            "Blob descriptor cache errors (served from storage)",
            self.errors.clone(),
        );
    }
}

impl Default for CacheHealth {
    fn default() -> Self {
        CacheHealth::new()
    }
}

impl fmt::Debug for CacheHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHealth")
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .field("errors", &self.errors())
            .field("bypassed", &self.bypassed())
            .field("backing_off", &self.is_backing_off())
            .finish()
    }
}

/// A backend of record (storage) with a blob-descriptor cache in front,
/// Distribution's `cachedBlobStatter`.
///
/// - [`stat`](BlobStatter::stat) asks the cache; on a miss it asks the
///   backend and records the answer in the cache.
/// - [`set_descriptor`](BlobDescriptorService::set_descriptor) writes the
///   backend, then the cache.
/// - [`clear`](BlobDescriptorService::clear) clears the backend, then the
///   cache, whatever the backend answered (a stale entry goes even when the
///   backend no longer knows the blob), and answers the backend's result.
///
/// The cache never fails a request: any cache error (unreachable,
/// timeout, corrupt entry) counts as a miss, is counted in
/// [`CacheHealth::errors`] and logged with `tracing::warn!` at most once
/// per 10 s burst. After an *unavailable* cache, reads and fills skip it
/// for the [back-off](CacheHealth::with_retry_after); clears are always
/// attempted. Backend errors are returned as they are, and are not cached.
///
/// Cloning is cheap.
#[derive(Clone)]
pub struct CachedBlobStatter {
    backend: Arc<dyn BlobDescriptorService>,
    cache: Arc<dyn BlobDescriptorService>,
    health: Arc<CacheHealth>,
}

impl CachedBlobStatter {
    /// `backend` behind `cache`, with counters of its own.
    pub fn new(
        backend: Arc<dyn BlobDescriptorService>,
        cache: Arc<dyn BlobDescriptorService>,
    ) -> CachedBlobStatter {
        CachedBlobStatter::with_health(backend, cache, Arc::new(CacheHealth::new()))
    }

    /// `backend` behind `cache`, counting into a shared `health`.
    pub fn with_health(
        backend: Arc<dyn BlobDescriptorService>,
        cache: Arc<dyn BlobDescriptorService>,
        health: Arc<CacheHealth>,
    ) -> CachedBlobStatter {
        CachedBlobStatter {
            backend,
            cache,
            health,
        }
    }

    /// The counters and back-off state.
    pub fn health(&self) -> &Arc<CacheHealth> {
        &self.health
    }
}

impl fmt::Debug for CachedBlobStatter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedBlobStatter")
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BlobStatter for CachedBlobStatter {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let mut fill = false;
        if self.health.usable() {
            match self.cache.stat(digest).await {
                Ok(descriptor) => {
                    self.health.hits.inc();
                    return Ok(descriptor);
                }
                Err(e) if e.kind() == ErrorKind::BlobUnknown => fill = true,
                Err(e) => {
                    self.health.failed("stat", digest, &e);
                    // A corrupt entry is overwritten by the fill; an
                    // unavailable cache is left alone.
                    fill = e.kind() != ErrorKind::Unavailable;
                }
            }
        }
        self.health.misses.inc();
        let generation = self.health.generation.load(Ordering::SeqCst);
        let descriptor = self.backend.stat(digest).await?;
        if fill
            && self.health.usable()
            && self.health.generation.load(Ordering::SeqCst) == generation
            && let Err(e) = self.cache.set_descriptor(digest, &descriptor).await
        {
            self.health.failed("fill", digest, &e);
        }
        Ok(descriptor)
    }
}

#[async_trait]
impl BlobDescriptorService for CachedBlobStatter {
    async fn set_descriptor(&self, digest: &Digest, descriptor: &Descriptor) -> Result<()> {
        self.backend.set_descriptor(digest, descriptor).await?;
        if self.health.usable()
            && let Err(e) = self.cache.set_descriptor(digest, descriptor).await
        {
            self.health.failed("set", digest, &e);
        }
        Ok(())
    }

    async fn clear(&self, digest: &Digest) -> Result<()> {
        let result = self.backend.clear(digest).await;
        if let Err(e) = self.cache.clear(digest).await {
            self.health.failed("clear", digest, &e);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_window() {
        let mut window = WarnWindow::default();
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(window.admit(t0, 10 * second), Some(0));
        assert_eq!(window.admit(t0 + second, 10 * second), None);
        assert_eq!(window.admit(t0 + 9 * second, 10 * second), None);
        assert_eq!(window.admit(t0 + 10 * second, 10 * second), Some(2));
        assert_eq!(window.admit(t0 + 11 * second, 10 * second), None);
        assert_eq!(window.admit(t0 + 30 * second, 10 * second), Some(1));
    }

    #[test]
    fn back_off_after_unavailable_only() {
        let health = CacheHealth::with_retry_after(Duration::from_secs(60));
        let digest = Digest::sha256(b"x");
        health.failed("stat", &digest, &Error::backend("corrupt", "bad entry"));
        assert!(!health.is_backing_off());
        health.failed("stat", &digest, &Error::unavailable("redis", "refused"));
        assert!(health.is_backing_off());
        assert!(!health.usable());
        assert_eq!((health.errors(), health.bypassed()), (2, 1));
    }

    #[test]
    fn counters_are_reported_as_berth_cache_metrics() {
        let health = CacheHealth::new();
        health.hits.inc();
        health.misses.inc_by(2);
        let mut metrics = berth_metrics::MetricsRegistry::new();
        metrics.register(&health);
        health.errors.inc();
        assert_eq!(
            metrics.render().lines().collect::<Vec<_>>(),
            [
                "# HELP berth_cache_hits Blob descriptor cache hits.",
                "# TYPE berth_cache_hits counter",
                "berth_cache_hits_total 1",
                "# HELP berth_cache_misses Blob descriptor cache misses.",
                "# TYPE berth_cache_misses counter",
                "berth_cache_misses_total 2",
                "# HELP berth_cache_errors Blob descriptor cache errors (served from storage).",
                "# TYPE berth_cache_errors counter",
                "berth_cache_errors_total 1",
                "# EOF",
            ]
        );
    }
}
