//! Listings: the catalog, tags, and referrers.

use actix_web::HttpResponse;
use actix_web::http::header::LINK;
use berth_api::query::next_link;
use berth_core::Repository;
use berth_manifest::media_type;
use serde_json::json;

use crate::app::{Ctx, pagination, parse_digest};
use crate::error::HandlerResult;

fn json_response(ctx: &Ctx<'_>, body: Vec<u8>, link: Option<String>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.content_type(berth_api::headers::JSON);
    if let Some(link) = link {
        response.insert_header((LINK, link));
    }
    if ctx.is_head() {
        response.body(crate::app::head_body(body.len() as u64))
    } else {
        response.body(body)
    }
}

/// The catalog's body, serialized without copying the names.
#[derive(serde::Serialize)]
struct Catalog<'a> {
    repositories: &'a [String],
}

/// A tag list's body, serialized without copying the tags.
#[derive(serde::Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: &'a [String],
}

/// `GET /v2/_catalog`
pub(crate) async fn catalog(ctx: &Ctx<'_>) -> HandlerResult {
    let max = ctx.state.settings.catalog_max_entries;
    let page = pagination(ctx, Some(max))?;
    let n = page.n.unwrap_or(max);
    let result = if n == 0 {
        berth_core::Page {
            items: Vec::new(),
            more: false,
        }
    } else {
        ctx.state.namespace.catalog(page).await?
    };
    let link = match (result.more, result.items.last()) {
        (true, Some(last)) => Some(next_link(&ctx.urls().catalog(), last, n)),
        _ => None,
    };
    let body = serde_json::to_vec(&Catalog {
        repositories: &result.items,
    })
    .unwrap_or_default();
    Ok(json_response(ctx, body, link))
}

/// `GET /v2/<name>/tags/list`
pub(crate) async fn tags(ctx: &Ctx<'_>, repo: &std::sync::Arc<dyn Repository>) -> HandlerResult {
    let page = pagination(ctx, None)?;
    let n = page.n;
    let result = if n == Some(0) {
        berth_core::Page {
            items: Vec::new(),
            more: false,
        }
    } else {
        repo.tags().list(page).await?
    };
    let name = repo.name().as_str();
    let link = match (result.more, result.items.last(), n) {
        (true, Some(last), Some(n)) => Some(next_link(&ctx.urls().tags(name), last, n)),
        _ => None,
    };
    let body = serde_json::to_vec(&TagList {
        name,
        tags: &result.items,
    })
    .unwrap_or_default();
    Ok(json_response(ctx, body, link))
}

/// `GET /v2/<name>/referrers/<digest>`: an OCI image index of the
/// descriptors of the manifests whose subject is `digest`.
pub(crate) async fn referrers(
    ctx: &Ctx<'_>,
    repo: &std::sync::Arc<dyn Repository>,
    digest: &str,
) -> HandlerResult {
    let digest = parse_digest(digest)?;
    let artifact_type = ctx.param("artifactType").filter(|a| !a.is_empty());
    let manifests = repo
        .referrers()
        .referrers(&digest, artifact_type.as_deref())
        .await?;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": manifests,
    }))
    .unwrap_or_default();
    let mut response = HttpResponse::Ok();
    response.content_type(media_type::OCI_INDEX);
    if artifact_type.is_some() {
        response.insert_header((berth_api::headers::OCI_FILTERS_APPLIED, "artifactType"));
    }
    Ok(if ctx.is_head() {
        response.body(crate::app::head_body(body.len() as u64))
    } else {
        response.body(body)
    })
}
