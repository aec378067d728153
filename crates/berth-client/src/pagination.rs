//! Paginated listings (`/v2/_catalog`, `/v2/<name>/tags/list`) and the
//! `Link` header.

use berth_api::Route;
use berth_api::query::next_link_target as next_link;
use berth_core::{Error, Page, PageRequest, Result};
use reqwest::header::LINK;
use reqwest::{Method, StatusCode, Url};

use crate::client::{Call, Inner, read_limited};
use crate::error::BodyError;

/// The largest listing page read (a tags list of a huge repository is a
/// few MiB).
const PAGE_LIMIT: usize = 64 * 1024 * 1024;

/// At most this many requests for one page, whatever the `Link`s say.
const MAX_REQUESTS: usize = 10_000;

/// One page of a listing: the entries after `page.last`, at most `page.n`
/// of them (all when `None`), following `Link: <…>; rel="next"` until
/// the page is full.
///
/// A registry that ignores `n` and `last` (Distribution 2.x's tags list)
/// is paginated here: entries not after `last` are dropped and the rest cut
/// at `n`.
pub(crate) async fn list(
    inner: &Inner,
    mut url: Url,
    route: Route<'_>,
    field: &str,
    page: PageRequest,
) -> Result<Page<String>> {
    if page.n == Some(0) {
        return Ok(Page {
            items: Vec::new(),
            more: false,
        });
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(n) = page.n {
            query.append_pair("n", &n.to_string());
        }
        if let Some(last) = &page.last {
            query.append_pair("last", last);
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    let mut items: Vec<String> = Vec::new();
    let mut more = false;
    for _ in 0..MAX_REQUESTS {
        let mut response = inner
            .send(
                Call::new(Method::GET, url.clone(), route),
                &[StatusCode::OK],
            )
            .await?;
        let next = response
            .headers()
            .get_all(LINK)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(next_link)
            .map(|link| inner.resolve(&url, &link))
            .transpose()?;
        let body = read_limited(&mut response, PAGE_LIMIT)
            .await
            .map_err(|e| inner.unavailable(e))?;
        let entries = entries(&body, field)
            .map_err(|e| Error::backend(format!("read the listing {}", url.path()), e))?;
        items.extend(
            entries
                .into_iter()
                .filter(|e| page.last.as_ref().is_none_or(|last| e > last)),
        );
        items.sort();
        items.dedup();
        if let Some(n) = page.n
            && items.len() >= n
        {
            more = items.len() > n || next.is_some();
            items.truncate(n);
            break;
        }
        match next {
            Some(next) if next != url => url = next,
            _ => break,
        }
    }
    Ok(Page { items, more })
}

/// The string array `field` of a JSON object (`null` or absent: empty).
fn entries(body: &[u8], field: &str) -> std::result::Result<Vec<String>, BodyError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| BodyError(format!("not JSON: {e}")))?;
    match value.get(field) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| BodyError(format!("{field} has a non-string entry")))
            })
            .collect(),
        Some(_) => Err(BodyError(format!("{field} is not a list"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r/v2/a/tags/list?n=1&last=x>; rel=prev, <https://r/v2/a/tags/list?n=1&last=y>; type="a"; rel="prefetch next""#).as_deref(),
            Some("https://r/v2/a/tags/list?n=1&last=y")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link("<unterminated"), None);
        assert_eq!(next_link(r#"</x>;REL=NEXT"#).as_deref(), Some("/x"));
    }

    #[test]
    fn listing_bodies() {
        assert_eq!(
            entries(br#"{"name":"a","tags":["b","a"]}"#, "tags").unwrap(),
            ["b", "a"]
        );
        assert!(
            entries(br#"{"name":"a","tags":null}"#, "tags")
                .unwrap()
                .is_empty()
        );
        assert!(entries(br#"{"repositories":[1]}"#, "repositories").is_err());
        assert!(entries(b"<html>", "tags").is_err());
    }
}
