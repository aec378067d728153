//! Error codes, their HTTP statuses, and the JSON error body.

use berth_core::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

/// An error code of the OCI Distribution specification (and Docker's
/// Registry API v2), with its HTTP status and default message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN` (404): blob unknown to registry.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID` (400): blob upload invalid.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN` (404): blob upload unknown to registry.
    BlobUploadUnknown,
    /// `DIGEST_INVALID` (400): provided digest did not match uploaded content.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN` (400): manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID` (400): manifest invalid.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN` (404): manifest unknown to registry.
    ManifestUnknown,
    /// `MANIFEST_UNVERIFIED` (400): manifest failed signature verification.
    ManifestUnverified,
    /// `NAME_INVALID` (400): invalid repository name.
    NameInvalid,
    /// `NAME_UNKNOWN` (404): repository name not known to registry.
    NameUnknown,
    /// `SIZE_INVALID` (400): provided length did not match content length.
    SizeInvalid,
    /// `RANGE_INVALID` (416): invalid content range.
    RangeInvalid,
    /// `TAG_INVALID` (400): manifest tag did not match URI.
    TagInvalid,
    /// `PAGINATION_NUMBER_INVALID` (400): invalid number of results requested.
    PaginationNumberInvalid,
    /// `UNAUTHORIZED` (401): authentication required.
    Unauthorized,
    /// `DENIED` (403): requested access to the resource is denied.
    Denied,
    /// `UNSUPPORTED` (405): the operation is unsupported.
    Unsupported,
    /// `UNAVAILABLE` (503): service unavailable.
    Unavailable,
    /// `TOOMANYREQUESTS` (429): too many requests.
    TooManyRequests,
    /// `UNKNOWN` (500): unknown error.
    Unknown,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::BlobUnknown,
        ErrorCode::BlobUploadInvalid,
        ErrorCode::BlobUploadUnknown,
        ErrorCode::DigestInvalid,
        ErrorCode::ManifestBlobUnknown,
        ErrorCode::ManifestInvalid,
        ErrorCode::ManifestUnknown,
        ErrorCode::ManifestUnverified,
        ErrorCode::NameInvalid,
        ErrorCode::NameUnknown,
        ErrorCode::SizeInvalid,
        ErrorCode::RangeInvalid,
        ErrorCode::TagInvalid,
        ErrorCode::PaginationNumberInvalid,
        ErrorCode::Unauthorized,
        ErrorCode::Denied,
        ErrorCode::Unsupported,
        ErrorCode::Unavailable,
        ErrorCode::TooManyRequests,
        ErrorCode::Unknown,
    ];

    /// The code as it appears on the wire (`BLOB_UNKNOWN`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::ManifestUnverified => "MANIFEST_UNVERIFIED",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::RangeInvalid => "RANGE_INVALID",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status a response with this code has (Distribution's).
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => 404,
            ErrorCode::BlobUploadInvalid
            | ErrorCode::ManifestBlobUnknown
            | ErrorCode::DigestInvalid
            | ErrorCode::ManifestInvalid
            | ErrorCode::ManifestUnverified
            | ErrorCode::NameInvalid
            | ErrorCode::SizeInvalid
            | ErrorCode::TagInvalid
            | ErrorCode::PaginationNumberInvalid => 400,
            ErrorCode::RangeInvalid => 416,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Denied => 403,
            ErrorCode::Unsupported => 405,
            ErrorCode::Unavailable => 503,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Unknown => 500,
        }
    }

    /// The default message (Distribution's wording).
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "blob unknown to registry",
            ErrorCode::BlobUploadInvalid => "blob upload invalid",
            ErrorCode::BlobUploadUnknown => "blob upload unknown to registry",
            ErrorCode::DigestInvalid => "provided digest did not match uploaded content",
            ErrorCode::ManifestBlobUnknown => "blob unknown to registry",
            ErrorCode::ManifestInvalid => "manifest invalid",
            ErrorCode::ManifestUnknown => "manifest unknown",
            ErrorCode::ManifestUnverified => "manifest failed signature verification",
            ErrorCode::NameInvalid => "invalid repository name",
            ErrorCode::NameUnknown => "repository name not known to registry",
            ErrorCode::SizeInvalid => "provided length did not match content length",
            ErrorCode::RangeInvalid => "invalid content range",
            ErrorCode::TagInvalid => "manifest tag did not match URI",
            ErrorCode::PaginationNumberInvalid => "invalid number of results requested",
            ErrorCode::Unauthorized => "authentication required",
            ErrorCode::Denied => "requested access to the resource is denied",
            ErrorCode::Unsupported => "The operation is unsupported.",
            ErrorCode::Unavailable => "service unavailable",
            ErrorCode::TooManyRequests => "too many requests",
            ErrorCode::Unknown => "unknown error",
        }
    }

    /// The code of a wire string, if it is one.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

impl From<ErrorKind> for ErrorCode {
    fn from(kind: ErrorKind) -> ErrorCode {
        match kind {
            ErrorKind::BlobUnknown => ErrorCode::BlobUnknown,
            ErrorKind::BlobUploadUnknown => ErrorCode::BlobUploadUnknown,
            ErrorKind::BlobUploadInvalid => ErrorCode::BlobUploadInvalid,
            ErrorKind::DigestInvalid => ErrorCode::DigestInvalid,
            ErrorKind::SizeInvalid => ErrorCode::SizeInvalid,
            ErrorKind::ManifestUnknown => ErrorCode::ManifestUnknown,
            ErrorKind::ManifestInvalid => ErrorCode::ManifestInvalid,
            ErrorKind::ManifestBlobUnknown => ErrorCode::ManifestBlobUnknown,
            ErrorKind::NameInvalid => ErrorCode::NameInvalid,
            ErrorKind::NameUnknown => ErrorCode::NameUnknown,
            ErrorKind::TagInvalid => ErrorCode::TagInvalid,
            ErrorKind::Unsupported => ErrorCode::Unsupported,
            ErrorKind::Denied => ErrorCode::Denied,
            ErrorKind::TooManyRequests => ErrorCode::TooManyRequests,
            ErrorKind::Unavailable => ErrorCode::Unavailable,
            ErrorKind::Unknown => ErrorCode::Unknown,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an error body.
///
/// The server writes it; the client reads it leniently, as registries
/// write it: a missing `code` or `message` is empty, `detail` is any JSON
/// (Distribution puts a string, an object or an array there), and unknown
/// fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// The code, e.g. `BLOB_UNKNOWN` ([`ErrorCode::parse`] reads it).
    #[serde(default)]
    pub code: String,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// Unstructured detail (here: what exactly was wrong), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The body of every error response: `{"errors":[{"code","message","detail"}]}`.
///
/// ```
/// use berth_api::{ApiError, ErrorBody, ErrorCode};
///
/// // What the server writes, the client reads back.
/// let written = ApiError::new(ErrorCode::NameUnknown).to_json();
/// let entry = ErrorBody::first(&written).unwrap();
/// assert_eq!(ErrorCode::parse(&entry.code), Some(ErrorCode::NameUnknown));
///
/// // Leniently: whatever is missing is empty.
/// let entry = ErrorBody::first(br#"{"errors":[{"detail":["x"]}]}"#).unwrap();
/// assert_eq!((entry.code.as_str(), entry.message.as_str()), ("", ""));
/// assert!(ErrorBody::first(b"404 page not found").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The errors, usually one (none when a body has no `errors`).
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
}

impl ErrorBody {
    /// Reads an error body, leniently (see [`ErrorEntry`]); `None` when
    /// it is not a JSON object of that shape.
    pub fn parse(body: &[u8]) -> Option<ErrorBody> {
        serde_json::from_slice(body).ok()
    }

    /// The first entry of an error body, if it is one and has any.
    pub fn first(body: &[u8]) -> Option<ErrorEntry> {
        ErrorBody::parse(body).and_then(|b| b.errors.into_iter().next())
    }
}

/// An error response: its code, and what to say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The code (which fixes the status).
    pub code: ErrorCode,
    /// The message; the code's default when nothing more specific is known.
    pub message: String,
    /// Detail for the body, if any.
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    /// An error with the code's default message.
    pub fn new(code: ErrorCode) -> ApiError {
        ApiError {
            code,
            message: code.message().to_owned(),
            detail: None,
        }
    }

    /// An error with a specific message.
    pub fn with_message(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// Adds detail.
    pub fn detail(mut self, detail: serde_json::Value) -> ApiError {
        self.detail = Some(detail);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            errors: vec![ErrorEntry {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                detail: self.detail.clone(),
            }],
        }
    }

    /// The JSON body, serialized.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).unwrap_or_else(|_| {
            br#"{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}"#.to_vec()
        })
    }
}

impl From<&Error> for ApiError {
    /// The code of the error's kind; the error's own text as the message,
    /// except for backend failures, whose details stay in the logs (an
    /// unavailable backend is named, e.g. `upstream registry
    /// registry.example unavailable`, without the cause).
    fn from(err: &Error) -> ApiError {
        let code = ErrorCode::from(err.kind());
        let message = match err {
            Error::Unavailable { service, .. } => format!("{service} unavailable"),
            _ if code == ErrorCode::Unknown => code.message().to_owned(),
            _ => err.to_string(),
        };
        let detail = match err {
            Error::DigestMismatch { given, computed } => Some(serde_json::json!({
                "given": given.as_str(),
                "computed": computed.as_str(),
            })),
            Error::ManifestBlobUnknown { digest } | Error::BlobUnknown { digest } => {
                Some(serde_json::json!({ "digest": digest.as_str() }))
            }
            Error::SizeInvalid { expected, actual } => {
                Some(serde_json::json!({ "expected": expected, "actual": actual }))
            }
            _ => None,
        };
        ApiError {
            code,
            message,
            detail,
        }
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        ApiError::from(&err)
    }
}
