//! Helpers: unique names, the backend of record, the Redis environment,
//! a redis-server process of our own.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use berth_cache::{RedisBlobDescriptorCache, RedisOptions};
use berth_core::{BlobDescriptorService, BlobStatter, Error, Result};
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_reference::RepositoryName;

pub const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A string no other test (in this process or another) will make.
pub fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}x{nanos}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh repository name.
pub fn repo() -> RepositoryName {
    RepositoryName::parse(&format!("berth-test/r{}", unique())).unwrap()
}

/// A fresh sha256 digest.
pub fn digest() -> Digest {
    Digest::sha256(unique().as_bytes())
}

/// A layer descriptor for `digest`.
pub fn layer(digest: &Digest, size: i64) -> Descriptor {
    Descriptor::new(LAYER, digest.clone(), size)
}

/// The kind of a failed call, for asserts.
pub fn kind_of<T: std::fmt::Debug>(result: Result<T>) -> berth_core::ErrorKind {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.kind(),
    }
}

/// THE BACKEND OF RECORD for these tests: a plain map standing in for
/// berth-storage's link store, which is not written yet. Unlike a cache it
/// never forgets, and clearing an unknown digest is `BlobUnknown`. It
/// counts its stats so tests can see when the cache answered instead.
#[derive(Default)]
pub struct RecordStore {
    map: Mutex<HashMap<Digest, Descriptor>>,
    stats: AtomicUsize,
}

impl RecordStore {
    pub fn with(descriptors: &[&Descriptor]) -> Arc<RecordStore> {
        let store = RecordStore::default();
        {
            let mut map = store.map.lock().unwrap();
            for d in descriptors {
                map.insert(d.digest.clone(), (*d).clone());
            }
        }
        Arc::new(store)
    }

    pub fn stats(&self) -> usize {
        self.stats.load(Ordering::Relaxed)
    }

    pub fn has(&self, digest: &Digest) -> bool {
        self.map.lock().unwrap().contains_key(digest)
    }
}

#[async_trait]
impl BlobStatter for RecordStore {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        self.stats.fetch_add(1, Ordering::Relaxed);
        self.map
            .lock()
            .unwrap()
            .get(digest)
            .cloned()
            .ok_or_else(|| Error::BlobUnknown {
                digest: digest.clone(),
            })
    }
}

#[async_trait]
impl BlobDescriptorService for RecordStore {
    async fn set_descriptor(&self, digest: &Digest, descriptor: &Descriptor) -> Result<()> {
        self.map
            .lock()
            .unwrap()
            .insert(digest.clone(), descriptor.clone());
        Ok(())
    }

    async fn clear(&self, digest: &Digest) -> Result<()> {
        match self.map.lock().unwrap().remove(digest) {
            Some(_) => Ok(()),
            None => Err(Error::BlobUnknown {
                digest: digest.clone(),
            }),
        }
    }
}

/// Whether `scripts/test.sh` said the services must be there.
pub fn services_required() -> bool {
    std::env::var("BERTH_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The test Redis's URL, or `None` (having said so) when the tests that
/// need it are to be skipped.
pub fn redis_url() -> Option<String> {
    match std::env::var("BERTH_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if services_required() => {
            panic!("BERTH_TEST_REQUIRE_SERVICES=1 but BERTH_TEST_REDIS_URL is not set")
        }
        _ => {
            println!("skipped: no Redis configured");
            None
        }
    }
}

/// A provider on the test Redis (which must answer), or `None` to skip.
pub async fn test_redis() -> Option<RedisBlobDescriptorCache> {
    let url = redis_url()?;
    let cache = RedisBlobDescriptorCache::new(RedisOptions::url(&url))
        .unwrap_or_else(|e| panic!("BERTH_TEST_REDIS_URL={url}: {e}"));
    if let Err(e) = cache.ping().await {
        panic!("the Redis at BERTH_TEST_REDIS_URL={url} does not answer: {e}");
    }
    Some(cache)
}

/// A raw connection to the test Redis, to look at and plant keys.
pub async fn raw_redis() -> Option<redis::aio::MultiplexedConnection> {
    let url = redis_url()?;
    let client = redis::Client::open(url.as_str()).unwrap();
    Some(client.get_multiplexed_async_connection().await.unwrap())
}

/// A loopback port nothing listens on (as of now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A redis-server process of this test's own, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Whether `redis-server` can be run; `None` (having said so) when the
    /// test is to be skipped, a panic when services are required.
    pub fn available() -> Option<()> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        match found {
            true => Some(()),
            false if services_required() => {
                panic!("BERTH_TEST_REQUIRE_SERVICES=1 but redis-server is not on PATH")
            }
            false => {
                println!("skipped: redis-server is not on PATH");
                None
            }
        }
    }

    /// Starts `redis-server` on `port` (loopback, no persistence).
    pub fn start(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting redis-server: {e}"));
        RedisServer {
            child: Some(child),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the process (SIGKILL, by its PID) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until a server answers on the port.
    pub async fn wait_ready(&self) {
        let probe = RedisBlobDescriptorCache::new(
            RedisOptions::url(self.url())
                .dial_timeout(Duration::from_millis(200))
                .read_timeout(Duration::from_millis(200))
                .write_timeout(Duration::from_millis(200)),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while probe.ping().await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
