//! Blob uploads: `POST /v2/<name>/blobs/uploads/` and
//! `/v2/<name>/blobs/uploads/<id>` (GET, PATCH, PUT, DELETE).

use std::sync::Arc;

use actix_web::http::header::{CONTENT_LENGTH, LOCATION, RANGE};
use actix_web::{HttpResponse, web};
use berth_api::ErrorCode;
use berth_core::{BlobWriter, CreateOptions, Created, Repository};
use berth_digest::Digest;
use bytes::BytesMut;
use futures_util::StreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::{Ctx, parse_digest};
use crate::error::{HandlerError, HandlerResult};
use crate::state::UploadState;

/// Body bytes are handed to the upload in pieces of about this size, so
/// that hashing and storage writes work on large buffers.
const WRITE_SIZE: usize = 1 << 20;

/// The `Range` header of an upload of `size` bytes: `0-<last byte>`
/// (`0-0` when empty, as Distribution answers).
fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// The URL of upload `id`, with its signed state.
fn upload_location(ctx: &Ctx<'_>, name: &str, upload: &dyn BlobWriter) -> String {
    let started_at = OffsetDateTime::from(upload.started_at())
        .format(&Rfc3339)
        .unwrap_or_default();
    let token = ctx.state.signer.sign(&UploadState {
        name: name.to_owned(),
        uuid: upload.id().to_owned(),
        offset: upload.size(),
        started_at,
    });
    format!(
        "{}?_state={}",
        ctx.urls().upload(name, upload.id()),
        berth_api::encode_query_value(&token)
    )
}

/// `202 Accepted` describing an upload in progress.
fn in_progress(ctx: &Ctx<'_>, name: &str, upload: &dyn BlobWriter) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((LOCATION, upload_location(ctx, name, upload)))
        .insert_header((RANGE, range_header(upload.size())))
        .insert_header((berth_api::headers::UPLOAD_UUID, upload.id()))
        .insert_header((CONTENT_LENGTH, 0))
        .finish()
}

/// `201 Created` for a stored blob.
fn created(ctx: &Ctx<'_>, name: &str, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((LOCATION, ctx.urls().blob(name, digest.as_str())))
        .insert_header((berth_api::headers::CONTENT_DIGEST, digest.as_str()))
        .insert_header((CONTENT_LENGTH, 0))
        .finish()
}

/// Copies the request body into the upload, in large pieces.
async fn write_body(
    upload: &mut Box<dyn BlobWriter>,
    mut body: web::Payload,
) -> Result<u64, HandlerError> {
    let mut pending = BytesMut::new();
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            HandlerError::new(
                ErrorCode::BlobUploadInvalid,
                format!("reading the request body: {e}"),
            )
        })?;
        written += chunk.len() as u64;
        if pending.is_empty() && chunk.len() >= WRITE_SIZE {
            upload.write(chunk).await?;
            continue;
        }
        pending.extend_from_slice(&chunk);
        if pending.len() >= WRITE_SIZE {
            upload.write(pending.split().freeze()).await?;
        }
    }
    if !pending.is_empty() {
        upload.write(pending.freeze()).await?;
    }
    Ok(written)
}

/// Resumes upload `id`, checking the URL's `_state` when it carries one.
async fn resume(
    ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    id: &str,
) -> Result<Box<dyn BlobWriter>, HandlerError> {
    if let Some(token) = ctx.param("_state") {
        let valid = ctx
            .state
            .signer
            .verify(&token)
            .is_some_and(|s| s.uuid == id && s.name == repo.name().as_str());
        if !valid {
            return Err(HandlerError::new(
                ErrorCode::BlobUploadInvalid,
                "the upload URL's state is not valid for this upload",
            ));
        }
    }
    Ok(repo.blobs().resume(id).await?)
}

/// `POST`: start an upload, or mount (`mount` + `from`), or upload in one
/// request (`digest`).
pub(crate) async fn start(
    ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    body: web::Payload,
) -> HandlerResult {
    let name = repo.name().as_str().to_owned();
    let mut options = CreateOptions::default();
    if let (Some(mount), Some(from)) = (ctx.param("mount"), ctx.param("from")) {
        let digest = parse_digest(&mount)?;
        // A bad source name, or one the client may not pull from, is not
        // the client's failure to push: upload.
        if let Ok(from) = berth_reference::RepositoryName::parse(&from)
            && ctx.mount_allowed
        {
            options.mount_from = Some((from, digest));
        }
    }
    let monolithic = match ctx.param("digest") {
        Some(d) => Some(parse_digest(&d)?),
        None => None,
    };
    match repo.blobs().create(options).await? {
        Created::Mounted(descriptor) => Ok(created(ctx, &name, &descriptor.digest)),
        Created::Upload(mut upload) => match monolithic {
            Some(digest) => {
                write_body(&mut upload, body).await?;
                upload.commit(&digest, None).await?;
                Ok(created(ctx, &name, &digest))
            }
            None => {
                let response = in_progress(ctx, &name, &*upload);
                upload.close().await?;
                Ok(response)
            }
        },
    }
}

/// `GET`: where the upload stands.
pub(crate) async fn status(ctx: &Ctx<'_>, repo: &Arc<dyn Repository>, id: &str) -> HandlerResult {
    let upload = resume(ctx, repo, id).await?;
    let name = repo.name().as_str();
    let response = HttpResponse::NoContent()
        .insert_header((LOCATION, upload_location(ctx, name, &*upload)))
        .insert_header((RANGE, range_header(upload.size())))
        .insert_header((berth_api::headers::UPLOAD_UUID, upload.id()))
        .finish();
    upload.close().await?;
    Ok(response)
}

/// Checks a chunk's `Content-Range` (`<start>-<end>`) against the upload.
fn check_content_range(ctx: &Ctx<'_>, upload: &dyn BlobWriter) -> Result<(), HandlerError> {
    let Some(range) = ctx.header(actix_web::http::header::CONTENT_RANGE) else {
        return Ok(());
    };
    let range = range
        .trim()
        .trim_start_matches("bytes ")
        .trim_start_matches("bytes=");
    let parsed = range
        .split_once('-')
        .and_then(|(s, e)| Some((s.trim().parse::<u64>().ok()?, e.trim().parse::<u64>().ok()?)));
    let out_of_order = |message: String| {
        HandlerError::new(ErrorCode::RangeInvalid, message)
            .with_header(RANGE, &range_header(upload.size()))
            .with_header(
                actix_web::http::header::HeaderName::from_static("docker-upload-uuid"),
                upload.id(),
            )
    };
    match parsed {
        Some((start, end)) if start == upload.size() && end >= start => Ok(()),
        Some((start, _)) => Err(out_of_order(format!(
            "chunk starts at byte {start}, but the upload has {} bytes",
            upload.size()
        ))),
        None => Err(HandlerError::new(
            ErrorCode::BlobUploadInvalid,
            format!("invalid Content-Range {range:?}: expected <start>-<end>"),
        )),
    }
}

/// `PATCH`: append a chunk (streamed, or with `Content-Range`).
pub(crate) async fn patch(
    ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    id: &str,
    body: web::Payload,
) -> HandlerResult {
    let mut upload = resume(ctx, repo, id).await?;
    check_content_range(ctx, &*upload)?;
    let result = write_body(&mut upload, body).await;
    let name = repo.name().as_str();
    let response = in_progress(ctx, name, &*upload);
    // Keep what arrived even when the body broke off: the client can ask
    // where the upload stands and go on from there.
    upload.close().await?;
    result?;
    Ok(response)
}

/// `PUT ?digest=`: the last chunk (optional) and the commit.
pub(crate) async fn finish(
    ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    id: &str,
    body: web::Payload,
) -> HandlerResult {
    let Some(digest) = ctx.param("digest") else {
        return Err(HandlerError::new(
            ErrorCode::DigestInvalid,
            "the digest query parameter is required to finish an upload",
        ));
    };
    let digest = parse_digest(&digest)?;
    let mut upload = resume(ctx, repo, id).await?;
    check_content_range(ctx, &*upload)?;
    write_body(&mut upload, body).await?;
    upload.commit(&digest, None).await?;
    Ok(created(ctx, repo.name().as_str(), &digest))
}

/// `DELETE`: cancel the upload.
pub(crate) async fn cancel(ctx: &Ctx<'_>, repo: &Arc<dyn Repository>, id: &str) -> HandlerResult {
    let upload = resume(ctx, repo, id).await?;
    upload.cancel().await?;
    Ok(HttpResponse::NoContent().finish())
}
