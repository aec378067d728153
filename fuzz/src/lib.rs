//! The fuzz targets of berth: one function per parser that reads network
//! or file input, each taking arbitrary bytes. A target panics only when
//! a property fails (or the code under test panics): that is what the
//! fuzzer reports as a crash.
//!
//! The libFuzzer binaries in `fuzz_targets/` call these functions (built
//! by `cargo fuzz`, see README.md); `tests/replay.rs` runs every file of
//! `seeds/<target>/` and `regressions/<target>/` through them with the
//! stable toolchain, in `cargo test --workspace`.
//!
//! ```
//! berth_fuzz::reference(b"ghcr.io/acme/api:1.4");
//! berth_fuzz::digest(b"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;

/// A fuzz target: any bytes in, a panic when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of `fuzz_targets/*.rs` and of the
/// corpus folders).
pub const TARGETS: &[(&str, Target)] = &[
    ("reference", reference),
    ("digest", digest),
    ("manifest", manifest),
    ("upload_state", upload_state),
    ("ranges", ranges),
    ("authorization", authorization),
    ("htpasswd", htpasswd),
    ("config", config),
    ("spool", spool),
    ("hash_state", hash_state),
    ("pagination", pagination),
];

/// Cuts `data` at every `0xFF 0xFE` pair, into at most `max` parts (the
/// last takes the rest).
fn parts(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut remaining = data;
    while parts.len() + 1 < max {
        match remaining.windows(2).position(|w| w == [0xFF, 0xFE]) {
            Some(i) => {
                parts.push(&remaining[..i]);
                remaining = &remaining[i + 2..];
            }
            None => break,
        }
    }
    parts.push(remaining);
    parts
}

/// Splits `data` at the first `sep` byte: the bytes before and after it
/// (all of `data` and nothing when there is none).
fn split(data: &[u8], sep: u8) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == sep) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Image references (`berth-reference`): every parser; parse → display →
/// parse is stable; the validators agree with the parsers.
pub fn reference(data: &[u8]) {
    use berth_reference::{
        AnyReference, Name, Reference, RepositoryName, Tag, validate_name,
        validate_repository_name, validate_tag,
    };
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse(s) {
        let text = r.to_string();
        let again = Reference::parse(&text).expect("a displayed reference parses");
        assert_eq!(again, r, "{s:?} → {text:?}");
        assert_eq!(again.to_string(), text);
        let _ = r.familiar_string();
        let _ = (r.tagged(), r.canonical(), r.trim());
    }
    if let Ok(r) = Reference::parse_normalized(s) {
        let text = r.to_string();
        let again = Reference::parse_normalized(&text).expect("a normalized reference parses");
        assert_eq!(again, r, "{s:?} → {text:?}");
        // As in Distribution, two familiar forms do not read back: a
        // Docker Hub path whose first component looks like a domain
        // ("docker.io/a.b/c" → "a.b/c", read as domain "a.b"), and an
        // official image named by 64 hex digits ("library/<hex>" →
        // "<hex>", refused as an image ID).
        let familiar = r.familiar_string();
        let first = familiar.split_once('/').map(|(first, _)| first);
        let looks_like_domain = first.is_some_and(|f| f.contains('.') || f == "localhost");
        match Reference::parse_normalized(&familiar) {
            Ok(back) => {
                if r.domain() != Some("docker.io") || !looks_like_domain {
                    assert_eq!(back, r, "{s:?} → familiar {familiar:?}");
                }
            }
            Err(berth_reference::Error::IdentifierNotAllowed { .. })
                if r.path()
                    .strip_prefix("library/")
                    .is_some_and(|p| p.len() == 64 && p.bytes().all(|b| b.is_ascii_hexdigit())) => {
            }
            Err(e) => panic!("{s:?} → familiar {familiar:?} does not parse: {e:?}"),
        }
    }
    let _ = Reference::parse_named(s);
    let _ = Reference::parse_docker(s);
    if let Ok(any) = AnyReference::parse(s) {
        let text = any.to_string();
        assert_eq!(
            AnyReference::parse(&text).ok(),
            Some(any),
            "{s:?} → {text:?}"
        );
    }
    if let Ok(name) = Name::parse(s) {
        assert_eq!(name.to_string(), s, "a name displays as written");
    }
    assert_eq!(
        Name::parse(s).is_ok(),
        validate_name(s).is_ok(),
        "Name::parse and validate_name disagree on {s:?}"
    );
    assert_eq!(
        RepositoryName::parse(s).is_ok(),
        validate_repository_name(s).is_ok(),
        "RepositoryName::parse and validate_repository_name disagree on {s:?}"
    );
    match Tag::parse(s) {
        Ok(tag) => {
            assert!(validate_tag(s).is_ok());
            assert_eq!(tag.to_string(), s);
        }
        Err(_) => assert!(validate_tag(s).is_err()),
    }
}

/// Digests (`berth-digest`): a parsed digest displays exactly as given
/// (only canonical forms are accepted), and its raw bytes round-trip.
pub fn digest(data: &[u8]) {
    use berth_digest::Digest;
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(d) = Digest::parse(s)
    {
        assert_eq!(d.as_str(), s);
        assert_eq!(d.to_string(), s);
        assert_eq!(Digest::parse(d.as_str()).ok().as_ref(), Some(&d));
        let raw = d.to_raw();
        assert_eq!(Digest::from_raw(d.algorithm(), &raw).ok(), Some(d.clone()));
        assert_eq!(d.encoded().len(), raw.len() * 2);
    }
    let d = Digest::sha256(data);
    assert_eq!(Digest::parse(d.as_str()).ok(), Some(d));
}

/// The manifest registry's parsers, their scheme chosen by the first
/// byte among every registered media type (and none, and an unknown one):
/// no panic; an accepted manifest keeps the payload verbatim, its digest
/// is of the bytes given, and it parses again to the same value.
pub fn manifest(data: &[u8]) {
    use berth_digest::Digest;
    use berth_manifest::ManifestRegistry;
    static REGISTRY: OnceLock<ManifestRegistry> = OnceLock::new();
    let registry = REGISTRY.get_or_init(ManifestRegistry::new);
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let mut types: Vec<&str> = registry.media_types().collect();
    types.push("application/json; charset=utf-8");
    types.push("text/plain");
    let content_type = match usize::from(selector) % (types.len() + 1) {
        0 => None,
        i => Some(types[i - 1]),
    };
    let body = Bytes::copy_from_slice(body);
    let _ = registry.parse_unvalidated(content_type, body.clone());
    let Ok(m) = registry.parse(content_type, body.clone()) else {
        return;
    };
    assert_eq!(m.payload(), &body, "the payload is kept verbatim");
    assert_eq!(m.size(), body.len());
    assert_eq!(
        m.digest(),
        &Digest::sha256(m.digested_bytes()),
        "the digest is of the bytes given"
    );
    if !m.is_schema1() {
        assert_eq!(m.digested_bytes(), &body);
    }
    let descriptor = m.descriptor();
    assert_eq!(&descriptor.digest, m.digest());
    let _ = (m.config(), m.subject(), m.artifact_type(), m.annotations());
    let counted = m.references().count();
    assert_eq!(
        counted,
        m.blob_references().count() + m.manifest_references().count(),
        "references split into blobs and manifests"
    );
    let again = registry
        .parse(Some(m.media_type()), body)
        .expect("an accepted manifest parses again by its own media type");
    assert_eq!(again.digest(), m.digest());
    assert_eq!(again.media_type(), m.media_type());
}

/// The upload URL's signed `_state` token (`berth-handlers`): an accepted
/// token signs back to an accepted one with the same state; a state
/// signed and verified round-trips; a token with any byte of its signed
/// content changed is refused.
pub fn upload_state(data: &[u8]) {
    use berth_handlers::{StateSigner, UploadState};
    let signer = StateSigner::new(b"fuzz-secret".to_vec());
    if let Ok(token) = std::str::from_utf8(data)
        && let Some(state) = signer.verify(token)
    {
        let again = signer.verify(&signer.sign(&state));
        assert_eq!(again.as_ref(), Some(&state));
    }
    // A state from the input's fields.
    let (head, rest) = split(data, 0);
    let (uuid, rest) = split(rest, 0);
    let (started, rest) = split(rest, 0);
    let offset = rest
        .iter()
        .take(8)
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let state = UploadState {
        name: String::from_utf8_lossy(head).into_owned(),
        uuid: String::from_utf8_lossy(uuid).into_owned(),
        offset,
        started_at: String::from_utf8_lossy(started).into_owned(),
    };
    let token = signer.sign(&state);
    assert_eq!(signer.verify(&token).as_ref(), Some(&state));
    assert_eq!(StateSigner::new(b"other".to_vec()).verify(&token), None);
    let mut raw = base64::engine::general_purpose::URL_SAFE
        .decode(&token)
        .expect("a token is base64url");
    if let Some(&pick) = rest.get(8) {
        let i = usize::from(pick) % raw.len();
        raw[i] ^= rest.get(9).copied().unwrap_or(1).max(1);
        let tampered = base64::engine::general_purpose::URL_SAFE.encode(&raw);
        assert_eq!(signer.verify(&tampered), None, "a tampered token verified");
    }
}

/// `Range` and `Content-Range` (`berth-api`): a blob range is never empty
/// and always inside the blob; a chunk range is ordered and displays back
/// to itself.
pub fn ranges(data: &[u8]) {
    use berth_api::ranges::{
        ChunkRange, RangeRequest, content_range, unsatisfied_range, upload_range,
    };
    let (size_bytes, header) = data.split_at(data.len().min(8));
    let size = size_bytes
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    match RangeRequest::parse(header, size) {
        RangeRequest::Part(part) => {
            assert!(
                part.start < part.end,
                "{header:?} of {size}: empty {part:?}"
            );
            assert!(
                part.end <= size,
                "{header:?} of {size}: past the end {part:?}"
            );
            let _ = content_range(&part, size);
        }
        RangeRequest::Unsatisfiable => {
            let _ = unsatisfied_range(size);
        }
        RangeRequest::Whole => {}
    }
    if let Some(chunk) = ChunkRange::parse(header) {
        assert!(chunk.start <= chunk.end);
        assert_ne!(chunk.len(), 0, "an empty chunk range");
        assert_eq!(ChunkRange::parse(&chunk.to_string()), Some(chunk));
    }
    let _ = upload_range(size);
}

/// A token issuer's key, trusted by the token controller both as a JWKS
/// key (`kid`) and, when `openssl` is there, as a root certificate for
/// `x5c` chains.
struct Issuer {
    key: aws_lc_rs::signature::EcdsaKeyPair,
    certificate: Option<Vec<u8>>,
    controller: berth_auth::TokenAccessController,
    htpasswd: berth_auth::HtpasswdAccessController,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

const ISSUER: &str = "fuzz-issuer";
const SERVICE: &str = "fuzz-registry";
const KID: &str = "fuzz-key";

/// The issuer: an EC P-256 key made by `openssl` with a self-signed CA
/// certificate when `openssl` runs, else by aws-lc-rs (then no chains).
fn issuer() -> &'static Issuer {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    static ISSUER_CELL: OnceLock<Issuer> = OnceLock::new();
    ISSUER_CELL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let made = std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=fuzz",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,digitalSignature",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let (key, certificate) = if made {
            let pem = |file: &str| {
                let text = std::fs::read_to_string(dir.path().join(file)).expect("openssl output");
                let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
                STANDARD.decode(body).expect("PEM base64")
            };
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pem("key.pem"))
                .expect("openssl's PKCS#8 key");
            (key, Some(pem("cert.pem")))
        } else {
            let key =
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("a generated key");
            (key, None)
        };
        let point = key.public_key().as_ref().to_vec();
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": KID,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]});
        let jwks_path = dir.path().join("jwks.json");
        std::fs::write(&jwks_path, jwks.to_string()).expect("jwks file");
        let controller = berth_auth::TokenAccessController::new(berth_auth::TokenOptions {
            realm: "https://auth.test/token".into(),
            service: SERVICE.into(),
            issuer: ISSUER.into(),
            rootcertbundle: certificate.as_ref().map(|_| dir.path().join("cert.pem")),
            jwks: Some(jwks_path),
            autoredirect: false,
            autoredirectpath: None,
            signingalgorithms: Vec::new(),
        })
        .expect("the token controller");
        // Cost 4, the lowest bcrypt has: "fuzz:fuzz".
        let users = dir.path().join("htpasswd");
        std::fs::write(
            &users,
            "fuzz:$2y$04$Xy8N0pNVNLzjMdnGXL4WQ.BdMtiOzGWQ9Ui5yfcmFMTfvAqdXzPSO\n",
        )
        .expect("htpasswd file");
        let htpasswd = berth_auth::HtpasswdAccessController::new(berth_auth::HtpasswdOptions {
            realm: "fuzz".into(),
            path: users,
        })
        .expect("the htpasswd controller");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        Issuer {
            key,
            certificate,
            controller,
            htpasswd,
            runtime,
            _dir: dir,
        }
    })
}

impl Issuer {
    /// A compact JWS of `header` and `payload` (any bytes) signed ES256.
    fn sign(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self
            .key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .expect("signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// The `Authorization` header (`berth-auth`): Basic and Bearer schemes
/// through the real htpasswd and token controllers, and JWT headers and
/// claims decoded after a valid signature (the target signs what the
/// input gives: raw headers, raw claims, `x5c` chains of arbitrary
/// certificates). A grant only ever follows a verified signature.
pub fn authorization(data: &[u8]) {
    use berth_auth::{Access, AccessController, Request};
    let issuer = issuer();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let accesses = [
        Access::repository("fuzz/app", "pull"),
        Access::repository("fuzz/app", "push"),
        Access::catalog(),
    ];
    let wanted = &accesses[..usize::from(mode >> 4) % accesses.len() + 1];
    let valid_claims = |subject: &str| {
        serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": SERVICE,
            "exp": 4_000_000_000u64, "nbf": 0, "iat": 0,
            "access": [{"type": "repository", "name": "fuzz/app", "actions": ["pull", "push"]}],
        })
        .to_string()
    };
    let (value, signed) = match mode % 5 {
        // Anything at all, as the header's value.
        0 => (String::from_utf8_lossy(rest).into_owned(), false),
        // Claims from the input, signed with a trusted key.
        1 => {
            let header = format!(r#"{{"alg":"ES256","kid":"{KID}","typ":"JWT"}}"#);
            (
                format!("Bearer {}", issuer.sign(header.as_bytes(), rest)),
                true,
            )
        }
        // A header and claims from the input, signed.
        2 => {
            let (header, claims) = split(rest, 0);
            (format!("Bearer {}", issuer.sign(header, claims)), true)
        }
        // An x5c chain of up to three certificates from the input (cut
        // at 0xFF 0xFE); an empty one is the trusted root's.
        3 => {
            let chain: Vec<String> = parts(rest, 3)
                .into_iter()
                .map(|der| match (&issuer.certificate, der.is_empty()) {
                    (Some(root), true) => STANDARD.encode(root),
                    _ => STANDARD.encode(der),
                })
                .collect();
            let header = serde_json::json!({"alg": "ES256", "x5c": chain}).to_string();
            let claims = valid_claims("x5c-user");
            (
                format!(
                    "Bearer {}",
                    issuer.sign(header.as_bytes(), claims.as_bytes())
                ),
                true,
            )
        }
        // Basic credentials, through the htpasswd controller (a bcrypt
        // check of cost 4 per attempt).
        _ => {
            let value = format!("Basic {}", String::from_utf8_lossy(rest));
            let request = Request::new().with_authorization(&value);
            let _ = issuer
                .runtime
                .block_on(issuer.htpasswd.authorize(&request, wanted));
            return;
        }
    };
    let request = Request::new()
        .with_authorization(&value)
        .with_host("registry.test");
    let result = issuer
        .runtime
        .block_on(issuer.controller.authorize(&request, wanted));
    if result.is_ok() {
        assert!(signed, "an unsigned token was granted: {value:?}");
    }
}

/// htpasswd files and Basic credentials (`berth-auth`): no panic; the
/// users found are the file's lines with a `:`; a decoded credential
/// encodes back to the value's user and password.
pub fn htpasswd(data: &[u8]) {
    use berth_auth::fuzzing::{basic_credentials, htpasswd_users};
    if let Ok(users) = htpasswd_users(data) {
        let text = String::from_utf8_lossy(data);
        for (user, _) in &users {
            assert!(
                text.lines()
                    .any(|l| l.trim().split_once(':').is_some_and(|(u, _)| u == user)),
                "user {user:?} is on no line"
            );
        }
    }
    if let Ok(value) = std::str::from_utf8(data)
        && let Some((user, password)) = basic_credentials(value)
    {
        assert!(!user.contains(&b':'), "the user ends at the first ':'");
        let mut joined = user.clone();
        joined.push(b':');
        joined.extend_from_slice(&password);
        let again = basic_credentials(&format!("Basic {}", STANDARD.encode(&joined)));
        assert_eq!(again, Some((user, password)));
    }
}

/// The configuration (`berth-config`): YAML before the first NUL byte,
/// `KEY=VALUE` environment lines after it (`REGISTRY_*` overlay): no
/// panic; an accepted configuration written back as YAML reads back to
/// the same configuration.
pub fn config(data: &[u8]) {
    use berth_config::Configuration;
    let (yaml, env) = split(data, 0);
    let Ok(yaml) = std::str::from_utf8(yaml) else {
        return;
    };
    let env = String::from_utf8_lossy(env);
    let vars: Vec<(&str, &str)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let Ok(loaded) = Configuration::parse_with_env(yaml, vars) else {
        return;
    };
    let text = loaded
        .config
        .to_yaml()
        .expect("an accepted configuration writes as YAML");
    let again = Configuration::parse(&text)
        .unwrap_or_else(|e| panic!("the written configuration does not read back: {e}\n{text}"));
    assert_eq!(
        again.config, loaded.config,
        "written and read back:\n{text}"
    );
    let _ = loaded.config.masked();
}

/// The durable queue (`berth-spool`, the notifications' event queues),
/// recovered from arbitrary files: the input is cut at `0xFF 0xFE` pairs into a
/// cursor file and up to four segments (given a valid segment header when
/// the first byte's low bit is set). Recovery never fails, a record read
/// has a length and CRC-32 that match its bytes on disk, and a record
/// appended after recovery is read back intact.
pub fn spool(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let parts = parts(rest, 5);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (cursor, segments) = parts.split_first().expect("at least one part");
    if flags & 2 != 0 {
        std::fs::write(dir.path().join("cursor"), cursor).expect("cursor file");
    }
    let mut files = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let mut bytes = Vec::new();
        if flags & 1 != 0 {
            bytes.extend_from_slice(b"BRTHEVQ1");
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&[0; 4]);
        }
        bytes.extend_from_slice(segment);
        let seq = i as u64 + 1 + u64::from(flags >> 4);
        std::fs::write(dir.path().join(format!("{seq:016x}.seg")), &bytes).expect("segment");
        files.push((seq, bytes));
    }
    let appended = br#"{"appended":"after recovery"}"#;
    let records = spool_drain(dir.path(), appended, 10_000)
        .unwrap_or_else(|e| panic!("recovery failed: {e}"));
    let (last, earlier) = records.split_last().expect("the appended record is read");
    assert_eq!(last.2, appended, "the appended record");
    for (segment, offset, payload) in earlier {
        let (_, bytes) = files
            .iter()
            .find(|(seq, _)| seq == segment)
            .unwrap_or_else(|| panic!("a record from segment {segment}, which was not given"));
        let at = usize::try_from(*offset).expect("offset");
        let header = &bytes[at..at + 8];
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        assert_eq!(len as usize, payload.len());
        assert_eq!(&bytes[at + 8..at + 8 + payload.len()], payload.as_slice());
        assert_eq!(crc32fast::hash(payload), crc, "a record whose CRC fails");
    }
}

/// A record read back from a spool: its segment, its offset in the
/// segment, and its payload.
type Drained = (u64, u64, Vec<u8>);

/// Opens the queue in `dir`, recovering whatever files are there; reads
/// every record as the notifications' delivery loop does (a corrupt one
/// is skipped), then appends `append` and reads on until the queue is
/// empty, and closes it. Answers every record read, in order, or what
/// failed. At most `limit` records are read.
fn spool_drain(
    dir: &std::path::Path,
    append: &[u8],
    limit: usize,
) -> Result<Vec<Drained>, Box<dyn std::error::Error>> {
    use berth_spool::{Record, Spool, SpoolOptions};
    let spool = Spool::open(dir, SpoolOptions::new(1 << 20).name("fuzz"))?;
    let mut records = Vec::new();
    let result = spool_read_all(&spool, &mut records, limit).and_then(|()| {
        spool.append(&Record::new(append)?)?.wait()?;
        spool_read_all(&spool, &mut records, limit)
    });
    spool.close();
    result.map(|()| records)
}

fn spool_read_all(
    spool: &berth_spool::Spool,
    records: &mut Vec<Drained>,
    limit: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    use berth_spool::ReadRecord;
    while records.len() < limit {
        let Some(head) = spool.next() else {
            return Ok(());
        };
        let pos = head.position();
        match spool.read(head)? {
            ReadRecord::Record { payload, next } => {
                if !spool.acknowledge(pos, next)? {
                    return Err("a record read was no longer current".into());
                }
                records.push((pos.segment, pos.offset, payload));
            }
            ReadRecord::Corrupt { next, .. } => spool.skip(pos, next)?,
        }
    }
    Ok(())
}

/// Saved hash states (`berth-digest`, Go's `MarshalBinary` form, as
/// Distribution writes them under `hashstates/`): a state that restores
/// saves to a form that restores to the same state, and both hash on to
/// the same digest.
pub fn hash_state(data: &[u8]) {
    use berth_digest::{Algorithm, Digester};
    let (state, tail) = split(data, 0xFF);
    let mut restored = vec![Digester::restore(state)];
    for algorithm in [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512] {
        restored.push(Digester::restore_as(algorithm, state));
    }
    for digester in restored.into_iter().flatten() {
        let saved = digester.save_state();
        let mut again =
            Digester::restore_as(digester.algorithm(), &saved).expect("a saved state restores");
        assert_eq!(again.offset(), digester.offset());
        assert_eq!(again.save_state(), saved, "save → restore → save is stable");
        let mut digester = digester;
        digester.update(tail);
        again.update(tail);
        assert_eq!(digester.offset(), again.offset());
        assert_eq!(digester.finish(), again.finish());
    }
    // A state saved mid-stream finishes as the whole stream does.
    let cut = usize::from(data.first().copied().unwrap_or(0)) % (data.len() + 1);
    let mut whole = Algorithm::Sha256.digester();
    whole.update(data);
    let mut first = Algorithm::Sha256.digester();
    first.update(&data[..cut]);
    let mut second = Digester::restore(&first.save_state()).expect("a saved state restores");
    second.update(&data[cut..]);
    assert_eq!(second.finish(), whole.finish());
}

/// Request paths and listing parameters (`berth-api`): the route table
/// on any path, and `n` / `last` of the catalog and tag lists decoded
/// from any query string: a page never asks for more than the maximum,
/// and `last` is never empty.
pub fn pagination(data: &[u8]) {
    use berth_api::Route;
    use berth_api::query::{Query, page_request};
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = s.split_once('?').unwrap_or((s, ""));
    if let Some(route) = Route::parse(path) {
        let _ = route.label();
        if let Some(name) = route.name() {
            assert!(!name.is_empty());
            assert!(path.contains(name));
        }
    }
    let query = Query::parse(query);
    let max = usize::from(data.first().copied().unwrap_or(0));
    for max in [Some(max), None] {
        if let Ok(page) = page_request(&query, max) {
            if let Some(max) = max {
                assert!(page.n.is_some_and(|n| n <= max), "n above the maximum");
            }
            assert!(page.last.as_ref().is_none_or(|l| !l.is_empty()));
        }
    }
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness reaches what it is meant to: a token signed by the
    /// issuer with valid claims is granted, so fuzzed claims are decoded
    /// after a verified signature.
    #[test]
    fn signed_tokens_are_granted() {
        use berth_auth::{Access, AccessController, Request};
        let issuer = issuer();
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "alice", "aud": SERVICE, "exp": 4_000_000_000u64,
            "access": [{"type": "repository", "name": "fuzz/app", "actions": ["pull"]}],
        })
        .to_string();
        let header = format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#);
        let value = format!(
            "Bearer {}",
            issuer.sign(header.as_bytes(), claims.as_bytes())
        );
        let request = Request::new().with_authorization(&value);
        let grant = issuer
            .runtime
            .block_on(
                issuer
                    .controller
                    .authorize(&request, &[Access::repository("fuzz/app", "pull")]),
            )
            .expect("granted");
        assert_eq!(grant.user.map(|u| u.name).as_deref(), Some("alice"));
        if let Some(root) = &issuer.certificate {
            let header = serde_json::json!({"alg": "ES256", "x5c": [STANDARD.encode(root)]});
            let value = format!(
                "Bearer {}",
                issuer.sign(header.to_string().as_bytes(), claims.as_bytes())
            );
            let request = Request::new().with_authorization(&value);
            assert!(
                issuer
                    .runtime
                    .block_on(
                        issuer
                            .controller
                            .authorize(&request, &[Access::repository("fuzz/app", "pull")])
                    )
                    .is_ok(),
                "a token signed by the root's key, carrying the root, is granted"
            );
        }
    }

    /// A configuration seed reads, writes and reads back.
    #[test]
    fn configurations_round_trip() {
        let yaml =
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /x\nhttp:\n  addr: :5000\n";
        let loaded = berth_config::Configuration::parse(yaml).expect("valid");
        let text = loaded.config.to_yaml().expect("yaml");
        assert_eq!(
            berth_config::Configuration::parse(&text)
                .expect("again")
                .config,
            loaded.config
        );
        config(format!("{yaml}\0REGISTRY_HTTP_ADDR=:6000").as_bytes());
    }

    #[test]
    fn parts_cut_at_the_marker() {
        assert_eq!(
            parts(b"a\xff\xfeb\xff\xfec", 2),
            vec![&b"a"[..], &b"b\xff\xfec"[..]]
        );
        assert_eq!(parts(b"abc", 3), vec![&b"abc"[..]]);
        assert_eq!(split(b"a\0b\0c", 0), (&b"a"[..], &b"b\0c"[..]));
    }
}
