//! The v2 route table: which endpoint a path names.
//!
//! | route | path |
//! |---|---|
//! | [`Route::Base`] | `/v2/` |
//! | [`Route::Catalog`] | `/v2/_catalog` |
//! | [`Route::Tags`] | `/v2/<name>/tags/list` |
//! | [`Route::Manifest`] | `/v2/<name>/manifests/<reference>` |
//! | [`Route::Blob`] | `/v2/<name>/blobs/<digest>` |
//! | [`Route::UploadStart`] | `/v2/<name>/blobs/uploads/` |
//! | [`Route::Upload`] | `/v2/<name>/blobs/uploads/<uuid>` |
//! | [`Route::Referrers`] | `/v2/<name>/referrers/<digest>` |
//!
//! A repository name has any number of `/`-separated components, and a
//! component may itself be `manifests`, `blobs` or `tags`: the path is
//! read from its end, as Distribution's router matches it (the name is the
//! longest prefix that leaves a valid endpoint suffix). The name, reference
//! and digest are returned as written; validating them is the caller's
//! job, so that the right error code can be answered.

/// An endpoint of the v2 API, with the parts of its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`: repository listing.
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags {
        /// The repository name.
        name: &'a str,
    },
    /// `/v2/<name>/manifests/<reference>` (a tag or a digest)
    Manifest {
        /// The repository name.
        name: &'a str,
        /// The tag or digest.
        reference: &'a str,
    },
    /// `/v2/<name>/blobs/<digest>`
    Blob {
        /// The repository name.
        name: &'a str,
        /// The digest.
        digest: &'a str,
    },
    /// `/v2/<name>/blobs/uploads/` (also without the trailing slash)
    UploadStart {
        /// The repository name.
        name: &'a str,
    },
    /// `/v2/<name>/blobs/uploads/<uuid>`
    Upload {
        /// The repository name.
        name: &'a str,
        /// The upload id.
        id: &'a str,
    },
    /// `/v2/<name>/referrers/<digest>`
    Referrers {
        /// The repository name.
        name: &'a str,
        /// The subject digest.
        digest: &'a str,
    },
}

impl<'a> Route<'a> {
    /// The route a request path names (without query), if any.
    ///
    /// ```
    /// use berth_api::Route;
    ///
    /// assert_eq!(
    ///     Route::parse("/v2/library/ubuntu/manifests/latest"),
    ///     Some(Route::Manifest { name: "library/ubuntu", reference: "latest" })
    /// );
    /// // A repository may have a component called "manifests".
    /// assert_eq!(
    ///     Route::parse("/v2/a/manifests/manifests/v1"),
    ///     Some(Route::Manifest { name: "a/manifests", reference: "v1" })
    /// );
    /// assert_eq!(Route::parse("/v2/"), Some(Route::Base));
    /// assert_eq!(Route::parse("/v3/"), None);
    /// ```
    pub fn parse(path: &'a str) -> Option<Route<'a>> {
        let rest = path.strip_prefix("/v2")?;
        match rest {
            "" | "/" => return Some(Route::Base),
            "/_catalog" => return Some(Route::Catalog),
            _ => {}
        }
        let rest = rest.strip_prefix('/')?;
        if let Some(name) = rest.strip_suffix("/tags/list") {
            return non_empty(name).map(|name| Route::Tags { name });
        }
        if let Some(name) = rest
            .strip_suffix("/blobs/uploads/")
            .or_else(|| rest.strip_suffix("/blobs/uploads"))
        {
            return non_empty(name).map(|name| Route::UploadStart { name });
        }
        // `<name>/<kind>/<last>`, where `last` has no '/'.
        let (head, last) = rest.rsplit_once('/')?;
        if last.is_empty() {
            return None;
        }
        if let Some(name) = head.strip_suffix("/blobs/uploads") {
            return non_empty(name).map(|name| Route::Upload { name, id: last });
        }
        let (name, kind) = head.rsplit_once('/')?;
        let name = non_empty(name)?;
        match kind {
            "manifests" => Some(Route::Manifest {
                name,
                reference: last,
            }),
            "blobs" => Some(Route::Blob { name, digest: last }),
            "referrers" => Some(Route::Referrers { name, digest: last }),
            _ => None,
        }
    }

    /// The repository the route is about, if any.
    pub fn name(&self) -> Option<&'a str> {
        match *self {
            Route::Base | Route::Catalog => None,
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => Some(name),
        }
    }

    /// A short name for logs and metrics (`manifest`, `blob`, …).
    pub fn label(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Catalog => "catalog",
            Route::Tags { .. } => "tags",
            Route::Manifest { .. } => "manifest",
            Route::Blob { .. } => "blob",
            Route::UploadStart { .. } => "blob_upload_start",
            Route::Upload { .. } => "blob_upload",
            Route::Referrers { .. } => "referrers",
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Option<Route>)] = &[
            ("/v2", Some(Route::Base)),
            ("/v2/", Some(Route::Base)),
            ("/v2/_catalog", Some(Route::Catalog)),
            ("/v2/a/tags/list", Some(Route::Tags { name: "a" })),
            ("/v2/a/b/c/tags/list", Some(Route::Tags { name: "a/b/c" })),
            ("/v2/tags/tags/list", Some(Route::Tags { name: "tags" })),
            (
                "/v2/a/manifests/latest",
                Some(Route::Manifest {
                    name: "a",
                    reference: "latest",
                }),
            ),
            (
                "/v2/a/b/manifests/sha256:abc",
                Some(Route::Manifest {
                    name: "a/b",
                    reference: "sha256:abc",
                }),
            ),
            (
                "/v2/blobs/manifests/blobs",
                Some(Route::Manifest {
                    name: "blobs",
                    reference: "blobs",
                }),
            ),
            (
                "/v2/a/blobs/sha256:abc",
                Some(Route::Blob {
                    name: "a",
                    digest: "sha256:abc",
                }),
            ),
            (
                "/v2/a/blobs/uploads/",
                Some(Route::UploadStart { name: "a" }),
            ),
            (
                "/v2/a/blobs/uploads",
                Some(Route::UploadStart { name: "a" }),
            ),
            (
                "/v2/a/b/blobs/uploads/1234-abcd",
                Some(Route::Upload {
                    name: "a/b",
                    id: "1234-abcd",
                }),
            ),
            (
                "/v2/uploads/blobs/uploads/x",
                Some(Route::Upload {
                    name: "uploads",
                    id: "x",
                }),
            ),
            (
                "/v2/a/referrers/sha256:abc",
                Some(Route::Referrers {
                    name: "a",
                    digest: "sha256:abc",
                }),
            ),
            ("/v2/a/manifests/", None),
            ("/v2/manifests/latest", None),
            ("/v2/a/unknown/x", None),
            ("/v2/a", None),
            ("/v2//tags/list", None),
            ("/v2/tags/list", None),
            ("/v1/a/tags/list", None),
            ("/", None),
            ("", None),
            ("/v2x/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(&Route::parse(path), expected, "{path}");
        }
    }
}
