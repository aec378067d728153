//! Errors as HTTP responses.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use berth_api::{ApiError, ErrorCode};

/// An error answered as the v2 JSON error body with its code's status,
/// plus any headers the code needs (e.g. `Range` on a 416 of an upload).
#[derive(Debug)]
pub struct HandlerError {
    /// The error.
    pub error: ApiError,
    /// A status other than the code's own (413 for an oversized manifest).
    pub status: Option<StatusCode>,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl HandlerError {
    /// An error with the code's default message.
    pub fn code(code: ErrorCode) -> HandlerError {
        ApiError::new(code).into()
    }

    /// An error with a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> HandlerError {
        ApiError::with_message(code, message).into()
    }

    /// Answers with `status` instead of the code's.
    pub fn with_status(mut self, status: StatusCode) -> HandlerError {
        self.status = Some(status);
        self
    }

    /// Adds a header: a [`HeaderName`], or a name such as berth-api's
    /// [`headers`](berth_api::headers) constants. A name or value a header
    /// cannot carry is left out.
    pub fn with_header(mut self, name: impl TryInto<HeaderName>, value: &str) -> HandlerError {
        if let (Ok(name), Ok(value)) = (name.try_into(), HeaderValue::from_str(value)) {
            self.headers.push((name, value));
        }
        self
    }
}

impl From<ApiError> for HandlerError {
    fn from(error: ApiError) -> HandlerError {
        HandlerError {
            error,
            status: None,
            headers: Vec::new(),
        }
    }
}

impl From<berth_core::Error> for HandlerError {
    fn from(err: berth_core::Error) -> HandlerError {
        let api = ApiError::from(&err);
        if matches!(api.code, ErrorCode::Unknown | ErrorCode::Unavailable) {
            tracing::error!(error = %err, "request failed");
        }
        api.into()
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error.code, self.error.message)
    }
}

impl ResponseError for HandlerError {
    fn status_code(&self) -> StatusCode {
        self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        })
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, berth_api::headers::JSON));
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response.body(self.error.to_json())
    }
}

/// The result of a handler.
pub type HandlerResult = Result<HttpResponse, HandlerError>;
