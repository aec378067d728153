//! `http.tls` → a rustls server configuration, with Distribution's
//! semantics: a certificate (chain) and a key in PEM, client CAs that turn
//! on mutual TLS, a minimum version, TLS 1.2 cipher suites by their names.
//!
//! The crypto provider is rustls' aws-lc-rs one, the provider the S3 SDK
//! already brings in: one crypto library in the binary. ALPN is left to
//! actix-web, which offers `http/1.1` (and `h2` only with its `http2`
//! feature, which berth does not enable).

use std::path::Path;
use std::sync::Arc;

use berth_config::{Tls, TlsVersion};
use rustls::crypto::CryptoProvider;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{RootCertStore, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::StartError;

/// The rustls server configuration for `tls`, or a start error naming the
/// configuration key (and file) at fault.
pub(crate) fn server_config(tls: &Tls) -> Result<ServerConfig, StartError> {
    let versions = protocol_versions(tls.minimumtls)?;
    // Go applies the suites to TLS 1.2 only: with tls1.3 they do nothing.
    let provider = match tls.minimumtls {
        TlsVersion::Tls13 => provider(&[])?,
        _ => provider(&tls.ciphersuites)?,
    };

    let chain = read_certificates("http.tls.certificate", &tls.certificate)?;
    let key = read_key(&tls.key)?;

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| format!("http.tls: {e}"))?;
    let builder = if tls.clientcas.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for path in &tls.clientcas {
            for cert in read_certificates("http.tls.clientcas", path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("http.tls.clientcas: {path}: {e}"))?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("http.tls.clientcas: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "http.tls.key: {} does not go with the certificate {}: {e}",
            tls.key, tls.certificate
        )
        .into()
    })
}

/// `minimumtls` → the versions offered; rustls has no TLS 1.0 or 1.1.
fn protocol_versions(
    minimum: TlsVersion,
) -> Result<&'static [&'static SupportedProtocolVersion], StartError> {
    static TLS12_AND_UP: &[&SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
    match minimum {
        TlsVersion::Tls10 | TlsVersion::Tls11 => Err(format!(
            "http.tls.minimumtls: {} is not supported: berth's TLS (rustls) supports TLS 1.2 and 1.3 only; use tls1.2 or tls1.3",
            match minimum {
                TlsVersion::Tls10 => "tls1.0",
                _ => "tls1.1",
            }
        )
        .into()),
        TlsVersion::Tls12 => Ok(TLS12_AND_UP),
        TlsVersion::Tls13 => Ok(TLS13_ONLY),
    }
}

/// aws-lc-rs with its default suites, or — when `ciphersuites` is set —
/// with only the TLS 1.2 suites named there (the TLS 1.3 suites are always
/// on, as in Go: the setting is for TLS 1.2). Names are Go's / IANA's
/// (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); a name rustls does not
/// implement is ignored with a warning; none usable is an error. Only
/// TLS 1.3 names: TLS 1.2 has no suite left, as in Go.
fn provider(ciphersuites: &[String]) -> Result<Arc<CryptoProvider>, StartError> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if ciphersuites.is_empty() {
        return Ok(Arc::new(provider));
    }
    let available = provider.cipher_suites.clone();
    let mut chosen: Vec<SupportedCipherSuite> = available
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    let mut usable = 0;
    for name in ciphersuites {
        let wanted = go_alias(name.trim());
        if TLS13_SUITES.contains(&wanted) {
            usable += 1; // always on, as in Go
            continue;
        }
        match available.iter().find(|s| suite_name(s) == wanted) {
            Some(SupportedCipherSuite::Tls13(_)) => {}
            Some(suite) => {
                usable += 1;
                if !chosen.contains(suite) {
                    chosen.push(*suite);
                }
            }
            None => tracing::warn!(
                suite = name,
                "http.tls.ciphersuites: not supported by berth's TLS (rustls); ignored"
            ),
        }
    }
    if usable == 0 {
        let names: Vec<String> = available
            .iter()
            .filter(|s| !matches!(s, SupportedCipherSuite::Tls13(_)))
            .map(suite_name)
            .collect();
        return Err(format!(
            "http.tls.ciphersuites: none of {ciphersuites:?} is supported; the TLS 1.2 suites are {}",
            names.join(", ")
        )
        .into());
    }
    provider.cipher_suites = chosen;
    Ok(Arc::new(provider))
}

/// The TLS 1.3 suites' IANA names: the setting does not limit them.
const TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// A suite's IANA name, as rustls spells it.
fn suite_name(suite: &SupportedCipherSuite) -> String {
    format!("{:?}", suite.suite())
}

/// Go's short names for the ChaCha20 suites → the IANA ones.
fn go_alias(name: &str) -> &str {
    match name {
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        other => other,
    }
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>, StartError> {
    std::fs::read(Path::new(path)).map_err(|e| format!("{key}: cannot read {path}: {e}").into())
}

/// Every certificate in the PEM file at `path`; at least one.
fn read_certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, StartError> {
    let pem = read_file(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {path}: not a valid PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{key}: {path}: no PEM certificate (BEGIN CERTIFICATE) in it").into());
    }
    Ok(certs)
}

/// The private key (PKCS#8, PKCS#1 RSA or SEC1 EC) in the PEM file at `path`.
fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, StartError> {
    let pem = read_file("http.tls.key", path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| format!("http.tls.key: {path}: no usable PEM private key in it: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(minimumtls: TlsVersion, ciphersuites: &[&str]) -> Tls {
        Tls {
            certificate: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            clientcas: Vec::new(),
            minimumtls,
            ciphersuites: ciphersuites.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn old_versions_are_refused() {
        for v in [TlsVersion::Tls10, TlsVersion::Tls11] {
            let e = server_config(&tls(v, &[])).unwrap_err().to_string();
            assert!(e.contains("http.tls.minimumtls"), "{e}");
            assert!(e.contains("1.2 and 1.3 only"), "{e}");
        }
    }

    #[test]
    fn missing_files_name_key_and_path() {
        let e = server_config(&tls(TlsVersion::Tls12, &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.tls.certificate"), "{e}");
        assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    }

    #[test]
    fn cipher_suites_map_by_name() {
        let p = provider(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305".into(),
            "TLS_RSA_WITH_RC4_128_SHA".into(),
            "TLS_AES_128_GCM_SHA256".into(),
        ])
        .unwrap();
        let tls12: Vec<String> = p
            .cipher_suites
            .iter()
            .filter(|s| !matches!(s, SupportedCipherSuite::Tls13(_)))
            .map(suite_name)
            .collect();
        assert_eq!(
            tls12,
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
            ]
        );
        assert!(
            p.cipher_suites
                .iter()
                .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        );
        assert!(provider(&["TLS_RSA_WITH_RC4_128_SHA".into()]).is_err());

        // Only TLS 1.3 names: TLS 1.3 alone remains, and that is usable.
        let p = provider(&["TLS_AES_128_GCM_SHA256".into()]).unwrap();
        assert!(
            p.cipher_suites
                .iter()
                .all(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        );
        let versions = protocol_versions(TlsVersion::Tls12).unwrap();
        assert!(
            ServerConfig::builder_with_provider(p)
                .with_protocol_versions(versions)
                .is_ok()
        );
    }
}
