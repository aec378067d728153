//! The Redis provider against a real Redis: the contract, the key layout
//! Distribution shares, corrupt entries, and a Redis that is not there.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cache::{
    BlobDescriptorCacheProvider, CacheHealth, CachedBlobStatter, RedisBlobDescriptorCache,
    RedisOptions,
};
use berth_core::{BlobDescriptorService, BlobStatter, ErrorKind};
use redis::AsyncCommands;

use crate::common::{
    CONFIG, LAYER, RecordStore, digest, free_port, kind_of, layer, raw_redis, redis_url, repo,
    test_redis, unique,
};

async fn provider() -> Option<Arc<dyn BlobDescriptorCacheProvider>> {
    test_redis()
        .await
        .map(|c| Arc::new(c) as Arc<dyn BlobDescriptorCacheProvider>)
}

contract_suite!(provider);

#[tokio::test]
async fn key_layout_is_distributions() {
    let (Some(cache), Some(mut raw)) = (test_redis().await, raw_redis().await) else {
        return;
    };
    let (d, r) = (digest(), repo());
    cache
        .repository_scoped(&r)
        .set_descriptor(&d, &layer(&d, 77))
        .await
        .unwrap();
    let global: HashMap<String, String> = raw.hgetall(format!("blobs::{d}")).await.unwrap();
    let expected: HashMap<String, String> = [
        ("digest", d.to_string()),
        ("size", "77".to_owned()),
        ("mediatype", LAYER.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(global, expected);
    let member: bool = raw
        .sismember(format!("repository::{r}::blobs"), d.as_str())
        .await
        .unwrap();
    assert!(member);
    let scoped: HashMap<String, String> = raw
        .hgetall(format!("repository::{r}::blobs::{d}"))
        .await
        .unwrap();
    assert_eq!(scoped.get("mediatype").map(String::as_str), Some(LAYER));

    cache.repository_scoped(&r).clear(&d).await.unwrap();
    let member: bool = raw
        .sismember(format!("repository::{r}::blobs"), d.as_str())
        .await
        .unwrap();
    assert!(!member);
    let exists: bool = raw.exists(format!("blobs::{d}")).await.unwrap();
    assert!(exists, "a scoped clear keeps the global descriptor");
    cache.clear(&d).await.unwrap();
    let exists: bool = raw.exists(format!("blobs::{d}")).await.unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn reads_what_distribution_wrote() {
    let (Some(cache), Some(mut raw)) = (test_redis().await, raw_redis().await) else {
        return;
    };
    let (d, r) = (digest(), repo());
    // As Distribution's repository-scoped SetDescriptor leaves it.
    let _: () = raw
        .hset_multiple(
            format!("blobs::{d}"),
            &[
                ("digest", d.as_str()),
                ("size", "123"),
                ("mediatype", LAYER),
            ],
        )
        .await
        .unwrap();
    let _: () = raw
        .sadd(format!("repository::{r}::blobs"), d.as_str())
        .await
        .unwrap();
    let _: () = raw
        .hset(format!("repository::{r}::blobs::{d}"), "mediatype", CONFIG)
        .await
        .unwrap();
    let scoped = cache.repository_scoped(&r).stat(&d).await.unwrap();
    assert_eq!((scoped.size, scoped.media_type.as_str()), (123, CONFIG));
    assert_eq!(cache.stat(&d).await.unwrap(), layer(&d, 123));

    // Entries from before Distribution's `size` field (`length`) miss.
    let old = digest();
    let _: () = raw
        .hset_multiple(
            format!("blobs::{old}"),
            &[
                ("digest", old.as_str()),
                ("length", "5"),
                ("mediatype", LAYER),
            ],
        )
        .await
        .unwrap();
    assert_eq!(kind_of(cache.stat(&old).await), ErrorKind::BlobUnknown);
}

#[tokio::test]
async fn corrupt_entries_fail_without_panic_and_heal_through_the_wrapper() {
    let (Some(cache), Some(mut raw)) = (test_redis().await, raw_redis().await) else {
        return;
    };
    let plant = |d: &berth_digest::Digest, digest: &str, size: &str| {
        (
            format!("blobs::{d}"),
            vec![
                ("digest", digest.to_owned()),
                ("size", size.to_owned()),
                ("mediatype", LAYER.to_owned()),
            ],
        )
    };
    let mut cases = Vec::new();
    for (digest_field, size) in [("sha256:nothex", "1"), ("", "-4"), ("", "many")] {
        let d = digest();
        let digest_field = if digest_field.is_empty() {
            d.to_string()
        } else {
            digest_field.to_owned()
        };
        let (key, fields) = plant(&d, &digest_field, size);
        let _: () = raw.hset_multiple(key, &fields).await.unwrap();
        cases.push(d);
    }
    // A key of the wrong type.
    let wrong = digest();
    let _: () = raw.set(format!("blobs::{wrong}"), "oops").await.unwrap();

    for d in &cases {
        assert_eq!(kind_of(cache.stat(d).await), ErrorKind::Unknown, "{d}");
        let store = RecordStore::with(&[&layer(d, 6)]);
        let statter = CachedBlobStatter::new(store, Arc::new(cache.clone()));
        assert_eq!(statter.stat(d).await.unwrap(), layer(d, 6));
        assert_eq!(statter.health().errors(), 1);
        // The fill overwrote the entry: now a hit.
        assert_eq!(statter.stat(d).await.unwrap(), layer(d, 6));
        assert_eq!(statter.health().hits(), 1);
    }
    assert_eq!(kind_of(cache.stat(&wrong).await), ErrorKind::Unknown);
    let store = RecordStore::with(&[&layer(&wrong, 6)]);
    let statter = CachedBlobStatter::new(store, Arc::new(cache.clone()));
    assert_eq!(statter.stat(&wrong).await.unwrap(), layer(&wrong, 6));
    assert!(!statter.health().is_backing_off());
    let _: () = raw.del(format!("blobs::{wrong}")).await.unwrap();
}

#[tokio::test]
async fn key_prefix_keeps_entries_apart() {
    let (Some(plain), Some(mut raw)) = (test_redis().await, raw_redis().await) else {
        return;
    };
    let Some(url) = redis_url() else { return };
    let prefix = format!("berth-test-{}:", unique());
    let prefixed =
        RedisBlobDescriptorCache::new(RedisOptions::url(url).key_prefix(&prefix)).unwrap();
    let d = digest();
    prefixed.set_descriptor(&d, &layer(&d, 1)).await.unwrap();
    assert_eq!(prefixed.stat(&d).await.unwrap(), layer(&d, 1));
    assert_eq!(kind_of(plain.stat(&d).await), ErrorKind::BlobUnknown);
    let exists: bool = raw.exists(format!("{prefix}blobs::{d}")).await.unwrap();
    assert!(exists);
    prefixed.clear(&d).await.unwrap();
}

#[tokio::test]
async fn options_with_addr_password_and_db() {
    let Some(url) = redis_url() else { return };
    let Some(addr) = url
        .strip_prefix("redis://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|addr| !addr.contains(['@', '/']))
    else {
        println!("skipped: BERTH_TEST_REDIS_URL is not of the form redis://host:port/");
        return;
    };
    let one = RedisBlobDescriptorCache::new(RedisOptions::addr(addr).db(1)).unwrap();
    one.ping().await.unwrap();
    let d = digest();
    one.set_descriptor(&d, &layer(&d, 1)).await.unwrap();
    assert_eq!(one.stat(&d).await.unwrap(), layer(&d, 1));
    // Database 1 is not the URL's database 0.
    let zero = test_redis().await.unwrap();
    assert_eq!(kind_of(zero.stat(&d).await), ErrorKind::BlobUnknown);
    one.clear(&d).await.unwrap();

    // The test Redis has no password: a wrong one fails, soon.
    let wrong =
        RedisBlobDescriptorCache::new(RedisOptions::addr(addr).password("not-the-password"))
            .unwrap();
    let started = Instant::now();
    assert_eq!(kind_of(wrong.stat(&d).await), ErrorKind::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn nothing_listening_is_unavailable_at_once() {
    // Needs no Redis: nothing listens on this port.
    let port = free_port();
    let cache =
        RedisBlobDescriptorCache::new(RedisOptions::addr(format!("127.0.0.1:{port}"))).unwrap();
    let d = digest();
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(kind_of(cache.stat(&d).await), ErrorKind::Unavailable);
        assert_eq!(
            kind_of(cache.repository_scoped(&repo()).stat(&d).await),
            ErrorKind::Unavailable
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}

#[tokio::test]
async fn a_silent_server_costs_the_timeouts_and_no_more() {
    // Needs no Redis: a socket that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let step = Duration::from_millis(100);
    let cache = RedisBlobDescriptorCache::new(
        RedisOptions::addr(format!("127.0.0.1:{port}"))
            .dial_timeout(step)
            .read_timeout(step)
            .write_timeout(step),
    )
    .unwrap();
    let d = digest();
    let started = Instant::now();
    assert_eq!(kind_of(cache.stat(&d).await), ErrorKind::Unavailable);
    assert!(started.elapsed() < 3 * step + Duration::from_millis(200));

    // Behind the wrapper, the storage answers, and the back-off spares
    // the next requests the wait.
    let store = RecordStore::with(&[&layer(&d, 3)]);
    let statter = CachedBlobStatter::with_health(
        store,
        Arc::new(cache),
        Arc::new(CacheHealth::with_retry_after(Duration::from_secs(10))),
    );
    assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 3));
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(statter.stat(&d).await.unwrap(), layer(&d, 3));
    }
    assert!(started.elapsed() < step);
    assert_eq!(statter.health().errors(), 1);
    assert_eq!(statter.health().bypassed(), 10);
    drop(silent);
}
