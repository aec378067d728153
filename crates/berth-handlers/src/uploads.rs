//! Blob uploads: `POST /v2/<name>/blobs/uploads/` and
//! `/v2/<name>/blobs/uploads/<id>` (GET, PATCH, PUT, DELETE).

use std::sync::Arc;

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_RANGE, LOCATION, RANGE};
use actix_web::{HttpResponse, web};
use berth_api::ErrorCode;
use berth_api::ranges::{ChunkRange, upload_range};
use berth_core::{BlobWriter, CreateOptions, Created, Repository};
use berth_digest::Digest;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::app::{Ctx, parse_digest};
use crate::error::{HandlerError, HandlerResult};
use crate::state::UploadState;

/// Body bytes are handed to the upload in pieces of about this size, so
/// that hashing and storage writes work on large buffers.
const WRITE_SIZE: usize = 1 << 20;

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
        .insert_header((RANGE, upload_range(upload.size())))
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

/// A request body that broke off or could not be read.
fn body_error(e: actix_web::error::PayloadError) -> HandlerError {
    HandlerError::new(
        ErrorCode::BlobUploadInvalid,
        format!("reading the request body: {e}"),
    )
}

/// Copies the request body into the upload, in large pieces.
async fn write_body(
    upload: &mut Box<dyn BlobWriter>,
    mut body: web::Payload,
) -> Result<u64, HandlerError> {
    let mut pending = BytesMut::new();
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(body_error)?;
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
        // A malformed digest or source name, or a source the client may
        // not pull from, is not the client's failure to push: upload (as
        // Distribution does, and the OCI specification allows).
        if let (Ok(digest), Ok(from)) = (
            Digest::parse(&mount),
            berth_reference::RepositoryName::parse(&from),
        ) && ctx.mount_allowed
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
        .insert_header((RANGE, upload_range(upload.size())))
        .insert_header((berth_api::headers::UPLOAD_UUID, upload.id()))
        .finish();
    upload.close().await?;
    Ok(response)
}

/// The largest chunk with a `Content-Range` but no `Content-Length`
/// (a chunked transfer) that is held in memory until it is complete, so
/// that a body shorter or longer than its range appends nothing. A larger
/// one needs a `Content-Length`, as the OCI specification's chunked
/// upload sends.
const MAX_UNSIZED_CHUNK: u64 = 64 << 20;

/// How a chunk's body is to be appended.
enum Chunk {
    /// As it arrives: no `Content-Range`, or one that `Content-Length`
    /// (which the HTTP layer holds the body to) agrees with.
    Streamed,
    /// The body must be exactly this long; it is read whole first.
    Buffered(u64),
}

/// A `416` for a chunk that does not fit the upload, with the upload's
/// `Range` and `Location` as it stands.
fn misfit(ctx: &Ctx<'_>, name: &str, upload: &dyn BlobWriter, message: String) -> HandlerError {
    HandlerError::new(ErrorCode::RangeInvalid, message)
        .with_header(RANGE, &upload_range(upload.size()))
        .with_header(LOCATION, &upload_location(ctx, name, upload))
        .with_header(berth_api::headers::UPLOAD_UUID, upload.id())
}

/// Checks a chunk's `Content-Range` (`<start>-<end>`) against the upload
/// and against the body's `Content-Length`, before any byte is read.
fn check_chunk(ctx: &Ctx<'_>, name: &str, upload: &dyn BlobWriter) -> Result<Chunk, HandlerError> {
    let Some(value) = ctx.header(CONTENT_RANGE) else {
        return Ok(Chunk::Streamed);
    };
    let Some(range) = ChunkRange::parse(value) else {
        return Err(HandlerError::new(
            ErrorCode::BlobUploadInvalid,
            format!(
                "invalid Content-Range {:?}: expected <start>-<end>",
                berth_core::shorten(value)
            ),
        ));
    };
    if range.start != upload.size() {
        return Err(misfit(
            ctx,
            name,
            upload,
            format!(
                "chunk starts at byte {}, but the upload has {} bytes",
                range.start,
                upload.size()
            ),
        ));
    }
    let declared = ctx
        .header(CONTENT_LENGTH)
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length == range.len() => Ok(Chunk::Streamed),
        Some(length) => Err(misfit(
            ctx,
            name,
            upload,
            format!(
                "Content-Range {range} announces {} bytes, but the body has {length} (Content-Length)",
                range.len()
            ),
        )),
        None if range.len() <= MAX_UNSIZED_CHUNK => Ok(Chunk::Buffered(range.len())),
        None => Err(HandlerError::new(
            ErrorCode::BlobUploadInvalid,
            format!(
                "a chunk of more than {} MiB with a Content-Range needs a Content-Length",
                MAX_UNSIZED_CHUNK >> 20
            ),
        )
        .with_status(actix_web::http::StatusCode::LENGTH_REQUIRED)),
    }
}

/// Reads a whole chunk of exactly `expected` bytes into memory; a body
/// that is shorter or longer is a `416` and nothing of it is kept.
async fn read_exact_chunk(
    ctx: &Ctx<'_>,
    name: &str,
    upload: &dyn BlobWriter,
    mut body: web::Payload,
    expected: u64,
) -> Result<Bytes, HandlerError> {
    let capacity = usize::try_from(expected).unwrap_or(usize::MAX);
    let mut buffer = BytesMut::with_capacity(capacity.min(WRITE_SIZE));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(body_error)?;
        if (buffer.len() + chunk.len()) as u64 > expected {
            return Err(misfit(
                ctx,
                name,
                upload,
                format!("the body is longer than the {expected} bytes its Content-Range announces"),
            ));
        }
        buffer.extend_from_slice(&chunk);
    }
    if buffer.len() as u64 != expected {
        return Err(misfit(
            ctx,
            name,
            upload,
            format!(
                "the body has {} bytes, but its Content-Range announces {expected}",
                buffer.len()
            ),
        ));
    }
    Ok(buffer.freeze())
}

/// Appends a chunk's body as [`check_chunk`] found it should be.
async fn append_chunk(
    ctx: &Ctx<'_>,
    name: &str,
    upload: &mut Box<dyn BlobWriter>,
    body: web::Payload,
    chunk: Chunk,
) -> Result<(), HandlerError> {
    match chunk {
        Chunk::Streamed => write_body(upload, body).await.map(drop),
        Chunk::Buffered(expected) => {
            let bytes = read_exact_chunk(ctx, name, &**upload, body, expected).await?;
            Ok(upload.write(bytes).await?)
        }
    }
}

/// `PATCH`: append a chunk (streamed, or with `Content-Range`).
pub(crate) async fn patch(
    ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    id: &str,
    body: web::Payload,
) -> HandlerResult {
    let name = repo.name().as_str();
    let mut upload = resume(ctx, repo, id).await?;
    let chunk = check_chunk(ctx, name, &*upload)?;
    let result = append_chunk(ctx, name, &mut upload, body, chunk).await;
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
    let name = repo.name().as_str();
    let mut upload = resume(ctx, repo, id).await?;
    let chunk = check_chunk(ctx, name, &*upload)?;
    append_chunk(ctx, name, &mut upload, body, chunk).await?;
    upload.commit(&digest, None).await?;
    Ok(created(ctx, repo.name().as_str(), &digest))
}

/// `DELETE`: cancel the upload.
pub(crate) async fn cancel(ctx: &Ctx<'_>, repo: &Arc<dyn Repository>, id: &str) -> HandlerResult {
    let upload = resume(ctx, repo, id).await?;
    upload.cancel().await?;
    Ok(HttpResponse::NoContent().finish())
}
