//! `auth:` — one access controller: `htpasswd`, `token` or `silly`.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::decode::{Ctx, Obj};
use crate::error::ConfigError;

/// `auth:`: the access controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `auth.htpasswd`: HTTP basic auth against an htpasswd file (bcrypt).
    Htpasswd(Htpasswd),
    /// `auth.token`: bearer tokens from a token server.
    Token(Token),
    /// `auth.silly`: any `Authorization` header passes (testing only).
    Silly(Silly),
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

/// `auth.htpasswd`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Htpasswd {
    /// `realm`: required.
    pub realm: String,
    /// `path`: the htpasswd file; required.
    pub path: String,
}

/// `auth.silly`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silly {
    /// `realm`: required.
    pub realm: String,
    /// `service`: required.
    pub service: String,
}

/// `auth.token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// `realm`: the token server's URL; required.
    pub realm: String,
    /// `service`: required.
    pub service: String,
    /// `issuer`: required.
    pub issuer: String,
    /// `rootcertbundle`: certificates that sign tokens. This or `jwks` is
    /// required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootcertbundle: Option<String>,
    /// `jwks` (Distribution 3): a JSON Web Key Set file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// `autoredirect`: take the realm from the request's host. Default
    /// false.
    pub autoredirect: bool,
    /// `autoredirectpath` (Distribution 3): the realm path with
    /// `autoredirect`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoredirectpath: Option<String>,
    /// `signingalgorithms` (Distribution 3): accepted JWT algorithms;
    /// empty: the defaults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signingalgorithms: Vec<String>,
}

fn required(
    ctx: &Ctx<'_>,
    o: &mut Obj<'_>,
    key: &str,
    expected: &str,
) -> Result<String, ConfigError> {
    o.non_empty(ctx, key)?
        .ok_or_else(|| ctx.missing(&o.key_path(key), expected))
}

/// Reads `auth:`; `None` when it is absent or empty.
pub(crate) fn decode(ctx: &mut Ctx<'_>, mut o: Obj<'_>) -> Result<Option<Auth>, ConfigError> {
    let kinds = o.keys();
    let kind = match kinds.as_slice() {
        [] => return Ok(None),
        [one] => one.clone(),
        _ => return Err(ConfigError::MultipleAuth { kinds }),
    };
    let mut c = o.child(ctx, &kind)?;
    let auth = match kind.as_str() {
        "htpasswd" => Auth::Htpasswd(Htpasswd {
            realm: required(
                ctx,
                &mut c,
                "realm",
                "the realm of the basic-auth challenge",
            )?,
            path: required(ctx, &mut c, "path", "the htpasswd file")?,
        }),
        "silly" => Auth::Silly(Silly {
            realm: required(ctx, &mut c, "realm", "the realm of the challenge")?,
            service: required(ctx, &mut c, "service", "the service of the challenge")?,
        }),
        "token" => {
            let token = Token {
                realm: required(ctx, &mut c, "realm", "the token server's URL")?,
                service: required(
                    ctx,
                    &mut c,
                    "service",
                    "the service name tokens are issued for",
                )?,
                issuer: required(ctx, &mut c, "issuer", "the issuer named in tokens")?,
                rootcertbundle: c.non_empty(ctx, "rootcertbundle")?,
                jwks: c.non_empty(ctx, "jwks")?,
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
            return Err(ConfigError::UnknownAuth {
                at: ctx.at(&o.key_path(other)),
                name: other.to_owned(),
            });
        }
    };
    c.finish(ctx);
    o.finish(ctx);
    Ok(Some(auth))
}
