//! A pull-through cache for the berth registry (Distribution's `proxy:`
//! mode): a [`berth_core::Namespace`] that serves what local storage has
//! and fetches the rest from an upstream registry, storing it as it
//! streams to the client, with a TTL scheduler that removes what it
//! fetched after a while and keeps its schedule across restarts.
//!
//! ```
//! use std::sync::Arc;
//! use berth_client::Client;
//! use berth_core::{BlobIngester, CreateOptions, ErrorKind, Namespace, Repository};
//! use berth_driver::InMemoryDriver;
//! use berth_proxy::{ProxyNamespace, ProxyOptions, client_options};
//! use berth_reference::RepositoryName;
//! use berth_storage::{Registry, StorageOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let local = Registry::new(Arc::new(InMemoryDriver::new()), StorageOptions::default());
//! // proxy.remoteurl, proxy.username, proxy.password
//! let upstream = Client::new(client_options("http://127.0.0.1:9", Some("alice"), Some("s3cret")))?;
//! // proxy.ttl: not set is 168h; 0 keeps content for ever.
//! let proxy = ProxyNamespace::start(local, upstream, ProxyOptions::with_config_ttl(None)).await?;
//!
//! let repo = proxy.repository(&RepositoryName::parse("library/alpine")?)?;
//! // Pushes are refused...
//! let err = repo.blobs().create(CreateOptions::default()).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Unsupported);
//! // ...and what is neither cached nor reachable upstream says so.
//! let tag = berth_reference::Tag::parse("latest")?;
//! let err = repo.tags().get(&tag).await.unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Unavailable);
//! assert!(err.to_string().starts_with("upstream registry 127.0.0.1:9 unavailable"));
//! assert_eq!(proxy.metrics().snapshot().upstream_errors, 1);
//! proxy.shutdown().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # What each request does
//!
//! | request | behaviour |
//! |---|---|
//! | manifest by tag | `HEAD` upstream for the tag's current digest and move the local tag to it; then the manifest by digest (below). Upstream unreachable (or answering an error): the local tag. |
//! | manifest by digest | local storage; else `GET` upstream (the bytes must have the digest), stored and scheduled for expiry. |
//! | blob `HEAD` | local storage; else `HEAD` upstream (concurrent ones share one request). Nothing is stored. |
//! | blob `GET` | local storage; else fetched once from upstream while streaming to every client that asked, and stored after its digest is checked (see [below](#one-fetch-per-blob)). A range of a blob not cached goes to the upstream as a range and is not stored. |
//! | tags list, referrers | the upstream's; the local ones when it does not answer |
//! | catalog | local storage (what is cached), as Distribution |
//! | push, delete, mount, repository removal | [`berth_core::Error::Unsupported`] (`UNSUPPORTED`) |
//!
//! Manifests fetched from the upstream are stored without checking that
//! the blobs they reference are here (Distribution's proxy does the same):
//! a pull fetches those next. The referrers index is not written for
//! them: referrers come from the upstream.
//!
//! # One fetch per blob
//!
//! A read of a blob that is not cached starts a fill: a task, independent
//! of the request, that streams the blob from the upstream into a local
//! upload and to the request, then commits the upload with the blob's
//! digest — storage checks it, so nothing unverified becomes visible;
//! a body that does not verify (or stops short) cancels the upload and
//! ends the client's response with an error. Reads of the same blob in the
//! same repository while a fill runs follow it instead of fetching again:
//! those that arrive before the first chunk receive every chunk live;
//! those that arrive later — or whose client reads so much slower than
//! the upstream sends that [`MAX_QUEUED`] bytes wait for it — wait for the
//! commit and read the rest from local storage, from where they were. So
//! memory stays bounded per client (never a whole blob), a slow client
//! does not slow the fetch, and a client that goes away does not stop it:
//! the blob is stored anyway. A blob already cached for another repository
//! is linked, not fetched (after the upstream has confirmed, with a
//! `HEAD`, that this repository has it).
//!
//! # Expiry
//!
//! With a TTL, every blob and manifest fetched is scheduled for removal
//! `ttl` later (fetching it again resets the time). The [`Scheduler`]
//! keeps its schedule in Distribution's `/scheduler-state.json` on the
//! storage driver, in Distribution's format, written at most every
//! [`DEFAULT_SAVE_INTERVAL`] while it changes and by
//! [`ProxyNamespace::shutdown`]; entries that came due while the registry
//! was down are removed at start. A blob's removal unlinks it from its
//! repository and deletes its data (as Distribution does); a manifest's
//! removes its revision link and the tags pointing to it. Removal works
//! whether or not `storage.delete` is enabled.
//!
//! # Metrics
//!
//! [`ProxyMetrics`] counts hits and misses of blobs and manifests, bytes
//! received from the upstream, upstream requests and errors, fetches
//! started and joined, and expired content. A [`ProxyNamespace`] is a
//! [`berth_metrics::MetricsSource`]: registered in the server's metrics,
//! it reports those counters and the scheduler's and fetches' gauges as
//! `berth_proxy_*` on `/metrics`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blobs;
mod manifests;
mod metrics;
mod namespace;
mod scheduler;
pub mod settings;

use std::time::Duration;

pub use blobs::MAX_QUEUED;
pub use metrics::{ProxyMetrics, ProxyStats};
pub use namespace::{ProxyNamespace, ProxyOptions, ProxyRepository, client_options};
pub use scheduler::{
    DEFAULT_SAVE_INTERVAL, EntryKind, Expire, STATE_PATH, ScheduledEntry, Scheduler,
};

/// Distribution's default `proxy.ttl`: 168 hours (7 days).
pub const DEFAULT_TTL: Duration = Duration::from_secs(168 * 3600);

/// Why a [`ProxyNamespace`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The scheduler's state file could not be read.
    #[error("proxy scheduler state {path}: {source}")]
    State {
        /// The state file's path on the storage driver.
        path: String,
        /// What went wrong.
        source: berth_core::Error,
    },
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
