//! The berth registry engine on a storage driver.
//!
//! [`Registry`] lays Distribution's storage layout ([`paths`]) over any
//! [`berth_driver::StorageDriver`] and implements the `berth-core` traits
//! on it: the global content-addressed blob store, each repository's
//! linked blobs, uploads whose hash state is saved as they go (so any
//! process sharing the storage can resume them without re-reading data),
//! cross-repository mounts, and upload purging. Blob descriptors go
//! through a `berth-cache` provider when one is configured.
//!
//! ```
//! use std::sync::Arc;
//! use berth_core::{BlobIngester, BlobProvider, BlobStatter, BlobWriter, CreateOptions, Created};
//! use berth_digest::Digest;
//! use berth_driver::InMemoryDriver;
//! use berth_reference::RepositoryName;
//! use berth_storage::{Registry, StorageOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let registry = Registry::new(Arc::new(InMemoryDriver::new()), StorageOptions::default());
//! let repo = RepositoryName::parse("library/hello")?;
//! let blobs = registry.blobs(&repo);
//!
//! // Upload a blob in two chunks, then commit it by digest.
//! let Created::Upload(mut upload) = blobs.create(CreateOptions::default()).await? else {
//!     unreachable!("no mount was asked for")
//! };
//! upload.write("hello, ".into()).await?;
//! upload.write("world".into()).await?;
//! let digest = Digest::sha256(b"hello, world");
//! let descriptor = upload.commit(&digest, Some(12)).await?;
//! assert_eq!(descriptor.size, 12);
//!
//! assert_eq!(blobs.stat(&digest).await?.digest, digest);
//! assert_eq!(&blobs.get(&digest).await?[..], b"hello, world");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blobs;
mod gc;
mod manifests;
mod namespace;
pub mod paths;
mod purge;
mod referrers;
mod registry;
pub mod settings;
mod tags;
mod upload;

pub use blobs::{OCTET_STREAM, RepositoryBlobs};
pub use gc::{GcBlob, GcManifest, GcMetrics, GcOptions, GcProgress, GcReport};
pub use manifests::Manifests;
pub use namespace::{StorageRepository, compare_repository_names};
pub use purge::{PurgeReport, PurgedUpload};
pub use referrers::Referrers;
pub use registry::{Protection, Registry, StorageOptions};
pub use tags::Tags;
pub use upload::{Upload, is_valid_upload_id};

/// A storage failure as a registry error (not-found cases are mapped by
/// the caller, who knows what was not found).
pub(crate) fn storage_error(e: berth_driver::DriverError) -> berth_core::Error {
    berth_core::Error::backend("storage", e)
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
