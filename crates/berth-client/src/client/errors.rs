//! A registry's error answers, mapped onto berth-core errors by the
//! route they answer.

use super::*;

impl Inner {
    /// The error an unexpected response maps to.
    pub(crate) async fn error_from(&self, mut response: Response, call: &Call<'_>) -> Error {
        let status = response.status();
        let body = if call.method == Method::HEAD {
            Bytes::new()
        } else {
            read_limited(&mut response, SMALL_BODY_LIMIT)
                .await
                .unwrap_or_default()
        };
        let entry = ErrorBody::first(&body);
        self.map_error(&call.method, call.url.path(), status, entry, call.route)
    }

    pub(crate) fn map_error(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        entry: Option<ErrorEntry>,
        route: Route<'_>,
    ) -> Error {
        let code = entry.as_ref().and_then(|e| ErrorCode::parse(&e.code));
        let message = entry
            .as_ref()
            .map(|e| e.message.clone())
            .filter(|m| !m.is_empty())
            .or_else(|| code.map(|c| c.message().to_owned()))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        let detail = entry.as_ref().and_then(|e| e.detail.clone());
        let with_detail = match &detail {
            Some(d) if !d.is_null() => format!("{message} ({d})"),
            _ => message.clone(),
        };
        let upstream = UpstreamError {
            method: method.to_string(),
            path: path.to_owned(),
            status: status.as_u16(),
            code: entry
                .as_ref()
                .map(|e| e.code.clone())
                .filter(|c| !c.is_empty()),
            message: with_detail.clone(),
        };
        let name = route.name().unwrap_or_default().to_owned();
        let reference = match route {
            Route::Manifest { reference, .. } => reference.to_owned(),
            Route::Blob { digest, .. } | Route::Referrers { digest, .. } => digest.to_owned(),
            _ => String::new(),
        };
        let target_digest = match route {
            Route::Blob { digest, .. } | Route::Referrers { digest, .. } => {
                Digest::parse(digest).ok()
            }
            Route::Manifest { reference, .. } => Digest::parse(reference).ok(),
            _ => None,
        };
        let detail_digest = detail_digest(detail.as_ref());
        let upload_id = match route {
            Route::Upload { id, .. } => id.to_owned(),
            _ => String::new(),
        };
        let backend =
            |upstream: UpstreamError| Error::backend(format!("{method} {path}"), upstream);
        match code {
            Some(ErrorCode::BlobUnknown) => match target_digest.or(detail_digest) {
                Some(digest) => Error::BlobUnknown { digest },
                None => backend(upstream),
            },
            Some(ErrorCode::BlobUploadUnknown) => Error::BlobUploadUnknown { id: upload_id },
            Some(ErrorCode::BlobUploadInvalid | ErrorCode::RangeInvalid) => {
                Error::BlobUploadInvalid {
                    reason: with_detail,
                }
            }
            Some(ErrorCode::DigestInvalid | ErrorCode::SizeInvalid) => match route {
                Route::Manifest { .. } => Error::ManifestInvalid {
                    reason: with_detail,
                },
                _ => Error::BlobUploadInvalid {
                    reason: with_detail,
                },
            },
            Some(ErrorCode::ManifestBlobUnknown) => match detail_digest {
                Some(digest) => Error::ManifestBlobUnknown { digest },
                None => Error::ManifestInvalid {
                    reason: with_detail,
                },
            },
            Some(ErrorCode::ManifestInvalid | ErrorCode::ManifestUnverified) => {
                Error::ManifestInvalid {
                    reason: with_detail,
                }
            }
            Some(ErrorCode::ManifestUnknown) => Error::ManifestUnknown { reference },
            Some(ErrorCode::NameInvalid) => Error::name_invalid(&name, with_detail),
            Some(ErrorCode::NameUnknown) => Error::NameUnknown { name },
            Some(ErrorCode::TagInvalid) => Error::tag_invalid(&reference, with_detail),
            Some(ErrorCode::Unauthorized | ErrorCode::Denied) => Error::Denied {
                reason: with_detail,
            },
            Some(ErrorCode::Unsupported) => Error::unsupported(with_detail),
            Some(ErrorCode::TooManyRequests) => Error::TooManyRequests {
                reason: with_detail,
            },
            Some(ErrorCode::Unavailable) => self.unavailable(upstream),
            Some(ErrorCode::PaginationNumberInvalid) => backend(upstream),
            Some(ErrorCode::Unknown) | None => match status.as_u16() {
                404 => match route {
                    // The client names blobs by their Digest: it parses.
                    Route::Blob { digest, .. } => match Digest::parse(digest) {
                        Ok(digest) => Error::BlobUnknown { digest },
                        Err(_) => backend(upstream),
                    },
                    Route::Manifest { .. } => Error::ManifestUnknown { reference },
                    Route::Tags { .. } => Error::NameUnknown { name },
                    Route::Upload { .. } => Error::BlobUploadUnknown { id: upload_id },
                    _ => backend(upstream),
                },
                401 => Error::Denied {
                    reason: format!("authentication required: {with_detail}"),
                },
                403 => Error::Denied {
                    reason: with_detail,
                },
                405 => Error::unsupported(format!("{method} {path}: {with_detail}")),
                429 => Error::TooManyRequests {
                    reason: with_detail,
                },
                500.. => self.unavailable(upstream),
                _ => backend(upstream),
            },
        }
    }
}
