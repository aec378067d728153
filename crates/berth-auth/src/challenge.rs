//! `WWW-Authenticate` challenges, formatted byte for byte as Distribution
//! formats them (Go's `%q` quoting, no spaces after commas).

use std::fmt;
use std::fmt::Write as _;

use crate::Access;

/// The `error` parameter of a Bearer challenge (RFC 6750 section 3.1), as
/// Distribution's token controller adds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChallengeError {
    /// The token is malformed, badly signed, expired, not yet valid, or
    /// for another issuer or audience: `error="invalid_token"`.
    InvalidToken,
    /// The token is valid but does not grant every requested access:
    /// `error="insufficient_scope"`.
    InsufficientScope,
}

impl ChallengeError {
    /// The parameter's value: `invalid_token` or `insufficient_scope`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeError::InvalidToken => "invalid_token",
            ChallengeError::InsufficientScope => "insufficient_scope",
        }
    }
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request was not authorized, and the `WWW-Authenticate` header
/// value to send with the `401`.
///
/// Holds no secret: the header names the realm, service and scope only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    header: String,
    error: Option<ChallengeError>,
    message: &'static str,
}

impl Challenge {
    /// A Basic challenge, as the htpasswd controller sends it:
    /// `Basic realm="<realm>"`.
    pub fn basic(realm: &str, message: &'static str) -> Self {
        let mut header = String::from("Basic realm=");
        push_quoted(&mut header, realm);
        Challenge {
            header,
            error: None,
            message,
        }
    }

    /// A Bearer challenge as the token controller sends it:
    /// `Bearer realm="<realm>",service="<service>"`, then
    /// `,scope="<scopes>"` when `access` is not empty, then
    /// `,error="<error>"` when there is one.
    ///
    /// Accesses to the same resource are merged into one scope
    /// (`repository:foo:pull,push`) and scopes are separated by a space;
    /// resources and actions keep the order of `access`, each once.
    /// (Distribution builds the same strings from Go maps, so its order
    /// varies from one response to the next.)
    pub fn bearer(
        realm: &str,
        service: &str,
        access: &[Access],
        error: Option<ChallengeError>,
        message: &'static str,
    ) -> Self {
        Challenge::bearer_with_scope(realm, service, &grouped_scope(access), error, message)
    }

    /// A Bearer challenge with a ready-made scope parameter (empty: none).
    pub(crate) fn bearer_with_scope(
        realm: &str,
        service: &str,
        scope: &str,
        error: Option<ChallengeError>,
        message: &'static str,
    ) -> Self {
        let mut header = String::from("Bearer realm=");
        push_quoted(&mut header, realm);
        header.push_str(",service=");
        push_quoted(&mut header, service);
        if !scope.is_empty() {
            header.push_str(",scope=");
            push_quoted(&mut header, scope);
        }
        if let Some(error) = error {
            header.push_str(",error=");
            push_quoted(&mut header, error.as_str());
        }
        Challenge {
            header,
            error,
            message,
        }
    }

    /// The `WWW-Authenticate` header value.
    pub fn www_authenticate(&self) -> &str {
        &self.header
    }

    /// The `error` parameter, if the challenge has one.
    pub fn error(&self) -> Option<ChallengeError> {
        self.error
    }

    /// A short reason for logs and the error message (`authentication
    /// failure`, `invalid token`, …). Never a secret.
    pub fn message(&self) -> &str {
        self.message
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

/// The token controller's scope parameter: one `type:name:actions` per
/// resource (actions joined with `,`), separated by spaces.
pub(crate) fn grouped_scope(access: &[Access]) -> String {
    // (type, name) → actions, in first-seen order. Requests carry a
    // handful of accesses, so a vector beats a map.
    let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for a in access {
        let (typ, name) = (a.resource.typ.as_str(), a.resource.name.as_str());
        match groups.iter_mut().find(|(t, n, _)| *t == typ && *n == name) {
            Some((_, _, actions)) => {
                if !actions.contains(&a.action.as_str()) {
                    actions.push(&a.action);
                }
            }
            None => groups.push((typ, name, vec![a.action.as_str()])),
        }
    }
    let mut scope = String::new();
    for (i, (typ, name, actions)) in groups.iter().enumerate() {
        if i > 0 {
            scope.push(' ');
        }
        let _ = write!(scope, "{typ}:{name}:{}", actions.join(","));
    }
    scope
}

/// The silly controller's scope parameter: one `type:name:action` per
/// access, in order, separated by spaces (no merging, as Distribution).
pub(crate) fn flat_scope(access: &[Access]) -> String {
    let mut scope = String::new();
    for (i, a) in access.iter().enumerate() {
        if i > 0 {
            scope.push(' ');
        }
        let _ = write!(scope, "{}:{}:{}", a.resource.typ, a.resource.name, a.action);
    }
    scope
}

/// Appends `value` quoted as Go's `%q` (`strconv.Quote`) does: `"` and `\`
/// escaped, control characters as `\n`, `\t`, `\x1b`, `\u0085`, …
pub(crate) fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Access;

    #[test]
    fn basic_challenge() {
        let c = Challenge::basic("Registry Realm", "authentication failure");
        assert_eq!(c.www_authenticate(), r#"Basic realm="Registry Realm""#);
        assert_eq!(c.error(), None);
        assert_eq!(c.message(), "authentication failure");
        assert_eq!(c.to_string(), "authentication failure");
    }

    #[test]
    fn bearer_without_scope_or_error() {
        let c = Challenge::bearer("https://auth.example.com/token", "registry", &[], None, "m");
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer realm="https://auth.example.com/token",service="registry""#
        );
    }

    #[test]
    fn bearer_merges_actions_of_one_resource() {
        let access = [
            Access::repository("foo/bar", "pull"),
            Access::repository("foo/bar", "push"),
            Access::repository("foo/bar", "pull"),
        ];
        let c = Challenge::bearer(
            "r",
            "s",
            &access,
            Some(ChallengeError::InsufficientScope),
            "m",
        );
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer realm="r",service="s",scope="repository:foo/bar:pull,push",error="insufficient_scope""#
        );
        assert_eq!(c.error(), Some(ChallengeError::InsufficientScope));
    }

    #[test]
    fn bearer_separates_resources_with_spaces() {
        let access = [
            Access::repository("a", "pull"),
            Access::repository("b", "pull"),
            Access::repository("a", "push"),
            Access::catalog(),
        ];
        let c = Challenge::bearer("r", "s", &access, Some(ChallengeError::InvalidToken), "m");
        assert_eq!(
            c.www_authenticate(),
            r#"Bearer realm="r",service="s",scope="repository:a:pull,push repository:b:pull registry:catalog:*",error="invalid_token""#
        );
    }

    #[test]
    fn silly_scope_is_not_merged() {
        let access = [
            Access::repository("a", "pull"),
            Access::repository("a", "push"),
        ];
        assert_eq!(flat_scope(&access), "repository:a:pull repository:a:push");
    }

    #[test]
    fn quoting_follows_go() {
        let mut s = String::new();
        push_quoted(&mut s, "a\"b\\c\nd\te\u{1}f\u{7f}g\u{85}é");
        assert_eq!(s, r#""a\"b\\c\nd\te\x01f\x7fg\u0085é""#);
    }

    #[test]
    fn error_names() {
        assert_eq!(ChallengeError::InvalidToken.to_string(), "invalid_token");
        assert_eq!(
            ChallengeError::InsufficientScope.as_str(),
            "insufficient_scope"
        );
    }
}
