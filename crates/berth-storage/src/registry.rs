//! The registry on a storage driver.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use berth_cache::{BlobDescriptorCacheProvider, CacheHealth, CachedBlobStatter};
use berth_core::{BlobDescriptorService, BlobStatter, Result};
use berth_digest::Digest;
use berth_driver::StorageDriver;
use berth_manifest::{Descriptor, ManifestRegistry};
use berth_reference::RepositoryName;
use bytes::Bytes;

use crate::blobs::{GlobalBlobs, LinkKind, LinkedBlobs, RepositoryBlobs};
use crate::gc::GcMetrics;
use crate::gc::guard::{Guard, Verdict};
use crate::paths;

/// How a serving node takes part in online garbage collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    /// The grace period (`storage.maintenance.gc.delay`): what this node
    /// uploads, links, mounts or finds stays at least this long after.
    /// Every node and every collection of one storage should use the
    /// same.
    pub delay: Duration,
    /// Whether this node writes to the storage (a read-only node writes
    /// no markers, but still hears of removals).
    pub writes: bool,
}

/// How the registry behaves (Distribution's `storage.delete`,
/// `storage.redirect` and `storage.cache` settings).
#[derive(Clone, Default)]
pub struct StorageOptions {
    /// Whether blobs, manifests, tags and repositories may be deleted
    /// (`storage.delete.enabled`; off by default, as Distribution).
    pub delete_enabled: bool,
    /// Whether blob reads may redirect to the driver's URLs (on unless
    /// `storage.redirect.disable`).
    pub redirect: bool,
    /// The blob descriptor cache (`storage.cache.blobdescriptor`), if any.
    pub cache: Option<Arc<dyn BlobDescriptorCacheProvider>>,
    /// The manifest schemas accepted and their validation policy
    /// (`validation.*`).
    pub manifests: ManifestRegistry,
    /// Distribution's `redirect` storage middleware: blob reads redirect
    /// to this base URL followed by the blob's storage path (a web server
    /// or CDN in front of the same storage), instead of the driver's URLs.
    pub redirect_base_url: Option<String>,
    /// Online garbage collection's guard: with it, the registry records
    /// what it vouches for in the storage and hears of collections'
    /// removals, so collections may run while it serves. A registry
    /// without it must not serve while a collection runs.
    pub protection: Option<Protection>,
}

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageOptions")
            .field("delete_enabled", &self.delete_enabled)
            .field("redirect", &self.redirect)
            .field("cache", &self.cache.is_some())
            .field("manifests", &self.manifests)
            .field("redirect_base_url", &self.redirect_base_url)
            .field("protection", &self.protection)
            .finish()
    }
}

/// What every handle of one registry shares.
pub(crate) struct Inner {
    pub(crate) driver: Arc<dyn StorageDriver>,
    pub(crate) options: StorageOptions,
    /// The global blob statter, behind the cache when there is one.
    pub(crate) global: Arc<dyn BlobDescriptorService>,
    /// Hits, misses and errors of the cache, shared by every wrapper so a
    /// cache outage backs off once for all repositories.
    pub(crate) cache_health: Arc<CacheHealth>,
    /// Tag lists kept while their directories are unchanged.
    pub(crate) tag_lists: crate::tags::TagLists,
    /// Online garbage collection's guard, if this registry serves.
    pub(crate) guard: Option<Guard>,
    pub(crate) gc_metrics: GcMetrics,
}

impl Inner {
    /// The descriptor of `digest` if it is linked into `from`.
    pub(crate) async fn mount(&self, from: &RepositoryName, digest: &Digest) -> Result<Descriptor> {
        let links = self.links(from, LinkKind::Layer);
        let found = links.stat(digest).await?;
        self.vouched(digest, found, || links.stat(digest)).await
    }

    /// `found`, which a look-up of `digest` just answered, once the
    /// garbage collection guard has vouched for it: looked up `again` if
    /// the guard wrote or read anything since, and unknown if a
    /// collection is removing it.
    pub(crate) async fn vouched<T, F>(
        &self,
        digest: &Digest,
        found: T,
        again: impl FnOnce() -> F,
    ) -> Result<T>
    where
        F: Future<Output = Result<T>>,
    {
        let Some(guard) = &self.guard else {
            return Ok(found);
        };
        match guard.touch(digest).await? {
            Verdict::Safe { fresh: false } => Ok(found),
            Verdict::Safe { fresh: true } => again().await,
            Verdict::Gone => Err(berth_core::Error::BlobUnknown {
                digest: digest.clone(),
            }),
        }
    }

    /// Before `digest` is stored (an upload committed, a manifest
    /// written): records it, and waits out a collection removing it.
    pub(crate) async fn before_store(&self, digest: &Digest) -> Result<()> {
        let Some(guard) = &self.guard else {
            return Ok(());
        };
        loop {
            match guard.touch(digest).await? {
                Verdict::Safe { .. } => return Ok(()),
                Verdict::Gone => guard.wait_until_removed(digest).await?,
            }
        }
    }

    /// Before a manifest naming `digests` is checked and written: records
    /// them; answers the first one a collection is removing.
    pub(crate) async fn before_reference(&self, digests: &[Digest]) -> Result<Option<Digest>> {
        let Some(guard) = &self.guard else {
            return Ok(None);
        };
        let verdicts = guard.touch_all(digests).await?;
        Ok(digests
            .iter()
            .zip(verdicts)
            .find(|(_, v)| *v == Verdict::Gone)
            .map(|(d, _)| d.clone()))
    }

    /// Stores `content`, whose digest is `digest`, in the global blob
    /// store unless it is there already; answers its descriptor (media
    /// type `octet-stream`).
    pub(crate) async fn store_blob(&self, digest: &Digest, content: Bytes) -> Result<Descriptor> {
        let size = crate::blobs::descriptor_size(content.len() as u64);
        self.before_store(digest).await?;
        match self.global.stat(digest).await {
            Ok(_) => {}
            Err(berth_core::Error::BlobUnknown { .. }) => {
                self.driver
                    .put_content(&paths::blob_data(digest), content)
                    .await
                    .map_err(crate::storage_error)?;
            }
            Err(e) => return Err(e),
        }
        let descriptor = Descriptor::new(crate::OCTET_STREAM, digest.clone(), size);
        self.global.set_descriptor(digest, &descriptor).await?;
        Ok(descriptor)
    }

    /// A repository's links of one kind. Layer links go through the cache
    /// when it is shared by every node (Redis); a node-local cache could
    /// not hear of another node's deletes, and manifest revisions are read
    /// from storage always, as Distribution does.
    pub(crate) fn links(
        &self,
        name: &RepositoryName,
        kind: LinkKind,
    ) -> Arc<dyn BlobDescriptorService> {
        let backend: Arc<dyn BlobDescriptorService> = Arc::new(LinkedBlobs {
            driver: self.driver.clone(),
            global: self.global.clone(),
            name: name.clone(),
            kind,
        });
        match &self.options.cache {
            Some(cache) if cache.is_shared() && kind == LinkKind::Layer => {
                Arc::new(CachedBlobStatter::with_health(
                    backend,
                    cache.repository_scoped(name),
                    self.cache_health.clone(),
                ))
            }
            _ => backend,
        }
    }
}

/// A registry stored through a [`StorageDriver`] in Distribution's layout.
///
/// Cheap to clone; every clone shares the driver, options and cache.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// A registry on `driver`.
    pub fn new(driver: Arc<dyn StorageDriver>, options: StorageOptions) -> Registry {
        let global_backend: Arc<dyn BlobDescriptorService> = Arc::new(GlobalBlobs {
            driver: driver.clone(),
        });
        let cache_health = Arc::new(CacheHealth::default());
        let global: Arc<dyn BlobDescriptorService> = match &options.cache {
            Some(cache) => Arc::new(CachedBlobStatter::with_health(
                global_backend,
                cache.clone(),
                cache_health.clone(),
            )),
            None => global_backend,
        };
        let guard = options.protection.map(|p| {
            Guard::new(
                driver.clone(),
                p.delay,
                p.writes,
                options.cache.clone(),
                cache_health.clone(),
            )
        });
        Registry {
            inner: Arc::new(Inner {
                driver,
                options,
                global,
                cache_health,
                tag_lists: Default::default(),
                guard,
                gc_metrics: GcMetrics::default(),
            }),
        }
    }

    /// What this registry's garbage collections did.
    pub fn gc_metrics(&self) -> &GcMetrics {
        &self.inner.gc_metrics
    }

    /// Follows the collections running on the storage, for as long as the
    /// returned future is polled: reads their records every few seconds
    /// (a quarter of the grace period, between 250 ms and 10 s), clearing
    /// this node's descriptor cache of what they remove, and tidies old
    /// markers. Returns at once without a [`Protection`].
    pub async fn follow_collections(&self) {
        let Some(guard) = &self.inner.guard else {
            return;
        };
        let period = guard.watch_period();
        let mut last_tidy = std::time::Instant::now();
        loop {
            if let Err(e) = guard.refresh().await {
                tracing::warn!(error = %e, "garbage collection: could not read the runs' records");
            }
            if last_tidy.elapsed() >= guard.delay().max(Duration::from_secs(60)) {
                last_tidy = std::time::Instant::now();
                if let Err(e) = guard.tidy().await {
                    tracing::warn!(error = %e, "garbage collection: could not tidy old markers");
                }
            }
            tokio::time::sleep(period).await;
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The driver underneath.
    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.inner.driver
    }

    /// The options the registry was built with.
    pub fn options(&self) -> &StorageOptions {
        &self.inner.options
    }

    /// Hits, misses and errors of the descriptor cache.
    pub fn cache_health(&self) -> &Arc<CacheHealth> {
        &self.inner.cache_health
    }

    /// Stats any blob in the registry, regardless of repository.
    pub fn blob_statter(&self) -> Arc<dyn BlobStatter> {
        self.inner.global.clone()
    }

    /// The blobs of repository `name`.
    pub fn blobs(&self, name: &RepositoryName) -> RepositoryBlobs {
        RepositoryBlobs {
            inner: self.inner.clone(),
            name: name.clone(),
            links: self.inner.links(name, LinkKind::Layer),
        }
    }
}
