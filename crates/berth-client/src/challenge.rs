//! `WWW-Authenticate` challenges (RFC 7235), as registries send them.

use std::fmt;

/// One challenge of a `WWW-Authenticate` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`: send the user name and password.
    Basic {
        /// The realm, if given.
        realm: Option<String>,
    },
    /// `Bearer realm="…",service="…",scope="…"`: get a token from the
    /// realm.
    Bearer(BearerChallenge),
    /// Any other scheme, with its parameters (names in lowercase).
    Other {
        /// The scheme, as written.
        scheme: String,
        /// The parameters.
        params: Vec<(String, String)>,
    },
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Challenge::Basic { realm } => f.debug_struct("Basic").field("realm", realm).finish(),
            Challenge::Bearer(b) => b.fmt(f),
            Challenge::Other { scheme, params } => f
                .debug_struct("Other")
                .field("scheme", scheme)
                .field("params", params)
                .finish(),
        }
    }
}

/// A `Bearer` challenge: where to get a token, and for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The token endpoint's URL.
    pub realm: String,
    /// The `service` to ask the token for.
    pub service: Option<String>,
    /// The scopes needed, space-separated
    /// (`repository:team/app:pull,push repository:base:pull`).
    pub scope: Option<String>,
    /// `error`, e.g. `insufficient_scope` or `invalid_token`.
    pub error: Option<String>,
}

impl BearerChallenge {
    /// The scopes of [`scope`](Self::scope), one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_ascii_whitespace()
    }
}

/// Parses a `WWW-Authenticate` value into its challenges, in order.
///
/// Scheme and parameter names are case-insensitive; values are tokens or
/// quoted strings with `\` escapes. Parts that cannot be parsed are
/// skipped, never an error.
///
/// ```
/// use berth_client::{BearerChallenge, Challenge, parse_www_authenticate};
///
/// let challenges = parse_www_authenticate(
///     r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push", Basic realm="x\"y""#,
/// );
/// assert_eq!(
///     challenges,
///     [
///         Challenge::Bearer(BearerChallenge {
///             realm: "https://auth.example.com/token".into(),
///             service: Some("registry.example.com".into()),
///             scope: Some("repository:team/app:pull,push".into()),
///             error: None,
///         }),
///         Challenge::Basic { realm: Some("x\"y".into()) },
///     ]
/// );
/// ```
pub fn parse_www_authenticate(header: &str) -> Vec<Challenge> {
    let mut parser = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        parser.skip_separators();
        let Some(scheme) = parser.token() else {
            if parser.at_end() {
                break;
            }
            // Not a token: skip to the next comma and try again.
            parser.skip_to_comma();
            continue;
        };
        let params = parser.params();
        out.push(challenge(scheme, params));
    }
    out
}

fn challenge(scheme: String, params: Vec<(String, String)>) -> Challenge {
    let get = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Challenge::Basic {
            realm: get("realm"),
        }
    } else if scheme.eq_ignore_ascii_case("bearer")
        && let Some(realm) = get("realm")
    {
        Challenge::Bearer(BearerChallenge {
            realm,
            service: get("service"),
            scope: get("scope"),
            error: get("error"),
        })
    } else {
        Challenge::Other { scheme, params }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn skip_to_comma(&mut self) {
        while let Some(b) = self.peek() {
            self.i += 1;
            if b == b',' {
                break;
            }
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> String {
        // At the opening quote.
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The parameters after a scheme, up to the next challenge.
    fn params(&mut self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        let mut first = true;
        loop {
            let save = self.i;
            self.skip_ws();
            if !first {
                if self.peek() != Some(b',') {
                    self.i = save;
                    break;
                }
                self.skip_separators();
            }
            let name_start = self.i;
            let Some(name) = self.token() else {
                if first {
                    // A token68 starting with a non-tchar, or nothing.
                    self.skip_token68();
                }
                if !first {
                    self.i = save;
                }
                break;
            };
            self.skip_ws();
            if self.peek() != Some(b'=') {
                // Not a parameter: a new challenge (or a token68 after the
                // scheme, which no registry scheme uses).
                if first {
                    self.i = name_start;
                    self.skip_token68();
                } else {
                    self.i = save;
                }
                break;
            }
            self.i += 1;
            self.skip_ws();
            let value = match self.peek() {
                Some(b'"') => self.quoted(),
                _ => match self.token() {
                    Some(v) => v,
                    None => {
                        // `name=` then a comma or the end: a token68 such as
                        // `YWJj=`; nothing to keep.
                        first = false;
                        continue;
                    }
                },
            };
            params.push((name.to_ascii_lowercase(), value));
            first = false;
        }
        params
    }

    fn skip_token68(&mut self) {
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
        {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer(BearerChallenge {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
            error: None,
        })
    }

    #[test]
    fn distribution_challenges() {
        assert_eq!(
            parse_www_authenticate(
                r#"Bearer realm="http://127.0.0.1:5001/auth",service="Docker registry",scope="repository:a/b:pull,push""#
            ),
            [bearer(
                "http://127.0.0.1:5001/auth",
                Some("Docker registry"),
                Some("repository:a/b:pull,push")
            )]
        );
        assert_eq!(
            parse_www_authenticate(r#"Basic realm="basic-realm""#),
            [Challenge::Basic {
                realm: Some("basic-realm".into())
            }]
        );
    }

    #[test]
    fn several_challenges_tokens_case_and_spaces() {
        let got = parse_www_authenticate(
            r#"  basic  REALM = plain , BEARER realm="r" , error="insufficient_scope",scope="repository:x:pull repository:y:pull"  ,Negotiate abc==, Basic"#,
        );
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0],
            Challenge::Basic {
                realm: Some("plain".into())
            }
        );
        let Challenge::Bearer(b) = &got[1] else {
            panic!("{got:?}")
        };
        assert_eq!(b.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(
            b.scopes().collect::<Vec<_>>(),
            ["repository:x:pull", "repository:y:pull"]
        );
        assert!(
            matches!(&got[2], Challenge::Other { scheme, params } if scheme == "Negotiate" && params.is_empty())
        );
        assert_eq!(got[3], Challenge::Basic { realm: None });
    }

    #[test]
    fn escapes_and_commas_in_quotes() {
        let got = parse_www_authenticate(
            r#"Bearer realm="https://a/t?x=1,2",service="s\\\"q",scope="repository:a:pull""#,
        );
        assert_eq!(
            got,
            [bearer(
                "https://a/t?x=1,2",
                Some("s\\\"q"),
                Some("repository:a:pull")
            )]
        );
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            ",,,",
            "=",
            "Bearer",
            "Bearer realm",
            "Bearer realm=",
            "Bearer realm=\"unterminated",
            "Bearer realm=\"a\\",
            "\"x\" Bearer realm=a",
            "Bearer ===, realm=\"r\"",
            "€ Basic",
        ] {
            let _ = parse_www_authenticate(s);
        }
        // A Bearer challenge without a realm is not usable.
        assert!(matches!(
            &parse_www_authenticate("Bearer service=x")[..],
            [Challenge::Other { .. }]
        ));
    }
}
