//! The signed `_state` token that upload URLs carry.
//!
//! Distribution's format: `base64url( HMAC-SHA256(secret, json) || json )`,
//! where `json` is `{"Name","UUID","Offset","StartedAt"}`, signed with
//! `http.secret`. Any replica sharing the secret accepts the token of any
//! other; berth keeps everything else an upload needs in storage.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;
const MAC_LEN: usize = 32;

/// What an upload URL says about its upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// The repository.
    #[serde(rename = "Name")]
    pub name: String,
    /// The upload id.
    #[serde(rename = "UUID")]
    pub uuid: String,
    /// Bytes received when the URL was handed out.
    #[serde(rename = "Offset")]
    pub offset: u64,
    /// When the upload started (RFC 3339).
    #[serde(rename = "StartedAt")]
    pub started_at: String,
}

/// Signs and checks upload state tokens with `http.secret`.
#[derive(Clone)]
pub struct StateSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateSigner(..)")
    }
}

impl StateSigner {
    /// A signer for `secret`.
    pub fn new(secret: impl Into<Vec<u8>>) -> StateSigner {
        StateSigner {
            secret: secret.into(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; this cannot fail.
        match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        }
    }

    /// The token for `state`.
    pub fn sign(&self, state: &UploadState) -> String {
        let json = serde_json::to_vec(state).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&json);
        let mut token = mac.finalize().into_bytes().to_vec();
        token.extend_from_slice(&json);
        URL_SAFE.encode(token)
    }

    /// The state in `token`, if the token is well formed and signed with
    /// this secret (compared in constant time).
    pub fn verify(&self, token: &str) -> Option<UploadState> {
        let raw = URL_SAFE
            .decode(token)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token))
            .ok()?;
        if raw.len() < MAC_LEN {
            return None;
        }
        let (signature, json) = raw.split_at(MAC_LEN);
        let mut mac = self.mac();
        mac.update(json);
        mac.verify_slice(signature).ok()?;
        serde_json::from_slice(json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> UploadState {
        UploadState {
            name: "library/app".into(),
            uuid: "0f4c1e2a-7f0b-4b51-9a51-7f0b4b519a51".into(),
            offset: 1024,
            started_at: "2026-11-23T01:02:03Z".into(),
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let signer = StateSigner::new("secret");
        let token = signer.sign(&state());
        assert_eq!(signer.verify(&token), Some(state()));
        assert_eq!(StateSigner::new("other").verify(&token), None);
        let mut raw = URL_SAFE.decode(&token).unwrap();
        let last = raw.len() - 2;
        raw[last] ^= 1;
        assert_eq!(signer.verify(&URL_SAFE.encode(raw)), None);
        assert_eq!(signer.verify("not base64!"), None);
        assert_eq!(signer.verify(""), None);
    }

    #[test]
    fn json_field_names_are_distributions() {
        let token = StateSigner::new("k").sign(&state());
        let raw = URL_SAFE.decode(token).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&raw[MAC_LEN..]).unwrap();
        for key in ["Name", "UUID", "Offset", "StartedAt"] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }
}
