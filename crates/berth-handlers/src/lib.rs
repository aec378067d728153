//! The berth registry's HTTP application, on actix-web.
//!
//! [`configure`] registers every endpoint of the OCI Distribution
//! Specification v1.1 (and the Docker Registry HTTP API V2) over any
//! [`berth_core::Namespace`]: the base check, the catalog, tags, manifests
//! (content negotiation, `ETag`/`If-None-Match`, `OCI-Subject`, 4 MiB
//! limit, tag deletes), blobs (ranges, redirects), uploads (monolithic,
//! chunked, streamed, cross-repository mounts, URLs with state signed by
//! `http.secret` so any replica continues any upload) and referrers (with
//! the `artifactType` filter). Every error is the v2 JSON body with its
//! code and status (see `berth-api`). [`ClientErrorsAtDebug`] writes
//! actix-http's reports of requests it cannot parse (such as a TLS
//! handshake sent to a plain-HTTP port) at debug level, not as errors.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actix_web::{App, HttpServer, web};
//! use berth_driver::InMemoryDriver;
//! use berth_handlers::{AppState, Settings};
//! use berth_manifest::ManifestRegistry;
//! use berth_storage::{Registry, StorageOptions};
//!
//! # async fn run() -> std::io::Result<()> {
//! let registry = Registry::new(Arc::new(InMemoryDriver::new()), StorageOptions::default());
//! let state = web::Data::new(AppState::new(
//!     Arc::new(registry),
//!     ManifestRegistry::new(),
//!     Settings::default(),
//! ));
//! HttpServer::new(move || App::new().configure(berth_handlers::configure(state.clone())))
//!     .bind(("127.0.0.1", 5000))?
//!     .run()
//!     .await
//! # }
//! ```

#![deny(missing_docs)]
// Unsafe code only in `logging` (a tracing layer passing `downcast_raw` on).
#![deny(unsafe_code)]

mod app;
mod blobs;
mod debug;
mod error;
mod lists;
#[allow(unsafe_code)]
mod logging;
mod manifests;
mod metrics;
mod state;
mod uploads;

pub use app::{AppState, Settings, configure};
pub use debug::configure_debug;
pub use error::{HandlerError, HandlerResult};
pub use logging::{CLIENT_ERROR_TARGET, ClientErrorsAtDebug};
pub use metrics::Metrics;
pub use state::{StateSigner, UploadState};

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
