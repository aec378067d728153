//! `/v2/<name>/manifests/<reference>`: GET, HEAD, PUT, DELETE.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use actix_web::{HttpResponse, web};
use berth_api::ErrorCode;
use berth_core::{PutOptions, Repository};
use berth_digest::Digest;
use berth_manifest::{MAX_MANIFEST_SIZE, Manifest, ManifestKind};
use berth_reference::Tag;
use bytes::BytesMut;
use futures_util::StreamExt;

use crate::app::{Ctx, parse_digest, parse_tag};
use crate::error::{HandlerError, HandlerResult};

/// What a manifest URL's `<reference>` names.
enum Reference {
    Tag(Tag),
    Digest(Digest),
}

impl Reference {
    /// The reference of a push: a bad one is `TAG_INVALID` or
    /// `DIGEST_INVALID` (400), saying why. It is a digest when it has a
    /// `:` (tags cannot).
    fn parse(reference: &str) -> Result<Reference, HandlerError> {
        if reference.contains(':') {
            parse_digest(reference).map(Reference::Digest)
        } else {
            parse_tag(reference).map(Reference::Tag)
        }
    }

    /// The reference of a read or a delete: one that is neither a valid
    /// tag nor a valid digest names no manifest, so it is
    /// `MANIFEST_UNKNOWN` (404) like any manifest that does not exist, as
    /// the OCI specification and Distribution answer.
    fn lookup(reference: &str) -> Result<Reference, HandlerError> {
        Reference::parse(reference).map_err(|e| {
            HandlerError::new(
                ErrorCode::ManifestUnknown,
                format!(
                    "manifest unknown: {:?} is neither a valid tag nor a valid digest ({})",
                    berth_core::shorten(reference),
                    e.error.message
                ),
            )
        })
    }
}

/// The digest `reference` names in `repo`.
async fn resolve(repo: &Arc<dyn Repository>, reference: &str) -> Result<Digest, HandlerError> {
    match Reference::lookup(reference)? {
        Reference::Digest(digest) => Ok(digest),
        Reference::Tag(tag) => Ok(repo.tags().get(&tag).await?.digest),
    }
}

/// The media types the request's `Accept` headers list (parameters and
/// quality values dropped), lowercased.
fn accepted(ctx: &Ctx<'_>) -> Vec<String> {
    ctx.req
        .headers()
        .get_all(ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn accepts(accepted: &[String], media: &str) -> bool {
    accepted.is_empty() || accepted.iter().any(|a| a == media || a == "*/*")
}

/// `GET`/`HEAD`: the manifest as pushed, negotiated by `Accept`.
pub(crate) async fn get(
    ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    reference: &str,
) -> HandlerResult {
    let digest = resolve(repo, reference).await?;
    let mut manifest = repo.manifests().get(&digest).await?;
    let accepted = accepted(ctx);
    if !accepts(&accepted, manifest.media_type()) {
        manifest = negotiate(repo, manifest, &accepted).await?;
    }
    let digest = manifest.digest().clone();
    let etag = format!("\"{digest}\"");
    if ctx
        .header(IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((ETAG, etag))
            .insert_header((berth_api::headers::CONTENT_DIGEST, digest.as_str()))
            .finish());
    }
    let mut response = HttpResponse::Ok();
    response
        .insert_header((CONTENT_TYPE, manifest.media_type()))
        .insert_header((berth_api::headers::CONTENT_DIGEST, digest.as_str()))
        .insert_header((ETAG, etag));
    let payload = manifest.payload().clone();
    Ok(if ctx.is_head() {
        response.body(crate::app::head_body(payload.len() as u64))
    } else {
        response.body(payload)
    })
}

/// What to serve when the client does not accept the stored media type:
/// for a manifest list or index, the linux/amd64 image if the client
/// accepts its type (as Distribution does for clients that predate
/// indexes); otherwise `MANIFEST_UNKNOWN` saying why.
async fn negotiate(
    repo: &Arc<dyn Repository>,
    manifest: Manifest,
    accepted: &[String],
) -> Result<Manifest, HandlerError> {
    let refuse = |what: &str| {
        HandlerError::new(
            ErrorCode::ManifestUnknown,
            format!(
                "{what} found, but the Accept header does not allow {}",
                manifest.media_type()
            ),
        )
    };
    let entries = match manifest.kind() {
        ManifestKind::DockerList(list) => &list.manifests,
        ManifestKind::OciIndex(index) => &index.manifests,
        _ => return Err(refuse("manifest")),
    };
    let Some(default) = entries.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.architecture == "amd64" && p.os == "linux")
    }) else {
        return Err(refuse("index without a linux/amd64 image"));
    };
    if !accepts(accepted, &default.media_type) {
        return Err(refuse("index"));
    }
    Ok(repo.manifests().get(&default.digest).await?)
}

/// `PUT`: parse, validate, check references, store, tag.
pub(crate) async fn put(
    ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    reference: &str,
    mut body: web::Payload,
) -> HandlerResult {
    // Check the reference before reading the body.
    let (tag, expected) = match Reference::parse(reference)? {
        Reference::Digest(digest) => (None, Some(digest)),
        Reference::Tag(tag) => (Some(tag), None),
    };
    let mut bytes = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            HandlerError::new(ErrorCode::ManifestInvalid, format!("reading the body: {e}"))
        })?;
        if bytes.len() + chunk.len() > MAX_MANIFEST_SIZE {
            return Err(HandlerError::new(
                ErrorCode::ManifestInvalid,
                format!("manifest is larger than the limit of {MAX_MANIFEST_SIZE} bytes"),
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        bytes.extend_from_slice(&chunk);
    }
    let content_type = ctx.header(CONTENT_TYPE);
    let manifest = ctx
        .state
        .manifests
        .parse(content_type, bytes.freeze())
        .map_err(|e| HandlerError::from(berth_core::Error::from(e)))?;
    if let Some(expected) = &expected
        && manifest.digest() != expected
    {
        return Err(HandlerError::from(berth_core::Error::DigestMismatch {
            given: expected.clone(),
            computed: manifest.digest().clone(),
        }));
    }
    let digest = repo
        .manifests()
        .put(
            &manifest,
            PutOptions {
                tag,
                ..PutOptions::default()
            },
        )
        .await?;
    let mut response = HttpResponse::Created();
    response
        .insert_header((
            LOCATION,
            ctx.urls().manifest(repo.name().as_str(), digest.as_str()),
        ))
        .insert_header((berth_api::headers::CONTENT_DIGEST, digest.as_str()));
    if let Some(subject) = manifest.subject() {
        response.insert_header((berth_api::headers::OCI_SUBJECT, subject.digest.as_str()));
    }
    Ok(response.finish())
}

/// `DELETE`: by digest, the manifest and its tags; by tag, the tag alone
/// (a malformed reference names nothing: `MANIFEST_UNKNOWN`).
pub(crate) async fn delete(
    _ctx: &Ctx<'_>,
    repo: &Arc<dyn Repository>,
    reference: &str,
) -> HandlerResult {
    match Reference::lookup(reference)? {
        Reference::Digest(digest) => repo.manifests().delete(&digest).await?,
        Reference::Tag(tag) => repo.tags().untag(&tag).await?,
    }
    Ok(HttpResponse::Accepted().finish())
}
