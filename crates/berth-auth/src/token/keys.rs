//! Public keys: from certificates (SubjectPublicKeyInfo, read and written
//! with the `spki`, `der` and `pkcs1` crates) and JWKs, their key IDs
//! (libtrust's, RFC 7638 thumbprints, Distribution 3's variant), and JWS
//! signature verification with aws-lc-rs.

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use base64::Engine as _;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, UintRef};
use der::referenced::OwnedToRef as _;
use der::{Decode as _, Encode as _};
use serde::Deserialize;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};

use super::SigningAlgorithm;

const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A NIST curve a JWT may be signed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
            Curve::P521 => OID_P521,
        }
    }

    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.oid() == oid)
    }

    fn from_name(name: &str) -> Option<Self> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.name() == name)
    }

    /// The base point's coordinates (hex), which Distribution 3 hashes in
    /// place of the key's own (`params.Gx`, `params.Gy`).
    fn generator_hex(self) -> (&'static str, &'static str) {
        match self {
            Curve::P256 => (
                "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
                "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
            ),
            Curve::P384 => (
                "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
                "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
            ),
            Curve::P521 => (
                "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
                "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
            ),
        }
    }
}

/// A public key a token may be verified with.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// RSA: modulus and exponent, big-endian, no leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// ECDSA: coordinates, big-endian, each the curve's size.
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// Ed25519: the 32-byte key.
    Ed25519(Vec<u8>),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} key {}", self.kind(), self.rfc7638_thumbprint())
    }
}

/// A JSON Web Key (RFC 7517), public members only.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Jwk {
    #[serde(default)]
    pub(crate) kty: String,
    #[serde(default)]
    pub(crate) kid: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    pub(crate) x5c: Option<Vec<String>>,
}

/// Decodes base64url with or without padding (as go-jose does).
pub(crate) fn b64url_decode(value: &str) -> Option<Vec<u8>> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(value.trim_end_matches('=')).ok()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The bytes of a lowercase hex constant (empty if it is not hex).
fn hex(s: &str) -> Vec<u8> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(s.as_bytes())
        .unwrap_or_default()
}

/// RFC 4648 base32, no padding.
fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// `bytes` without its leading zero bytes.
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    &bytes[skip..]
}

impl PublicKey {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa { .. } => "RSA",
            PublicKey::Ec { curve, .. } => curve.name(),
            PublicKey::Ed25519(_) => "Ed25519",
        }
    }

    /// Reads a DER SubjectPublicKeyInfo.
    pub(crate) fn from_spki(spki: &[u8]) -> Result<Self, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki).map_err(|e| format!("bad DER: {e}"))?;
        Self::from_spki_info(&spki)
    }

    /// Reads a certificate's SubjectPublicKeyInfo.
    pub(crate) fn from_certificate_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, String> {
        Self::from_spki_info(&spki.owned_to_ref())
    }

    fn from_spki_info(spki: &SubjectPublicKeyInfoRef<'_>) -> Result<Self, String> {
        let oid = spki.algorithm.oid;
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or("bad DER: subjectPublicKey has unused bits")?;
        if oid == OID_RSA_ENCRYPTION {
            let rsa = pkcs1::RsaPublicKeyRef::from_der(key)
                .map_err(|e| format!("bad DER: RSAPublicKey: {e}"))?;
            return Ok(PublicKey::Rsa {
                n: strip_leading_zeros(rsa.modulus.as_bytes()).to_vec(),
                e: strip_leading_zeros(rsa.public_exponent.as_bytes()).to_vec(),
            });
        }
        if oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters_oid()
                .ok()
                .and_then(Curve::from_oid)
                .ok_or("EC key on an unsupported curve (P-256, P-384 and P-521 are)")?;
            let size = curve.size();
            if key.len() != 1 + 2 * size || key[0] != 0x04 {
                return Err("EC point is not uncompressed".into());
            }
            return Ok(PublicKey::Ec {
                curve,
                x: key[1..1 + size].to_vec(),
                y: key[1 + size..].to_vec(),
            });
        }
        if oid == OID_ED25519 {
            if key.len() != 32 {
                return Err("Ed25519 key is not 32 bytes".into());
            }
            return Ok(PublicKey::Ed25519(key.to_vec()));
        }
        Err("unsupported key type (RSA, ECDSA P-256/P-384/P-521 and Ed25519 are)".into())
    }

    /// Reads a JWK. `Ok(None)` for a symmetric (`oct`) key, which can only
    /// check HMAC signatures, never accepted.
    pub(crate) fn from_jwk(jwk: &Jwk) -> Result<Option<Self>, String> {
        let member = |value: &Option<String>, name: &str| -> Result<Vec<u8>, String> {
            let value = value
                .as_deref()
                .ok_or_else(|| format!("{} key without \"{name}\"", jwk.kty))?;
            b64url_decode(value).ok_or_else(|| format!("\"{name}\" is not base64url"))
        };
        match jwk.kty.as_str() {
            "RSA" => {
                let n = member(&jwk.n, "n")?;
                let e = member(&jwk.e, "e")?;
                let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
                if n.is_empty() || e.is_empty() {
                    return Err("RSA key with an empty modulus or exponent".into());
                }
                Ok(Some(PublicKey::Rsa {
                    n: n.to_vec(),
                    e: e.to_vec(),
                }))
            }
            "EC" => {
                let crv = jwk.crv.as_deref().unwrap_or_default();
                let curve = Curve::from_name(crv)
                    .ok_or_else(|| format!("EC key on unsupported curve {crv:?}"))?;
                let fixed = |v: Vec<u8>, name: &str| -> Result<Vec<u8>, String> {
                    let size = curve.size();
                    if v.len() > size {
                        return Err(format!("\"{name}\" is longer than the curve's size"));
                    }
                    let mut out = vec![0u8; size - v.len()];
                    out.extend_from_slice(&v);
                    Ok(out)
                };
                Ok(Some(PublicKey::Ec {
                    curve,
                    x: fixed(member(&jwk.x, "x")?, "x")?,
                    y: fixed(member(&jwk.y, "y")?, "y")?,
                }))
            }
            "OKP" => {
                if jwk.crv.as_deref() != Some("Ed25519") {
                    return Err(format!("OKP key on unsupported curve {:?}", jwk.crv));
                }
                let x = member(&jwk.x, "x")?;
                if x.len() != 32 {
                    return Err("Ed25519 key is not 32 bytes".into());
                }
                Ok(Some(PublicKey::Ed25519(x)))
            }
            "oct" => Ok(None),
            other => Err(format!("unknown key type {other:?}")),
        }
    }

    /// The SubjectPublicKeyInfo as Go's `x509.MarshalPKIXPublicKey` writes
    /// it (RSA with NULL parameters, uncompressed EC points). Encoding
    /// cannot fail for the keys this type holds (their lengths are far
    /// below DER's limits); were it to, the result would be empty, which
    /// is no key's encoding.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        self.try_spki_der().unwrap_or_default()
    }

    fn try_spki_der(&self) -> der::Result<Vec<u8>> {
        let curve_oid;
        let (algorithm, key) = match self {
            PublicKey::Rsa { n, e } => {
                let rsa = pkcs1::RsaPublicKeyRef {
                    modulus: UintRef::new(n)?,
                    public_exponent: UintRef::new(e)?,
                };
                let algorithm = AlgorithmIdentifierRef {
                    oid: OID_RSA_ENCRYPTION,
                    parameters: Some(AnyRef::NULL),
                };
                (algorithm, rsa.to_der()?)
            }
            PublicKey::Ec { curve, x, y } => {
                curve_oid = curve.oid();
                let algorithm = AlgorithmIdentifierRef {
                    oid: OID_EC_PUBLIC_KEY,
                    parameters: Some(AnyRef::from(&curve_oid)),
                };
                (algorithm, self.ec_point(x, y))
            }
            PublicKey::Ed25519(key) => {
                let algorithm = AlgorithmIdentifierRef {
                    oid: OID_ED25519,
                    parameters: None,
                };
                (algorithm, key.clone())
            }
        };
        SubjectPublicKeyInfoRef {
            algorithm,
            subject_public_key: BitStringRef::from_bytes(&key)?,
        }
        .to_der()
    }

    fn ec_point(&self, x: &[u8], y: &[u8]) -> Vec<u8> {
        let mut point = Vec::with_capacity(1 + x.len() + y.len());
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        point
    }

    /// The key ID libtrust derives (Distribution 2's `kid`): the first 240
    /// bits of the SHA-256 of the DER SubjectPublicKeyInfo, base32, in
    /// groups of four characters joined by `:`.
    pub(crate) fn libtrust_key_id(&self) -> String {
        let digest = sha256(&self.spki_der());
        let encoded = base32(&digest[..30]);
        let groups: Vec<&str> = (0..encoded.len())
            .step_by(4)
            .map(|i| &encoded[i..(i + 4).min(encoded.len())])
            .collect();
        groups.join(":")
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub(crate) fn rfc7638_thumbprint(&self) -> String {
        let json = match self {
            PublicKey::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n))
            }
            PublicKey::Ec { curve, x, y } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                curve.name(),
                b64url(x),
                b64url(y)
            ),
            PublicKey::Ed25519(key) => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64url(key))
            }
        };
        b64url(&sha256(json.as_bytes()))
    }

    /// The key ID Distribution 3 derives from a root certificate's key
    /// (`GetJWKThumbprint`): RFC 7638 for RSA, but for ECDSA the hash of
    /// the curve's base point (so every key on a curve has the same ID),
    /// and for Ed25519 with `"kty":"OTP"`. Token servers built against
    /// Distribution 3 send these.
    pub(crate) fn distribution3_thumbprint(&self) -> String {
        match self {
            PublicKey::Rsa { .. } => self.rfc7638_thumbprint(),
            PublicKey::Ec { curve, .. } => {
                let (gx, gy) = curve.generator_hex();
                let (gx, gy) = (hex(gx), hex(gy));
                let json = format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    curve.name(),
                    b64url(strip_leading_zeros(&gx)),
                    b64url(strip_leading_zeros(&gy))
                );
                b64url(&sha256(json.as_bytes()))
            }
            PublicKey::Ed25519(key) => {
                let json = format!(r#"{{"crv":"Ed25519","kty":"OTP","x":"{}"}}"#, b64url(key));
                b64url(&sha256(json.as_bytes()))
            }
        }
    }

    /// Whether `signature` is `alg`'s signature of `message` by this key.
    /// A key of another type or curve than `alg` needs never verifies.
    pub(crate) fn verify(&self, alg: SigningAlgorithm, message: &[u8], sig: &[u8]) -> bool {
        use SigningAlgorithm as A;
        match self {
            PublicKey::Rsa { n, e } => {
                let params = match alg {
                    A::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    A::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    A::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    A::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    A::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                    A::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents {
                    n: n.as_slice(),
                    e: e.as_slice(),
                }
                .verify(params, message, sig)
                .is_ok()
            }
            PublicKey::Ec { curve, x, y } => {
                let algorithm = match (alg, curve) {
                    (A::Es256, Curve::P256) => &signature::ECDSA_P256_SHA256_FIXED,
                    (A::Es384, Curve::P384) => &signature::ECDSA_P384_SHA384_FIXED,
                    (A::Es512, Curve::P521) => &signature::ECDSA_P521_SHA512_FIXED,
                    _ => return false,
                };
                UnparsedPublicKey::new(algorithm, self.ec_point(x, y))
                    .verify(message, sig)
                    .is_ok()
            }
            PublicKey::Ed25519(key) => {
                alg == A::EdDsa
                    && UnparsedPublicKey::new(&signature::ED25519, key)
                        .verify(message, sig)
                        .is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn libtrust_id_shape() {
        let key = PublicKey::Ed25519(vec![1; 32]);
        let id = key.libtrust_key_id();
        assert_eq!(id.len(), 12 * 4 + 11);
        assert!(id.split(':').all(|g| g.len() == 4));
    }

    #[test]
    fn rfc7638_example() {
        // RFC 7638 section 3.1.
        let n = b64url_decode("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw").unwrap();
        let key = PublicKey::Rsa {
            n,
            e: vec![1, 0, 1],
        };
        assert_eq!(
            key.rfc7638_thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key.distribution3_thumbprint(), key.rfc7638_thumbprint());
    }

    #[test]
    fn distribution3_ec_ids_ignore_the_key() {
        let a = PublicKey::Ec {
            curve: Curve::P256,
            x: vec![1; 32],
            y: vec![2; 32],
        };
        let b = PublicKey::Ec {
            curve: Curve::P256,
            x: vec![3; 32],
            y: vec![4; 32],
        };
        assert_eq!(a.distribution3_thumbprint(), b.distribution3_thumbprint());
        assert_ne!(a.rfc7638_thumbprint(), b.rfc7638_thumbprint());
    }

    #[test]
    fn generators_have_curve_size() {
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let (x, y) = curve.generator_hex();
            assert_eq!(hex(x).len(), curve.size());
            assert_eq!(hex(y).len(), curve.size());
        }
    }

    #[test]
    fn spki_round_trip() {
        let keys = [
            PublicKey::Rsa {
                n: vec![0xc0; 256],
                e: vec![1, 0, 1],
            },
            PublicKey::Ec {
                curve: Curve::P384,
                x: vec![5; 48],
                y: vec![6; 48],
            },
            PublicKey::Ed25519(vec![7; 32]),
        ];
        for key in keys {
            assert_eq!(PublicKey::from_spki(&key.spki_der()).unwrap(), key);
        }
    }

    #[test]
    fn jwk_errors() {
        let jwk = |json: &str| -> Jwk { serde_json::from_str(json).unwrap() };
        assert!(PublicKey::from_jwk(&jwk(r#"{"kty":"RSA","n":"AQAB"}"#)).is_err());
        assert!(
            PublicKey::from_jwk(&jwk(r#"{"kty":"EC","crv":"P-192","x":"AA","y":"AA"}"#)).is_err()
        );
        assert!(PublicKey::from_jwk(&jwk(r#"{"kty":"XYZ"}"#)).is_err());
        assert_eq!(
            PublicKey::from_jwk(&jwk(r#"{"kty":"oct","k":"c2VjcmV0"}"#)).unwrap(),
            None
        );
    }
}
