//! The `token` access controller: Bearer JWTs from a token server,
//! verified as Distribution's `registry/auth/token` verifies them.
//!
//! A token passes when:
//!
//! 1. the `Authorization` value is `Bearer <token>` (scheme in any case);
//!    otherwise the challenge has no `error`;
//! 2. it is a compact JWS whose header `alg` is one of the accepted
//!    algorithms (`none` and `HS256`/`HS384`/`HS512` never are);
//! 3. its signing key is trusted, found in this order:
//!    - `x5c`: the chain (leaf first) verifies up to a certificate of
//!      `rootcertbundle` (any extended key usage) and the leaf's key is
//!      used;
//!    - `jwk`: with its own `x5c`, as above; without, the key must be a
//!      trusted one (a root certificate's or a JWKS key), or its `kid`
//!      must name one;
//!    - `kid`: a root certificate's key ID, in libtrust's format
//!      (Distribution 2) or as a JWK thumbprint (RFC 7638, and
//!      Distribution 3's own variant), or a JWKS key's `kid`;
//! 4. the signature verifies with that key;
//! 5. `iss` is the issuer, `aud` (a string or a list) contains the
//!    service, `exp` is not more than 60 seconds past, `nbf` (if set) not
//!    more than 60 seconds ahead;
//! 6. its `access` claim grants every requested access: an entry with the
//!    access's type and name whose actions include the action or `*`.
//!
//! Failing 2 to 5 gives `error="invalid_token"`, failing 6
//! `error="insufficient_scope"`.

use std::path::PathBuf;

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

mod jwt;
mod keys;
mod trust;

use crate::{
    Access, AccessController, AuthError, Challenge, ChallengeError, ConfigError, Grant, Request,
    Resource, UserInfo,
};
use jwt::Claims;
use keys::PublicKey;
use trust::TrustStore;

/// Seconds of clock skew allowed on `exp` and `nbf` (Distribution's
/// `Leeway`).
pub const LEEWAY_SECONDS: i64 = 60;

/// The realm path with `autoredirect` when `autoredirectpath` is not set.
pub const DEFAULT_AUTO_REDIRECT_PATH: &str = "/auth/token";

/// A JWS signature algorithm the token controller can accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// `EdDSA` (Ed25519).
    EdDsa,
    /// `RS256`: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// `RS384`: RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// `RS512`: RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// `PS256`: RSASSA-PSS with SHA-256.
    Ps256,
    /// `PS384`: RSASSA-PSS with SHA-384.
    Ps384,
    /// `PS512`: RSASSA-PSS with SHA-512.
    Ps512,
    /// `ES256`: ECDSA on P-256 with SHA-256.
    Es256,
    /// `ES384`: ECDSA on P-384 with SHA-384.
    Es384,
    /// `ES512`: ECDSA on P-521 with SHA-512.
    Es512,
}

impl SigningAlgorithm {
    /// What is accepted when `signingalgorithms` is empty: every
    /// algorithm above (Distribution 3's defaults less `HS*`, which need a
    /// shared secret Distribution never has).
    pub const DEFAULT: [SigningAlgorithm; 10] = [
        SigningAlgorithm::EdDsa,
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Rs384,
        SigningAlgorithm::Rs512,
        SigningAlgorithm::Ps256,
        SigningAlgorithm::Ps384,
        SigningAlgorithm::Ps512,
        SigningAlgorithm::Es256,
        SigningAlgorithm::Es384,
        SigningAlgorithm::Es512,
    ];

    /// The JOSE name (`RS256`, `EdDSA`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::EdDsa => "EdDSA",
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Rs384 => "RS384",
            SigningAlgorithm::Rs512 => "RS512",
            SigningAlgorithm::Ps256 => "PS256",
            SigningAlgorithm::Ps384 => "PS384",
            SigningAlgorithm::Ps512 => "PS512",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Es384 => "ES384",
            SigningAlgorithm::Es512 => "ES512",
        }
    }

    /// The algorithm of a JOSE name (exact case), if accepted at all.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::DEFAULT.into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options of `auth.token`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TokenOptions {
    /// `auth.token.realm`: the token server's URL, the challenge's realm.
    /// Required unless `autoredirect`.
    pub realm: String,
    /// `auth.token.service`: the service tokens must name in `aud`, and
    /// the challenge's service. Required.
    pub service: String,
    /// `auth.token.issuer`: the `iss` tokens must have. Required.
    pub issuer: String,
    /// `auth.token.rootcertbundle`: PEM certificates whose keys sign
    /// tokens, or which `x5c` chains lead to. This or `jwks` is required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootcertbundle: Option<PathBuf>,
    /// `auth.token.jwks`: a JSON Web Key Set file; its keys are trusted by
    /// `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<PathBuf>,
    /// `auth.token.autoredirect`: make the realm
    /// `<scheme>://<request host><autoredirectpath>`.
    pub autoredirect: bool,
    /// `auth.token.autoredirectpath`: the realm's path with
    /// `autoredirect` ([`DEFAULT_AUTO_REDIRECT_PATH`] when unset or
    /// empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoredirectpath: Option<String>,
    /// `auth.token.signingalgorithms`: the accepted `alg` names; empty for
    /// [`SigningAlgorithm::DEFAULT`]. `HS256`, `HS384` and `HS512` are
    /// ignored with a warning (never accepted); any other unknown name is
    /// an error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signingalgorithms: Vec<String>,
}

/// The `token` access controller.
pub struct TokenAccessController {
    realm: String,
    service: String,
    issuer: String,
    autoredirectpath: Option<String>,
    algorithms: Vec<SigningAlgorithm>,
    trust: TrustStore,
}

impl std::fmt::Debug for TokenAccessController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAccessController")
            .field("realm", &self.realm)
            .field("service", &self.service)
            .field("issuer", &self.issuer)
            .field("autoredirectpath", &self.autoredirectpath)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused (for the log and the challenge's message).
enum Rejection {
    Malformed(&'static str),
    Invalid(String),
}

impl TokenAccessController {
    /// Builds the controller: checks the options and loads the
    /// certificates and keys.
    pub fn new(options: TokenOptions) -> Result<Self, ConfigError> {
        if options.realm.is_empty() && !options.autoredirect {
            return Err(ConfigError::Missing {
                option: "auth.token.realm",
            });
        }
        if options.service.is_empty() {
            return Err(ConfigError::Missing {
                option: "auth.token.service",
            });
        }
        if options.issuer.is_empty() {
            return Err(ConfigError::Missing {
                option: "auth.token.issuer",
            });
        }
        let mut algorithms = Vec::new();
        for name in &options.signingalgorithms {
            match SigningAlgorithm::from_name(name) {
                Some(alg) => {
                    if !algorithms.contains(&alg) {
                        algorithms.push(alg);
                    }
                }
                None if matches!(name.as_str(), "HS256" | "HS384" | "HS512") => {
                    tracing::warn!(
                        algorithm = %name,
                        "token auth: HMAC signing algorithms are never accepted (tokens are verified with public keys only); ignoring it"
                    );
                }
                None => {
                    return Err(ConfigError::Invalid {
                        option: "auth.token.signingalgorithms",
                        reason: format!("unsupported signing algorithm: {name:?}"),
                    });
                }
            }
        }
        if algorithms.is_empty() {
            if !options.signingalgorithms.is_empty() {
                return Err(ConfigError::Invalid {
                    option: "auth.token.signingalgorithms",
                    reason:
                        "no usable signing algorithm (HS256, HS384 and HS512 are never accepted)"
                            .into(),
                });
            }
            algorithms = SigningAlgorithm::DEFAULT.to_vec();
        }
        let non_empty = |p: &Option<PathBuf>| {
            p.as_deref()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.to_path_buf())
        };
        let trust = TrustStore::load(
            non_empty(&options.rootcertbundle).as_deref(),
            non_empty(&options.jwks).as_deref(),
        )?;
        let autoredirectpath = options.autoredirect.then(|| {
            options
                .autoredirectpath
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| DEFAULT_AUTO_REDIRECT_PATH.to_string())
        });
        Ok(TokenAccessController {
            realm: options.realm,
            service: options.service,
            issuer: options.issuer,
            autoredirectpath,
            algorithms,
            trust,
        })
    }

    /// The realm for this request.
    fn realm(&self, request: &Request<'_>) -> String {
        match &self.autoredirectpath {
            None => self.realm.clone(),
            Some(path) => {
                let scheme = request.scheme.filter(|s| !s.is_empty()).unwrap_or("https");
                let host = request.host.unwrap_or("");
                let mut realm = format!("{scheme}://{host}");
                if !host.is_empty() && !path.starts_with('/') {
                    realm.push('/');
                }
                escape_path(&mut realm, path);
                realm
            }
        }
    }

    fn challenge(
        &self,
        request: &Request<'_>,
        access: &[Access],
        error: Option<ChallengeError>,
        message: &'static str,
    ) -> AuthError {
        AuthError::Challenge(Challenge::bearer(
            &self.realm(request),
            &self.service,
            access,
            error,
            message,
        ))
    }

    /// The key candidates for a token, from its header.
    fn signing_keys(&self, header: &jwt::Header) -> Result<Vec<PublicKey>, Rejection> {
        if let Some(x5c) = header.x5c.as_deref().filter(|c| !c.is_empty()) {
            return self
                .trust
                .verify_chain(x5c)
                .map(|key| vec![key])
                .map_err(Rejection::Invalid);
        }
        if let Some(jwk) = &header.jwk {
            if let Some(x5c) = jwk.x5c.as_deref().filter(|c| !c.is_empty()) {
                return self
                    .trust
                    .verify_chain(x5c)
                    .map(|key| vec![key])
                    .map_err(|e| Rejection::Invalid(format!("jwk {e}")));
            }
            let mut keys: Vec<PublicKey> = match jwk.kid.as_deref().filter(|k| !k.is_empty()) {
                Some(kid) => self
                    .trust
                    .keys_for_kid(kid)
                    .iter()
                    .map(|k| (**k).clone())
                    .collect(),
                None => Vec::new(),
            };
            if let Ok(Some(key)) = PublicKey::from_jwk(jwk)
                && let Some(trusted) = self.trust.trusted(&key)
                && !keys.contains(&trusted)
            {
                keys.push((*trusted).clone());
            }
            if keys.is_empty() {
                return Err(Rejection::Invalid(
                    "untrusted JWK with no certificate chain".into(),
                ));
            }
            return Ok(keys);
        }
        if let Some(kid) = header.kid.as_deref().filter(|k| !k.is_empty()) {
            let keys = self.trust.keys_for_kid(kid);
            if keys.is_empty() {
                return Err(Rejection::Invalid(format!(
                    "token signed by untrusted key with ID: {:?}",
                    kid.escape_debug().to_string()
                )));
            }
            return Ok(keys.iter().map(|k| (**k).clone()).collect());
        }
        Err(Rejection::Invalid(
            "token names no signing key (no x5c, jwk or kid header)".into(),
        ))
    }

    /// Verifies a raw token and returns its claims.
    fn verify(&self, raw: &str) -> Result<Claims, Rejection> {
        let token = jwt::parse(raw, &self.algorithms).map_err(Rejection::Malformed)?;
        let keys = self.signing_keys(&token.header)?;
        if token.signature.is_empty()
            || !keys
                .iter()
                .any(|key| key.verify(token.alg, token.signing_input, &token.signature))
        {
            return Err(Rejection::Invalid(format!(
                "{} signature does not verify",
                token.alg
            )));
        }
        let claims: Claims = serde_json::from_slice(&token.payload)
            .map_err(|_| Rejection::Malformed("claims are not a valid claim set"))?;
        let iss = claims.iss.as_deref().unwrap_or("");
        if iss != self.issuer {
            return Err(Rejection::Invalid(format!(
                "token from untrusted issuer: {:?}",
                iss.escape_debug().to_string()
            )));
        }
        if !claims
            .aud
            .as_ref()
            .is_some_and(|aud| aud.contains(&self.service))
        {
            return Err(Rejection::Invalid(format!(
                "token intended for another audience: {:?}",
                claims.aud
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let exp = claims.exp.unwrap_or(0) as i128;
        if now > (exp + LEEWAY_SECONDS as i128) * 1_000_000_000 {
            return Err(Rejection::Invalid(format!("token expired at {exp}")));
        }
        let nbf = claims.nbf.unwrap_or(0) as i128;
        if now < (nbf - LEEWAY_SECONDS as i128) * 1_000_000_000 {
            return Err(Rejection::Invalid(format!("token not valid before {nbf}")));
        }
        Ok(claims)
    }
}

/// Whether the claims grant `wanted`, as Distribution's access set: an
/// entry with the same type and name whose actions include the action or
/// `*`. A requested access with a class is never granted (Distribution
/// keys the token's grants by type and name only, and looks them up with
/// the class).
fn grants(claims: &Claims, wanted: &Access) -> bool {
    wanted.resource.class.is_empty()
        && claims.access().any(|entry| {
            entry.typ.as_deref().unwrap_or("") == wanted.resource.typ
                && entry.name.as_deref().unwrap_or("") == wanted.resource.name
                && entry
                    .actions
                    .iter()
                    .flatten()
                    .any(|a| a == Access::ANY || *a == wanted.action)
        })
}

fn grant_of(claims: &Claims) -> Grant {
    let mut grant = Grant {
        user: claims
            .sub
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|name| UserInfo { name: name.into() }),
        resources: Vec::new(),
        access: Vec::new(),
    };
    for entry in claims.access() {
        let resource = Resource {
            typ: entry.typ.clone().unwrap_or_default(),
            class: entry.class.clone().unwrap_or_default(),
            name: entry.name.clone().unwrap_or_default(),
        };
        for action in entry.actions.iter().flatten() {
            let access = Access::new(resource.clone(), action.clone());
            if !grant.access.contains(&access) {
                grant.access.push(access);
            }
        }
        if !grant.resources.contains(&resource) {
            grant.resources.push(resource);
        }
    }
    grant
}

/// What Go's `url.URL.EscapedPath` escapes in a path: every byte but the
/// unreserved ones and the sub-delimiters, `:`, `@` and `/` that
/// `shouldEscape` keeps in a path segment.
const PATH_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b',')
    .remove(b'/')
    .remove(b':')
    .remove(b';')
    .remove(b'=')
    .remove(b'@');

/// Appends `path` escaped as Go's `url.URL.EscapedPath` does.
fn escape_path(out: &mut String, path: &str) {
    out.extend(utf8_percent_encode(path, PATH_ESCAPES));
}

#[async_trait]
impl AccessController for TokenAccessController {
    /// Verifies the request's Bearer token and checks it grants every
    /// requested access. Challenges are
    /// `Bearer realm="…",service="…"[,scope="…"][,error="…"]`.
    async fn authorize(
        &self,
        request: &Request<'_>,
        access: &[Access],
    ) -> Result<Grant, AuthError> {
        let raw = match request.authorization.and_then(|v| v.split_once(' ')) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                token
            }
            _ => return Err(self.challenge(request, access, None, "authorization token required")),
        };
        let claims = match self.verify(raw) {
            Ok(claims) => claims,
            Err(rejection) => {
                let (message, reason) = match rejection {
                    Rejection::Malformed(reason) => ("malformed token", reason.to_string()),
                    Rejection::Invalid(reason) => ("invalid token", reason),
                };
                tracing::info!(
                    %reason,
                    remote = request.remote_addr.unwrap_or("-"),
                    "token auth: {message}"
                );
                return Err(self.challenge(
                    request,
                    access,
                    Some(ChallengeError::InvalidToken),
                    message,
                ));
            }
        };
        if let Some(missing) = access.iter().find(|a| !grants(&claims, a)) {
            tracing::info!(
                user = claims.sub.as_deref().unwrap_or(""),
                missing = %format!("{}:{}:{}", missing.resource.typ, missing.resource.name, missing.action).escape_debug(),
                remote = request.remote_addr.unwrap_or("-"),
                "token auth: insufficient scope"
            );
            return Err(self.challenge(
                request,
                access,
                Some(ChallengeError::InsufficientScope),
                "insufficient scope",
            ));
        }
        Ok(grant_of(&claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let mut s = String::new();
        escape_path(&mut s, "/auth/to ken?x=1#é");
        assert_eq!(s, "/auth/to%20ken%3Fx=1%23%C3%A9");
    }

    #[test]
    fn algorithm_names() {
        for alg in SigningAlgorithm::DEFAULT {
            assert_eq!(SigningAlgorithm::from_name(alg.as_str()), Some(alg));
        }
        assert_eq!(SigningAlgorithm::from_name("HS256"), None);
        assert_eq!(SigningAlgorithm::from_name("none"), None);
        assert_eq!(SigningAlgorithm::from_name("rs256"), None);
    }

    #[test]
    fn star_grants_any_action_of_its_resource_only() {
        let claims: Claims = serde_json::from_str(
            r#"{"access":[{"type":"repository","name":"a","actions":["*"]},{"type":"registry","name":"catalog","actions":["*"]}]}"#,
        )
        .unwrap();
        assert!(grants(&claims, &Access::repository("a", "delete")));
        assert!(!grants(&claims, &Access::repository("b", "pull")));
        assert!(grants(&claims, &Access::catalog()));
        let mut classed = Access::repository("a", "pull");
        classed.resource.class = "plugin".into();
        assert!(!grants(&claims, &classed));
    }

    #[test]
    fn grant_lists_resources_and_actions_once() {
        let claims: Claims = serde_json::from_str(
            r#"{"sub":"alice","access":[{"type":"repository","name":"a","actions":["pull","push"]},{"type":"repository","name":"a","actions":["pull"]}]}"#,
        )
        .unwrap();
        let grant = grant_of(&claims);
        assert_eq!(
            grant.user,
            Some(UserInfo {
                name: "alice".into()
            })
        );
        assert_eq!(grant.resources, vec![Resource::repository("a")]);
        assert_eq!(
            grant.access,
            vec![
                Access::repository("a", "pull"),
                Access::repository("a", "push")
            ]
        );
    }
}
