//! Real keys and certificates made with the `openssl` CLI, real htpasswd
//! files made with `htpasswd`, JWTs signed here with aws-lc-rs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine as _;
use berth_auth::{AuthError, ChallengeError, Grant};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};

pub const REALM: &str = "https://auth.example.com/token";
pub const SERVICE: &str = "registry.example.com";
pub const ISSUER: &str = "test-issuer";

/// Runs a tool; panics with its stderr if it fails or is missing.
pub fn run(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} ({e}); the tests need openssl and htpasswd (apache2-utils)"
            )
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

pub fn sh(script: &str, dir: &Path) -> Vec<u8> {
    run("sh", &["-c", script], dir)
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A private key to sign tokens with.
pub enum Key {
    /// The key pair and its modulus (from `openssl rsa -modulus`).
    Rsa(RsaKeyPair, Vec<u8>),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Key {
    fn load(path: &Path, kind: &str) -> Key {
        let der = PrivatePkcs8KeyDer::from_pem_file(path).unwrap();
        let der = der.secret_pkcs8_der();
        match kind {
            "rsa" => {
                let out = run(
                    "openssl",
                    &["rsa", "-in", path.to_str().unwrap(), "-noout", "-modulus"],
                    path.parent().unwrap(),
                );
                let out = String::from_utf8(out).unwrap();
                let n = unhex(out.trim().strip_prefix("Modulus=").unwrap());
                Key::Rsa(RsaKeyPair::from_pkcs8(der).unwrap(), n)
            }
            "P-256" => Key::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der).unwrap(),
            ),
            "P-384" => Key::Ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der).unwrap(),
            ),
            "ed25519" => Key::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).unwrap()),
            other => panic!("unknown key kind {other}"),
        }
    }

    /// The public key as JWK members (with `kty`).
    pub fn jwk(&self) -> Value {
        match self {
            Key::Rsa(_, n) => json!({
                "kty": "RSA",
                "n": b64url(n.strip_prefix(&[0u8][..]).unwrap_or(n)),
                "e": "AQAB",
            }),
            Key::Ec(k) => {
                let point = k.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                json!({
                    "kty": "EC",
                    "crv": if size == 32 { "P-256" } else { "P-384" },
                    "x": b64url(&point[1..1 + size]),
                    "y": b64url(&point[1 + size..]),
                })
            }
            Key::Ed(k) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url(k.public_key().as_ref()),
            }),
        }
    }

    /// The RFC 7638 thumbprint, from the JWK members in lexicographic order.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let members: Vec<&str> = match jwk["kty"].as_str().unwrap() {
            "RSA" => vec!["e", "kty", "n"],
            "EC" => vec!["crv", "kty", "x", "y"],
            _ => vec!["crv", "kty", "x"],
        };
        let body: Vec<String> = members
            .iter()
            .map(|m| format!("\"{m}\":\"{}\"", jwk[m].as_str().unwrap()))
            .collect();
        b64url(&sha256(format!("{{{}}}", body.join(",")).as_bytes()))
    }

    pub fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Key::Rsa(k, _) => {
                let encoding: &dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    other => panic!("no RSA signing for {other}"),
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(encoding, &rng, message, &mut sig).unwrap();
                sig
            }
            Key::Ec(k) => k.sign(&rng, message).unwrap().as_ref().to_vec(),
            Key::Ed(k) => k.sign(message).as_ref().to_vec(),
        }
    }
}

/// A certificate and its key.
pub struct Cert {
    pub der: Vec<u8>,
    pub key: Key,
    /// libtrust's key ID, computed with the openssl CLI and base32.
    pub libtrust_kid: String,
    /// The public key in PEM (for the HS256 confusion test).
    pub public_pem: Vec<u8>,
}

impl Cert {
    pub fn x5c(&self) -> String {
        b64std(&self.der)
    }
}

pub struct Pki {
    pub dir: PathBuf,
    /// rsa_root, ec256_root, ec384_root, ed_root.
    pub bundle: PathBuf,
    pub jwks: PathBuf,
    pub rsa_root: Cert,
    pub ec256_root: Cert,
    pub ec384_root: Cert,
    pub ed_root: Cert,
    /// EC P-256 leaf signed by rsa_root.
    pub leaf: Cert,
    /// EC P-384 intermediate CA signed by ec256_root.
    pub intermediate: Cert,
    /// RSA leaf signed by intermediate.
    pub inter_leaf: Cert,
    /// A root not in the bundle, and a leaf it signed.
    pub rogue_root: Cert,
    pub rogue_leaf: Cert,
    /// JWKS keys (kids `jwks-ec`, `jwks-rsa`).
    pub jwks_ec: Key,
    pub jwks_rsa: Key,
    /// Distribution 3's key ID for every P-256 key, from openssl's
    /// explicit curve parameters.
    pub distribution3_p256_kid: String,
    /// A P-256 leaf signed by rsa_root, valid in 2020 only.
    pub expired_leaf: Cert,
    /// A root valid in 2020 only, alone in `expired_bundle`, and a leaf it
    /// signed that is valid now.
    pub expired_root: Cert,
    pub expired_root_leaf: Cert,
    pub expired_bundle: PathBuf,
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
x509_extensions = v3_ca
prompt = no
[dn]
CN = placeholder
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca]
default_ca = ca_any
[ca_any]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
[v3_inter]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

fn newkey_args(kind: &str) -> Vec<&'static str> {
    match kind {
        "rsa" => vec!["-newkey", "rsa:2048"],
        "P-256" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "P-384" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "ed25519" => vec!["-newkey", "ed25519"],
        other => panic!("unknown key kind {other}"),
    }
}

fn finish(dir: &Path, name: &str, kind: &str) -> Cert {
    let pem = std::fs::read(dir.join(format!("{name}.crt"))).unwrap();
    let der = CertificateDer::from_pem_slice(&pem).unwrap().to_vec();
    let b32 = sh(
        &format!(
            "openssl x509 -in {name}.crt -pubkey -noout | openssl pkey -pubin -outform DER \
             | openssl dgst -sha256 -binary | head -c 30 | base32"
        ),
        dir,
    );
    let b32 = String::from_utf8(b32).unwrap().trim().to_string();
    assert_eq!(b32.len(), 48, "{b32}");
    let libtrust_kid = b32
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let public_pem = run(
        "openssl",
        &["x509", "-in", &format!("{name}.crt"), "-pubkey", "-noout"],
        dir,
    );
    Cert {
        der,
        key: Key::load(&dir.join(format!("{name}.key")), kind),
        libtrust_kid,
        public_pem,
    }
}

fn root(dir: &Path, name: &str, kind: &str) -> Cert {
    let mut args = vec!["req", "-x509", "-config", "openssl.cnf", "-nodes"];
    args.extend(newkey_args(kind));
    let (key, crt, subj) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN={name}"),
    );
    args.extend(["-keyout", &key, "-out", &crt, "-days", "2", "-subj", &subj]);
    run("openssl", &args, dir);
    finish(dir, name, kind)
}

fn issued(
    dir: &Path,
    name: &str,
    kind: &str,
    issuer: &str,
    extensions: &str,
    serial: &str,
) -> Cert {
    let mut args = vec!["req", "-new", "-config", "openssl.cnf", "-nodes"];
    args.extend(newkey_args(kind));
    let (key, csr, subj) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("/CN={name}"),
    );
    args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
    run("openssl", &args, dir);
    let (ca, ca_key, crt) = (
        format!("{issuer}.crt"),
        format!("{issuer}.key"),
        format!("{name}.crt"),
    );
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-set_serial",
            serial,
            "-days",
            "1",
            "-out",
            &crt,
            "-extfile",
            "openssl.cnf",
            "-extensions",
            extensions,
        ],
        dir,
    );
    finish(dir, name, kind)
}

/// A certificate valid in 2020 only (`openssl ca` sets any dates),
/// signed by `issuer`, or self-signed when `issuer` is `None`.
fn dated_2020(dir: &Path, name: &str, issuer: Option<&str>, extensions: &str) -> Cert {
    let mut args = vec!["req", "-new", "-config", "openssl.cnf", "-nodes"];
    args.extend(newkey_args("P-256"));
    let (key, csr, crt, subj) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("/CN={name}"),
    );
    args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
    run("openssl", &args, dir);
    let mut args = vec![
        "ca",
        "-batch",
        "-notext",
        "-config",
        "openssl.cnf",
        "-in",
        &csr,
        "-out",
        &crt,
    ];
    args.extend([
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
        "-extensions",
        extensions,
    ]);
    let (ca, ca_key);
    match issuer {
        Some(issuer) => {
            ca = format!("{issuer}.crt");
            ca_key = format!("{issuer}.key");
            args.extend(["-cert", &ca, "-keyfile", &ca_key]);
        }
        None => args.extend(["-selfsign", "-keyfile", &key]),
    }
    run("openssl", &args, dir);
    finish(dir, name, "P-256")
}

fn bare_key(dir: &Path, name: &str, kind: &str) -> Key {
    let file = format!("{name}.key");
    match kind {
        "rsa" => run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &file,
            ],
            dir,
        ),
        _ => run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &file,
            ],
            dir,
        ),
    };
    Key::load(&dir.join(file), kind)
}

/// Distribution 3's ECDSA key ID: the thumbprint of the curve's base
/// point, read from openssl's explicit parameters.
fn distribution3_kid(dir: &Path) -> String {
    let text = run(
        "openssl",
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-param_enc",
            "explicit",
            "-text",
            "-noout",
        ],
        dir,
    );
    let text = String::from_utf8(text).unwrap();
    let after = text.split("Generator (uncompressed):").nth(1).unwrap();
    let hex = after.split("Order").next().unwrap();
    let point = unhex(hex);
    assert_eq!(point.len(), 65);
    let strip = |b: &[u8]| {
        b.iter()
            .skip_while(|&&x| x == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    let json = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        b64url(&strip(&point[1..33])),
        b64url(&strip(&point[33..]))
    );
    b64url(&sha256(json.as_bytes()))
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        // The fixture outlives the tests (statics are never dropped): clear
        // those that earlier runs left, once they are an hour old.
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 3600));
            if old
                && entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("berth-auth-pki-")
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-auth-pki-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        std::fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "10\n").unwrap();
        let rsa_root = root(&dir, "rsa-root", "rsa");
        let ec256_root = root(&dir, "ec256-root", "P-256");
        let ec384_root = root(&dir, "ec384-root", "P-384");
        let ed_root = root(&dir, "ed-root", "ed25519");
        let leaf = issued(&dir, "leaf", "P-256", "rsa-root", "v3_leaf", "2");
        let intermediate = issued(&dir, "intermediate", "P-384", "ec256-root", "v3_inter", "3");
        let inter_leaf = issued(&dir, "inter-leaf", "rsa", "intermediate", "v3_leaf", "4");
        let rogue_root = root(&dir, "rogue-root", "P-256");
        let rogue_leaf = issued(&dir, "rogue-leaf", "P-256", "rogue-root", "v3_leaf", "5");

        let bundle = dir.join("bundle.pem");
        let mut pem = Vec::new();
        for name in ["rsa-root", "ec256-root", "ec384-root", "ed-root"] {
            pem.extend(std::fs::read(dir.join(format!("{name}.crt"))).unwrap());
        }
        std::fs::write(&bundle, pem).unwrap();

        let jwks_ec = bare_key(&dir, "jwks-ec", "P-256");
        let jwks_rsa = bare_key(&dir, "jwks-rsa", "rsa");
        let mut ec = jwks_ec.jwk();
        ec["kid"] = json!("jwks-ec");
        ec["use"] = json!("sig");
        ec["alg"] = json!("ES256");
        let mut rsa = jwks_rsa.jwk();
        rsa["kid"] = json!("jwks-rsa");
        let oct = json!({"kty": "oct", "kid": "hmac", "k": b64url(b"shared secret")});
        let jwks = dir.join("jwks.json");
        std::fs::write(&jwks, json!({"keys": [ec, rsa, oct]}).to_string()).unwrap();

        let distribution3_p256_kid = distribution3_kid(&dir);
        let expired_leaf = dated_2020(&dir, "expired-leaf", Some("rsa-root"), "v3_leaf");
        let expired_root = dated_2020(&dir, "expired-root", None, "v3_ca");
        let expired_root_leaf = issued(
            &dir,
            "expired-root-leaf",
            "P-256",
            "expired-root",
            "v3_leaf",
            "6",
        );
        let expired_bundle = dir.join("expired-bundle.pem");
        std::fs::copy(dir.join("expired-root.crt"), &expired_bundle).unwrap();
        Pki {
            dir,
            bundle,
            jwks,
            rsa_root,
            ec256_root,
            ec384_root,
            ed_root,
            leaf,
            intermediate,
            inter_leaf,
            rogue_root,
            rogue_leaf,
            jwks_ec,
            jwks_rsa,
            distribution3_p256_kid,
            expired_leaf,
            expired_root,
            expired_root_leaf,
            expired_bundle,
        }
    })
}

/// A compact JWS of `header` and `claims` with the given signature bytes.
pub fn assemble(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64url(&signature))
}

/// A JWT signed by `key` with `alg`.
pub fn jwt(header: Value, claims: &Value, key: &Key) -> String {
    let alg = header["alg"].as_str().unwrap().to_string();
    assemble(&header, claims, |input| key.sign(&alg, input))
}

/// Valid claims granting `access`.
pub fn claims(access: Value) -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "sub": "alice",
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now - 10,
        "jti": "test-token",
        "access": access,
    })
}

/// Asserts a challenge with this error kind and exactly this header.
#[track_caller]
pub fn assert_challenge(
    result: Result<Grant, AuthError>,
    error: Option<ChallengeError>,
    header: &str,
) {
    match result {
        Err(AuthError::Challenge(c)) => {
            assert_eq!(c.www_authenticate(), header);
            assert_eq!(c.error(), error, "error kind of {header}");
        }
        other => panic!("expected a challenge {header:?}, got {other:?}"),
    }
}
