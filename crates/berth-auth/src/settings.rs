//! The `auth:` section of a Distribution-style configuration: one access
//! controller and its options (this crate's [`HtpasswdOptions`],
//! [`TokenOptions`], [`SillyOptions`]), read with berth-settings, and the
//! controller they build.

use std::path::PathBuf;
use std::sync::Arc;

use berth_settings::{Reader, Section, SettingError};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::{AccessController, ConfigError, HtpasswdOptions, SillyOptions, TokenOptions};

/// The access controllers there are, by their keys.
const KINDS: &str = "htpasswd, silly, token";

/// `auth:`: the access controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `auth.htpasswd`: HTTP basic auth against an htpasswd file (bcrypt).
    Htpasswd(HtpasswdOptions),
    /// `auth.token`: bearer tokens from a token server.
    Token(TokenOptions),
    /// `auth.silly`: any `Authorization` header passes (testing only).
    Silly(SillyOptions),
}

impl Auth {
    /// The controller's key: `htpasswd`, `token` or `silly`.
    pub fn name(&self) -> &'static str {
        match self {
            Auth::Htpasswd(_) => "htpasswd",
            Auth::Token(_) => "token",
            Auth::Silly(_) => "silly",
        }
    }

    /// The access controller these settings describe.
    pub fn controller(&self) -> Result<Arc<dyn AccessController>, ConfigError> {
        match self {
            Auth::Htpasswd(options) => crate::htpasswd(options.clone()),
            Auth::Token(options) => crate::token(options.clone()),
            Auth::Silly(options) => {
                tracing::warn!("auth.silly lets any Authorization header in: for tests only");
                crate::silly(options.clone())
            }
        }
    }

    /// Reads the `auth:` section; `None` when it is absent or empty.
    pub fn read(ctx: &mut Reader<'_>, mut o: Section<'_>) -> Result<Option<Auth>, SettingError> {
        let kinds = o.keys();
        let kind = match kinds.as_slice() {
            [] => return Ok(None),
            [one] => one.clone(),
            _ => {
                return Err(SettingError::SeveralKinds {
                    section: o.path.clone(),
                    what: "access controller".to_owned(),
                    chosen: kinds,
                    expected: KINDS.to_owned(),
                });
            }
        };
        let mut c = o.child(ctx, &kind)?;
        let auth = match kind.as_str() {
            "htpasswd" => Auth::Htpasswd(HtpasswdOptions {
                realm: c.required(ctx, "realm", "the realm of the basic-auth challenge")?,
                path: c.required(ctx, "path", "the htpasswd file")?.into(),
            }),
            "silly" => Auth::Silly(SillyOptions {
                realm: c.required(ctx, "realm", "the realm of the challenge")?,
                service: c.required(ctx, "service", "the service of the challenge")?,
            }),
            "token" => {
                let token = TokenOptions {
                    realm: c.required(ctx, "realm", "the token server's URL")?,
                    service: c.required(
                        ctx,
                        "service",
                        "the service name tokens are issued for",
                    )?,
                    issuer: c.required(ctx, "issuer", "the issuer named in tokens")?,
                    rootcertbundle: c.non_empty(ctx, "rootcertbundle")?.map(PathBuf::from),
                    jwks: c.non_empty(ctx, "jwks")?.map(PathBuf::from),
                    autoredirect: c.flag(ctx, "autoredirect")?,
                    autoredirectpath: c.non_empty(ctx, "autoredirectpath")?,
                    signingalgorithms: c.strings(ctx, "signingalgorithms")?,
                };
                if token.rootcertbundle.is_none() && token.jwks.is_none() {
                    return Err(ctx.missing(
                        &c.key_path("rootcertbundle"),
                        "the certificate bundle that signs tokens (or auth.token.jwks)",
                    ));
                }
                Auth::Token(token)
            }
            other => {
                return Err(SettingError::UnknownKind {
                    at: ctx.at(&o.key_path(other)),
                    what: "access controller".to_owned(),
                    name: other.to_owned(),
                    expected: KINDS.to_owned(),
                });
            }
        };
        c.finish(ctx);
        o.finish(ctx);
        Ok(Some(auth))
    }
}

impl Serialize for Auth {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Auth::Htpasswd(h) => map.serialize_entry("htpasswd", h)?,
            Auth::Token(t) => map.serialize_entry("token", t)?,
            Auth::Silly(s) => map.serialize_entry("silly", s)?,
        }
        map.end()
    }
}
