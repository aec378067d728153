//! What the token controller trusts: the root certificates of
//! `rootcertbundle` (chain anchors for `x5c`, and keys by key ID) and the
//! keys of `jwks` (by their `kid`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use der::Decode as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use serde::Deserialize;
use webpki::{ExtendedKeyUsageValidator, KeyPurposeIdIter, VerifiedPath};
use x509_cert::Certificate;

use super::keys::{Jwk, PublicKey};
use crate::ConfigError;

const ROOT_CERT_BUNDLE: &str = "auth.token.rootcertbundle";
const JWKS: &str = "auth.token.jwks";

/// A root certificate of the bundle.
struct Root {
    der: CertificateDer<'static>,
    not_before: i64,
    not_after: i64,
    /// Its key, if of a type tokens can be signed with.
    key: Option<Arc<PublicKey>>,
}

impl Root {
    fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Trusted roots and keys.
pub(crate) struct TrustStore {
    roots: Vec<Root>,
    /// The roots as webpki anchors, in the same order.
    anchors: Vec<TrustAnchor<'static>>,
    /// key ID → keys (a Distribution 3 ECDSA ID names every root key on
    /// its curve, hence several).
    by_kid: HashMap<String, Vec<Arc<PublicKey>>>,
    /// Every trusted key, for a `jwk` header that carries one of them.
    keys: Vec<Arc<PublicKey>>,
    jwks_keys: usize,
}

/// Go's `x509.ExtKeyUsageAny`: any extended key usage, or none, will do.
struct AnyExtendedKeyUsage;

impl ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct JwkSet {
    #[serde(default)]
    keys: Vec<serde_json::Value>,
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A certificate time in seconds since the Unix epoch.
fn unix_seconds(time: x509_cert::time::Time) -> i64 {
    i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

fn verification_algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    rustls::crypto::aws_lc_rs::default_provider()
        .signature_verification_algorithms
        .all
}

impl TrustStore {
    /// Loads the bundle and the JWKS; at least one key is required.
    pub(crate) fn load(
        root_cert_bundle: Option<&Path>,
        jwks: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        let mut store = TrustStore {
            roots: Vec::new(),
            anchors: Vec::new(),
            by_kid: HashMap::new(),
            keys: Vec::new(),
            jwks_keys: 0,
        };
        if let Some(path) = root_cert_bundle {
            store.load_roots(path)?;
        }
        if let Some(path) = jwks {
            store.load_jwks(path)?;
        }
        if store.roots.is_empty() && store.jwks_keys == 0 {
            return Err(ConfigError::Invalid {
                option: "auth.token",
                reason: "token auth requires at least one token signing key: \
                         set rootcertbundle to a PEM file with a certificate, or jwks to a key set with a key"
                    .into(),
            });
        }
        Ok(store)
    }

    fn add_kid(&mut self, kid: String, key: &Arc<PublicKey>) {
        let keys = self.by_kid.entry(kid).or_default();
        if !keys.iter().any(|k| Arc::ptr_eq(k, key)) {
            keys.push(key.clone());
        }
    }

    fn load_roots(&mut self, path: &Path) -> Result<(), ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            option: ROOT_CERT_BUNDLE,
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |reason: String| ConfigError::File {
            option: ROOT_CERT_BUNDLE,
            path: path.to_path_buf(),
            reason,
        };
        for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
            let n = i + 1;
            let cert = cert.map_err(|e| bad(format!("certificate {n}: bad PEM: {e}")))?;
            let anchor = webpki::anchor_from_trusted_cert(&cert)
                .map_err(|e| bad(format!("certificate {n}: cannot be a root: {e}")))?
                .to_owned();
            let parsed = Certificate::from_der(cert.as_ref())
                .map_err(|e| bad(format!("certificate {n}: bad DER: {e}")))?;
            let tbs = parsed.tbs_certificate();
            let validity = tbs.validity();
            let key = match PublicKey::from_certificate_spki(tbs.subject_public_key_info()) {
                Ok(key) => Some(Arc::new(key)),
                Err(reason) => {
                    tracing::warn!(
                        path = %path.display(),
                        certificate = n,
                        %reason,
                        "token auth: root certificate's key cannot sign tokens; it still anchors x5c chains"
                    );
                    None
                }
            };
            if let Some(key) = &key {
                let ids = [
                    key.libtrust_key_id(),
                    key.rfc7638_thumbprint(),
                    key.distribution3_thumbprint(),
                ];
                tracing::info!(
                    path = %path.display(),
                    certificate = n,
                    key = key.kind(),
                    libtrust_kid = %ids[0],
                    jwk_thumbprint = %ids[1],
                    "token auth: trusting root certificate"
                );
                for id in ids {
                    self.add_kid(id, key);
                }
                self.keys.push(key.clone());
            }
            self.roots.push(Root {
                der: cert.clone().into_owned(),
                not_before: unix_seconds(validity.not_before),
                not_after: unix_seconds(validity.not_after),
                key,
            });
            self.anchors.push(anchor);
        }
        Ok(())
    }

    fn load_jwks(&mut self, path: &Path) -> Result<(), ConfigError> {
        let path_buf: PathBuf = path.to_path_buf();
        if path.to_string_lossy().contains("://") {
            return Err(ConfigError::Invalid {
                option: JWKS,
                reason: format!(
                    "{:?} is a URL; berth reads the key set from a file only",
                    path.display().to_string()
                ),
            });
        }
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
            option: JWKS,
            path: path_buf.clone(),
            source,
        })?;
        let bad = |reason: String| ConfigError::File {
            option: JWKS,
            path: path_buf.clone(),
            reason,
        };
        let set: JwkSet = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("not a JSON Web Key Set: {e}")))?;
        for (i, value) in set.keys.into_iter().enumerate() {
            let jwk: Jwk = serde_json::from_value(value)
                .map_err(|e| bad(format!("key {i}: not a JSON Web Key: {e}")))?;
            let key = PublicKey::from_jwk(&jwk).map_err(|e| bad(format!("key {i}: {e}")))?;
            let Some(key) = key else {
                tracing::warn!(path = %path.display(), key = i, "token auth: ignoring a symmetric (oct) key: HMAC-signed tokens are never accepted");
                continue;
            };
            let key = Arc::new(key);
            match jwk.kid.filter(|kid| !kid.is_empty()) {
                Some(kid) => {
                    tracing::info!(path = %path.display(), %kid, key = key.kind(), "token auth: trusting JWKS key");
                    self.add_kid(kid, &key);
                }
                None => tracing::warn!(
                    path = %path.display(),
                    key = i,
                    "token auth: JWKS key has no kid; only a token whose jwk header carries this very key can use it"
                ),
            }
            self.keys.push(key);
            self.jwks_keys += 1;
        }
        Ok(())
    }

    /// The keys a `kid` names.
    pub(crate) fn keys_for_kid(&self, kid: &str) -> &[Arc<PublicKey>] {
        self.by_kid.get(kid).map_or(&[], Vec::as_slice)
    }

    /// The trusted key equal to `key`, if any.
    pub(crate) fn trusted(&self, key: &PublicKey) -> Option<Arc<PublicKey>> {
        self.keys.iter().find(|k| ***k == *key).cloned()
    }

    /// Verifies an `x5c` chain (standard base64 DER, leaf first) up to a
    /// root and returns the leaf's key.
    pub(crate) fn verify_chain(&self, x5c: &[String]) -> Result<PublicKey, String> {
        if self.roots.is_empty() {
            return Err("x5c chain but no rootcertbundle to verify it against".into());
        }
        let mut certs = Vec::with_capacity(x5c.len());
        for (i, c) in x5c.iter().enumerate() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(c)
                .map_err(|_| format!("x5c certificate {i} is not base64"))?;
            certs.push(CertificateDer::from(der));
        }
        let leaf = certs.first().ok_or("empty x5c chain")?;
        let now = now_unix();

        // A root itself as the leaf: Go builds the one-certificate chain.
        if let Some(root) = self.roots.iter().find(|r| r.der.as_ref() == leaf.as_ref()) {
            if !root.valid_at(now) {
                return Err("x5c root certificate is expired or not yet valid".into());
            }
            return root
                .key
                .as_deref()
                .cloned()
                .ok_or_else(|| "x5c root certificate's key cannot sign tokens".into());
        }

        let end_entity = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| format!("x5c leaf certificate: {e}"))?;
        // webpki does not check the anchor's own validity; Go does.
        let anchor_valid = |path: &VerifiedPath<'_>| -> Result<(), webpki::Error> {
            let anchor = path.anchor();
            let valid = self.roots.iter().zip(&self.anchors).any(|(root, a)| {
                a.subject.as_ref() == anchor.subject.as_ref()
                    && a.subject_public_key_info.as_ref() == anchor.subject_public_key_info.as_ref()
                    && root.valid_at(now)
            });
            if valid {
                Ok(())
            } else {
                Err(webpki::Error::UnknownIssuer)
            }
        };
        end_entity
            .verify_for_usage(
                verification_algorithms(),
                &self.anchors,
                &certs[1..],
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0) as u64)),
                AnyExtendedKeyUsage,
                None,
                Some(&anchor_valid),
            )
            .map_err(|e| format!("x5c chain does not verify: {e}"))?;
        let spki = end_entity.subject_public_key_info();
        PublicKey::from_spki(spki.as_ref()).map_err(|e| format!("x5c leaf key: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use der::Decode as _;
    use x509_cert::time::Time;

    use super::unix_seconds;

    fn time(tag: u8, text: &[u8]) -> der::Result<i64> {
        let mut encoded = vec![tag, text.len() as u8];
        encoded.extend_from_slice(text);
        Time::from_der(&encoded).map(unix_seconds)
    }

    #[test]
    fn certificate_times() {
        assert_eq!(time(0x17, b"700101000000Z"), Ok(0));
        assert_eq!(time(0x17, b"491231235959Z"), Ok(2_524_607_999));
        assert_eq!(time(0x18, b"20240229120000Z"), Ok(1_709_208_000));
        assert!(time(0x17, b"700101000000+0100").is_err());
    }
}
