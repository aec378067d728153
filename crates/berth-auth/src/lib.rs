//! Access control for the berth registry, as Distribution's `registry/auth`
//! packages do it: the same access controllers (`htpasswd`, `token`,
//! `silly`), the same decisions and the same `WWW-Authenticate` challenges.
//!
//! ```
//! use berth_auth::{Access, AuthError, ChallengeError, Request, SillyOptions};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! // auth.silly: any Authorization header passes.
//! let controller = berth_auth::silly(SillyOptions {
//!     realm: "https://auth.example.com/token".into(),
//!     service: "registry.example.com".into(),
//! })?;
//! let wanted = [Access::repository("team/app", "pull"), Access::repository("team/app", "push")];
//!
//! // No credentials: a challenge for the handler to send with 401 UNAUTHORIZED.
//! match controller.authorize(&Request::new(), &wanted).await {
//!     Err(AuthError::Challenge(challenge)) => {
//!         assert_eq!(
//!             challenge.www_authenticate(),
//!             r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull repository:team/app:push""#
//!         );
//!         assert_eq!(challenge.error(), None::<ChallengeError>);
//!     }
//!     other => panic!("expected a challenge, got {other:?}"),
//! }
//!
//! // With a header: granted.
//! let grant = controller
//!     .authorize(&Request::new().with_authorization("Bearer anything"), &wanted)
//!     .await?;
//! assert_eq!(grant.user.map(|u| u.name).as_deref(), Some("silly"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the handlers do with the outcome
//!
//! The handlers call [`AccessController::authorize`] with the request's
//! [`Request`] view and the accesses the route needs (none for `GET /v2/`,
//! `pull` for reads, `pull` and `push` for uploads and manifest puts,
//! `delete` for deletes, [`Access::catalog`] for `/v2/_catalog`). Then:
//!
//! - `Ok(`[`Grant`]`)`: the request proceeds as the grant's user.
//! - `Err(`[`AuthError::Challenge`]`)`: answer `401` with the OCI error code
//!   `UNAUTHORIZED`, the requested accesses as its `detail` (they serialize
//!   as Distribution's do: `{"Type":"repository","Class":"","Name":"foo/bar","Action":"pull"}`)
//!   and [`Challenge::www_authenticate`] as the `WWW-Authenticate` header.
//! - `Err(`[`AuthError::Internal`]`)`: the controller could not decide (the
//!   htpasswd file vanished, a blocking task failed). Distribution answers
//!   a bare `400 Bad Request` with no body so nothing leaks, and logs the
//!   error; the handlers do the same.
//!
//! # Secrets
//!
//! No type here prints a password, an `Authorization` value or a token:
//! [`Request`]'s `Debug` redacts the header, and logs name only users and
//! reasons.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod challenge;
mod error;
pub mod htpasswd;
pub mod settings;
pub mod silly;
pub mod token;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use challenge::{Challenge, ChallengeError};
pub use error::{AuthError, ConfigError};
pub use htpasswd::{HtpasswdAccessController, HtpasswdOptions};
pub use silly::{SillyAccessController, SillyOptions};
pub use token::{SigningAlgorithm, TokenAccessController, TokenOptions};

/// A typed, named resource an access is about: a repository
/// (`repository`, `team/app`) or the registry's catalog (`registry`,
/// `catalog`).
///
/// Serializes with Distribution's Go field names (`Type`, `Class`, `Name`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// The resource type: `repository` or `registry`.
    #[serde(rename = "Type")]
    pub typ: String,
    /// The resource class; empty for everything the registry asks for.
    #[serde(rename = "Class", default)]
    pub class: String,
    /// The resource name: a repository name, or `catalog`.
    #[serde(rename = "Name")]
    pub name: String,
}

impl Resource {
    /// The resource type of repositories.
    pub const REPOSITORY: &'static str = "repository";
    /// The resource type of registry-wide resources (the catalog).
    pub const REGISTRY: &'static str = "registry";

    /// A resource of type `typ` named `name`, with no class.
    pub fn new(typ: impl Into<String>, name: impl Into<String>) -> Self {
        Resource {
            typ: typ.into(),
            class: String::new(),
            name: name.into(),
        }
    }

    /// The repository `name`.
    pub fn repository(name: impl Into<String>) -> Self {
        Resource::new(Self::REPOSITORY, name)
    }
}

/// An action requested on (or granted for) a resource.
///
/// Serializes flat, as Distribution's `auth.Access` (which embeds its
/// `Resource`): `{"Type":"repository","Class":"","Name":"foo/bar","Action":"pull"}`.
/// That is the `detail` of the `UNAUTHORIZED` error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Access {
    /// The resource.
    #[serde(flatten)]
    pub resource: Resource,
    /// The action: `pull`, `push`, `delete`, or `*` (the catalog).
    #[serde(rename = "Action")]
    pub action: String,
}

impl Access {
    /// Reading a repository.
    pub const PULL: &'static str = "pull";
    /// Writing a repository.
    pub const PUSH: &'static str = "push";
    /// Deleting from a repository.
    pub const DELETE: &'static str = "delete";
    /// Every action (what the catalog asks for, and what a token may grant).
    pub const ANY: &'static str = "*";

    /// `action` on `resource`.
    pub fn new(resource: Resource, action: impl Into<String>) -> Self {
        Access {
            resource,
            action: action.into(),
        }
    }

    /// `action` on the repository `name`: `repository:<name>:<action>`.
    pub fn repository(name: impl Into<String>, action: impl Into<String>) -> Self {
        Access::new(Resource::repository(name), action)
    }

    /// Listing the catalog: `registry:catalog:*`.
    pub fn catalog() -> Self {
        Access::new(Resource::new(Resource::REGISTRY, "catalog"), Self::ANY)
    }
}

/// Who was authenticated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user name: the htpasswd user, `silly`, or a token's `sub`.
    pub name: String,
}

/// What an authorized request may do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// The authenticated user; `None` for a token with no (or an empty)
    /// `sub` claim.
    pub user: Option<UserInfo>,
    /// For tokens, the resources the token's `access` claim names (each
    /// once, in the token's order), as Distribution's `Grant.Resources`.
    /// Empty for htpasswd and silly, which grant everything.
    pub resources: Vec<Resource>,
    /// For tokens, every action the token grants, each once, in the
    /// token's order (an action `*` stands for all). Empty for htpasswd and
    /// silly.
    pub access: Vec<Access>,
}

impl Grant {
    /// A grant of everything to `name` (htpasswd, silly).
    pub fn user(name: impl Into<String>) -> Self {
        Grant {
            user: Some(UserInfo { name: name.into() }),
            resources: Vec::new(),
            access: Vec::new(),
        }
    }
}

/// The parts of an HTTP request an access controller looks at. The
/// handlers fill it in; every field is optional.
///
/// Its `Debug` never prints the `Authorization` value.
#[derive(Clone, Copy, Default)]
pub struct Request<'a> {
    /// The `Authorization` header's value, as received.
    pub authorization: Option<&'a str>,
    /// The request's host (the `Host` header, or the authority of an
    /// HTTP/2 request), for the token controller's `autoredirect` realm.
    pub host: Option<&'a str>,
    /// The scheme for the `autoredirect` realm. Distribution takes the
    /// `X-Forwarded-Proto` header's value and otherwise `https`, whatever
    /// the connection is: the handlers pass `X-Forwarded-Proto` here, and
    /// `None` (or empty) means `https`.
    pub scheme: Option<&'a str>,
    /// The client's address, for logs.
    pub remote_addr: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// A request with nothing filled in (no credentials).
    pub fn new() -> Self {
        Request::default()
    }

    /// The `Authorization` header's value.
    pub fn with_authorization(mut self, value: &'a str) -> Self {
        self.authorization = Some(value);
        self
    }

    /// The request's host.
    pub fn with_host(mut self, host: &'a str) -> Self {
        self.host = Some(host);
        self
    }

    /// The scheme for the `autoredirect` realm (`X-Forwarded-Proto`).
    pub fn with_scheme(mut self, scheme: &'a str) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// The client's address.
    pub fn with_remote_addr(mut self, addr: &'a str) -> Self {
        self.remote_addr = Some(addr);
        self
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("authorization", &self.authorization.map(|_| "<redacted>"))
            .field("host", &self.host)
            .field("scheme", &self.scheme)
            .field("remote_addr", &self.remote_addr)
            .finish()
    }
}

/// Decides whether a request may have the accesses it needs, as
/// Distribution's `auth.AccessController`.
///
/// Object safe: the registry holds an `Arc<dyn AccessController>`.
#[async_trait]
pub trait AccessController: Send + Sync {
    /// Authorizes `request` for every access in `access` (possibly none:
    /// then only authentication is checked, as for `GET /v2/`).
    ///
    /// Returns the [`Grant`], or [`AuthError::Challenge`] for a `401`, or
    /// [`AuthError::Internal`] when the controller cannot decide (answered
    /// with a bare `400`, as Distribution does).
    async fn authorize(&self, request: &Request<'_>, access: &[Access])
    -> Result<Grant, AuthError>;
}

/// Builds the `silly` access controller (`auth.silly`).
pub fn silly(options: SillyOptions) -> Result<Arc<dyn AccessController>, ConfigError> {
    Ok(Arc::new(SillyAccessController::new(options)?))
}

/// Builds the `htpasswd` access controller (`auth.htpasswd`): reads the
/// file now (creating it empty if it is missing).
pub fn htpasswd(options: HtpasswdOptions) -> Result<Arc<dyn AccessController>, ConfigError> {
    Ok(Arc::new(HtpasswdAccessController::new(options)?))
}

/// Builds the `token` access controller (`auth.token`): loads the root
/// certificates and the JWKS now.
pub fn token(options: TokenOptions) -> Result<Arc<dyn AccessController>, ConfigError> {
    Ok(Arc::new(TokenAccessController::new(options)?))
}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_serializes_like_distribution() {
        let access = Access::repository("foo/bar", "pull");
        assert_eq!(
            serde_json::to_string(&access).unwrap(),
            r#"{"Type":"repository","Class":"","Name":"foo/bar","Action":"pull"}"#
        );
        assert_eq!(
            serde_json::to_string(&[Access::catalog()]).unwrap(),
            r#"[{"Type":"registry","Class":"","Name":"catalog","Action":"*"}]"#
        );
        let back: Access =
            serde_json::from_str(r#"{"Type":"repository","Name":"foo/bar","Action":"push"}"#)
                .unwrap();
        assert_eq!(back, Access::repository("foo/bar", "push"));
    }

    #[test]
    fn request_debug_redacts_authorization() {
        let request = Request::new()
            .with_authorization("Basic dXNlcjpzM2NyZXQ=")
            .with_host("registry.example.com");
        let debug = format!("{request:?}");
        assert!(!debug.contains("dXNlcjpzM2NyZXQ"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains("registry.example.com"), "{debug}");
    }
}
