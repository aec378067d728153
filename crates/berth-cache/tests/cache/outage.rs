//! Redis stopped in the middle: a redis-server of this test's own is
//! killed under a `CachedBlobStatter`, then restarted on the same port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cache::{
    BlobDescriptorCacheProvider, CacheHealth, CachedBlobStatter, RedisBlobDescriptorCache,
    RedisOptions,
};
use berth_core::{BlobDescriptorService, BlobStatter};

use crate::common::{RecordStore, RedisServer, digest, free_port, layer, repo};

#[tokio::test]
async fn redis_stopped_in_the_middle() {
    if RedisServer::available().is_none() {
        return;
    }
    let port = free_port();
    let mut server = RedisServer::start(port);
    server.wait_ready().await;

    let timeout = Duration::from_millis(500);
    let cache = RedisBlobDescriptorCache::new(
        RedisOptions::url(server.url())
            .dial_timeout(timeout)
            .read_timeout(timeout)
            .write_timeout(timeout),
    )
    .unwrap();
    let (d, r) = (digest(), repo());
    let other = digest();
    // The backend of record (see `RecordStore`), standing in for storage.
    let storage = RecordStore::with(&[&layer(&d, 10)]);
    let retry_after = Duration::from_millis(100);
    let health = Arc::new(CacheHealth::with_retry_after(retry_after));
    let statter = CachedBlobStatter::with_health(
        storage.clone(),
        cache.repository_scoped(&r),
        health.clone(),
    );

    // Fill, then hit.
    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 10));
    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 10));
    assert_eq!((health.hits(), health.misses(), health.errors()), (1, 1, 0));
    assert_eq!(storage.stats(), 1);

    server.kill();

    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 10));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a stat took {:?} with Redis down",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let started = Instant::now();
    statter
        .set_descriptor(&other, &layer(&other, 20))
        .await
        .unwrap();
    assert!(storage.has(&other));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(health.errors() >= 1, "{health:?}");
    assert_eq!(health.hits(), 1);

    // Back on the same port, empty (no persistence).
    let server = RedisServer::start(port);
    server.wait_ready().await;
    tokio::time::sleep(retry_after).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while health.hits() < 2 {
        assert!(
            Instant::now() < deadline,
            "the cache did not recover: {health:?}"
        );
        let started = Instant::now();
        assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 10));
        assert!(started.elapsed() < Duration::from_secs(2));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The refill went to the restarted server.
    assert_eq!(
        cache.repository_scoped(&r).stat(&d).await.unwrap(),
        layer(&d, 10)
    );
    drop(server);
}
