//! The registry keeps answering from storage while its Redis cache is down,
//! and uses the cache again once it is back.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cache::{RedisBlobDescriptorCache, RedisOptions};
use berth_core::{BlobIngester, BlobProvider, BlobStatter};
use berth_digest::Digest;
use berth_driver::FilesystemDriver;
use berth_storage::{Registry, StorageOptions};
use berth_testkit::{ChildGuard, free_port, program};
use common::{content, repo, start};

fn redis_server(port: u16) -> ChildGuard {
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    ChildGuard(child)
}

/// Runs `f` and checks it took less than two seconds.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = f.await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{what} took {:?} with the cache down",
        started.elapsed()
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_redis_is_down() {
    if !program("redis-server") {
        return;
    }
    let port = free_port();
    let mut redis = redis_server(port);
    let dir = tempfile::tempdir().unwrap();
    let cache =
        RedisBlobDescriptorCache::new(RedisOptions::url(format!("redis://127.0.0.1:{port}/")))
            .unwrap();
    let registry = Registry::new(
        Arc::new(FilesystemDriver::new(dir.path())),
        StorageOptions {
            delete_enabled: true,
            redirect: false,
            cache: Some(Arc::new(cache.clone())),
            ..StorageOptions::default()
        },
    );
    let blobs = registry.blobs(&repo("cached/app"));
    let first = content(50_000, 1);
    let d1 = blobs
        .put("application/octet-stream", first.clone())
        .await
        .unwrap();
    assert_eq!(blobs.stat(&d1.digest).await.unwrap().size, 50_000);
    cache.ping().await.expect("Redis answers while it runs");

    // Redis goes away in the middle.
    redis.stop();
    let d = bounded("stat", blobs.stat(&d1.digest)).await.unwrap();
    assert_eq!(d.size, 50_000);
    assert_eq!(bounded("get", blobs.get(&d1.digest)).await.unwrap(), first);
    // A push works too, and so does a stat of what it pushed.
    let second = content(70_000, 2);
    let digest = Digest::sha256(&second);
    let mut upload = bounded("create", start(&blobs)).await;
    upload.write(second.clone()).await.unwrap();
    bounded("commit", upload.commit(&digest, None))
        .await
        .unwrap();
    assert_eq!(
        bounded("stat", blobs.stat(&digest)).await.unwrap().size,
        70_000
    );
    assert!(matches!(
        bounded("stat unknown", blobs.stat(&Digest::sha256(b"nope"))).await,
        Err(berth_core::Error::BlobUnknown { .. })
    ));
    assert!(cache.ping().await.is_err());
    assert!(
        registry.cache_health().errors() > 0,
        "cache errors are counted"
    );

    // Redis comes back on the same port: the cache is used again.
    let _redis = redis_server(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.ping().await.is_err() {
        assert!(Instant::now() < deadline, "the cache did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await; // the back-off after errors
    // The first stat refills the new (empty) Redis, the second hits it.
    assert_eq!(blobs.stat(&digest).await.unwrap().size, 70_000);
    let hits = registry.cache_health().hits();
    assert_eq!(blobs.stat(&digest).await.unwrap().size, 70_000);
    assert!(
        registry.cache_health().hits() > hits,
        "the cache serves again"
    );
}
