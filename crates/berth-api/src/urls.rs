//! Building the URLs of the v2 endpoints: the ones the registry hands out
//! (`Location`, `Link`), and the ones a client sends requests to.

use crate::Route;

/// Builds URLs for the v2 endpoints.
///
/// Absolute URLs use, in order: the configured `http.host`, else the
/// request's `X-Forwarded-Proto` / `X-Forwarded-Host`, else its `Host` and
/// scheme. With `http.relativeurls`, URLs are paths only. `http.prefix`
/// goes in front of `/v2`.
///
/// ```
/// use berth_api::UrlBuilder;
///
/// let urls = UrlBuilder::new("https://registry.example.com", "");
/// assert_eq!(
///     urls.blob("library/ubuntu", "sha256:abc"),
///     "https://registry.example.com/v2/library/ubuntu/blobs/sha256:abc"
/// );
/// let relative = UrlBuilder::relative("/registry");
/// assert_eq!(relative.upload("a/b", "1234"), "/registry/v2/a/b/blobs/uploads/1234");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlBuilder {
    /// `scheme://host[:port]`, or empty for relative URLs.
    base: String,
    /// The path prefix before `/v2`, without a trailing slash.
    prefix: String,
}

impl UrlBuilder {
    /// URLs under `base` (`scheme://host[:port]`) and `prefix`.
    pub fn new(base: &str, prefix: &str) -> UrlBuilder {
        UrlBuilder {
            base: base.trim_end_matches('/').to_owned(),
            prefix: normalize_prefix(prefix),
        }
    }

    /// Relative URLs (paths) under `prefix`.
    pub fn relative(prefix: &str) -> UrlBuilder {
        UrlBuilder::new("", prefix)
    }

    /// The builder for one request.
    ///
    /// - `configured_host`: `http.host` (a URL), if set;
    /// - `relative`: `http.relativeurls`;
    /// - `scheme`, `host`: how the request reached us;
    /// - `forwarded_proto`, `forwarded_host`: `X-Forwarded-Proto` and
    ///   `X-Forwarded-Host` (first value of each), trusted as Distribution
    ///   trusts them.
    pub fn for_request(
        configured_host: Option<&str>,
        prefix: &str,
        relative: bool,
        scheme: &str,
        host: &str,
        forwarded_proto: Option<&str>,
        forwarded_host: Option<&str>,
    ) -> UrlBuilder {
        if relative {
            return UrlBuilder::relative(prefix);
        }
        if let Some(configured) = configured_host.filter(|h| !h.is_empty()) {
            return UrlBuilder::new(configured, prefix);
        }
        let first = |v: Option<&str>| {
            v.and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let scheme = first(forwarded_proto).unwrap_or_else(|| scheme.to_owned());
        let host = first(forwarded_host).unwrap_or_else(|| host.to_owned());
        UrlBuilder::new(&format!("{scheme}://{host}"), prefix)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}/v2/{path}", self.base, self.prefix)
    }

    /// `/v2/`
    pub fn base(&self) -> String {
        self.url("")
    }

    /// `/v2/_catalog`
    pub fn catalog(&self) -> String {
        self.url("_catalog")
    }

    /// `/v2/<name>/tags/list`
    pub fn tags(&self, name: &str) -> String {
        self.url(&format!("{name}/tags/list"))
    }

    /// `/v2/<name>/manifests/<reference>`
    pub fn manifest(&self, name: &str, reference: &str) -> String {
        self.url(&format!("{name}/manifests/{reference}"))
    }

    /// `/v2/<name>/blobs/<digest>`
    pub fn blob(&self, name: &str, digest: &str) -> String {
        self.url(&format!("{name}/blobs/{digest}"))
    }

    /// `/v2/<name>/blobs/uploads/`
    pub fn upload_start(&self, name: &str) -> String {
        self.url(&format!("{name}/blobs/uploads/"))
    }

    /// `/v2/<name>/blobs/uploads/<id>`
    pub fn upload(&self, name: &str, id: &str) -> String {
        self.url(&format!("{name}/blobs/uploads/{id}"))
    }

    /// `/v2/<name>/referrers/<digest>`
    pub fn referrers(&self, name: &str, digest: &str) -> String {
        self.url(&format!("{name}/referrers/{digest}"))
    }

    /// The URL of `route`: what [`Route::parse`] reads back.
    ///
    /// ```
    /// use berth_api::{Route, UrlBuilder};
    ///
    /// let urls = UrlBuilder::new("http://127.0.0.1:5000/", "");
    /// let route = Route::Manifest { name: "a/b", reference: "latest" };
    /// let url = urls.route(&route);
    /// assert_eq!(url, "http://127.0.0.1:5000/v2/a/b/manifests/latest");
    /// assert_eq!(Route::parse(url.trim_start_matches("http://127.0.0.1:5000")), Some(route));
    /// ```
    pub fn route(&self, route: &Route<'_>) -> String {
        match *route {
            Route::Base => self.base(),
            Route::Catalog => self.catalog(),
            Route::Tags { name } => self.tags(name),
            Route::Manifest { name, reference } => self.manifest(name, reference),
            Route::Blob { name, digest } => self.blob(name, digest),
            Route::UploadStart { name } => self.upload_start(name),
            Route::Upload { name, id } => self.upload(name, id),
            Route::Referrers { name, digest } => self.referrers(name, digest),
        }
    }
}

fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_urls() {
        let u = UrlBuilder::for_request(None, "", false, "http", "127.0.0.1:5000", None, None);
        assert_eq!(u.base(), "http://127.0.0.1:5000/v2/");
        let u = UrlBuilder::for_request(
            None,
            "",
            false,
            "http",
            "internal:5000",
            Some("https, http"),
            Some("registry.example.com"),
        );
        assert_eq!(u.catalog(), "https://registry.example.com/v2/_catalog");
        let u = UrlBuilder::for_request(
            Some("https://public.example.com/"),
            "/reg/",
            false,
            "http",
            "internal",
            Some("http"),
            None,
        );
        assert_eq!(
            u.tags("a/b"),
            "https://public.example.com/reg/v2/a/b/tags/list"
        );
        let u = UrlBuilder::for_request(Some("https://x"), "", true, "http", "h", None, None);
        assert_eq!(u.manifest("a", "latest"), "/v2/a/manifests/latest");
        assert_eq!(u.upload_start("a"), "/v2/a/blobs/uploads/");
        assert_eq!(u.referrers("a", "sha256:x"), "/v2/a/referrers/sha256:x");
    }

    #[test]
    fn route_urls_parse_back() {
        let urls = UrlBuilder::relative("");
        let routes = [
            Route::Base,
            Route::Catalog,
            Route::Tags { name: "a/b" },
            Route::Manifest {
                name: "a/b",
                reference: "v1",
            },
            Route::Blob {
                name: "a",
                digest: "sha256:x",
            },
            Route::UploadStart { name: "a" },
            Route::Upload { name: "a", id: "u" },
            Route::Referrers {
                name: "a",
                digest: "sha256:x",
            },
        ];
        for route in routes {
            assert_eq!(Route::parse(&urls.route(&route)), Some(route));
        }
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query_value("a/b c:d"), "a%2Fb%20c%3Ad");
        assert_eq!(encode_query_value("sha256:ab"), "sha256%3Aab");
    }
}
