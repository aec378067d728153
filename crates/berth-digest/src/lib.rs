//! Content digests for container registries.
//!
//! A [`Digest`] is a validated `<algorithm>:<hex>` string, the name of every
//! blob and manifest in a registry. A [`Digester`] computes one over a stream
//! of bytes with the CPU's SHA extensions where present, and can save its
//! running state to bytes and be restored from them later: that is what lets
//! an upload be resumed in another process or on another node without
//! re-reading what was already received. A [`Verifier`] tells whether a
//! stream has an expected digest.
//!
//! ```
//! use berth_digest::{Algorithm, Digest, Digester};
//!
//! // Parse and validate.
//! let empty: Digest =
//!     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse()?;
//! assert_eq!(empty.algorithm(), Algorithm::Sha256);
//! assert_eq!(empty, Digest::sha256(b""));
//!
//! // Bad input says what is wrong.
//! let err = "sha256:abc".parse::<Digest>().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid sha256 digest length: expected 64 hex characters, got 3"
//! );
//!
//! // Stream, save, resume.
//! let mut digester = Digester::new(Algorithm::Sha256);
//! digester.update(b"a");
//! let mut resumed = Digester::restore(&digester.save_state())?;
//! resumed.update(b"bc");
//! assert_eq!(
//!     resumed.finish().encoded(),
//!     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Supported algorithms are `sha256` (canonical), `sha384` and `sha512`.
//! Digests serialize with serde as their string form (feature `serde`, on
//! by default).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod algorithm;
mod digest;
mod digester;
mod error;

pub use algorithm::Algorithm;
pub use digest::Digest;
pub use digester::{DigestMismatch, Digester, Verifier};
pub use error::{DigestError, StateError};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
