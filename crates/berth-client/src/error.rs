//! Errors of this crate.
//!
//! Every registry operation fails with [`berth_core::Error`]; the types
//! here are what building a [`Client`](crate::Client) can fail with, and
//! the source carried by `Unavailable` and `Backend` errors when the
//! registry answered with an error.

/// Why a [`Client`](crate::Client) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL is not an `http` or `https` URL the client can use.
    #[error("invalid registry base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An option has a value the client cannot use.
    #[error("invalid client option {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

/// An error answer of the registry (or its token server), as the source of
/// an `Unavailable` or `Backend` [`berth_core::Error`].
///
/// Downcast the error's source to this type to see the status and code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} {path} answered {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
pub struct UpstreamError {
    /// The request's method.
    pub method: String,
    /// The request's URL path (the query is left out).
    pub path: String,
    /// The HTTP status.
    pub status: u16,
    /// The first error code of the JSON body, if any (`UNKNOWN`, …).
    pub code: Option<String>,
    /// Its message, or the status's reason.
    pub message: String,
}

/// A problem with a response body: too long, too short, malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BodyError(pub(crate) String);
