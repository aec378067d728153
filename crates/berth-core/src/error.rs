//! The errors every registry service speaks.
//!
//! One enum for the whole family: local storage, the pull-through proxy and
//! the remote client all fail with these, and the HTTP layer maps each
//! variant to one OCI error code and status (see [`Error::kind`]).

use std::fmt;

use berth_digest::{Digest, DigestError};

/// A boxed error from a backend (storage driver, cache, network).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of every trait in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a registry operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The blob is not known in this repository (it may exist elsewhere:
    /// a repository sees a blob only through its link).
    #[error("blob unknown to registry: {digest}")]
    BlobUnknown {
        /// The digest asked for.
        digest: Digest,
    },

    /// No upload with this id is in progress.
    #[error("blob upload unknown to registry: {id}")]
    BlobUploadUnknown {
        /// The upload id asked for.
        id: String,
    },

    /// The upload cannot accept this request (e.g. a chunk at the wrong
    /// offset); the upload itself is left as it was.
    #[error("blob upload invalid: {reason}")]
    BlobUploadInvalid {
        /// What was wrong.
        reason: String,
    },

    /// A digest given by the client is malformed.
    #[error("invalid digest {given:?}: {source}")]
    DigestMalformed {
        /// The string the client sent (shortened).
        given: String,
        /// Which rule it broke.
        source: DigestError,
    },

    /// The content does not have the digest the client claimed.
    #[error("provided digest did not match uploaded content: given {given}, computed {computed}")]
    DigestMismatch {
        /// The digest the client claimed.
        given: Digest,
        /// The digest of what was received.
        computed: Digest,
    },

    /// The content does not have the size the client claimed.
    #[error(
        "provided length did not match content length: expected {expected} bytes, got {actual}"
    )]
    SizeInvalid {
        /// The size the client claimed.
        expected: u64,
        /// The size received.
        actual: u64,
    },

    /// No manifest with this tag or digest in the repository.
    #[error("manifest unknown to registry: {reference}")]
    ManifestUnknown {
        /// The tag or digest asked for.
        reference: String,
    },

    /// The manifest failed parsing or validation.
    #[error("manifest invalid: {reason}")]
    ManifestInvalid {
        /// What was wrong, naming the field.
        reason: String,
    },

    /// The manifest references a blob or child manifest the repository
    /// does not have.
    #[error(
        "blob unknown to registry: manifest references {digest}, which is not in the repository"
    )]
    ManifestBlobUnknown {
        /// The missing reference.
        digest: Digest,
    },

    /// The repository name is not valid.
    #[error("invalid repository name {name:?}: {reason}")]
    NameInvalid {
        /// The name (shortened).
        name: String,
        /// Which rule it broke.
        reason: String,
    },

    /// The repository is not known to the registry.
    #[error("repository name not known to registry: {name}")]
    NameUnknown {
        /// The repository name.
        name: String,
    },

    /// The tag is not valid.
    #[error("invalid tag {tag:?}: {reason}")]
    TagInvalid {
        /// The tag (shortened).
        tag: String,
        /// Which rule it broke.
        reason: String,
    },

    /// The operation is not supported here (deletes disabled, read-only
    /// mode, pushes to a pull-through cache, a driver without redirects).
    #[error("the operation is unsupported: {operation}")]
    Unsupported {
        /// What was attempted and why it is refused.
        operation: String,
    },

    /// Access to the resource is denied.
    #[error("requested access to the resource is denied: {reason}")]
    Denied {
        /// Why.
        reason: String,
    },

    /// Too many requests; the client should back off.
    #[error("too many requests: {reason}")]
    TooManyRequests {
        /// Which limit was hit.
        reason: String,
    },

    /// A backend the operation needs (storage, upstream registry) is
    /// unreachable for now; retrying later may work.
    #[error("{service} unavailable: {source}")]
    Unavailable {
        /// The backend, for logs (`s3`, `upstream registry`, …).
        service: String,
        /// What went wrong.
        source: BoxError,
    },

    /// A backend failed in a way the client cannot fix.
    #[error("{operation} failed: {source}")]
    Backend {
        /// The operation and its target, e.g. `read /docker/registry/v2/...`.
        operation: String,
        /// What went wrong.
        source: BoxError,
    },
}

/// The kind of an [`Error`], one per OCI error code the variant maps to.
///
/// The HTTP layer turns a kind into its code and status; matching on the
/// kind rather than the variant keeps that mapping exhaustive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `BLOB_UNKNOWN`
    BlobUnknown,
    /// `BLOB_UPLOAD_UNKNOWN`
    BlobUploadUnknown,
    /// `BLOB_UPLOAD_INVALID`
    BlobUploadInvalid,
    /// `DIGEST_INVALID`
    DigestInvalid,
    /// `SIZE_INVALID`
    SizeInvalid,
    /// `MANIFEST_UNKNOWN`
    ManifestUnknown,
    /// `MANIFEST_INVALID`
    ManifestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`
    ManifestBlobUnknown,
    /// `NAME_INVALID`
    NameInvalid,
    /// `NAME_UNKNOWN`
    NameUnknown,
    /// `TAG_INVALID`
    TagInvalid,
    /// `UNSUPPORTED`
    Unsupported,
    /// `DENIED`
    Denied,
    /// `TOOMANYREQUESTS`
    TooManyRequests,
    /// `UNAVAILABLE`
    Unavailable,
    /// `UNKNOWN`
    Unknown,
}

impl Error {
    /// The OCI error code family this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BlobUnknown { .. } => ErrorKind::BlobUnknown,
            Error::BlobUploadUnknown { .. } => ErrorKind::BlobUploadUnknown,
            Error::BlobUploadInvalid { .. } => ErrorKind::BlobUploadInvalid,
            Error::DigestMalformed { .. } | Error::DigestMismatch { .. } => {
                ErrorKind::DigestInvalid
            }
            Error::SizeInvalid { .. } => ErrorKind::SizeInvalid,
            Error::ManifestUnknown { .. } => ErrorKind::ManifestUnknown,
            Error::ManifestInvalid { .. } => ErrorKind::ManifestInvalid,
            Error::ManifestBlobUnknown { .. } => ErrorKind::ManifestBlobUnknown,
            Error::NameInvalid { .. } => ErrorKind::NameInvalid,
            Error::NameUnknown { .. } => ErrorKind::NameUnknown,
            Error::TagInvalid { .. } => ErrorKind::TagInvalid,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::Denied { .. } => ErrorKind::Denied,
            Error::TooManyRequests { .. } => ErrorKind::TooManyRequests,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::Backend { .. } => ErrorKind::Unknown,
        }
    }

    /// A malformed client digest, quoting the input shortened.
    pub fn digest_malformed(given: &str, source: DigestError) -> Error {
        Error::DigestMalformed {
            given: shorten(given),
            source,
        }
    }

    /// An invalid repository name, quoting it shortened.
    pub fn name_invalid(name: &str, reason: impl fmt::Display) -> Error {
        Error::NameInvalid {
            name: shorten(name),
            reason: reason.to_string(),
        }
    }

    /// An invalid tag, quoting it shortened.
    pub fn tag_invalid(tag: &str, reason: impl fmt::Display) -> Error {
        Error::TagInvalid {
            tag: shorten(tag),
            reason: reason.to_string(),
        }
    }

    /// An unsupported operation.
    pub fn unsupported(operation: impl fmt::Display) -> Error {
        Error::Unsupported {
            operation: operation.to_string(),
        }
    }

    /// A backend failure of `operation`.
    pub fn backend(operation: impl fmt::Display, source: impl Into<BoxError>) -> Error {
        Error::Backend {
            operation: operation.to_string(),
            source: source.into(),
        }
    }

    /// An unavailable backend.
    pub fn unavailable(service: impl fmt::Display, source: impl Into<BoxError>) -> Error {
        Error::Unavailable {
            service: service.to_string(),
            source: source.into(),
        }
    }

    /// Whether this is one of the "not found" kinds (blob, upload,
    /// manifest or repository unknown).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::BlobUnknown
                | ErrorKind::BlobUploadUnknown
                | ErrorKind::ManifestUnknown
                | ErrorKind::NameUnknown
        )
    }
}

impl From<berth_manifest::ManifestError> for Error {
    fn from(e: berth_manifest::ManifestError) -> Error {
        Error::ManifestInvalid {
            reason: e.to_string(),
        }
    }
}

/// How many characters of client input an error quotes.
const QUOTE: usize = 80;

/// Shortens client input for an error message.
pub fn shorten(s: &str) -> String {
    match s.char_indices().nth(QUOTE) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
