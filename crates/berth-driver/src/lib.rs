//! Storage drivers for the berth registry.
//!
//! ```
//! use berth_driver::{FilesystemDriver, StorageDriver};
//! use futures_util::StreamExt;
//!
//! # let dir = tempfile::tempdir()?;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let driver = FilesystemDriver::new(dir.path()); // or InMemoryDriver::new()
//!
//! // Small content, replaced atomically.
//! let link = "/docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/current/link";
//! driver.put_content(link, "sha256:0123".into()).await?;
//! assert_eq!(driver.get_content(link).await?, "sha256:0123");
//!
//! // Large content goes through a writer: invisible until committed.
//! let mut writer = driver.writer("/uploads/1/data", false).await?;
//! writer.write("hello, ".into()).await?;
//! writer.write("world".into()).await?;
//! writer.commit().await?;
//!
//! // ... and comes back as a stream, from any offset.
//! let mut stream = driver.reader("/uploads/1/data", 7).await?;
//! let mut read = Vec::new();
//! while let Some(chunk) = stream.next().await {
//!     read.extend_from_slice(&chunk?);
//! }
//! assert_eq!(read, b"world");
//!
//! // A crafted path never reaches the backend.
//! assert!(driver.get_content("/../../etc/passwd").await.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A [`StorageDriver`] stores content at `/`-separated paths: get and put
//! small content, stream from an offset, write through an appending
//! [`FileWriter`] that is invisible until committed (and can be closed and
//! resumed), stat, list, move, delete, walk, and hand out redirect URLs
//! where the backend has them. The registry engine lays Distribution's
//! storage layout on top of it, so every driver sees the same paths.
//!
//! Path rules are enforced in one place, [`validate_path`]: absolute, no
//! empty, `.` or `..` components, only `[A-Za-z0-9._-]` — a crafted
//! repository name can never escape a driver's root.
//!
//! Drivers here:
//! - [`FilesystemDriver`] (`filesystem`): files under a root directory,
//!   Distribution's on-disk layout, atomic `put_content`, staged writers.
//! - [`InMemoryDriver`] (`inmemory`): a sorted map in memory, for tests.
//!
//! [`InstrumentedDriver`] wraps any driver and counts and times each of its
//! operations into [`StorageMetrics`], which reports them through the
//! registry's one metrics interface (`berth-metrics`):
//! `berth_storage_operations_total` and
//! `berth_storage_operation_duration_seconds`.
//!
//! With the `testsuite` feature, the `testsuite` module and the
//! `driver_test_suite!` macro check any driver against the trait's
//! contract.

#![deny(missing_docs)]
// Unsafe code only in `filesystem::sys`, each call with its SAFETY argument.
#![deny(unsafe_code)]

mod driver;
mod error;
mod filesystem;
mod inmemory;
mod instrumented;
mod path;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use driver::{
    FileInfo, FileWriter, ListVersion, Listing, OwnedWalkFn, ReadStream, StorageDriver, Walk,
    WalkFn, walk_by_listing,
};
pub use error::{BoxError, DriverError, Result};
pub use filesystem::{
    DEFAULT_MAX_THREADS, DEFAULT_ROOT_DIRECTORY, FilesystemDriver, FilesystemParameters,
    MIN_MAX_THREADS, STAGED_SUFFIX, TEMP_PREFIX,
};
pub use inmemory::InMemoryDriver;
pub use instrumented::{InstrumentedDriver, StorageMetrics};
pub use path::{is_valid_component, is_within, join, parent, validate_path};

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
