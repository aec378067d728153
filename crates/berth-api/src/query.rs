//! Query parameters: decoding a request's query string, and the `n` /
//! `last` pagination of the catalog and tag lists.
//!
//! ```
//! use berth_api::query::{Query, page_request};
//!
//! let query = Query::parse("n=2&last=team%2Fapp&n=9");
//! assert_eq!(query.get("n"), Some("2")); // the first value counts
//! let page = page_request(&query, Some(100)).unwrap();
//! assert_eq!((page.n, page.last.as_deref()), (Some(2), Some("team/app")));
//!
//! // More than the maximum is refused, naming the limit.
//! let err = page_request(&Query::parse("n=101"), Some(100)).unwrap_err();
//! assert_eq!(err.code, berth_api::ErrorCode::PaginationNumberInvalid);
//! ```

use berth_core::PageRequest;

use crate::{ApiError, ErrorCode};

/// A decoded query string (`application/x-www-form-urlencoded`: `+` is a
/// space, `%XX` a byte, invalid UTF-8 replaced), its pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `query` (without the leading `?`).
    pub fn parse(query: &str) -> Query {
        Query {
            pairs: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The first value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// The page a listing request asks for: `n` (a decimal count, at most
/// `max` when there is a maximum; `max` when absent or empty) and `last` (the
/// entry after which the page starts; empty means from the start).
///
/// A count that is not a decimal number, or above `max`, is
/// `PAGINATION_NUMBER_INVALID` (400), as Distribution answers.
pub fn page_request(query: &Query, max: Option<usize>) -> Result<PageRequest, ApiError> {
    // An empty `n` is no `n`, as Distribution reads it.
    let n = match query.get("n").filter(|n| !n.is_empty()) {
        None => None,
        Some(n) => {
            let parsed = n.parse::<usize>().map_err(|_| {
                ApiError::with_message(
                    ErrorCode::PaginationNumberInvalid,
                    format!(
                        "invalid number of results requested: n={}",
                        berth_core::shorten(n)
                    ),
                )
            })?;
            if let Some(max) = max
                && parsed > max
            {
                return Err(ApiError::with_message(
                    ErrorCode::PaginationNumberInvalid,
                    format!("n={parsed} is more than the maximum of {max} entries per page"),
                ));
            }
            Some(parsed)
        }
    };
    Ok(PageRequest {
        last: query
            .get("last")
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
        n: n.or(max),
    })
}

/// The `Link` header of a page that has more after it:
/// `<url?last=…&n=…>; rel="next"` (`last` percent-encoded).
///
/// ```
/// use berth_api::query::{next_link, next_link_target};
///
/// let link = next_link("/v2/_catalog", "team/app", 2);
/// assert_eq!(link, r#"</v2/_catalog?last=team%2Fapp&n=2>; rel="next""#);
/// assert_eq!(next_link_target(&link).as_deref(), Some("/v2/_catalog?last=team%2Fapp&n=2"));
/// ```
pub fn next_link(url: &str, last: &str, n: usize) -> String {
    format!(
        "<{url}?last={}&n={n}>; rel=\"next\"",
        crate::encode_query_value(last)
    )
}

/// The target of the `rel="next"` link of a `Link` header value, if any
/// (RFC 8288: `<uri>; rel="next", <uri>; rel=prev`).
pub fn next_link_target(header: &str) -> Option<String> {
    let mut rest = header;
    loop {
        let start = rest.find('<')?;
        let end = start + rest[start..].find('>')?;
        let target = &rest[start + 1..end];
        rest = &rest[end + 1..];
        // The parameters run to the next link (a '<' after a comma).
        let params_end = rest.find('<').unwrap_or(rest.len());
        let params = &rest[..params_end];
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &rest[params_end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        let q = Query::parse("a=1&b=x+y&c=%2F%zz&d&=e&a=2");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("c"), Some("/%zz"));
        assert_eq!(q.get("d"), Some(""));
        assert_eq!(q.get(""), Some("e"));
        assert_eq!(q.get("z"), None);
        assert_eq!(q.pairs().len(), 6);
        assert_eq!(Query::parse("").pairs().len(), 0);
        assert_eq!(Query::parse("x=%FF").get("x"), Some("\u{FFFD}"));
    }

    #[test]
    fn pages() {
        let page = |q: &str, max| page_request(&Query::parse(q), max);
        let ok = page("", Some(10)).unwrap();
        assert_eq!((ok.n, ok.last), (Some(10), None));
        let ok = page("", None).unwrap();
        assert_eq!((ok.n, ok.last), (None, None));
        let ok = page("n=0&last=", Some(10)).unwrap();
        assert_eq!((ok.n, ok.last), (Some(0), None));
        let ok = page("n=10&last=b", Some(10)).unwrap();
        assert_eq!((ok.n, ok.last.as_deref()), (Some(10), Some("b")));
        let ok = page("n=&last=a", Some(10)).unwrap();
        assert_eq!(ok.n, Some(10));
        assert_eq!(page("n=%2B3", None).unwrap().n, Some(3));
        for bad in ["n=-1", "n=1.5", "n= 1", "n=x", "n=99999999999999999999999"] {
            let err = page(bad, None).unwrap_err();
            assert_eq!(err.code, ErrorCode::PaginationNumberInvalid, "{bad}");
        }
        let err = page("n=11", Some(10)).unwrap_err();
        assert!(err.message.contains("maximum of 10"), "{}", err.message);
    }
}
