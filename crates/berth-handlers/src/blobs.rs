//! `/v2/<name>/blobs/<digest>`: GET (whole, ranged, or redirected), HEAD,
//! DELETE.

use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, LOCATION, RANGE,
};
use berth_api::ErrorCode;
use berth_api::ranges::{RangeRequest, content_range, unsatisfied_range};
use berth_core::Repository;

use crate::app::{Ctx, lookup_digest};
use crate::error::{HandlerError, HandlerResult};

/// `GET`/`HEAD`.
pub(crate) async fn get(ctx: &Ctx<'_>, repo: &Arc<dyn Repository>, digest: &str) -> HandlerResult {
    let digest = lookup_digest(digest)?;
    let blobs = repo.blobs();
    let descriptor = blobs.stat(&digest).await?;
    let size = u64::try_from(descriptor.size).unwrap_or(0);
    let etag = format!("\"{digest}\"");

    if !ctx.is_head()
        && let Some(url) = blobs.redirect_url_described(&descriptor).await?
    {
        return Ok(HttpResponse::TemporaryRedirect()
            .insert_header((LOCATION, url))
            .insert_header((berth_api::headers::CONTENT_DIGEST, digest.as_str()))
            .finish());
    }

    let range = match ctx.header(RANGE) {
        Some(header) => RangeRequest::parse(header, size),
        None => RangeRequest::Whole,
    };
    let (mut response, range) = match range {
        RangeRequest::Whole => (HttpResponse::Ok(), 0..size),
        RangeRequest::Part(range) => {
            let mut response = HttpResponse::PartialContent();
            response.insert_header((CONTENT_RANGE, content_range(&range, size)));
            (response, range)
        }
        RangeRequest::Unsatisfiable => {
            return Err(HandlerError::new(
                ErrorCode::RangeInvalid,
                format!("requested range starts past the end of the {size}-byte blob"),
            )
            .with_header(CONTENT_RANGE, &unsatisfied_range(size)));
        }
    };
    response
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((berth_api::headers::CONTENT_DIGEST, digest.as_str()))
        .insert_header((ETAG, etag))
        .insert_header((ACCEPT_RANGES, "bytes"))
        .insert_header((CACHE_CONTROL, "max-age=31536000"));
    if ctx.is_head() {
        return Ok(response.body(crate::app::head_body(range.end - range.start)));
    }
    let partial = range.start != 0 || range.end != size;
    let length = range.end - range.start;
    let content = blobs
        .open_described(descriptor, partial.then_some(range))
        .await?;
    Ok(response.body(actix_web::body::SizedStream::new(length, content.body)))
}

/// `DELETE`: unlinks the blob from the repository (a malformed digest
/// names no blob: `BLOB_UNKNOWN`).
pub(crate) async fn delete(
    _ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    digest: &str,
) -> HandlerResult {
    let digest = lookup_digest(digest)?;
    repo.blobs().delete(&digest).await?;
    Ok(HttpResponse::Accepted().finish())
}
