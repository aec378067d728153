//! The wrapper: storage behind a cache, where a cache failure is a miss.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use berth_cache::{
    BlobDescriptorCacheProvider, CacheHealth, CachedBlobStatter, InMemoryBlobDescriptorCache,
};
use berth_core::{BlobDescriptorService, BlobStatter, Error, ErrorKind, Result};
use berth_digest::Digest;
use berth_manifest::Descriptor;

use crate::common::{RecordStore, digest, kind_of, layer, repo};

/// A cache that fails every call, as an unreachable Redis or one with a
/// corrupt entry would.
struct BrokenCache {
    unavailable: bool,
    calls: AtomicUsize,
}

impl BrokenCache {
    fn new(unavailable: bool) -> Arc<BrokenCache> {
        Arc::new(BrokenCache {
            unavailable,
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn fail(&self) -> Error {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.unavailable {
            Error::unavailable("redis", "connection refused")
        } else {
            Error::backend("redis cache", "corrupt entry")
        }
    }
}

#[async_trait]
impl BlobStatter for BrokenCache {
    async fn stat(&self, _: &Digest) -> Result<Descriptor> {
        Err(self.fail())
    }
}

#[async_trait]
impl BlobDescriptorService for BrokenCache {
    async fn set_descriptor(&self, _: &Digest, _: &Descriptor) -> Result<()> {
        Err(self.fail())
    }

    async fn clear(&self, _: &Digest) -> Result<()> {
        Err(self.fail())
    }
}

#[tokio::test]
async fn miss_fills_then_hits() {
    let d = digest();
    let store = RecordStore::with(&[&layer(&d, 4)]);
    let cache = InMemoryBlobDescriptorCache::default();
    let statter = CachedBlobStatter::new(store.clone(), Arc::new(cache.clone()));
    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 4));
    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 4));
    assert_eq!(store.stats(), 1);
    assert_eq!(cache.stat(&d).await.unwrap(), layer(&d, 4));
    let health = statter.health();
    assert_eq!((health.hits(), health.misses(), health.errors()), (1, 1, 0));
}

#[tokio::test]
async fn backend_errors_pass_through_and_are_not_cached() {
    let d = digest();
    let store = RecordStore::with(&[]);
    let statter = CachedBlobStatter::new(
        store.clone(),
        Arc::new(InMemoryBlobDescriptorCache::default()),
    );
    assert_eq!(kind_of(statter.stat(&d).await), ErrorKind::BlobUnknown);
    assert_eq!(kind_of(statter.stat(&d).await), ErrorKind::BlobUnknown);
    assert_eq!(store.stats(), 2);
    assert_eq!(statter.health().misses(), 2);
}

#[tokio::test]
async fn set_and_clear_write_storage_then_cache() {
    let d = digest();
    let store = RecordStore::with(&[]);
    let cache = InMemoryBlobDescriptorCache::default();
    let r = repo();
    let statter = CachedBlobStatter::new(store.clone(), cache.repository_scoped(&r));
    statter.set_descriptor(&d, &layer(&d, 8)).await.unwrap();
    assert!(store.has(&d));
    assert_eq!(
        cache.repository_scoped(&r).stat(&d).await.unwrap(),
        layer(&d, 8)
    );
    statter.clear(&d).await.unwrap();
    assert!(!store.has(&d));
    assert_eq!(
        kind_of(cache.repository_scoped(&r).stat(&d).await),
        ErrorKind::BlobUnknown
    );
}

#[tokio::test]
async fn clear_drops_a_stale_entry_even_when_storage_does_not_know_it() {
    let d = digest();
    let store = RecordStore::with(&[]);
    let cache = InMemoryBlobDescriptorCache::default();
    cache.set_descriptor(&d, &layer(&d, 1)).await.unwrap();
    let statter = CachedBlobStatter::new(store, Arc::new(cache.clone()));
    assert_eq!(kind_of(statter.clear(&d).await), ErrorKind::BlobUnknown);
    assert_eq!(kind_of(cache.stat(&d).await), ErrorKind::BlobUnknown);
}

#[tokio::test]
async fn unavailable_cache_is_a_miss_then_skipped_for_a_while() {
    let d = digest();
    let store = RecordStore::with(&[&layer(&d, 2)]);
    let cache = BrokenCache::new(true);
    let health = Arc::new(CacheHealth::with_retry_after(Duration::from_millis(150)));
    let statter = CachedBlobStatter::with_health(store.clone(), cache.clone(), health.clone());

    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 2));
    assert_eq!(cache.calls(), 1, "no fill into a cache that just failed");
    assert!(health.is_backing_off());
    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 2));
    statter.set_descriptor(&d, &layer(&d, 2)).await.unwrap();
    assert_eq!(cache.calls(), 1, "skipped while backing off");
    // Clears are always tried: a stale entry is worse than a slow clear.
    statter.clear(&d).await.unwrap();
    assert_eq!(cache.calls(), 2);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!health.is_backing_off());
    assert_eq!(kind_of(statter.stat(&d).await), ErrorKind::BlobUnknown);
    assert_eq!(cache.calls(), 3, "tried again after the back-off");
    assert_eq!(
        (
            health.hits(),
            health.misses(),
            health.errors(),
            health.bypassed()
        ),
        (0, 3, 3, 2)
    );
}

#[tokio::test]
async fn corrupt_entries_are_misses_and_get_overwritten() {
    let d = digest();
    let store = RecordStore::with(&[&layer(&d, 2)]);
    let cache = BrokenCache::new(false);
    let statter = CachedBlobStatter::new(store, cache.clone());
    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 2));
    assert_eq!(cache.calls(), 2, "stat, then a fill to overwrite the entry");
    assert!(!statter.health().is_backing_off());
    assert_eq!(statter.health().errors(), 2);
}

#[tokio::test]
async fn shared_health_adds_up_across_repositories() {
    let d = digest();
    let cache = InMemoryBlobDescriptorCache::default();
    let health = Arc::new(CacheHealth::new());
    let store = RecordStore::with(&[&layer(&d, 1)]);
    for _ in 0..3 {
        let r = repo();
        let statter = CachedBlobStatter::with_health(
            store.clone(),
            cache.repository_scoped(&r),
            health.clone(),
        );
        statter.stat(&d).await.unwrap();
        statter.stat(&d).await.unwrap();
    }
    assert_eq!((health.hits(), health.misses()), (3, 3));
}
