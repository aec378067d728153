//! A small upstream registry on loopback whose behaviour the tests steer
//! (pace, corruption, outages), and helpers.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::headers::CONTENT_DIGEST;
use berth_api::ranges::{RangeRequest, content_range, unsatisfied_range};
use berth_client::Client;
use berth_core::{ByteStream, Error};
use berth_digest::Digest;
use berth_driver::{FilesystemDriver, StorageDriver};
use berth_proxy::{ProxyNamespace, ProxyOptions, client_options};
use berth_storage::{Registry, StorageOptions};
use futures_util::StreamExt;

/// (repository, reference) → (content type, bytes).
type Manifests = HashMap<(String, String), (String, Vec<u8>)>;

/// What the fake upstream holds and how it behaves.
#[derive(Default)]
pub struct UpstreamState {
    pub blobs: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    pub manifests: Mutex<Manifests>,
    /// `METHOD path` of every request, in order.
    pub requests: Mutex<Vec<String>>,
    /// Answer every request with 503.
    pub down: AtomicBool,
    /// Send blob bodies in chunks of this many bytes (0: at once)...
    pub chunk: AtomicUsize,
    /// ...pausing this long after each.
    pub pause_us: AtomicU64,
    /// Send other bytes than the blob's (same length).
    pub corrupt: AtomicBool,
    /// Close the connection half-way through a blob body.
    pub truncate: AtomicBool,
}

pub struct Upstream {
    pub url: String,
    pub state: Arc<UpstreamState>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(UpstreamState::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let state = shared.clone();
                std::thread::spawn(move || serve(conn, &state));
            }
        });
        Upstream { url, state }
    }

    pub fn add_blob(&self, data: Vec<u8>) -> Digest {
        let digest = Digest::sha256(&data);
        self.state
            .blobs
            .lock()
            .unwrap()
            .insert(digest.to_string(), Arc::new(data));
        digest
    }

    /// Stores an OCI image manifest under its digest and `tag`.
    pub fn add_manifest(&self, repo: &str, tag: &str, json: &[u8]) -> Digest {
        let digest = Digest::sha256(json);
        let mut manifests = self.state.manifests.lock().unwrap();
        let entry = (
            "application/vnd.oci.image.manifest.v1+json".to_owned(),
            json.to_vec(),
        );
        manifests.insert((repo.into(), tag.into()), entry.clone());
        manifests.insert((repo.into(), digest.to_string()), entry);
        digest
    }

    /// An image of one config and one layer of `layer` bytes, tagged.
    pub fn add_image(&self, repo: &str, tag: &str, layer: Vec<u8>) -> (Digest, Digest, Digest) {
        let config = format!(r#"{{"architecture":"amd64","os":"linux","tag":"{tag}"}}"#);
        let config_len = config.len();
        let layer_len = layer.len();
        let config_digest = self.add_blob(config.into_bytes());
        let layer_digest = self.add_blob(layer);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_len},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_len}],
        });
        let manifest = self.add_manifest(repo, tag, manifest.to_string().as_bytes());
        (manifest, config_digest, layer_digest)
    }

    /// Requests whose `METHOD path` starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }
}

fn serve(conn: TcpStream, state: &UpstreamState) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    while let Some(request) = berth_testkit::read_request(&mut reader) {
        let path = request.path().to_owned();
        state
            .requests
            .lock()
            .unwrap()
            .push(format!("{} {path}", request.method));
        let headers: HashMap<String, String> = request.headers.iter().cloned().collect();
        if respond(&mut writer, state, &request.method, &path, &headers).is_err() {
            return;
        }
    }
}

fn head(w: &mut TcpStream, status: u16, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut text = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    w.write_all(text.as_bytes())
}

fn error(w: &mut TcpStream, status: u16, code: &str) -> std::io::Result<()> {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"{code}"}}]}}"#);
    head(
        w,
        status,
        &[
            ("Content-Type", "application/json".into()),
            ("Content-Length", body.len().to_string()),
        ],
    )?;
    w.write_all(body.as_bytes())
}

fn respond(
    w: &mut TcpStream,
    state: &UpstreamState,
    method: &str,
    path: &str,
    headers: &HashMap<String, String>,
) -> std::io::Result<()> {
    if state.down.load(Ordering::SeqCst) {
        return error(w, 503, "UNAVAILABLE");
    }
    if path == "/v2/" {
        return head(w, 200, &[("Content-Length", "0".into())]);
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return error(w, 404, "NOT_FOUND");
    };
    if let Some((repo, digest)) = rest.rsplit_once("/blobs/") {
        let _ = repo;
        let Some(data) = state.blobs.lock().unwrap().get(digest).cloned() else {
            return error(w, 404, "BLOB_UNKNOWN");
        };
        let mut range = 0..data.len();
        let mut status = 200;
        let mut extra = Vec::new();
        let size = data.len() as u64;
        match headers.get("range").map(|r| RangeRequest::parse(r, size)) {
            Some(RangeRequest::Part(part)) => {
                range = part.start as usize..part.end as usize;
                status = 206;
                extra.push(("Content-Range", content_range(&part, size)));
            }
            Some(RangeRequest::Unsatisfiable) => {
                range = 0..0;
                status = 416;
                extra.push(("Content-Range", unsatisfied_range(size)));
            }
            Some(RangeRequest::Whole) | None => {}
        }
        let mut all = vec![
            ("Content-Length", range.len().to_string()),
            ("Content-Type", "application/octet-stream".into()),
            (CONTENT_DIGEST, digest.to_owned()),
        ];
        all.extend(extra);
        head(w, status, &all)?;
        if method == "HEAD" {
            return Ok(());
        }
        let mut body = data[range].to_vec();
        if state.corrupt.load(Ordering::SeqCst) && !body.is_empty() {
            let last = body.len() - 1;
            body[last] ^= 0xff;
        }
        let cut = if state.truncate.load(Ordering::SeqCst) {
            body.len() / 2
        } else {
            body.len()
        };
        let chunk = match state.chunk.load(Ordering::SeqCst) {
            0 => usize::MAX,
            n => n,
        };
        let pause = Duration::from_micros(state.pause_us.load(Ordering::SeqCst));
        for part in body[..cut].chunks(chunk) {
            w.write_all(part)?;
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
        if cut < body.len() {
            let _ = w.shutdown(std::net::Shutdown::Both);
            return Err(std::io::Error::other("truncated on purpose"));
        }
        return Ok(());
    }
    if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
        let found = state
            .manifests
            .lock()
            .unwrap()
            .get(&(repo.to_owned(), reference.to_owned()))
            .cloned();
        let Some((content_type, bytes)) = found else {
            return error(w, 404, "MANIFEST_UNKNOWN");
        };
        head(
            w,
            200,
            &[
                ("Content-Length", bytes.len().to_string()),
                ("Content-Type", content_type),
                (CONTENT_DIGEST, Digest::sha256(&bytes).to_string()),
            ],
        )?;
        if method == "HEAD" {
            return Ok(());
        }
        return w.write_all(&bytes);
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        let mut tags: Vec<String> = state
            .manifests
            .lock()
            .unwrap()
            .keys()
            .filter(|(r, t)| r == repo && !t.contains(':'))
            .map(|(_, t)| t.clone())
            .collect();
        tags.sort();
        let body = serde_json::json!({"name": repo, "tags": tags}).to_string();
        head(
            w,
            200,
            &[
                ("Content-Length", body.len().to_string()),
                ("Content-Type", "application/json".into()),
            ],
        )?;
        return w.write_all(body.as_bytes());
    }
    error(w, 404, "NOT_FOUND")
}

/// Deterministic bytes (xorshift), fast enough for hundreds of MiB.
/// Deterministic bytes (the driver test suite's pattern).
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    berth_driver::testsuite::pattern(len, seed).to_vec()
}

pub async fn drain(mut body: ByteStream) -> (Vec<u8>, Option<Error>) {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => out.extend_from_slice(&c),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// A proxy of `upstream` on a filesystem root in `dir`.
pub async fn proxy(dir: &std::path::Path, upstream: &str, options: ProxyOptions) -> ProxyNamespace {
    let driver: Arc<dyn StorageDriver> = Arc::new(FilesystemDriver::new(dir));
    let local = Registry::new(driver, StorageOptions::default());
    let mut client = client_options(upstream, None, None);
    client.retries.initial_backoff = Duration::from_millis(10);
    ProxyNamespace::start(local, Client::new(client).unwrap(), options)
        .await
        .unwrap()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-proxy-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

/// Files under `root` whose path contains `part`.
pub fn files_with(root: &std::path::Path, part: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let s = path.display().to_string();
                if s.contains(part) {
                    out.push(s);
                }
            }
        }
    }
    out
}
