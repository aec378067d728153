//! Blob-descriptor caches for the berth registry.
//!
//! ```
//! use std::sync::Arc;
//!
//! use berth_cache::{BlobDescriptorCacheProvider, CachedBlobStatter, InMemoryBlobDescriptorCache};
//! use berth_core::{BlobDescriptorService, BlobStatter};
//! use berth_digest::Digest;
//! use berth_manifest::Descriptor;
//! use berth_reference::RepositoryName;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! // The backend of record; in the registry, the storage's link store.
//! // (Here another in-memory cache stands in for it.)
//! let storage = Arc::new(InMemoryBlobDescriptorCache::default());
//! let repo = RepositoryName::parse("team/app")?;
//! let digest = Digest::sha256(b"layer");
//! let layer = Descriptor::new("application/vnd.oci.image.layer.v1.tar", digest.clone(), 5);
//! storage.repository_scoped(&repo).set_descriptor(&digest, &layer).await?;
//!
//! // The cache, bounded to 10,000 entries (Distribution's default).
//! let cache = InMemoryBlobDescriptorCache::default();
//! let statter = CachedBlobStatter::new(
//!     storage.repository_scoped(&repo),
//!     cache.repository_scoped(&repo),
//! );
//!
//! assert_eq!(statter.stat(&digest).await?, layer); // a miss, filled from storage
//! assert_eq!(statter.stat(&digest).await?, layer); // a hit
//! assert_eq!((statter.health().hits(), statter.health().misses()), (1, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A blob descriptor (digest, size, media type) never changes for a
//! digest, so it may be cached as long as memory allows; it must be
//! dropped when a delete or garbage collection removes the blob. This crate
//! has:
//!
//! - [`BlobDescriptorCacheProvider`]: a cache of global descriptors (by
//!   digest) that also hands out [repository-scoped](BlobDescriptorCacheProvider::repository_scoped)
//!   views, where a blob is known only if the repository has it.
//! - [`InMemoryBlobDescriptorCache`]: bounded and node-local
//!   (`storage.cache.blobdescriptor: inmemory`).
//! - [`RedisBlobDescriptorCache`]: shared by every node, in Redis, with
//!   Distribution's key layout (`storage.cache.blobdescriptor: redis`).
//! - [`CachedBlobStatter`]: storage behind a cache, where a cache failure
//!   is a miss and never fails a request, with [counters](CacheHealth).
//!
//! # Semantics of a provider
//!
//! - Global: `set_descriptor(d, desc)` records `desc` under `d`; `stat(d)`
//!   answers it (digest, size and media type only); `clear(d)` forgets it.
//! - Repository-scoped: `set_descriptor` records that the repository has
//!   `d`, the repository's media type for it, and the global descriptor;
//!   `stat(d)` is a hit only when the repository has `d` *and* the global
//!   descriptor is known, and answers the repository's media type;
//!   `clear(d)` removes the membership only. A global `clear` therefore
//!   makes every repository's `stat` miss.
//! - A miss is [`berth_core::Error::BlobUnknown`]. Clearing an unknown
//!   digest succeeds.
//! - A descriptor with a negative size or an empty media type, or whose
//!   digest differs from the key with the same algorithm, is refused
//!   ([`berth_core::Error::Backend`] wrapping
//!   [`CacheError::InvalidDescriptor`]). One whose digest has another
//!   algorithm than the key (an alias) is recorded under both digests.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::Arc;

use berth_core::BlobDescriptorService;
use berth_reference::RepositoryName;

mod cached;
mod descriptor;
mod error;
mod memory;
mod redis_cache;
pub mod settings;

pub use cached::{CacheHealth, CachedBlobStatter};
pub use error::CacheError;
pub use memory::{DEFAULT_CAPACITY, InMemoryBlobDescriptorCache};
pub use redis_cache::{RedisBlobDescriptorCache, RedisOptions};

/// A blob-descriptor cache of global descriptors that also gives
/// repository-scoped views of itself (Distribution's
/// `BlobDescriptorCacheProvider` and its `RepositoryScoped`).
///
/// See the [crate documentation](crate#semantics-of-a-provider) for what
/// the global and scoped services answer.
pub trait BlobDescriptorCacheProvider: BlobDescriptorService {
    /// The cache as seen from `repo`: a blob is known only if the
    /// repository has it.
    fn repository_scoped(&self, repo: &RepositoryName) -> Arc<dyn BlobDescriptorService>;

    /// Whether every registry node sharing the storage sees the same cache
    /// (Redis), so that an invalidation on one node reaches all of them.
    ///
    /// Only then may mutable facts (which repository links which blob) be
    /// cached; a node-local cache keeps to content-addressed descriptors,
    /// which never change.
    fn is_shared(&self) -> bool {
        false
    }

    /// Forgets every entry (a node that may have missed removals starts
    /// afresh). A shared cache keeps its entries: whoever removes content
    /// clears them there. The default does nothing.
    fn clear_all(&self) {}
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
