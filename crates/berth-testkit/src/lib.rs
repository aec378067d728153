//! Test support shared by berth's crates (a dev-dependency only).
//!
//! - [`service`]: the addresses of the services `scripts/test.sh` starts
//!   (Redis, S3), with its rule: when `BERTH_TEST_REQUIRE_SERVICES=1`, a
//!   missing service fails the test; otherwise the test is skipped with a
//!   message.
//! - [`free_port`] and [`ChildGuard`]: run a server on loopback and stop it
//!   by its PID, whatever happens.
//! - [`DockerRegistry`]: Debian's `docker-registry` (CNCF Distribution 2.8)
//!   on a root directory, for layout and behaviour comparisons.
//! - [`read_request`]: the request side of a loopback test server.
//! - [`TokenIssuer`] and [`access_claim`]: RS256 bearer tokens as a
//!   Distribution token server issues them, signed with the `openssl` CLI.
//! - [`FaultProxy`]: a loopback TCP proxy between a server and a service
//!   it depends on, which stalls, delays, resets, blackholes, closes one
//!   way or answers HTTP requests itself when the test says so.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod fault;
mod request;
mod tokens;
pub use fault::{Aim, AimAction, CannedResponse, Direction, Fault, FaultProxy, POLL};
pub use request::{Request, percent_decode, read_request};
pub use tokens::{TokenIssuer, access_claim};

/// Whether `scripts/test.sh` said every service must be there.
pub fn services_required() -> bool {
    std::env::var("BERTH_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The value of environment variable `var` naming a service; `None` (after
/// printing why the test is skipped) when it is unset and services are not
/// required.
///
/// # Panics
/// When the variable is unset and services are required: the test fails.
pub fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if services_required() => {
            panic!("{what} is required (BERTH_TEST_REQUIRE_SERVICES=1) but {var} is not set")
        }
        _ => {
            eprintln!("skipped: no {what} configured ({var} is not set; scripts/test.sh sets it)");
            None
        }
    }
}

/// Whether `program` is on `PATH`; when it is not and services are
/// required, the test fails; otherwise it prints why it is skipped.
///
/// # Panics
/// When the program is missing and services are required.
pub fn program(program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    if !found {
        if services_required() {
            panic!("{program} is required (BERTH_TEST_REQUIRE_SERVICES=1) but not on PATH");
        }
        eprintln!("skipped: {program} is not installed (scripts/test.sh installs it)");
    }
    found
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
///
/// # Panics
/// When no port can be bound at all.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

/// Kills (SIGKILL) and reaps a child process when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// The child's PID.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Stops the child now.
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `url` until it answers with `status`, for at most `timeout`.
///
/// # Panics
/// When it does not answer so in time.
pub fn wait_for_http(url: &str, status: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let agent = http();
    loop {
        if let Ok(resp) = agent.get(url).call()
            && resp.status().as_u16() == status
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer {status} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `url` until it answers with one of `statuses`, for at most
/// `timeout`.
///
/// # Panics
/// When it does not answer so in time.
pub fn wait_for_any_http(url: &str, statuses: &[u16], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let agent = http();
    loop {
        if let Ok(resp) = agent.get(url).call()
            && statuses.contains(&resp.status().as_u16())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not answer any of {statuses:?} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A plain-HTTP client that reports every status as a response (not an
/// error) and does not follow redirects.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Debian's `docker-registry` (Distribution 2.8) serving a root directory
/// on a free loopback port, stopped when dropped.
#[derive(Debug)]
pub struct DockerRegistry {
    /// The base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    /// The storage root it serves.
    pub root: PathBuf,
    _child: ChildGuard,
    _config: PathBuf,
}

impl DockerRegistry {
    /// Starts `docker-registry` on `root` with deletes enabled, no auth,
    /// and an in-memory descriptor cache; `None` when it is not installed
    /// (see [`program`]).
    ///
    /// # Panics
    /// When it is installed but does not start.
    pub fn start(root: &Path) -> Option<DockerRegistry> {
        DockerRegistry::launch(root, "", &[200])
    }

    /// Starts `docker-registry` as [`start`](Self::start) does, with
    /// `extra` appended to its configuration file: whole top-level YAML
    /// sections, such as
    ///
    /// ```yaml
    /// auth:
    ///   htpasswd:
    ///     realm: basic-realm
    ///     path: /path/to/htpasswd
    /// ```
    ///
    /// It is up once `/v2/` answers 200 or 401 (with `auth`, anonymous
    /// requests get 401). `None` when it is not installed (see
    /// [`program`]).
    ///
    /// # Panics
    /// When it is installed but does not start.
    pub fn start_with(root: &Path, extra: &str) -> Option<DockerRegistry> {
        DockerRegistry::launch(root, extra, &[200, 401])
    }

    fn launch(root: &Path, extra: &str, ready: &[u16]) -> Option<DockerRegistry> {
        if !program("docker-registry") {
            return None;
        }
        let port = free_port();
        let config = root.with_extension("docker-registry.yml");
        let mut text = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
             cache:\n    blobdescriptor: inmemory\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            root.display()
        );
        if !extra.is_empty() {
            text.push_str(extra);
            if !extra.ends_with('\n') {
                text.push('\n');
            }
        }
        std::fs::write(&config, text).expect("write the docker-registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let guard = ChildGuard(child);
        let url = format!("http://127.0.0.1:{port}");
        wait_for_any_http(&format!("{url}/v2/"), ready, Duration::from_secs(30));
        Some(DockerRegistry {
            url,
            root: root.to_owned(),
            _child: guard,
            _config: config,
        })
    }

    /// Pushes `content` as a blob of `repository` through the HTTP API,
    /// in one `PATCH` per chunk of `chunk` bytes (monolithic `PUT` when
    /// `chunk` is 0); answers the digest string the registry returned.
    ///
    /// # Panics
    /// When the registry refuses.
    pub fn push_blob(
        &self,
        repository: &str,
        content: &[u8],
        digest: &str,
        chunk: usize,
    ) -> String {
        let agent = http();
        let resp = agent
            .post(&format!("{}/v2/{repository}/blobs/uploads/", self.url))
            .send_empty()
            .expect("POST upload");
        assert_eq!(resp.status().as_u16(), 202, "POST upload");
        let mut location = self.absolute(header(&resp, "location"));
        if chunk > 0 {
            for piece in content.chunks(chunk) {
                let resp = agent
                    .patch(&location)
                    .header("Content-Type", "application/octet-stream")
                    .send(piece)
                    .expect("PATCH upload");
                assert_eq!(resp.status().as_u16(), 202, "PATCH upload");
                location = self.absolute(header(&resp, "location"));
            }
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let body: &[u8] = if chunk > 0 { &[] } else { content };
        let resp = agent
            .put(&format!("{location}{sep}digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .send(body)
            .expect("PUT upload");
        assert_eq!(resp.status().as_u16(), 201, "PUT upload");
        header(&resp, "docker-content-digest")
    }

    /// Fetches a blob through the HTTP API: status and body.
    pub fn get_blob(&self, repository: &str, digest: &str) -> (u16, Vec<u8>) {
        let resp = http()
            .get(&format!("{}/v2/{repository}/blobs/{digest}", self.url))
            .call()
            .expect("GET blob");
        let status = resp.status().as_u16();
        let body = resp.into_body().read_to_vec().unwrap_or_default();
        (status, body)
    }

    fn absolute(&self, location: String) -> String {
        if location.starts_with("http") {
            location
        } else {
            format!("{}{location}", self.url)
        }
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Helpers for the benchmarks: reference programs and statistics.
pub mod bench {
    use std::path::Path;
    use std::process::Command;
    use std::time::Instant;

    /// `dd if=/dev/zero of=FILE bs=8M count=CHUNKS conv=fdatasync`: wall
    /// time in seconds, `None` when dd cannot run.
    pub fn dd_write(file: &Path, chunks: usize) -> Option<f64> {
        dd(&[
            "if=/dev/zero".to_owned(),
            format!("of={}", file.display()),
            "bs=8M".to_owned(),
            format!("count={chunks}"),
            "conv=fdatasync".to_owned(),
        ])
    }

    /// `dd if=FILE of=/dev/null bs=8M`: wall time in seconds.
    pub fn dd_read(file: &Path) -> Option<f64> {
        dd(&[
            format!("if={}", file.display()),
            "of=/dev/null".to_owned(),
            "bs=8M".to_owned(),
        ])
    }

    fn dd(args: &[String]) -> Option<f64> {
        let start = Instant::now();
        let status = Command::new("dd")
            .args(args)
            .arg("status=none")
            .status()
            .ok()?;
        status.success().then(|| start.elapsed().as_secs_f64())
    }

    /// The median of `values` (the upper one of an even count).
    pub fn median(mut values: Vec<f64>) -> Option<f64> {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    }

    /// The directory a benchmark works in: `BERTH_BENCH_DIR` if set, else a
    /// new temporary directory under `target_tmp` (pass
    /// `env!("CARGO_TARGET_TMPDIR")`), removed when the guard drops.
    ///
    /// # Panics
    /// When the directory cannot be made.
    pub fn bench_dir(target_tmp: &str) -> (std::path::PathBuf, Option<tempfile::TempDir>) {
        let (dir, guard) = match std::env::var_os("BERTH_BENCH_DIR") {
            Some(dir) => (std::path::PathBuf::from(dir), None),
            None => {
                let temp = tempfile::TempDir::new_in(target_tmp)
                    .unwrap_or_else(|e| panic!("temporary directory in {target_tmp}: {e}"));
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        (dir, guard)
    }

    /// Whether the bench binary was run by `cargo bench` (which passes
    /// `--bench`) rather than `cargo test` (which runs it once, small).
    pub fn benching() -> bool {
        std::env::args().any(|a| a == "--bench")
    }
}

/// Manifests, deletes and garbage collection against Debian's
/// `docker-registry`, for the garbage-collection comparisons.
impl DockerRegistry {
    /// Pushes `body` as a manifest of `repository` under `reference` (a
    /// tag or a digest) with `media_type` as its Content-Type; answers the
    /// digest the registry returned.
    ///
    /// # Panics
    /// When the registry refuses.
    pub fn push_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> String {
        let resp = http()
            .put(&format!(
                "{}/v2/{repository}/manifests/{reference}",
                self.url
            ))
            .header("Content-Type", media_type)
            .send(body)
            .expect("PUT manifest");
        let status = resp.status().as_u16();
        let digest = header(&resp, "docker-content-digest");
        let answer = resp.into_body().read_to_string().unwrap_or_default();
        assert_eq!(
            status, 201,
            "PUT manifest {repository}:{reference}: {answer}"
        );
        digest
    }

    /// Fetches a manifest by tag or digest, accepting `accept`: status,
    /// Content-Type and body.
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        accept: &str,
    ) -> (u16, String, Vec<u8>) {
        let resp = http()
            .get(&format!(
                "{}/v2/{repository}/manifests/{reference}",
                self.url
            ))
            .header("Accept", accept)
            .call()
            .expect("GET manifest");
        let status = resp.status().as_u16();
        let content_type = header(&resp, "content-type");
        let body = resp.into_body().read_to_vec().unwrap_or_default();
        (status, content_type, body)
    }

    /// Deletes a manifest by digest (Distribution also removes the tags
    /// pointing to it); answers the status.
    pub fn delete_manifest(&self, repository: &str, digest: &str) -> u16 {
        http()
            .delete(&format!("{}/v2/{repository}/manifests/{digest}", self.url))
            .call()
            .expect("DELETE manifest")
            .status()
            .as_u16()
    }

    /// Runs `docker-registry garbage-collect [ARGS] CONFIG` on `root` (a
    /// config file pointing at it is written beside it); `None` when
    /// `docker-registry` is not installed (see [`program`]).
    ///
    /// # Panics
    /// When it is installed but cannot be run.
    pub fn garbage_collect(root: &Path, args: &[&str]) -> Option<std::process::Output> {
        if !program("docker-registry") {
            return None;
        }
        let config = root.with_extension("gc.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\n\
                 log:\n  level: info\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n",
                root.display()
            ),
        )
        .expect("write the garbage-collect config");
        let output = Command::new("docker-registry")
            .arg("garbage-collect")
            .args(args)
            .arg(&config)
            .stdin(Stdio::null())
            .output()
            .expect("run docker-registry garbage-collect");
        Some(output)
    }
}

/// Copies the directory tree `from` to `to` (created), files and
/// directories, empty ones included.
///
/// # Panics
/// On any I/O error.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read a directory to copy") {
        let entry = entry.expect("read a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// Every file below `root`, by path relative to it (`/`-separated), with
/// its content.
///
/// # Panics
/// On any I/O error.
pub fn tree_files(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn visit(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read a directory") {
            let entry = entry.expect("read a directory entry");
            let path = entry.path();
            if entry.file_type().expect("file type").is_dir() {
                visit(root, &path, out);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .expect("below the root")
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(relative, std::fs::read(&path).expect("read a file"));
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    if root.exists() {
        visit(root, root, &mut out);
    }
    out
}

/// Where the test S3 server is (`BERTH_TEST_S3_*`, set by scripts/test.sh).
#[derive(Debug, Clone)]
pub struct S3Env {
    /// `BERTH_TEST_S3_ENDPOINT`, e.g. `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// `BERTH_TEST_S3_REGION`.
    pub region: String,
    /// `BERTH_TEST_S3_ACCESS_KEY`.
    pub access_key: String,
    /// `BERTH_TEST_S3_SECRET_KEY`.
    pub secret_key: String,
    /// `BERTH_TEST_S3_BUCKET`.
    pub bucket: String,
}

const S3_VARS: [&str; 5] = [
    "BERTH_TEST_S3_ENDPOINT",
    "BERTH_TEST_S3_REGION",
    "BERTH_TEST_S3_ACCESS_KEY",
    "BERTH_TEST_S3_SECRET_KEY",
    "BERTH_TEST_S3_BUCKET",
];

/// The test S3 server; `None` (after saying `test` is skipped) without one.
///
/// # Panics
/// When none is configured and services are required.
pub fn s3_env(test: &str) -> Option<S3Env> {
    let values: Vec<Option<String>> = S3_VARS
        .iter()
        .map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .collect();
    if let [
        Some(endpoint),
        Some(region),
        Some(access_key),
        Some(secret_key),
        Some(bucket),
    ] = &values[..]
    {
        return Some(S3Env {
            endpoint: endpoint.clone(),
            region: region.clone(),
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
            bucket: bucket.clone(),
        });
    }
    let missing: Vec<&str> = S3_VARS
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if services_required() {
        panic!(
            "{test}: BERTH_TEST_REQUIRE_SERVICES=1 but no S3 is configured (missing {})",
            missing.join(", ")
        );
    }
    println!(
        "{test}: skipped: no S3 configured (set {})",
        missing.join(", ")
    );
    None
}

/// A storage root no other test or run uses: `/berth-test/<pid>-<time>-<n>`.
pub fn unique_root() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "/berth-test/{}-{nanos:x}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// An HTTP/1.1 forwarder on loopback in front of a server: every request
/// that passes is recorded (`METHOD /path`, the query left out) and the
/// bytes the server sends back are counted, so a test can tell what a
/// client of the server (such as a pull-through cache) asked for. When
/// the server cannot be reached, the client's connection is closed.
/// Stops accepting when dropped.
#[derive(Debug)]
pub struct HttpCounter {
    /// The forwarder's base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    bytes_down: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpCounter {
    /// Forwards to `upstream` (`http://HOST:PORT`).
    ///
    /// # Panics
    /// When `upstream` is not an `http://HOST:PORT` URL.
    pub fn start(upstream: &str) -> HttpCounter {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::{Arc, Mutex};
        let target = upstream
            .strip_prefix("http://")
            .expect("an http:// URL")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the forwarder");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let bytes_down = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, b, s) = (requests.clone(), bytes_down.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let (r, b, target) = (r.clone(), b.clone(), target.clone());
                std::thread::spawn(move || forward(client, &target, &r, b));
            }
        });
        HttpCounter {
            url,
            requests,
            bytes_down,
            stop,
        }
    }

    /// Every request so far, as `METHOD /path`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests with `method` whose path contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| {
                r.split_once(' ')
                    .is_some_and(|(m, p)| m == method && p.contains(part))
            })
            .count()
    }

    /// Bytes the server sent back (heads and bodies).
    pub fn bytes_down(&self) -> u64 {
        self.bytes_down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forgets the requests recorded so far.
    pub fn reset(&self) {
        if let Ok(mut r) = self.requests.lock() {
            r.clear();
        }
    }
}

impl Drop for HttpCounter {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// Forwards one connection: requests parsed (to record them), answers
/// copied back as they come.
fn forward(
    client: std::net::TcpStream,
    target: &str,
    requests: &std::sync::Mutex<Vec<String>>,
    bytes_down: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let Ok(server) = std::net::TcpStream::connect(target) else {
        let _ = client.shutdown(std::net::Shutdown::Both);
        return;
    };
    let (Ok(mut server_w), Ok(mut client_w)) = (server.try_clone(), client.try_clone()) else {
        return;
    };
    let mut server_r = server;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match server_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    bytes_down.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
                    if client_w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = client_w.shutdown(std::net::Shutdown::Both);
    });
    let mut reader = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut first = String::new();
        let mut length = 0u64;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = server_w.shutdown(std::net::Shutdown::Both);
                    return;
                }
                Ok(_) => {}
            }
            if first.is_empty() {
                first = line.clone();
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" {
                break;
            }
        }
        let mut parts = first.split_whitespace();
        let method = parts.next().unwrap_or("");
        let path = parts.next().unwrap_or("").split('?').next().unwrap_or("");
        if let Ok(mut r) = requests.lock() {
            r.push(format!("{method} {path}"));
        }
        if server_w.write_all(&head).is_err() {
            return;
        }
        if chunked {
            // Not parsed further: the rest of the connection goes as it is.
            let _ = std::io::copy(&mut reader, &mut server_w);
            return;
        }
        if std::io::copy(&mut (&mut reader).take(length), &mut server_w).is_err() {
            return;
        }
    }
}
