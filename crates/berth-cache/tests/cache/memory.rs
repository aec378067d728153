//! The in-memory provider: the contract, and its bounds.

use std::sync::Arc;

use berth_cache::{BlobDescriptorCacheProvider, DEFAULT_CAPACITY, InMemoryBlobDescriptorCache};
use berth_core::{BlobDescriptorService, BlobStatter, ErrorKind};

use crate::common::{digest, kind_of, layer, repo};

async fn provider() -> Option<Arc<dyn BlobDescriptorCacheProvider>> {
    Some(Arc::new(InMemoryBlobDescriptorCache::default()))
}

contract_suite!(provider);

#[tokio::test]
async fn bounds_are_honoured() {
    let cache = InMemoryBlobDescriptorCache::new(100);
    let scoped = cache.repository_scoped(&repo());
    let mut last = None;
    for i in 0..1_000 {
        let d = digest();
        cache.set_descriptor(&d, &layer(&d, i)).await.unwrap();
        scoped.set_descriptor(&d, &layer(&d, i)).await.unwrap();
        last = Some(d);
    }
    let (global, members) = cache.entry_counts();
    assert!(global <= 100, "{global} global entries");
    assert!(members <= 100, "{members} memberships");
    // Least recently used goes first: the newest entry is still there.
    let last = last.unwrap();
    assert_eq!(scoped.stat(&last).await.unwrap(), layer(&last, 999));
}

#[tokio::test]
async fn separate_bounds_for_memberships() {
    let cache = InMemoryBlobDescriptorCache::with_capacities(50, 10);
    for _ in 0..200 {
        let d = digest();
        cache
            .repository_scoped(&repo())
            .set_descriptor(&d, &layer(&d, 1))
            .await
            .unwrap();
    }
    let (global, members) = cache.entry_counts();
    assert!(global <= 50, "{global} global entries");
    assert!(members <= 10, "{members} memberships");
}

#[tokio::test]
async fn zero_capacity_keeps_nothing() {
    let cache = InMemoryBlobDescriptorCache::new(0);
    let d = digest();
    cache.set_descriptor(&d, &layer(&d, 1)).await.unwrap();
    assert_eq!(cache.entry_counts(), (0, 0));
    assert_eq!(kind_of(cache.stat(&d).await), ErrorKind::BlobUnknown);
}

#[tokio::test]
async fn clones_share_entries() {
    let cache = InMemoryBlobDescriptorCache::default();
    let clone = cache.clone();
    let d = digest();
    clone.set_descriptor(&d, &layer(&d, 1)).await.unwrap();
    assert_eq!(cache.stat(&d).await.unwrap(), layer(&d, 1));
    assert!(format!("{cache:?}").contains(&DEFAULT_CAPACITY.to_string()));
}
