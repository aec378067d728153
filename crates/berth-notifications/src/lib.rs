//! Registry events for berth, in CNCF Distribution's format, delivered at
//! least once.
//!
//! ```
//! use std::sync::Arc;
//!
//! use berth_core::{BlobIngester, Namespace};
//! use berth_notifications::{
//!     EndpointOptions, NotificationsOptions, Notifier, RequestContext, RequestRecord,
//! };
//! use berth_reference::RepositoryName;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let spool = tempfile::tempdir()?;
//! // notifications.endpoints: one listener (nothing answers on this port,
//! // so the event stays queued).
//! let options = NotificationsOptions::new(spool.path())
//!     .endpoint(EndpointOptions::new("alistener", "http://127.0.0.1:9/events"));
//! let notifier = Notifier::start(options).await?;
//!
//! // Per request: wrap the registry's namespace.
//! let registry: Arc<dyn Namespace> = Arc::new(berth_storage::Registry::new(
//!     Arc::new(berth_driver::InMemoryDriver::new()),
//!     Default::default(),
//! ));
//! let ctx = RequestContext {
//!     request: RequestRecord { id: "req-1".into(), method: "PUT".into(), ..Default::default() },
//!     base_url: "https://registry.example.com".into(),
//!     ..Default::default()
//! };
//! let namespace = notifier.wrap(registry, ctx);
//! let repo = namespace.repository(&RepositoryName::parse("team/app")?)?;
//! repo.blobs().put("application/octet-stream", "layer".into()).await?;
//!
//! // The push event is on disk before `put` returned.
//! assert_eq!(notifier.stats()[0].pending, 1);
//! notifier.shutdown().await; // the next start sends it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`Event`], [`Envelope`]: the JSON Distribution sends (`id`,
//!   `timestamp`, `action`, `target`, `request`, `actor`, `source`), in
//!   the form of either envelope media type ([`EventsMediaType`]).
//! - [`Notifier::wrap`]: the listener. A per-request [`Namespace`](berth_core::Namespace)
//!   wrapper whose repositories emit `push`, `pull`, `mount` and `delete`
//!   events after each successful call, so handlers never build events.
//! - [`Notifier`]: the broadcaster. Each enabled endpoint has a durable
//!   queue on local disk (appended with group-committed `fdatasync`s
//!   before the request's call returns) and a task that posts the events
//!   one per request, in order, retrying with Distribution's
//!   threshold-and-backoff breaker until a 2xx or 3xx answer.
//! - [`EndpointStats`]: pending, delivered, failed, retries, dropped, last
//!   status and queue bytes. The [`Notifier`] is a
//!   [`berth_metrics::MetricsSource`]: registered in the server's metrics,
//!   it reports them as `berth_notifications_*{endpoint="…"}`.
//!
//! # Which call emits what
//!
//! | call on the wrapped services | event |
//! |---|---|
//! | `BlobWriter::commit`, `BlobIngester::put` | blob `push` |
//! | `BlobIngester::create` answering `Mounted` | blob `mount` (with `fromRepository`) |
//! | `BlobProvider::open`, `open_described`, `get`, a `redirect_url*` that gives a URL | blob `pull` |
//! | `BlobStatter::stat` in a `HEAD` request | blob `pull` (Distribution serves `HEAD` as a pull) |
//! | `BlobDeleter::delete` | blob `delete` (`digest`, `repository`) |
//! | `ManifestService::put` | manifest `push` (with `tag` when pushed by tag) |
//! | `ManifestService::get` | manifest `pull` (with `tag` when this request resolved the digest from a tag through `TagService::get`) |
//! | `ManifestService::delete` | manifest `delete`, then a tag `delete` for each tag that pointed to it |
//! | `TagService::untag` | tag `delete` (`repository`, `tag`) |
//! | `Namespace::remove_repository` | repository `delete` (`repository`) |
//!
//! A call that fails emits nothing. If the event cannot be queued (disk
//! full), the call still succeeds — what it did has happened — and the
//! failure is logged and counted in [`EndpointStats::spool_errors`].
//!
//! Each queue is a [`berth_spool::Spool`] carrying the events as JSON
//! records. The spool format, the full-queue policy (the oldest events
//! are dropped) and the differences from Distribution are described in
//! `docs/notifications.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod endpoint;
mod error;
mod event;
mod listener;
mod metrics;
mod notifier;
mod options;
pub mod settings;

pub use endpoint::EndpointStats;
pub use error::Error;
pub use event::{
    Action, ActorRecord, Envelope, Event, EventsMediaType, RequestRecord, SourceRecord, Target,
    format_timestamp,
};
pub use listener::RequestContext;
pub use notifier::Notifier;
pub use options::{
    DEFAULT_BACKOFF, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_THRESHOLD, DEFAULT_TIMEOUT, EndpointOptions,
    NotificationsOptions,
};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
