//! Starts the real `berth` binary on a free port and talks HTTP to it.

#![allow(dead_code)]

pub mod skopeo;
pub mod umoci;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use berth_digest::Digest;
use berth_testkit::{ChildGuard, free_port, http, wait_for_http};
use serde_json::{Value, json};

/// `PROGRAM ARGS`, which must succeed; its output.
pub fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A running berth, stopped (by PID) when dropped.
pub struct Berth {
    pub url: String,
    pub root: PathBuf,
    /// Where the server's log (stderr) goes.
    pub log: PathBuf,
    /// The configuration file it runs with.
    pub config: PathBuf,
    /// Sent as `Authorization` with every request of the helpers below.
    pub authorization: Option<String>,
    _child: ChildGuard,
    _dir: tempfile::TempDir,
    /// Other directories that must live as long as the server.
    kept: Vec<tempfile::TempDir>,
}

impl Berth {
    /// berth on a filesystem root with deletes on; `extra` is appended to
    /// the generated configuration (YAML).
    pub fn start() -> Berth {
        Berth::start_with("")
    }

    pub fn start_with(extra: &str) -> Berth {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let port = free_port();
        let config = dir.path().join("config.yml");
        let log = if extra.lines().any(|l| l.starts_with("log:")) {
            ""
        } else {
            "log:\n  level: warn\n"
        };
        let storage = if extra.contains("storage:") {
            String::new()
        } else {
            format!(
                "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n",
                root.display()
            )
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\n{log}{storage}http:\n  addr: 127.0.0.1:{port}\n  secret: e2e-secret\n  headers:\n    X-Content-Type-Options: [nosniff]\n{extra}"
            ),
        )
        .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let prefix = extra
            .lines()
            .find_map(|l| l.trim().strip_prefix("prefix:"))
            .map(|p| p.trim().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        // With access control, `/v2/` answers 401 until credentials come.
        let ready = if extra.lines().any(|l| l.starts_with("auth:")) {
            401
        } else {
            200
        };
        Berth::spawn(dir, config, url, &prefix, root, ready)
    }

    /// Starts berth on `config` (in `dir`, which the server keeps) and
    /// waits until `{url}{prefix}/v2/` answers `ready`.
    pub fn spawn(
        dir: tempfile::TempDir,
        config: PathBuf,
        url: String,
        prefix: &str,
        root: PathBuf,
        ready: u16,
    ) -> Berth {
        let log = dir.path().join("berth.log");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start berth");
        let guard = ChildGuard(child);
        wait_for_http(
            &format!("{url}{prefix}/v2/"),
            ready,
            Duration::from_secs(30),
        );
        Berth {
            url,
            root,
            log,
            config,
            authorization: None,
            _child: guard,
            _dir: dir,
            kept: Vec::new(),
        }
    }

    /// Stops the server (if it still runs) and starts it again on the
    /// same configuration, root and port.
    pub fn restart(self) -> Berth {
        let Berth {
            url,
            root,
            config,
            authorization,
            _child,
            _dir,
            kept,
            ..
        } = self;
        drop(_child);
        let mut b = Berth::spawn(_dir, config, url, "", root, 200);
        b.authorization = authorization;
        b.kept = kept;
        b
    }

    /// Keeps `dir` (a storage root outside the server's own directory)
    /// until the server is dropped.
    pub fn keeping(mut self, dir: tempfile::TempDir) -> Berth {
        self.kept.push(dir);
        self
    }

    /// Sends HTTP basic credentials with every request from now on.
    pub fn with_basic(mut self, user: &str, password: &str) -> Berth {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }

    /// The server process's PID.
    pub fn pid(&self) -> u32 {
        self._child.id()
    }

    /// Waits (bounded) for the server process to exit; answers whether it
    /// did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self._child.0.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.url)
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        let mut req = http().get(&self.url(path));
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        Resp::from(req.call().unwrap())
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = http().get(&self.url(path));
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::from(req.call().unwrap())
    }

    pub fn head(&self, path: &str) -> Resp {
        let mut req = http().head(&self.url(path));
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        Resp::from(req.call().unwrap())
    }

    pub fn delete(&self, path: &str) -> Resp {
        let mut req = http().delete(&self.url(path));
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        Resp::from(req.call().unwrap())
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Resp {
        let mut req = http().post(&self.url(path));
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        Resp::from(req.send(body).unwrap())
    }

    pub fn put(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = http().put(&self.url(path));
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::from(req.send(body).unwrap())
    }

    pub fn patch(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = http().patch(&self.url(path));
        if let Some(auth) = &self.authorization {
            req = req.header("Authorization", auth);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Resp::from(req.send(body).unwrap())
    }

    /// Pushes a blob in one request; answers its digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Digest::sha256(data);
        let r = self.post(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"), data);
        assert_eq!(r.status, 201, "monolithic push: {}", r.text());
        digest
    }

    /// Pushes a config and layers, then an OCI image manifest tagged
    /// `tag`; answers (manifest bytes, digest).
    pub fn push_image(&self, repo: &str, tag: &str, seed: u8) -> (Vec<u8>, Digest) {
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}");
        let config_digest = self.push_blob(repo, config.as_bytes());
        let layer: Vec<u8> = (0..2000u32).map(|i| (i as u8) ^ seed).collect();
        let layer_digest = self.push_blob(repo, &layer);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}]
        }))
        .unwrap();
        let r = self.put(
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            &manifest,
        );
        assert_eq!(r.status, 201, "manifest push: {}", r.text());
        let digest = Digest::sha256(&manifest);
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        (manifest, digest)
    }
}

/// A response, read whole.
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<ureq::http::Response<ureq::Body>> for Resp {
    fn from(r: ureq::http::Response<ureq::Body>) -> Resp {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = r.into_body().read_to_vec().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts an error response: status, code, the API version header.
    pub fn assert_error(&self, status: u16, code: &str) -> &Resp {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        assert_eq!(body["errors"][0]["code"], code, "{}", self.text());
        assert!(
            !body["errors"][0]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "an error says what is wrong"
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            self.header("docker-distribution-api-version"),
            Some("registry/2.0")
        );
        self
    }

    pub fn message(&self) -> String {
        self.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// Requests a [`Receiver`] got: (head, lowercased; body).
pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on loopback: records each request (head lowercased,
/// body) and answers `status` (settable). Threads end with the test.
pub struct Receiver {
    pub url: String,
    /// Milliseconds to wait before answering each request.
    pub delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    pub status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    pub requests: Received,
}

impl Receiver {
    /// Listens on a free port.
    pub fn start() -> Receiver {
        Receiver::start_on(free_port())
    }

    /// Listens on `port` (one chosen earlier while nothing listened).
    pub fn start_on(port: u16) -> Receiver {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
        let delay_ms = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, d, r) = (status.clone(), delay_ms.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, d, r) = (s.clone(), d.clone(), r.clone());
                std::thread::spawn(move || Receiver::serve(conn, &s, &d, &r));
            }
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}"),
            delay_ms,
            status,
            requests,
        }
    }

    fn serve(
        conn: std::net::TcpStream,
        status: &std::sync::atomic::AtomicU16,
        delay_ms: &std::sync::atomic::AtomicU64,
        requests: &std::sync::Mutex<Vec<(String, Vec<u8>)>>,
    ) {
        use std::io::{BufRead, Read, Write};
        let mut writer = conn.try_clone().unwrap();
        let mut reader = std::io::BufReader::new(conn);
        loop {
            let mut head = String::new();
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => head.push_str(&line.to_ascii_lowercase()),
                }
            }
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let delay = delay_ms.load(std::sync::atomic::Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            let code = status.load(std::sync::atomic::Ordering::SeqCst);
            if code == 200 {
                requests.lock().unwrap().push((head, body));
            }
            let reply = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
            if writer.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }

    /// Every event received so far (each request's `events`, in order).
    pub fn events(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, body)| {
                let v: Value = serde_json::from_slice(body).unwrap();
                v["events"].as_array().cloned().unwrap_or_default()
            })
            .collect()
    }

    /// Waits (bounded) until `f` holds for the events received.
    pub fn wait_for(&self, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let events = self.events();
            if f(&events) {
                return events;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; received: {}",
                serde_json::to_string_pretty(&events).unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A seed for a test whose random choices must be replayable: `var` from
/// the environment, else the clock; printed with `what`, so a failing
/// run says how to replay it.
pub fn seed_from_env(var: &str, what: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("{what}: {var}={seed}");
    seed
}

/// A small seeded generator (xorshift64*) for tests: the same seed, the
/// same choices.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Seeded by [`seed_from_env`].
    pub fn from_env(var: &str, what: &str) -> Rng {
        Rng::new(seed_from_env(var, what))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high.saturating_sub(low) + 1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// The value of metric `name` on the debug server at `debug_port`: the
/// sample whose label `label.0` is `label.1`, or every sample summed when
/// `label.0` is empty; 0 when it is not there yet.
pub fn metric(debug_port: u16, name: &str, label: (&str, &str)) -> f64 {
    let r = Resp::from(
        berth_testkit::http()
            .get(&format!("http://127.0.0.1:{debug_port}/metrics"))
            .call()
            .expect("scrape /metrics"),
    );
    assert_eq!(r.status, 200, "/metrics: {}", r.text());
    let text = r.text();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{text}"));
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.0.is_empty() || s.labels.get(label.0) == Some(label.1))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}
