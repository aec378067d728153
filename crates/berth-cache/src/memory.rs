//! The bounded in-memory provider.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{BlobDescriptorService, BlobStatter, Result};
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_reference::RepositoryName;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use crate::BlobDescriptorCacheProvider;
use crate::descriptor::{answer, check, unknown};

/// How many descriptors the in-memory provider keeps by default, globally
/// and again for repository membership: Distribution's default for
/// `storage.cache.blobdescriptorsize`.
pub const DEFAULT_CAPACITY: u64 = 10_000;

/// A global descriptor as kept in memory.
#[derive(Clone)]
struct Entry {
    digest: Digest,
    size: i64,
    media_type: Arc<str>,
}

/// A bounded, node-local blob-descriptor cache (Distribution's `inmemory`
/// `blobdescriptor` cache).
///
/// Two bounded maps, each evicting the least recently used entry when
/// full: global descriptors keyed by digest, and repository membership
/// keyed by (repository, digest) holding the repository's media type for
/// the blob. A repository-scoped [`stat`](BlobStatter::stat) needs both.
/// Only the digest, size and media type of a descriptor are kept.
///
/// Cloning is cheap and clones share the maps.
///
/// ```
/// use berth_cache::{BlobDescriptorCacheProvider, InMemoryBlobDescriptorCache};
/// use berth_core::{BlobDescriptorService, BlobStatter};
/// use berth_digest::Digest;
/// use berth_manifest::Descriptor;
/// use berth_reference::RepositoryName;
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let cache = InMemoryBlobDescriptorCache::new(100);
/// let repo = RepositoryName::parse("team/app")?;
/// let digest = Digest::sha256(b"layer");
/// let descriptor = Descriptor::new("application/vnd.oci.image.layer.v1.tar", digest.clone(), 5);
///
/// cache.repository_scoped(&repo).set_descriptor(&digest, &descriptor).await?;
/// assert_eq!(cache.stat(&digest).await?.size, 5);
/// let other = RepositoryName::parse("team/other")?;
/// assert!(cache.repository_scoped(&other).stat(&digest).await.is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct InMemoryBlobDescriptorCache {
    global: Cache<Digest, Entry>,
    scoped: Cache<(RepositoryName, Digest), Arc<str>>,
}

impl InMemoryBlobDescriptorCache {
    /// A cache keeping at most `capacity` global descriptors and at most
    /// `capacity` repository memberships. A capacity of 0 keeps nothing.
    pub fn new(capacity: u64) -> InMemoryBlobDescriptorCache {
        InMemoryBlobDescriptorCache::with_capacities(capacity, capacity)
    }

    /// A cache with separate bounds for global descriptors and repository
    /// memberships.
    pub fn with_capacities(global: u64, scoped: u64) -> InMemoryBlobDescriptorCache {
        InMemoryBlobDescriptorCache {
            global: Cache::builder()
                .max_capacity(global)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            scoped: Cache::builder()
                .max_capacity(scoped)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
        }
    }

    /// How many global descriptors and repository memberships are held,
    /// after pending evictions have run.
    pub fn entry_counts(&self) -> (u64, u64) {
        self.global.run_pending_tasks();
        self.scoped.run_pending_tasks();
        (self.global.entry_count(), self.scoped.entry_count())
    }

    fn entry(descriptor: &Descriptor) -> Entry {
        Entry {
            digest: descriptor.digest.clone(),
            size: descriptor.size,
            media_type: Arc::from(descriptor.media_type.as_str()),
        }
    }

    /// Records `digest` as a member of `repo` with the repository's media
    /// type, and the global descriptor, keeping a global media type
    /// already known (the repository's one overrides it for the
    /// repository).
    fn set_scoped(&self, repo: &RepositoryName, digest: &Digest, entry: &Entry) {
        self.scoped
            .insert((repo.clone(), digest.clone()), entry.media_type.clone());
        self.global
            .entry(digest.clone())
            .and_upsert_with(|old| Entry {
                media_type: old.map_or_else(
                    || entry.media_type.clone(),
                    |old| old.into_value().media_type,
                ),
                ..entry.clone()
            });
    }
}

impl Default for InMemoryBlobDescriptorCache {
    /// A cache of [`DEFAULT_CAPACITY`] entries.
    fn default() -> Self {
        InMemoryBlobDescriptorCache::new(DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for InMemoryBlobDescriptorCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryBlobDescriptorCache")
            .field("global_capacity", &self.global.policy().max_capacity())
            .field("scoped_capacity", &self.scoped.policy().max_capacity())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BlobStatter for InMemoryBlobDescriptorCache {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        match self.global.get(digest) {
            Some(e) => Ok(answer(e.digest, e.size, &e.media_type)),
            None => Err(unknown(digest)),
        }
    }
}

#[async_trait]
impl BlobDescriptorService for InMemoryBlobDescriptorCache {
    async fn set_descriptor(&self, digest: &Digest, descriptor: &Descriptor) -> Result<()> {
        let alias = check(digest, descriptor)?;
        let entry = InMemoryBlobDescriptorCache::entry(descriptor);
        if alias {
            self.global.insert(descriptor.digest.clone(), entry.clone());
        }
        self.global.insert(digest.clone(), entry);
        Ok(())
    }

    async fn clear(&self, digest: &Digest) -> Result<()> {
        self.global.invalidate(digest);
        Ok(())
    }
}

impl BlobDescriptorCacheProvider for InMemoryBlobDescriptorCache {
    fn repository_scoped(&self, repo: &RepositoryName) -> Arc<dyn BlobDescriptorService> {
        Arc::new(ScopedInMemory {
            cache: self.clone(),
            repo: repo.clone(),
        })
    }

    fn clear_all(&self) {
        self.global.invalidate_all();
        self.scoped.invalidate_all();
    }
}

/// The in-memory provider seen from one repository.
struct ScopedInMemory {
    cache: InMemoryBlobDescriptorCache,
    repo: RepositoryName,
}

#[async_trait]
impl BlobStatter for ScopedInMemory {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let key = (self.repo.clone(), digest.clone());
        let Some(media_type) = self.cache.scoped.get(&key) else {
            return Err(unknown(digest));
        };
        match self.cache.global.get(digest) {
            Some(e) => Ok(answer(e.digest, e.size, &media_type)),
            None => Err(unknown(digest)),
        }
    }
}

#[async_trait]
impl BlobDescriptorService for ScopedInMemory {
    async fn set_descriptor(&self, digest: &Digest, descriptor: &Descriptor) -> Result<()> {
        let alias = check(digest, descriptor)?;
        let entry = InMemoryBlobDescriptorCache::entry(descriptor);
        if alias {
            self.cache
                .set_scoped(&self.repo, &descriptor.digest, &entry);
        }
        self.cache.set_scoped(&self.repo, digest, &entry);
        Ok(())
    }

    async fn clear(&self, digest: &Digest) -> Result<()> {
        self.cache
            .scoped
            .invalidate(&(self.repo.clone(), digest.clone()));
        Ok(())
    }
}
