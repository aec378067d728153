//! `/v2/<name>/blobs/<digest>`: GET (whole, ranged, or redirected), HEAD,
//! DELETE.

use std::ops::Range;
use std::sync::Arc;

use actix_web::HttpResponse;
use actix_web::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_RANGE, CONTENT_TYPE, ETAG, LOCATION, RANGE,
};
use berth_api::ErrorCode;
use berth_core::Repository;

use crate::app::{Ctx, parse_digest};
use crate::error::{HandlerError, HandlerResult};

/// What a `Range` header asks of a blob of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable single range: serve everything (RFC 9110 lets a server
    /// ignore a Range it does not support, such as several ranges).
    Whole,
    /// These bytes.
    Part(Range<u64>),
    /// A range that starts past the end.
    Unsatisfiable,
}

/// Reads `bytes=a-b`, `bytes=a-` and `bytes=-n`.
pub(crate) fn parse_range(header: &str, size: u64) -> RangeRequest {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((start, end)) = spec.split_once('-') else {
        return RangeRequest::Whole;
    };
    let (start, end) = (start.trim(), end.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    if start.is_empty() {
        // bytes=-n: the last n bytes.
        return match number(end) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Part(size.saturating_sub(n)..size),
            None => RangeRequest::Whole,
        };
    }
    let Some(start) = number(start) else {
        return RangeRequest::Whole;
    };
    let end = match (end.is_empty(), number(end)) {
        (true, _) => None,
        (false, Some(end)) => Some(end),
        (false, None) => return RangeRequest::Whole,
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    let last = end.map_or(size - 1, |e| e.min(size - 1));
    if last < start {
        return RangeRequest::Whole;
    }
    RangeRequest::Part(start..last + 1)
}

/// `GET`/`HEAD`.
pub(crate) async fn get(ctx: &Ctx<'_>, repo: &Arc<dyn Repository>, digest: &str) -> HandlerResult {
    let digest = parse_digest(digest)?;
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
        Some(header) => parse_range(header, size),
        None => RangeRequest::Whole,
    };
    let (mut response, range) = match range {
        RangeRequest::Whole => (HttpResponse::Ok(), 0..size),
        RangeRequest::Part(range) => {
            let mut response = HttpResponse::PartialContent();
            response.insert_header((
                CONTENT_RANGE,
                format!(
                    "bytes {}-{}/{size}",
                    range.start,
                    range.end.saturating_sub(1)
                ),
            ));
            (response, range)
        }
        RangeRequest::Unsatisfiable => {
            return Err(HandlerError::new(
                ErrorCode::RangeInvalid,
                format!("requested range starts past the end of the {size}-byte blob"),
            )
            .with_header(CONTENT_RANGE, &format!("bytes */{size}")));
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

/// `DELETE`: unlinks the blob from the repository.
pub(crate) async fn delete(
    _ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    digest: &str,
) -> HandlerResult {
    let digest = parse_digest(digest)?;
    repo.blobs().delete(&digest).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let cases = [
            ("bytes=0-9", 100, Part(0..10)),
            ("bytes=10-", 100, Part(10..100)),
            ("bytes=-10", 100, Part(90..100)),
            ("bytes=-200", 100, Part(0..100)),
            ("bytes=90-200", 100, Part(90..100)),
            ("bytes=99-99", 100, Part(99..100)),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=100-200", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=0-0", 0, Unsatisfiable),
            ("bytes=5-2", 100, Whole),
            ("bytes=0-1,5-6", 100, Whole),
            ("items=0-1", 100, Whole),
            ("bytes=a-b", 100, Whole),
            ("bytes=", 100, Whole),
            ("bytes=-", 100, Whole),
        ];
        for (header, size, expected) in cases {
            assert_eq!(parse_range(header, size), expected, "{header} of {size}");
        }
    }
}
