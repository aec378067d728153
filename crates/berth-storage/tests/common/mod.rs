//! Drivers and helpers the storage tests share.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use berth_cache::{
    BlobDescriptorCacheProvider, InMemoryBlobDescriptorCache, RedisBlobDescriptorCache,
    RedisOptions,
};
use berth_core::{BlobIngester, BlobWriter, CreateOptions, Created};
use berth_driver::{
    FileInfo, FileWriter, FilesystemDriver, InMemoryDriver, ReadStream, Result, StorageDriver,
    WalkFn,
};
use berth_reference::RepositoryName;
use berth_storage::{Registry, RepositoryBlobs, StorageOptions};
use bytes::Bytes;

/// A driver, the descriptor cache to use with it, and whatever keeps its
/// backing store alive.
pub struct TestDriver {
    pub driver: Arc<dyn StorageDriver>,
    pub cache: Option<Arc<dyn BlobDescriptorCacheProvider>>,
    _keep: Option<tempfile::TempDir>,
}

impl TestDriver {
    /// A registry on this driver (deletes and redirects on).
    pub fn registry(&self) -> Registry {
        self.registry_on(self.driver.clone())
    }

    /// A registry on `driver` (a wrapper of this one), with this cache.
    pub fn registry_on(&self, driver: Arc<dyn StorageDriver>) -> Registry {
        Registry::new(
            driver,
            StorageOptions {
                delete_enabled: true,
                redirect: true,
                cache: self.cache.clone(),
                ..StorageOptions::default()
            },
        )
    }
}

pub fn inmemory() -> TestDriver {
    TestDriver {
        driver: Arc::new(InMemoryDriver::new()),
        cache: None,
        _keep: None,
    }
}

pub fn filesystem() -> TestDriver {
    let dir = tempfile::tempdir().expect("temp dir");
    TestDriver {
        driver: Arc::new(FilesystemDriver::new(dir.path())),
        cache: None,
        _keep: Some(dir),
    }
}

/// The filesystem driver behind a bounded in-memory descriptor cache.
pub fn filesystem_cached() -> TestDriver {
    TestDriver {
        cache: Some(Arc::new(InMemoryBlobDescriptorCache::new(1000))),
        ..filesystem()
    }
}

/// The in-memory driver behind the Redis descriptor cache of
/// scripts/test.sh; `None` (skipped) without one.
pub fn inmemory_redis() -> Option<TestDriver> {
    let url = berth_testkit::service("BERTH_TEST_REDIS_URL", "Redis")?;
    // A prefix of its own, so runs and concurrent tests sharing the Redis
    // never see each other's entries.
    let prefix = format!("test-{}:", uuid::Uuid::new_v4());
    let options = RedisOptions::url(&url).key_prefix(prefix);
    let cache = RedisBlobDescriptorCache::new(options).expect("Redis cache");
    Some(TestDriver {
        cache: Some(Arc::new(cache)),
        ..inmemory()
    })
}

/// The S3 driver on the test server of scripts/test.sh, under a fresh
/// root; `None` (skipped) without one.
pub async fn s3() -> Option<TestDriver> {
    let env = berth_testkit::s3_env("storage on S3")?;
    let mut params = berth_driver_s3::S3Parameters::new(env.bucket.clone());
    params.region = Some(env.region);
    params.regionendpoint = Some(env.endpoint);
    params.forcepathstyle = true;
    params.accesskey = Some(env.access_key);
    params.secretkey = Some(env.secret_key);
    params.rootdirectory = Some(berth_testkit::unique_root());
    let driver = berth_driver_s3::S3Driver::new(params)
        .await
        .unwrap_or_else(|e| panic!("S3 driver: {e}"));
    Some(TestDriver {
        driver: Arc::new(driver),
        cache: None,
        _keep: None,
    })
}

/// Runs each listed test function as its own test on every driver, and
/// with each descriptor cache.
#[macro_export]
macro_rules! on_every_driver {
    ($($case:ident),* $(,)?) => {
        mod inmemory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::common::inmemory()).await; })*
        }
        mod filesystem {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::common::filesystem()).await; })*
        }
        mod filesystem_cached {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::$case(super::common::filesystem_cached()).await; })*
        }
        mod s3 {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(t) = super::common::s3().await {
                    super::$case(t).await;
                }
            })*
        }
        mod inmemory_redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(t) = super::common::inmemory_redis() {
                    super::$case(t).await;
                }
            })*
        }
    };
}

pub fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).expect("valid repository name")
}

/// Deterministic content of `len` bytes.
pub fn content(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

/// Starts an upload (no mount).
pub async fn start(blobs: &RepositoryBlobs) -> Box<dyn BlobWriter> {
    match blobs
        .create(CreateOptions::default())
        .await
        .expect("create")
    {
        Created::Upload(upload) => upload,
        Created::Mounted(d) => panic!("unexpected mount of {d:?}"),
    }
}

/// Every file path under `from`, sorted.
pub async fn files(driver: &dyn StorageDriver, from: &str) -> Vec<String> {
    let mut out = Vec::new();
    let result = driver
        .walk(from, &mut |info| {
            if !info.is_dir {
                out.push(info.path.clone());
            }
            berth_driver::Walk::Continue
        })
        .await;
    match result {
        Ok(()) => out,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => panic!("walk {from}: {e}"),
    }
}

/// A driver that counts the bytes read from paths containing `/_uploads/`
/// and ending in `/data` (upload data), and forwards everything else.
pub struct CountingDriver {
    pub inner: Arc<dyn StorageDriver>,
    pub upload_bytes_read: Arc<AtomicU64>,
}

fn is_upload_data(path: &str) -> bool {
    path.contains("/_uploads/") && path.ends_with("/data")
}

#[async_trait]
impl StorageDriver for CountingDriver {
    fn name(&self) -> &'static str {
        "counting"
    }
    async fn get_content(&self, path: &str) -> Result<Bytes> {
        let content = self.inner.get_content(path).await?;
        if is_upload_data(path) {
            self.upload_bytes_read
                .fetch_add(content.len() as u64, Ordering::SeqCst);
        }
        Ok(content)
    }
    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        self.inner.put_content(path, content).await
    }
    async fn reader(&self, path: &str, offset: u64) -> Result<ReadStream> {
        let stream = self.inner.reader(path, offset).await?;
        if !is_upload_data(path) {
            return Ok(stream);
        }
        let counter = self.upload_bytes_read.clone();
        use futures_util::StreamExt;
        Ok(Box::pin(stream.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        })))
    }
    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        self.inner.writer(path, append).await
    }
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.inner.stat(path).await
    }
    async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.inner.list(path).await
    }
    async fn move_to(&self, source: &str, dest: &str) -> Result<()> {
        self.inner.move_to(source, dest).await
    }
    async fn delete(&self, path: &str) -> Result<()> {
        self.inner.delete(path).await
    }
    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        self.inner.redirect_url(path).await
    }
    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> Result<()> {
        self.inner.walk(from, visit).await
    }
}
