//! S3 errors, made readable and mapped onto `DriverError`.

use std::fmt;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use berth_driver::DriverError;

use crate::NAME;

/// An S3 request that failed, as one readable line: the HTTP status, the
/// S3 error code and message and the request id for a service error, the
/// whole cause chain for a transport or timeout error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    code: Option<String>,
    status: Option<u16>,
    message: String,
}

impl S3Error {
    /// The S3 error code (`NoSuchKey`, `SlowDown`, …), for a service
    /// error.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The HTTP status, when a response came.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// An error of the driver's own making.
    pub(crate) fn other(message: impl Into<String>) -> S3Error {
        S3Error {
            code: None,
            status: None,
            message: message.into(),
        }
    }

    pub(crate) fn from_sdk<E>(e: &SdkError<E, HttpResponse>) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        match e {
            SdkError::ServiceError(ctx) => {
                let err = ctx.err();
                let code = err.code().map(str::to_owned);
                let mut message = match status {
                    Some(status) => format!("HTTP {status}"),
                    None => "service error".to_owned(),
                };
                match (err.code(), err.message()) {
                    (Some(code), Some(text)) => message.push_str(&format!(" {code}: {text}")),
                    (Some(code), None) => message.push_str(&format!(" {code}")),
                    (None, Some(text)) => message.push_str(&format!(": {text}")),
                    (None, None) => message.push_str(&format!(": {}", DisplayErrorContext(err))),
                }
                if let Some(id) = err.meta().request_id() {
                    message.push_str(&format!(" (request id {id})"));
                }
                S3Error {
                    code,
                    status,
                    message,
                }
            }
            other => S3Error {
                code: None,
                status,
                message: DisplayErrorContext(other).to_string(),
            },
        }
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for S3Error {}

/// A `DriverError::Backend` for a failed S3 request.
pub(crate) fn backend<E>(
    operation: &'static str,
    path: &str,
    e: &SdkError<E, HttpResponse>,
) -> DriverError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    DriverError::backend(NAME, operation, path, S3Error::from_sdk(e))
}

/// The S3 error code of a service error.
pub(crate) fn code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.as_service_error().and_then(|e| e.code())
}

/// Whether the object (or the upload) is not there: `NoSuchKey`, a bare
/// 404 (`HEAD` responses have no body), `NoSuchUpload`. `NoSuchBucket`
/// is not: a missing bucket is a configuration error, not missing content.
pub(crate) fn is_missing<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match code(e) {
        Some("NoSuchKey" | "NotFound" | "NoSuchUpload") => true,
        Some(_) => false,
        None => e.raw_response().is_some_and(|r| r.status().as_u16() == 404),
    }
}
