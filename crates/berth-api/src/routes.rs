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
//!
//! The table also says what each endpoint needs: [`Route::scope`] is the
//! access a request asks of the access controller (server) and of the
//! token server (client, through [`Route::token_scopes`]), and
//! [`UrlBuilder::route`](crate::UrlBuilder::route) builds a route's URL.
//!
//! | route | `GET`, `HEAD` | `POST`, `PUT`, `PATCH` | `DELETE` |
//! |---|---|---|---|
//! | [`Route::Base`] | (authentication only) | (authentication only) | (authentication only) |
//! | [`Route::Catalog`] | `registry:catalog:*` | `registry:catalog:*` | `registry:catalog:*` |
//! | any other | `repository:<name>:pull` | `repository:<name>:pull,push` | `repository:<name>:delete` |
//!
//! A cross-repository mount (`POST …/blobs/uploads/?mount=…&from=<from>`)
//! also needs [`Scope::mount_source`]: `repository:<from>:pull`.

use std::fmt;

/// An endpoint of the v2 API, with the parts of its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// What a `method` request on this route needs: the resource and its
    /// actions, as Distribution asks for them. `None` when it needs
    /// nothing but authentication (`/v2/`, and methods the repository
    /// endpoints do not know).
    ///
    /// ```
    /// use berth_api::{Route, Scope};
    ///
    /// let blob = Route::Blob { name: "a/b", digest: "sha256:abc" };
    /// assert_eq!(blob.scope("HEAD"), Some(Scope::repository("a/b", Scope::PULL)));
    /// assert_eq!(blob.scope("DELETE").unwrap().to_string(), "repository:a/b:delete");
    /// let upload = Route::UploadStart { name: "a" };
    /// assert_eq!(upload.scope("POST").unwrap().to_string(), "repository:a:pull,push");
    /// assert_eq!(Route::Catalog.scope("GET"), Some(Scope::catalog()));
    /// assert_eq!(Route::Base.scope("GET"), None);
    /// ```
    pub fn scope(&self, method: &str) -> Option<Scope<'a>> {
        let name = match *self {
            Route::Base => return None,
            Route::Catalog => return Some(Scope::catalog()),
            Route::Tags { name }
            | Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Referrers { name, .. } => name,
        };
        let actions = match method {
            "GET" | "HEAD" => Scope::PULL,
            "POST" | "PUT" | "PATCH" => Scope::PULL_PUSH,
            "DELETE" => Scope::DELETE,
            _ => return None,
        };
        Some(Scope::repository(name, actions))
    }

    /// The token scopes a client asks for to send `method` to this route,
    /// sorted, as Distribution's client asks for them: the route's
    /// [`scope`](Route::scope), and for an upload started as a mount from
    /// another repository `mount_from`, pull on that one.
    ///
    /// ```
    /// use berth_api::Route;
    ///
    /// let start = Route::UploadStart { name: "a" };
    /// assert_eq!(
    ///     start.token_scopes("POST", Some("b")),
    ///     ["repository:a:pull,push", "repository:b:pull"]
    /// );
    /// assert_eq!(start.token_scopes("POST", Some("a")), ["repository:a:pull,push"]);
    /// assert!(Route::Base.token_scopes("GET", None).is_empty());
    /// ```
    pub fn token_scopes(&self, method: &str, mount_from: Option<&str>) -> Vec<String> {
        let mut scopes: Vec<String> = self.scope(method).iter().map(Scope::to_string).collect();
        if let (Route::UploadStart { name }, Some(from)) = (self, mount_from)
            && from != *name
        {
            scopes.push(Scope::mount_source(from).to_string());
        }
        scopes.sort();
        scopes
    }
}

/// A resource and the actions a request needs on it: one token scope
/// (`repository:<name>:pull,push`, `registry:catalog:*`).
///
/// The server asks its access controller for each action; the client asks
/// the token server for the scope as [displayed](fmt::Display).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope<'a> {
    /// The resource type: [`Scope::REPOSITORY`] or [`Scope::REGISTRY`].
    pub resource_type: &'static str,
    /// The resource name: a repository name, or `catalog`.
    pub name: &'a str,
    /// The actions, never empty.
    pub actions: &'static [&'static str],
}

impl<'a> Scope<'a> {
    /// The resource type of repositories.
    pub const REPOSITORY: &'static str = "repository";
    /// The resource type of registry-wide resources (the catalog).
    pub const REGISTRY: &'static str = "registry";
    /// Reading a repository.
    pub const PULL: &'static [&'static str] = &["pull"];
    /// Writing a repository (which reads it too).
    pub const PULL_PUSH: &'static [&'static str] = &["pull", "push"];
    /// Deleting from a repository.
    pub const DELETE: &'static [&'static str] = &["delete"];
    /// Every action: what the catalog asks for.
    pub const ANY: &'static [&'static str] = &["*"];

    /// `actions` on the repository `name`.
    pub const fn repository(name: &'a str, actions: &'static [&'static str]) -> Scope<'a> {
        Scope {
            resource_type: Scope::REPOSITORY,
            name,
            actions,
        }
    }

    /// Listing the catalog: `registry:catalog:*`.
    pub const fn catalog() -> Scope<'static> {
        Scope {
            resource_type: Scope::REGISTRY,
            name: "catalog",
            actions: Scope::ANY,
        }
    }

    /// What a cross-repository mount needs of its source repository
    /// `from`: `repository:<from>:pull`.
    pub const fn mount_source(from: &'a str) -> Scope<'a> {
        Scope::repository(from, Scope::PULL)
    }
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.resource_type, self.name)?;
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(action)?;
        }
        Ok(())
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

    #[test]
    fn scopes() {
        let name = "a/b";
        let repository = [
            Route::Tags { name },
            Route::Manifest {
                name,
                reference: "latest",
            },
            Route::Blob {
                name,
                digest: "sha256:abc",
            },
            Route::UploadStart { name },
            Route::Upload { name, id: "u" },
            Route::Referrers {
                name,
                digest: "sha256:abc",
            },
        ];
        for route in repository {
            let scope = |method| route.scope(method).map(|s| s.to_string());
            assert_eq!(scope("GET").as_deref(), Some("repository:a/b:pull"));
            assert_eq!(scope("HEAD").as_deref(), Some("repository:a/b:pull"));
            for method in ["POST", "PUT", "PATCH"] {
                assert_eq!(scope(method).as_deref(), Some("repository:a/b:pull,push"));
            }
            assert_eq!(scope("DELETE").as_deref(), Some("repository:a/b:delete"));
            assert_eq!(scope("OPTIONS"), None);
        }
        for method in ["GET", "DELETE", "OPTIONS"] {
            assert_eq!(
                Route::Catalog
                    .scope(method)
                    .map(|s| s.to_string())
                    .as_deref(),
                Some("registry:catalog:*")
            );
            assert_eq!(Route::Base.scope(method), None);
        }
        assert_eq!(
            Scope::mount_source("x/y").to_string(),
            "repository:x/y:pull"
        );
        assert_eq!(
            Route::UploadStart { name: "b" }.token_scopes("POST", Some("a")),
            ["repository:a:pull", "repository:b:pull,push"]
        );
        assert_eq!(
            Route::Blob {
                name,
                digest: "sha256:abc"
            }
            .token_scopes("GET", Some("c")),
            ["repository:a/b:pull"]
        );
    }
}
