//! The wire contract of the OCI Distribution Specification v1.1 and the
//! Docker Registry HTTP API V2, shared by berth's server and client.
//!
//! - [`ErrorCode`]: every error code with its HTTP status and message, and
//!   [`ApiError`] / [`ErrorBody`], the `{"errors":[…]}` body the server
//!   writes and the client reads back (leniently); a [`berth_core::Error`]
//!   converts to the right code.
//! - [`Route`]: which endpoint a request path names, and the [`Scope`]
//!   (resource and actions) a request to it needs: the one mapping the
//!   server's access control and the client's token requests share.
//! - [`UrlBuilder`]: a route's URL, absolute or relative, honouring
//!   `http.host`, `http.prefix`, `http.relativeurls` and `X-Forwarded-*`.
//! - [`headers`]: header names.
//! - [`ranges`]: `Range` and `Content-Range` of blobs and upload chunks,
//!   written and parsed (the one range parser of the workspace).
//! - [`query`]: query strings and the `n` / `last` pagination of listings.
//!
//! ```
//! use berth_api::{ApiError, ErrorCode, Route};
//! use berth_core::Error;
//! use berth_digest::Digest;
//!
//! let err = ApiError::from(Error::BlobUnknown { digest: Digest::sha256(b"x") });
//! assert_eq!(err.code, ErrorCode::BlobUnknown);
//! assert_eq!(err.status(), 404);
//! let body = String::from_utf8(err.to_json()).unwrap();
//! assert!(body.starts_with(r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry: sha256:"#));
//!
//! assert_eq!(
//!     Route::parse("/v2/team/app/blobs/uploads/"),
//!     Some(Route::UploadStart { name: "team/app" })
//! );
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod errors;
pub mod headers;
pub mod query;
pub mod ranges;
mod routes;
mod urls;

pub use errors::{ApiError, ErrorBody, ErrorCode, ErrorEntry};
pub use routes::{Route, Scope};
pub use urls::{UrlBuilder, encode_query_value};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
