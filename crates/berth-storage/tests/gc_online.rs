//! Online garbage collection's protocol, step by step: two registries
//! ("nodes") on one storage, each with its guard and in-memory cache, and
//! runs stopped at the moment they announce or spare, so each race of
//! docs/garbage-collection.md ("Why the contract holds") happens on
//! purpose.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use berth_cache::InMemoryBlobDescriptorCache;
use berth_core::{Error, PutOptions, Repository};
use berth_digest::Digest;
use berth_driver::{
    FileInfo, FileWriter, InMemoryDriver, ReadStream, Result as DriverResult, StorageDriver, WalkFn,
};
use berth_manifest::{Manifest, ManifestRegistry, media_type};
use berth_reference::Tag;
use berth_storage::{GcOptions, Protection, Registry, StorageOptions, paths};
use bytes::Bytes;
use common::{content, repo};
use serde_json::json;

type Hook = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Forwards to a driver; after a run writes its `candidates` or its
/// `pardoned` record, runs the hook (with the path) before answering.
struct Hooked {
    inner: Arc<dyn StorageDriver>,
    hook: Mutex<Option<Hook>>,
}

impl Hooked {
    fn set(&self, hook: Option<Hook>) {
        *self.hook.lock().unwrap() = hook;
    }
}

#[async_trait]
impl StorageDriver for Hooked {
    fn name(&self) -> &'static str {
        "hooked"
    }
    async fn get_content(&self, path: &str) -> DriverResult<Bytes> {
        self.inner.get_content(path).await
    }
    async fn put_content(&self, path: &str, content: Bytes) -> DriverResult<()> {
        self.inner.put_content(path, content).await?;
        if path.ends_with("/candidates") || path.ends_with("/pardoned") {
            let hook = self.hook.lock().unwrap().clone();
            if let Some(hook) = hook {
                hook(path.to_owned()).await;
            }
        }
        Ok(())
    }
    async fn reader(&self, path: &str, offset: u64) -> DriverResult<ReadStream> {
        self.inner.reader(path, offset).await
    }
    async fn writer(&self, path: &str, append: bool) -> DriverResult<Box<dyn FileWriter>> {
        self.inner.writer(path, append).await
    }
    async fn stat(&self, path: &str) -> DriverResult<FileInfo> {
        self.inner.stat(path).await
    }
    async fn list(&self, path: &str) -> DriverResult<Vec<String>> {
        self.inner.list(path).await
    }
    async fn move_to(&self, source: &str, dest: &str) -> DriverResult<()> {
        self.inner.move_to(source, dest).await
    }
    async fn delete(&self, path: &str) -> DriverResult<()> {
        self.inner.delete(path).await
    }
    async fn redirect_url(&self, path: &str) -> DriverResult<Option<String>> {
        self.inner.redirect_url(path).await
    }
    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> DriverResult<()> {
        self.inner.walk(from, visit).await
    }
}

/// The grace period of the nodes and the runs here: short, so a test
/// can wait past it.
const DELAY: Duration = Duration::from_millis(400);
/// A grace period longer than a run.
const LONG: Duration = Duration::from_secs(3);

struct World {
    storage: Arc<Hooked>,
    /// Two serving nodes, each with its own in-memory cache.
    a: Registry,
    b: Registry,
    /// The process that collects (no guard: it only runs collections).
    collector: Registry,
}

fn node(driver: Arc<dyn StorageDriver>, delay: Duration) -> Registry {
    Registry::new(
        driver,
        StorageOptions {
            delete_enabled: true,
            cache: Some(Arc::new(InMemoryBlobDescriptorCache::new(1000))),
            protection: Some(Protection {
                delay,
                writes: true,
            }),
            ..StorageOptions::default()
        },
    )
}

fn world() -> World {
    world_with(DELAY)
}

fn world_with(delay: Duration) -> World {
    let storage = Arc::new(Hooked {
        inner: Arc::new(InMemoryDriver::new()),
        hook: Mutex::new(None),
    });
    let driver: Arc<dyn StorageDriver> = storage.clone();
    World {
        a: node(driver.clone(), delay),
        b: node(driver.clone(), delay),
        collector: Registry::new(driver, StorageOptions::default()),
        storage,
    }
}

fn untagged() -> GcOptions {
    untagged_for(DELAY)
}

fn untagged_for(delay: Duration) -> GcOptions {
    GcOptions {
        dry_run: false,
        delete_untagged: true,
        delay,
    }
}

/// Past the grace period (and the markers' refresh period).
async fn past_grace() {
    tokio::time::sleep(DELAY + DELAY / 2 + Duration::from_millis(200)).await;
}

/// An image of one config and one layer in `name`, pushed through `node`
/// and tagged `tag`; answers the manifest and its layer's digest.
async fn push_image(node: &Registry, name: &str, tag: &str, seed: u8) -> (Manifest, Digest) {
    let repository = node.repository(&repo(name));
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}");
    repository
        .blobs()
        .put(media_type::OCI_CONFIG, Bytes::from(config.clone()))
        .await
        .unwrap();
    let layer = content(2000, seed);
    repository
        .blobs()
        .put(media_type::OCI_LAYER_GZIP, layer.clone())
        .await
        .unwrap();
    let manifest = image_manifest(config.as_bytes(), &layer);
    repository
        .manifests()
        .put(
            &manifest,
            PutOptions {
                tag: Some(Tag::parse(tag).unwrap()),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    (manifest, Digest::sha256(&layer))
}

fn image_manifest(config: &[u8], layer: &[u8]) -> Manifest {
    let body = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": {"mediaType": media_type::OCI_CONFIG, "digest": Digest::sha256(config).to_string(), "size": config.len()},
        "layers": [{"mediaType": media_type::OCI_LAYER_GZIP, "digest": Digest::sha256(layer).to_string(), "size": layer.len()}],
    });
    ManifestRegistry::new()
        .parse(
            Some(media_type::OCI_MANIFEST),
            Bytes::from(serde_json::to_vec(&body).unwrap()),
        )
        .unwrap()
}

async fn blob_exists(w: &World, digest: &Digest) -> bool {
    match w.storage.inner.stat(&paths::blob_data(digest)).await {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => panic!("{e}"),
    }
}

async fn head(node: &Registry, name: &str, digest: &Digest) -> Result<(), Error> {
    node.repository(&repo(name))
        .blobs()
        .stat(digest)
        .await
        .map(|_| ())
}

/// The classic race: a client finds by `HEAD` a blob whose image was
/// deleted, skips its upload, and pushes a manifest naming it while a run
/// sweeps. Within the grace period the run keeps it; the push succeeds
/// and pulls.
#[tokio::test]
async fn head_then_skip_within_the_grace_period() {
    // A grace period longer than a run (whose lease alone takes a
    // second), so the push can come within it after the run.
    let w = world_with(LONG);
    let (old, layer) = push_image(&w.a, "app/one", "v1", 1).await;
    // The image is deleted; its layer stays linked in the repository.
    w.a.repository(&repo("app/one"))
        .manifests()
        .delete(old.digest())
        .await
        .unwrap();
    tokio::time::sleep(LONG + LONG / 2).await;

    // Node B finds the layer (a HEAD), then a run goes.
    head(&w.b, "app/one", &layer).await.unwrap();
    let report = w
        .collector
        .garbage_collect(untagged_for(LONG))
        .await
        .unwrap();
    assert!(blob_exists(&w, &layer).await, "{report:?}");
    assert!(report.protected >= 1, "{report:?}");

    // The push that relied on the HEAD succeeds, through either node.
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{}}}",
        1
    );
    let again = image_manifest(config.as_bytes(), &content(2000, 1));
    w.a.repository(&repo("app/one"))
        .blobs()
        .put(media_type::OCI_CONFIG, Bytes::from(config))
        .await
        .unwrap();
    w.a.repository(&repo("app/one"))
        .manifests()
        .put(
            &again,
            PutOptions {
                tag: Some(Tag::parse("v2").unwrap()),
                ..PutOptions::default()
            },
        )
        .await
        .unwrap();
    // Now tagged: the next runs keep it for good.
    tokio::time::sleep(LONG + LONG / 2).await;
    w.collector
        .garbage_collect(untagged_for(LONG))
        .await
        .unwrap();
    assert!(blob_exists(&w, &layer).await);
    head(&w.b, "app/one", &layer).await.unwrap();
}

/// Past the grace period the layer goes, and no node vouches for it any
/// more: not from its cache (it was cached by B), not for a manifest.
#[tokio::test]
async fn removed_blobs_leave_every_nodes_cache() {
    let w = world();
    let (old, layer) = push_image(&w.a, "app/two", "v1", 2).await;
    w.a.repository(&repo("app/two"))
        .manifests()
        .delete(old.digest())
        .await
        .unwrap();
    // Both nodes have the layer's descriptor cached.
    head(&w.a, "app/two", &layer).await.unwrap();
    head(&w.b, "app/two", &layer).await.unwrap();
    past_grace().await;

    let report = w.collector.garbage_collect(untagged()).await.unwrap();
    assert!(
        report.blobs_removed.iter().any(|b| b.digest == layer),
        "{report:?}"
    );
    assert!(!blob_exists(&w, &layer).await);
    for node in [&w.a, &w.b] {
        match head(node, "app/two", &layer).await {
            Err(Error::BlobUnknown { .. }) => {}
            other => panic!("a removed blob answered {other:?}"),
        }
        match node
            .repository(&repo("app/two"))
            .manifests()
            .put(&old, PutOptions::default())
            .await
        {
            Err(Error::ManifestBlobUnknown { .. }) => {}
            other => panic!("a manifest naming a removed blob got {other:?}"),
        }
    }
    // A re-push stores it again, and it is found.
    w.b.repository(&repo("app/two"))
        .blobs()
        .put(media_type::OCI_LAYER_GZIP, content(2000, 2))
        .await
        .unwrap();
    assert!(blob_exists(&w, &layer).await);
    head(&w.a, "app/two", &layer).await.unwrap();
}

/// A node touches a candidate after the run announced it but before the
/// run read the markers again: the run spares it, and the node's answer
/// waits for that verdict.
#[tokio::test]
async fn touched_after_the_announcement_is_spared() {
    let w = world();
    let (old, layer) = push_image(&w.a, "app/three", "v1", 3).await;
    w.a.repository(&repo("app/three"))
        .manifests()
        .delete(old.digest())
        .await
        .unwrap();
    past_grace().await;

    let answered = Arc::new(Mutex::new(None));
    let (b, seen, wanted) = (w.b.clone(), answered.clone(), layer.clone());
    let storage = w.storage.inner.clone();
    w.storage.set(Some(Arc::new(move |path: String| {
        let (b, seen, wanted, storage) = (b.clone(), seen.clone(), wanted.clone(), storage.clone());
        Box::pin(async move {
            if !path.ends_with("/candidates") {
                return;
            }
            // B's HEAD runs beside the run; the run goes on once B's
            // marker of the layer is in the storage.
            let since = std::time::SystemTime::now();
            let hex = wanted.encoded().to_owned();
            let task = tokio::spawn(async move { head(&b, "app/three", &wanted).await });
            wait_for_marker(&storage, &hex, since).await;
            *seen.lock().unwrap() = Some(task);
        })
    })));
    let report = w.collector.garbage_collect(untagged()).await.unwrap();
    w.storage.set(None);
    let task = answered.lock().unwrap().take().expect("the hook ran");
    assert!(task.await.unwrap().is_ok(), "B's HEAD waited and was kept");
    assert!(blob_exists(&w, &layer).await, "{report:?}");
    assert!(report.blobs_removed.iter().all(|b| b.digest != layer));
}

/// A node touches a candidate after the run spared what it spares: the
/// node answers that the blob is unknown (the client uploads it again),
/// and the run removes it.
#[tokio::test]
async fn touched_after_the_verdict_is_gone() {
    let w = world();
    let (old, layer) = push_image(&w.a, "app/four", "v1", 4).await;
    w.a.repository(&repo("app/four"))
        .manifests()
        .delete(old.digest())
        .await
        .unwrap();
    head(&w.b, "app/four", &layer).await.unwrap();
    past_grace().await;

    let answered = Arc::new(Mutex::new(None));
    let (b, seen, wanted) = (w.b.clone(), answered.clone(), layer.clone());
    w.storage.set(Some(Arc::new(move |path: String| {
        let (b, seen, wanted) = (b.clone(), seen.clone(), wanted.clone());
        Box::pin(async move {
            if path.ends_with("/pardoned") {
                let result = head(&b, "app/four", &wanted).await;
                *seen.lock().unwrap() = Some(result);
            }
        })
    })));
    let report = w.collector.garbage_collect(untagged()).await.unwrap();
    w.storage.set(None);
    match answered.lock().unwrap().take().expect("the hook ran") {
        Err(Error::BlobUnknown { .. }) => {}
        other => panic!("a blob being removed answered {other:?}"),
    }
    assert!(report.blobs_removed.iter().any(|b| b.digest == layer));
    assert!(!blob_exists(&w, &layer).await);
}

/// An upload committed while a run removes the same blob waits until the
/// run is over, then stores it: the data is there after the run.
#[tokio::test]
async fn an_upload_of_a_blob_being_removed_is_stored_after() {
    let w = world();
    let (old, layer) = push_image(&w.a, "app/five", "v1", 5).await;
    w.a.repository(&repo("app/five"))
        .manifests()
        .delete(old.digest())
        .await
        .unwrap();
    past_grace().await;

    let uploaded = Arc::new(Mutex::new(None));
    let (b, seen) = (w.b.clone(), uploaded.clone());
    w.storage.set(Some(Arc::new(move |path: String| {
        let (b, seen) = (b.clone(), seen.clone());
        Box::pin(async move {
            if path.ends_with("/pardoned") {
                let task = tokio::spawn(async move {
                    b.repository(&repo("app/five"))
                        .blobs()
                        .put(media_type::OCI_LAYER_GZIP, content(2000, 5))
                        .await
                });
                *seen.lock().unwrap() = Some(task);
            }
        })
    })));
    w.collector.garbage_collect(untagged()).await.unwrap();
    w.storage.set(None);
    let task = uploaded.lock().unwrap().take().expect("the hook ran");
    task.await.unwrap().unwrap();
    assert!(
        blob_exists(&w, &layer).await,
        "the upload came after the removal"
    );
    head(&w.a, "app/five", &layer).await.unwrap();
}

/// One run at a time: a second run while one holds the lease is refused
/// as unavailable, and removes nothing.
#[tokio::test]
async fn one_run_at_a_time() {
    let w = world();
    let (old, _) = push_image(&w.a, "app/six", "v1", 6).await;
    w.a.repository(&repo("app/six"))
        .manifests()
        .delete(old.digest())
        .await
        .unwrap();
    past_grace().await;
    let second = Arc::new(Mutex::new(None));
    let (collector, seen) = (w.collector.clone(), second.clone());
    w.storage.set(Some(Arc::new(move |path: String| {
        let (collector, seen) = (collector.clone(), seen.clone());
        Box::pin(async move {
            if path.ends_with("/candidates") {
                // (A collection's future is not Send: it runs on a
                // runtime of its own.)
                let result = std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(collector.garbage_collect(untagged()))
                })
                .join()
                .unwrap();
                *seen.lock().unwrap() = Some(result);
            }
        })
    })));
    let first = w.collector.garbage_collect(untagged()).await.unwrap();
    w.storage.set(None);
    assert!(!first.blobs_removed.is_empty());
    match second.lock().unwrap().take().expect("the hook ran") {
        Err(Error::Unavailable { .. }) => {}
        other => panic!("a second run beside the first got {other:?}"),
    }
    assert_eq!(w.collector.gc_metrics().runs("busy"), 1);
    assert_eq!(w.collector.gc_metrics().runs("removed"), 1);
}

/// Waits until a marker of the digest whose hex is `hex` appears in a
/// bucket that ends after `since`.
async fn wait_for_marker(
    storage: &Arc<dyn StorageDriver>,
    hex: &str,
    since: std::time::SystemTime,
) {
    let since = since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut found = false;
        let _ = storage
            .walk("/berth/gc/touched", &mut |info| {
                let parts: Vec<&str> = info.path.split('/').collect();
                // /berth/gc/touched/<start>-<len>/sha256/<hex>
                if let [_, _, _, _, bucket, _, name] = parts.as_slice()
                    && *name == hex
                    && let Some((start, len)) = bucket.split_once('-')
                    && start.parse::<u64>().unwrap_or(0) + len.parse::<u64>().unwrap_or(0) > since
                {
                    found = true;
                }
                berth_driver::Walk::Continue
            })
            .await;
        if found {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no marker appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A run killed after announcing (its records left, its lease lapsed)
/// blocks nothing: nodes treat it as over, and the next run takes the
/// lease and finishes the work.
#[tokio::test]
async fn an_abandoned_run_blocks_nothing() {
    let w = world();
    let (old, layer) = push_image(&w.a, "app/seven", "v1", 7).await;
    w.a.repository(&repo("app/seven"))
        .manifests()
        .delete(old.digest())
        .await
        .unwrap();
    past_grace().await;
    // What a run killed after its announcement leaves.
    let storage = &w.storage.inner;
    let run = "1700000000000-deadbeef0000";
    storage
        .put_content(
            &format!("/berth/gc/runs/{run}/candidates"),
            Bytes::from(format!("{layer}\n")),
        )
        .await
        .unwrap();
    let lapsed = json!({"run": run, "host": "gone", "pid": 1, "expires": 1_700_000_015_000u64});
    storage
        .put_content(
            "/berth/gc/lease",
            Bytes::from(serde_json::to_vec(&lapsed).unwrap()),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    head(&w.b, "app/seven", &layer).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    past_grace().await;
    let report = w.collector.garbage_collect(untagged()).await.unwrap();
    assert!(report.blobs_removed.iter().any(|b| b.digest == layer));
    // The next run removed the abandoned run's records.
    let runs = storage.list("/berth/gc/runs").await.unwrap();
    assert!(runs.iter().all(|r| !r.ends_with(run)), "{runs:?}");
}
