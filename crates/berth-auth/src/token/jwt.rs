//! JWS compact serialization and the claims Distribution reads.

use serde::Deserialize;

use super::SigningAlgorithm;
use super::keys::{Jwk, b64url_decode};

/// A token's JOSE header: the members that choose the key.
#[derive(Debug, Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    #[serde(default)]
    pub(crate) kid: Option<String>,
    #[serde(default)]
    pub(crate) jwk: Option<Jwk>,
    #[serde(default)]
    pub(crate) x5c: Option<Vec<String>>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// A parsed, not yet verified, token.
pub(crate) struct Token<'a> {
    pub(crate) alg: SigningAlgorithm,
    pub(crate) header: Header,
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'a [u8],
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

/// Splits and decodes a compact JWS, and checks its `alg` is one of
/// `allowed` (so `none` and `HS*` never get further). Errors say what is
/// malformed, never the token.
pub(crate) fn parse<'a>(
    raw: &'a str,
    allowed: &[SigningAlgorithm],
) -> Result<Token<'a>, &'static str> {
    let mut parts = raw.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not three dot-separated parts");
    };
    let header_json = b64url_decode(header).ok_or("header is not base64url")?;
    let payload = b64url_decode(payload).ok_or("payload is not base64url")?;
    let signature = b64url_decode(signature).ok_or("signature is not base64url")?;
    let header: Header =
        serde_json::from_slice(&header_json).map_err(|_| "header is not a JOSE header")?;
    if header.crit.is_some() {
        return Err("header has critical extensions");
    }
    let alg = SigningAlgorithm::from_name(&header.alg)
        .filter(|alg| allowed.contains(alg))
        .ok_or("signing algorithm not accepted")?;
    let signing_input = &raw.as_bytes()[..header_len_plus_payload(raw)];
    Ok(Token {
        alg,
        header,
        signing_input,
        payload,
        signature,
    })
}

fn header_len_plus_payload(raw: &str) -> usize {
    raw.rfind('.').unwrap_or(raw.len())
}

/// `aud`: one string or a list (Distribution 3's `AudienceList`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    pub(crate) fn contains(&self, service: &str) -> bool {
        match self {
            Audience::One(a) => a == service,
            Audience::Many(list) => list.iter().any(|a| a == service),
        }
    }
}

/// One entry of the `access` claim.
#[derive(Debug, Deserialize)]
pub(crate) struct ResourceActions {
    #[serde(rename = "type", default)]
    pub(crate) typ: Option<String>,
    #[serde(default)]
    pub(crate) class: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) actions: Option<Vec<String>>,
}

/// The claims Distribution reads (`ClaimSet`); others are ignored.
/// Times are integers (seconds), as Go's `int64`.
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    #[serde(default)]
    pub(crate) iss: Option<String>,
    #[serde(default)]
    pub(crate) sub: Option<String>,
    #[serde(default)]
    pub(crate) aud: Option<Audience>,
    #[serde(default)]
    pub(crate) exp: Option<i64>,
    #[serde(default)]
    pub(crate) nbf: Option<i64>,
    #[serde(default)]
    pub(crate) access: Option<Vec<Option<ResourceActions>>>,
}

impl Claims {
    /// The `access` entries (a `null` entry is skipped).
    pub(crate) fn access(&self) -> impl Iterator<Item = &ResourceActions> {
        self.access.iter().flatten().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn splits_and_checks_alg() {
        let raw = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","kid":"k"}"#),
            b64("{}"),
            b64("sig")
        );
        let token = parse(&raw, &SigningAlgorithm::DEFAULT).unwrap();
        assert_eq!(token.alg, SigningAlgorithm::Rs256);
        assert_eq!(token.header.kid.as_deref(), Some("k"));
        assert_eq!(token.signature, b"sig");
        assert_eq!(
            token.signing_input,
            raw.rsplit_once('.').unwrap().0.as_bytes()
        );

        for alg in ["none", "HS256", "RS1", ""] {
            let raw = format!(
                "{}.{}.{}",
                b64(&format!(r#"{{"alg":"{alg}"}}"#)),
                b64("{}"),
                b64("s")
            );
            assert_eq!(
                parse(&raw, &SigningAlgorithm::DEFAULT).err(),
                Some("signing algorithm not accepted")
            );
        }
        let raw = format!("{}.{}.{}", b64(r#"{"alg":"ES256"}"#), b64("{}"), b64("s"));
        assert!(parse(&raw, &[SigningAlgorithm::Rs256]).is_err());
    }

    #[test]
    fn malformed() {
        assert!(parse("a.b", &SigningAlgorithm::DEFAULT).is_err());
        assert!(parse("a.b.c.d", &SigningAlgorithm::DEFAULT).is_err());
        assert!(parse("!.e30.e30", &SigningAlgorithm::DEFAULT).is_err());
        let raw = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","crit":["exp"]}"#),
            b64("{}"),
            b64("s")
        );
        assert_eq!(
            parse(&raw, &SigningAlgorithm::DEFAULT).err(),
            Some("header has critical extensions")
        );
    }

    #[test]
    fn claims() {
        let c: Claims = serde_json::from_str(
            r#"{"iss":"i","aud":["a","b"],"exp":10,"access":[null,{"type":"repository","name":"x","actions":null}]}"#,
        )
        .unwrap();
        assert!(c.aud.as_ref().unwrap().contains("b"));
        assert_eq!(c.access().count(), 1);
        assert!(serde_json::from_str::<Claims>(r#"{"exp":1.5}"#).is_err());
        assert!(serde_json::from_str::<Claims>(r#"{"aud":3}"#).is_err());
    }
}
