//! The vocabulary of the berth registry.
//!
//! Every other berth crate speaks these traits and errors: local storage
//! (`berth-storage`), the pull-through proxy and the remote client all
//! implement them; the HTTP handlers and the notification listener only
//! consume them. All traits are object-safe, so services sit behind
//! `Arc<dyn …>` or `&dyn …` and can be wrapped (by a cache, a listener, a
//! proxy) without the caller knowing. Bodies are streams of
//! [`bytes::Bytes`]: a blob is never held whole in memory.
//!
//! | trait | what it does |
//! |---|---|
//! | [`Namespace`] | repositories by name, the catalog, repository removal, the global blob statter |
//! | [`Repository`] | one repository's blobs, manifests, tags and referrers |
//! | [`BlobStatter`] | a blob's descriptor by digest |
//! | [`BlobDescriptorService`] | a statter whose answers can be set and cleared (caches, link stores) |
//! | [`BlobProvider`] | read a blob: whole, streamed, ranged, or a redirect URL |
//! | [`BlobIngester`] | add a blob: in one step, through an upload, or by cross-repository mount |
//! | [`BlobWriter`] | an upload in progress: append, commit, cancel, close and resume |
//! | [`BlobDeleter`], [`BlobStore`] | unlink a blob; everything a repository does with blobs |
//! | [`ManifestService`] | get, put (verifying references), delete manifests |
//! | [`TagService`] | tag, untag, list, look up |
//! | [`ReferrersService`] | the OCI 1.1 referrers of a manifest |
//!
//! Errors are one family, [`Error`], whose [`ErrorKind`] names the OCI
//! error code the HTTP layer answers with.
//!
//! ```
//! use berth_core::{Error, ErrorKind};
//! use berth_digest::Digest;
//!
//! let err = Error::BlobUnknown { digest: Digest::sha256(b"layer") };
//! assert_eq!(err.kind(), ErrorKind::BlobUnknown);
//! assert!(err.is_not_found());
//! assert!(err.to_string().starts_with("blob unknown to registry: sha256:"));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blob;
mod error;
mod manifest;
mod namespace;

pub use blob::{
    BlobContent, BlobDeleter, BlobDescriptorService, BlobIngester, BlobProvider, BlobStatter,
    BlobStore, BlobWriter, ByteStream, CreateOptions, Created,
};
pub use error::{BoxError, Error, ErrorKind, Result, shorten};
pub use manifest::{ManifestService, Page, PageRequest, PutOptions, ReferrersService, TagService};
pub use namespace::{Namespace, Repository};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
