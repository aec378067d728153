//! A registry client for berth: the [`berth_core`] traits over the OCI
//! Distribution / Docker Registry v2 HTTP API.
//!
//! ```no_run
//! use berth_client::{Client, ClientOptions};
//! use berth_core::{BlobIngester, BlobProvider, ManifestService, Namespace, PageRequest, Repository, TagService};
//! use berth_reference::{RepositoryName, Tag};
//! use futures_util::StreamExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(ClientOptions::new("https://registry.example.com").credentials("alice", "s3cret"))?;
//! client.ping().await?;
//!
//! let repo = client.repository(&RepositoryName::parse("team/app")?);
//! let tag = repo.tags().get(&Tag::parse("latest")?).await?; // HEAD
//! let manifest = repo.manifests().get(&tag.digest).await?; // verified bytes
//! for layer in manifest.blob_references() {
//!     let mut content = repo.blobs().open(&layer.digest, None).await?;
//!     while let Some(chunk) = content.body.next().await {
//!         let _bytes = chunk?; // the last item is an error if the digest does not match
//!     }
//! }
//! let page = client.namespace().catalog(PageRequest { last: None, n: Some(100) }).await?;
//! # let _ = page;
//! # Ok(())
//! # }
//! ```
//!
//! - [`Client`]: one registry: connection pool, credentials, token cache,
//!   retries. [`Client::ping`], [`Client::repository`],
//!   [`Client::namespace`], [`Client::catalog`].
//! - [`RemoteNamespace`] implements [`berth_core::Namespace`];
//!   [`RemoteRepository`] implements [`berth_core::Repository`] with
//!   [`RemoteBlobs`] (a [`berth_core::BlobStore`], plus streamed uploads),
//!   [`RemoteManifests`], [`RemoteTags`] and [`RemoteReferrers`].
//!
//! # Verification
//!
//! Every body that has a digest is checked: a blob as it streams (its
//! length, and its digest when the whole blob is read) — a short, long or
//! wrong body ends the stream with an error
//! ([`berth_core::Error::DigestMismatch`], or `Unavailable` for a cut
//! connection) instead of a clean end, so a consumer that commits at the
//! end never commits it; a manifest in full, against the digest asked for
//! (or the registry's `Docker-Content-Digest` when fetched by tag). Bodies
//! are streamed as `Bytes` chunks; a blob is never held whole (but by
//! [`berth_core::BlobProvider::get`], which is for small blobs).
//!
//! # Authentication
//!
//! Anonymous until the registry answers `401`. A `Basic` challenge makes
//! the client send its credentials from then on. A `Bearer` challenge
//! (parsed with [`parse_www_authenticate`]) names a token server: the
//! client asks it `GET realm?service=…&scope=…` (with its credentials,
//! if any), accepts `token` or `access_token` and `expires_in` (60 s when
//! absent), and caches the token per scope until shortly before expiry;
//! later requests get their token up front. A `401` with a token fetches
//! a new one (for the challenged scope) and retries once. Credentials and
//! tokens are never logged.
//!
//! # Retries
//!
//! Idempotent requests (`GET`, `HEAD`, `DELETE`, `PUT` of a manifest) are
//! retried after connection errors, `429` and `5xx` (but `501`) with
//! exponential backoff, honouring `Retry-After` (see [`RetryPolicy`]).
//! `POST`, `PATCH` and the `PUT` that commits an upload are not.
//!
//! # Errors
//!
//! Every operation fails with [`berth_core::Error`]: the registry's error
//! codes map to their variants (`BLOB_UNKNOWN` → `BlobUnknown`,
//! `MANIFEST_UNKNOWN` → `ManifestUnknown`, `NAME_UNKNOWN` → `NameUnknown`,
//! `UNAUTHORIZED` / `DENIED` → `Denied`, `TOOMANYREQUESTS` →
//! `TooManyRequests`, …; a body-less `404` by what was asked for),
//! connection failures and `5xx` to `Unavailable`, other answers to
//! `Backend` with an [`UpstreamError`] as the source.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blobs;
mod challenge;
mod client;
mod error;
mod manifests;
mod options;
mod pagination;
mod referrers;
mod repository;
mod verify;

pub use blobs::{RemoteBlobWriter, RemoteBlobs};
pub use challenge::{BearerChallenge, Challenge, parse_www_authenticate};
pub use client::Client;
pub use error::{ClientError, UpstreamError};
pub use manifests::{RemoteManifests, RemoteTags};
pub use options::{ClientOptions, DEFAULT_USER_AGENT, RetryPolicy, Timeouts};
pub use referrers::RemoteReferrers;
pub use repository::{RemoteNamespace, RemoteRepository};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
