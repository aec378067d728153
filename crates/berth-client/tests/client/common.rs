//! Test support: a tiny HTTP/1.1 server on loopback (for registries that
//! lie, fail or issue tokens), a token server signing RS256 JWTs with a
//! key and certificate made by the `openssl` CLI, and helpers.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use berth_client::{Client, ClientOptions, RetryPolicy};
use berth_core::{ByteStream, Error};
use berth_testkit::TokenIssuer;
use bytes::Bytes;
use futures_util::StreamExt;

pub use berth_testkit::Request;

/// What the test server answers.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Announce the whole body's length but send only this many bytes,
    /// then close the connection.
    pub cut_after: Option<usize>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply::status(status)
            .header("Content-Type", "application/json")
            .body(body)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync + 'static;

/// An HTTP/1.1 server on a free loopback port, one thread per connection,
/// `Connection: close` on every answer. Stopped when dropped.
pub struct TestServer {
    pub url: String,
    /// Every request seen, in order.
    pub requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl TestServer {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let handler: Arc<Handler> = Arc::new(handler);
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let requests = requests.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let handler = handler.clone();
                    let requests = requests.clone();
                    std::thread::spawn(move || serve(stream, &*handler, &requests));
                }
            });
        }
        TestServer {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            stop,
            port,
        }
    }

    /// Requests seen whose method and path match.
    pub fn hits(&self, method: &str, path_prefix: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == method && r.path().starts_with(path_prefix))
            .count()
    }

    pub fn all(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, handler: &Handler, requests: &Mutex<Vec<Request>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let Some(request) = berth_testkit::read_request(&mut reader) else {
        return;
    };
    requests.lock().unwrap().push(request.clone());
    let reply = handler(&request);
    let mut out = format!("HTTP/1.1 {} X\r\n", reply.status);
    let has_length = reply
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut stream = stream;
    let _ = stream.write_all(out.as_bytes());
    if request.method != "HEAD" {
        let body = match reply.cut_after {
            Some(n) => &reply.body[..n.min(reply.body.len())],
            None => &reply.body[..],
        };
        let _ = stream.write_all(body);
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

/// A client for `url` with quick retries.
pub fn client(url: &str) -> Client {
    Client::new(options(url)).expect("build the client")
}

pub fn options(url: &str) -> ClientOptions {
    let mut options = ClientOptions::new(url);
    options.retries = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(2),
    };
    options.timeouts.request = Duration::from_secs(20);
    options
}

/// A body as a stream of chunks of `chunk` bytes.
pub fn stream_of(data: &[u8], chunk: usize) -> ByteStream {
    let pieces: Vec<berth_core::Result<Bytes>> = data
        .chunks(chunk.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    Box::pin(futures_util::stream::iter(pieces))
}

/// Every item of a body: the bytes before the first error, and the error.
pub async fn drain(mut body: ByteStream) -> (Vec<u8>, Option<Error>) {
    let mut out = Vec::new();
    while let Some(item) = body.next().await {
        match item {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(e) => {
                assert!(
                    body.next().await.is_none(),
                    "the stream goes on after an error"
                );
                return (out, Some(e));
            }
        }
    }
    (out, None)
}

/// Some bytes that are not all alike.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-client-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory")
}

/// Runs a tool; panics with its stderr if it fails.
pub fn run(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// An htpasswd file (bcrypt, made by `htpasswd -B`) with one user; `None`
/// when `htpasswd` is not installed (see `berth_testkit::program`).
pub fn htpasswd(dir: &Path, user: &str, password: &str) -> Option<PathBuf> {
    if !berth_testkit::program("htpasswd") {
        return None;
    }
    let path = dir.join("htpasswd");
    run(
        "htpasswd",
        &["-B", "-b", "-c", path.to_str().unwrap(), user, password],
        dir,
    );
    Some(path)
}

/// The token signer (`berth_testkit::TokenIssuer`: a self-signed RSA root
/// made by the `openssl` CLI).
pub struct Signer {
    pub cert_pem: PathBuf,
    issuer: TokenIssuer,
}

static SIGNER: OnceLock<Option<Signer>> = OnceLock::new();

/// The signer, made once per test run; `None` when `openssl` is missing.
pub fn signer() -> Option<&'static Signer> {
    SIGNER
        .get_or_init(|| {
            let issuer = TokenIssuer::new_in(
                Path::new(env!("CARGO_TARGET_TMPDIR")),
                "berth-client-test-token-signer",
            )?;
            Some(Signer {
                cert_pem: issuer.bundle(),
                issuer,
            })
        })
        .as_ref()
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl Signer {
    /// An RS256 JWT with the certificate in `x5c`, granting `scopes`,
    /// valid until `exp`.
    pub fn token(&self, issuer: &str, service: &str, scopes: &[String], exp: i64) -> String {
        let access: serde_json::Value =
            serde_json::from_str(&berth_testkit::access_claim(scopes)).unwrap();
        static JTI: AtomicUsize = AtomicUsize::new(0);
        let claims = serde_json::json!({
            "iss": issuer,
            "sub": "alice",
            "aud": service,
            "exp": exp,
            "nbf": now() - 10,
            "iat": now() - 10,
            "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
            "access": access,
        });
        self.issuer.sign(&claims.to_string())
    }
}

pub const ISSUER: &str = "berth-client-test-issuer";
pub const SERVICE: &str = "berth-client-test-registry";

/// How the token server answers.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// `expires_in` in the answer (`None`: left out).
    pub expires_in: Option<u64>,
    /// The JWT's lifetime (negative: already expired).
    pub jwt_lifetime: i64,
    /// Use `access_token` instead of `token`.
    pub access_token_field: bool,
    /// Require these Basic credentials.
    pub require: Option<(String, String)>,
    /// Issue the next this many tokens already expired (beyond the
    /// registry's leeway).
    pub expired_next: usize,
}

impl Default for TokenPolicy {
    fn default() -> TokenPolicy {
        TokenPolicy {
            expires_in: Some(300),
            jwt_lifetime: 300,
            access_token_field: false,
            require: None,
            expired_next: 0,
        }
    }
}

/// A token server on loopback: counts its tokens per scope set.
pub struct TokenServer {
    pub server: TestServer,
    pub policy: Arc<Mutex<TokenPolicy>>,
    /// Tokens issued, by the sorted, space-joined scopes asked for.
    pub issued: Arc<Mutex<HashMap<String, usize>>>,
}

impl TokenServer {
    pub fn start(signer: &'static Signer) -> TokenServer {
        let policy: Arc<Mutex<TokenPolicy>> = Arc::default();
        let issued: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let server = {
            let policy = policy.clone();
            let issued = issued.clone();
            TestServer::start(move |request| {
                let policy = {
                    let mut shared = policy.lock().unwrap();
                    let snapshot = shared.clone();
                    shared.expired_next = shared.expired_next.saturating_sub(1);
                    snapshot
                };
                if let Some((user, password)) = &policy.require {
                    let expected = format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("{user}:{password}"))
                    );
                    if request.header("authorization") != Some(expected.as_str()) {
                        return Reply::json(
                            401,
                            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
                        );
                    }
                }
                if request.query("service") != [SERVICE] {
                    return Reply::json(400, r#"{"error":"invalid_request"}"#);
                }
                let mut scopes = request.query("scope");
                scopes.sort();
                *issued.lock().unwrap().entry(scopes.join(" ")).or_default() += 1;
                let lifetime = if policy.expired_next > 0 {
                    -3600
                } else {
                    policy.jwt_lifetime
                };
                let token = signer.token(ISSUER, SERVICE, &scopes, now() + lifetime);
                let mut answer = serde_json::json!({ "issued_at": "2024-01-01T00:00:00Z" });
                let field = if policy.access_token_field {
                    "access_token"
                } else {
                    "token"
                };
                answer[field] = serde_json::Value::String(token);
                if let Some(expires_in) = policy.expires_in {
                    answer["expires_in"] = expires_in.into();
                }
                Reply::json(200, answer.to_string())
            })
        };
        TokenServer {
            server,
            policy,
            issued,
        }
    }

    pub fn realm(&self) -> String {
        format!("{}/token", self.server.url)
    }

    /// Tokens issued for `scopes` (space-joined, sorted).
    pub fn count(&self, scopes: &str) -> usize {
        self.issued
            .lock()
            .unwrap()
            .get(scopes)
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.issued.lock().unwrap().values().sum()
    }
}
