//! Online garbage collection under load: two `berth serve` nodes on one
//! storage, each running a collection every second (grace period 5 s,
//! untagged manifests removed), while threads push, pull and delete
//! images on both nodes at random.
//!
//! The contract checked:
//! - a push whose manifest `PUT` comes less than the grace period after
//!   its first blob request (a `HEAD`, a mount or an upload's commit)
//!   never fails, whatever it did with its blobs, which it sends in
//!   parallel as clients do: fresh uploads (monolithic, two-step,
//!   chunked), layers shared between images, `HEAD`-then-skip of the
//!   blobs of deleted images, and cross-repository mounts, some of blobs
//!   of deleted images (a `HEAD` answering 404 and a mount answering 202
//!   are the documented fall-backs: the blob is uploaded); pushes that
//!   fail later than that are reported, not counted;
//! - a pull of an image nobody deleted or re-tagged returns the manifest
//!   by tag with its digest, and every blob with its sha256;
//! - no two nodes' collections are in their removal phase at once (from
//!   the logs);
//! - once the load stops and two collections have run past the grace
//!   period, the blobs in storage are exactly those the tags reach (the
//!   manifests, configs and layers, index children with theirs): nothing
//!   live lost, nothing dead kept; every tag pulls from both nodes; and
//!   every image acknowledged and never deleted or re-tagged is there.
//!
//! `BERTH_GC_TORTURE_SECS` (default 120) sets how long the load runs;
//! `BERTH_GC_TORTURE_SEED` replays a run's choices (the seed is printed).
//! `scripts/gc-torture.sh [SECONDS]` runs both tests with Redis and S3
//! started. On failure the nodes' logs are copied under
//! `target/tmp/gc-torture-*` and the lines naming the digests involved are
//! printed.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use berth_digest::Digest;
use berth_testkit::{S3Env, free_port, wait_for_http};
use common::{Berth, Rng};
use serde_json::{Value, json};

/// `storage.maintenance.gc.delay` of every node on the filesystem.
const DELAY: Duration = Duration::from_secs(5);
/// On S3 (Garage on these machines answers a request in about 0.1 to
/// 1 s under load, so a push takes seconds): a longer grace period, so
/// that the contract covers nearly every push.
const S3_DELAY: Duration = Duration::from_secs(15);

/// The marker refresh period berth derives from a delay (an eighth of
/// it, at least 100 ms): a run looks back `delay + refresh` for markers.
fn refresh(delay: Duration) -> Duration {
    (delay / 8).max(Duration::from_millis(100))
}
const PUSHERS: usize = 4;
const PULLERS: usize = 2;
/// Repositories the images go to.
const REPOSITORIES: usize = 4;
/// Layer contents shared between images.
const POOL: usize = 20;
/// Above this many live images, pushes re-tag (replace) an image of
/// their repository instead of adding one, so that the storage (and each
/// collection's mark) stays small.
const LIVE_CAP: usize = 150;
/// Deleted images' blobs remembered for `HEAD`-then-skip, and recently
/// pushed blobs remembered for mounts.
const REMEMBERED: usize = 300;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// The storage settings every node shares, below `storage:`.
fn gc_settings(delay: Duration) -> String {
    format!(
        "  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\n    \
         gc:\n      enabled: true\n      interval: 1s\n      delay: {}s\n      deleteuntagged: true\n",
        delay.as_secs()
    )
}

#[test]
fn torture_filesystem() {
    let root_dir = tempfile::tempdir().unwrap();
    let root = root_dir.path().join("root");
    let storage = format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n  cache:\n    blobdescriptor: inmemory\n{}",
        root.display(),
        gc_settings(DELAY)
    );
    let (servers, nodes) = start_nodes(&storage, &root);
    torture(
        "filesystem",
        DELAY,
        &servers,
        nodes,
        &Stored::Filesystem(root.clone()),
    );
}

#[test]
fn torture_s3_redis() {
    let Some(s3) = berth_testkit::s3_env("torture_s3_redis") else {
        return;
    };
    let Some(redis) = berth_testkit::service("BERTH_TEST_REDIS_URL", "Redis") else {
        return;
    };
    let root = berth_testkit::unique_root();
    let storage = format!(
        "storage:\n  s3:\n    region: {}\n    regionendpoint: {}\n    forcepathstyle: true\n    \
         bucket: {}\n    rootdirectory: {root}\n    accesskey: {}\n    secretkey: {}\n  \
         redirect:\n    disable: true\n  cache:\n    blobdescriptor: redis\n{}\
         redis:\n  addr: {}\n",
        s3.region,
        s3.endpoint,
        s3.bucket,
        s3.access_key,
        s3.secret_key,
        gc_settings(S3_DELAY),
        host_port(&redis),
    );
    let (servers, nodes) = start_nodes(&storage, Path::new(""));
    torture(
        "s3+redis",
        S3_DELAY,
        &servers,
        nodes,
        &Stored::S3 { s3, root },
    );
}

/// `host:port` of a `redis://host:port/db` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// One berth node as the load sees it.
#[derive(Debug, Clone)]
struct Node {
    name: String,
    url: String,
    debug_port: u16,
    log: PathBuf,
}

/// Two nodes on `storage` (the `storage:` section and any other
/// top-level sections), with the same HTTP secret.
fn start_nodes(storage: &str, root: &Path) -> (Vec<Berth>, Vec<Node>) {
    let mut servers = Vec::new();
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let debug_port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n{storage}http:\n  addr: 127.0.0.1:{port}\n  \
                 secret: gc-torture-secret\n  debug:\n    addr: 127.0.0.1:{debug_port}\n    \
                 prometheus:\n      enabled: true\n"
            ),
        )
        .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let server = Berth::spawn(dir, config, url.clone(), "", root.to_path_buf(), 200);
        wait_for_http(
            &format!("http://127.0.0.1:{debug_port}/metrics"),
            200,
            Duration::from_secs(30),
        );
        nodes.push(Node {
            name: name.to_owned(),
            url,
            debug_port,
            log: server.log.clone(),
        });
        servers.push(server);
    }
    (servers, nodes)
}

/// Where the blobs are, to list them at the end.
enum Stored {
    Filesystem(PathBuf),
    S3 { s3: S3Env, root: String },
}

// --- the shared state --------------------------------------------------------

/// A blob and its bytes.
#[derive(Clone)]
struct Blob {
    digest: Digest,
    data: Arc<Vec<u8>>,
}

impl Blob {
    fn new(data: Vec<u8>) -> Blob {
        Blob {
            digest: Digest::sha256(&data),
            data: Arc::new(data),
        }
    }
}

/// A manifest pushed, with the blobs it references (config first).
#[derive(Clone)]
struct Pushed {
    digest: Digest,
    body: Arc<Vec<u8>>,
    blobs: Vec<Blob>,
}

/// An image pushed by tag: an image manifest, or an index of two.
#[derive(Clone)]
struct Image {
    id: u64,
    repo: String,
    tag: String,
    top: Pushed,
    children: Vec<Pushed>,
    /// When its manifest PUT was acknowledged, and by which node.
    acknowledged: String,
}

impl Image {
    fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.top
            .blobs
            .iter()
            .chain(self.children.iter().flat_map(|c| c.blobs.iter()))
    }

    fn describe(&self) -> String {
        format!(
            "image #{} {}:{} ({}{}, acknowledged {})",
            self.id,
            self.repo,
            self.tag,
            self.top.digest,
            if self.children.is_empty() {
                String::new()
            } else {
                format!(
                    ", an index of {}",
                    self.children
                        .iter()
                        .map(|c| c.digest.to_string())
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            },
            self.acknowledged
        )
    }
}

/// What the threads believe the registry holds.
#[derive(Default)]
struct Model {
    next_id: u64,
    /// Images acknowledged and neither deleted nor re-tagged.
    live: Vec<Image>,
    /// Images the deleter or a re-tagging push has started to remove:
    /// their pulls may fail.
    going: HashSet<u64>,
    /// Why each image in `going` went.
    went: HashMap<u64, String>,
    /// Blobs of deleted or re-tagged images, by repository.
    orphans: VecDeque<(String, Blob)>,
    /// Blobs pushed recently, by repository (mount sources).
    recent: VecDeque<(String, Blob)>,
}

impl Model {
    fn remember(list: &mut VecDeque<(String, Blob)>, repo: &str, blob: &Blob) {
        list.push_back((repo.to_owned(), blob.clone()));
        while list.len() > REMEMBERED {
            list.pop_front();
        }
    }

    /// Forgets a live image that went; its blobs become orphans.
    fn gone(&mut self, id: u64) {
        if let Some(pos) = self.live.iter().position(|i| i.id == id) {
            let image = self.live.swap_remove(pos);
            for blob in image.blobs() {
                Model::remember(&mut self.orphans, &image.repo, blob);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A push whose failing request came within the grace period of its
    /// first blob request: the contract is broken.
    PushWithinDelay,
    /// A push that failed later than that: not covered by the contract.
    PushOutsideDelay,
    Pull,
    Delete,
}

struct Failure {
    kind: Kind,
    what: String,
    error: String,
    trace: Vec<String>,
}

#[derive(Default)]
struct Counts {
    pushes: AtomicU64,
    index_pushes: AtomicU64,
    retags: AtomicU64,
    slow_pushes: AtomicU64,
    fresh_uploads: AtomicU64,
    shared_uploads: AtomicU64,
    head_skips: AtomicU64,
    head_uploads: AtomicU64,
    mounts: AtomicU64,
    mount_fallbacks: AtomicU64,
    pulls: AtomicU64,
    pulls_excused: AtomicU64,
    blobs_verified: AtomicU64,
    deletes: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn count(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

struct Shared {
    /// The nodes' grace period.
    delay: Duration,
    nodes: Vec<Node>,
    repos: Vec<String>,
    pool: Vec<Blob>,
    salt: String,
    stop: AtomicBool,
    model: Mutex<Model>,
    counts: Counts,
    failures: Mutex<Vec<Failure>>,
    /// The slowest pushes that succeeded: how long, what, their requests.
    slowest: Mutex<Vec<(Duration, String, Vec<String>)>>,
}

impl Shared {
    fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn fail(&self, kind: Kind, what: String, error: String, trace: Trace) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Failure {
                kind,
                what,
                error,
                trace: trace.render(),
            });
    }

    /// Keeps the trace of a push that succeeded if it is among the three
    /// slowest (over a second).
    fn slow(&self, trace: &Trace, what: impl FnOnce() -> String) {
        let span = trace.span();
        if span < Duration::from_secs(1) {
            return;
        }
        let mut slowest = self.slowest.lock().unwrap_or_else(PoisonError::into_inner);
        if slowest.len() < 3 || slowest.iter().any(|(d, _, _)| *d < span) {
            slowest.push((span, what(), trace.render()));
            slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            slowest.truncate(3);
        }
    }

    fn next_id(&self) -> u64 {
        let mut model = self.model();
        model.next_id += 1;
        model.next_id
    }

    /// Sleeps about `ms` milliseconds, waking early when the load stops.
    fn pause(&self, ms: u64) {
        let until = Instant::now() + Duration::from_millis(ms);
        while !self.stopped() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(ms.min(50)));
        }
    }
}

// --- requests ----------------------------------------------------------------

/// A response, read whole.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, cut after 400 characters.
    fn text(&self) -> String {
        let full = String::from_utf8_lossy(&self.body);
        let mut text: String = full.chars().take(400).collect();
        if text.len() < full.len() {
            text.push('…');
        }
        text.trim_end().to_owned()
    }
}

/// One request to send.
struct Req<'b> {
    method: &'static str,
    /// A path, or an absolute URL (an upload's `Location`).
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Option<&'b [u8]>,
    /// Whether it touches a blob: a `HEAD`, a mount, an upload's
    /// commit (the first one starts the push's grace period; starting an
    /// upload and sending its chunks do not).
    touch: bool,
}

impl<'b> Req<'b> {
    fn new(method: &'static str, target: String) -> Req<'b> {
        Req {
            method,
            target,
            headers: Vec::new(),
            body: None,
            touch: false,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Req<'b> {
        self.headers.push((name, value.into()));
        self
    }

    fn body(mut self, body: &'b [u8]) -> Req<'b> {
        self.body = Some(body);
        self
    }

    fn touch(mut self) -> Req<'b> {
        self.touch = true;
        self
    }
}

/// berth_testkit's client, but never reusing a connection idle for more
/// than 2 s: berth (actix-web) closes keep-alive connections idle for 5 s,
/// and a request sent on one just as it closes fails with "Peer
/// disconnected" before berth sees it. Real clients retry those; this
/// test would count them as failures.
fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .max_idle_age(Duration::from_secs(2))
        .build()
        .into()
}

/// Sends one request; a transport error is an `Err`.
fn send(agent: &ureq::Agent, url: &str, req: &Req<'_>) -> Result<Reply, String> {
    let mut builder = ureq::http::Request::builder().method(req.method).uri(url);
    for (name, value) in &req.headers {
        builder = builder.header(*name, value.as_str());
    }
    let result = match req.body {
        Some(body) => agent.run(builder.body(body).map_err(|e| e.to_string())?),
        None => agent.run(builder.body(()).map_err(|e| e.to_string())?),
    };
    let response = result.map_err(|e| format!("transport error: {e}"))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response
        .into_body()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .map_err(|e| format!("reading the body: {e}"))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Wall-clock time of day (UTC) to the millisecond, as the logs show it.
fn clock(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let s = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        since.subsec_millis()
    )
}

/// The requests of one push, pull or delete, for the report.
#[derive(Default)]
struct Trace {
    /// When its first blob request started.
    first: Option<Instant>,
    /// When its last request started.
    last: Option<Instant>,
    /// When the first request that failed started.
    failed: Option<Instant>,
    /// Each request: when it started, the wall clock then, what it was and
    /// what came back.
    lines: Vec<(Instant, String, String)>,
}

impl Trace {
    /// From the first blob request to the start of the last request (or
    /// of the first that failed).
    fn span(&self) -> Duration {
        match (self.first, self.failed.or(self.last)) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        }
    }

    /// Adds the requests of a part of the same push made in parallel.
    fn merge(&mut self, other: Trace) {
        let earliest = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.first = earliest(self.first, other.first);
        self.failed = earliest(self.failed, other.failed);
        self.last = self.last.max(other.last);
        self.lines.extend(other.lines);
    }

    /// The requests in order, each with its time from the first blob
    /// request.
    fn render(&self) -> Vec<String> {
        let mut lines: Vec<&(Instant, String, String)> = self.lines.iter().collect();
        lines.sort_by_key(|l| l.0);
        lines
            .into_iter()
            .map(|(at, wall, text)| {
                let offset = match self.first {
                    Some(first) if *at >= first => {
                        format!("+{}ms", at.duration_since(first).as_millis())
                    }
                    Some(first) => match first.duration_since(*at).as_millis() {
                        0 => "+0ms".to_owned(),
                        ms => format!("-{ms}ms"),
                    },
                    None => "-".to_owned(),
                };
                format!("{wall} {offset} {text}")
            })
            .collect()
    }
}

/// A load thread.
struct Worker<'a> {
    shared: &'a Shared,
    agent: ureq::Agent,
    rng: Rng,
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared, seed: u64) -> Worker<'a> {
        Worker {
            shared,
            agent: client(),
            rng: Rng::new(seed),
        }
    }

    fn node(&mut self) -> &'a Node {
        let shared: &'a Shared = self.shared;
        &shared.nodes[self.rng.below(shared.nodes.len())]
    }

    fn repo(&mut self) -> String {
        self.shared.repos[self.rng.below(self.shared.repos.len())].clone()
    }

    /// Sends `req` to `node`, recording it in `trace`.
    fn call(&mut self, trace: &mut Trace, node: &Node, req: Req<'_>) -> Result<Reply, String> {
        let started = Instant::now();
        if req.touch && trace.first.is_none() {
            trace.first = Some(started);
        }
        trace.last = Some(started);
        let url = if req.target.starts_with("http") {
            req.target.clone()
        } else {
            format!("{}{}", node.url, req.target)
        };
        let wall = clock(SystemTime::now());
        let result = send(&self.agent, &url, &req);
        let took = started.elapsed().as_millis();
        let path = shorten(url.strip_prefix(&node.url).unwrap_or(&url));
        let line = match &result {
            Ok(r) if r.status < 300 => format!(
                "{} {} {path} -> {} ({took} ms){}",
                node.name,
                req.method,
                r.status,
                r.header("docker-content-digest")
                    .map(|d| format!(" digest {d}"))
                    .unwrap_or_default()
            ),
            Ok(r) => format!(
                "{} {} {path} -> {} ({took} ms) {}",
                node.name,
                req.method,
                r.status,
                r.text()
            ),
            Err(e) => format!("{} {} {path} -> {e} ({took} ms)", node.name, req.method),
        };
        trace.lines.push((started, wall, line));
        // A short pause after each request, so that two debug builds
        // serving seven threads leave CPU for the tests around them.
        std::thread::sleep(Duration::from_millis(self.rng.between(5, 15)));
        result
    }
}

/// `target` without the value of its `_state` parameter (a long signed
/// token), for the report.
fn shorten(target: &str) -> String {
    match target.split_once("_state=") {
        Some((head, tail)) => {
            let rest = tail.find('&').map_or("", |at| &tail[at..]);
            format!("{head}_state=…{rest}")
        }
        None => target.to_owned(),
    }
}

/// `what` answered one of `statuses`, else an error saying what came.
fn expect(r: &Reply, statuses: &[u16], what: &str) -> Result<(), String> {
    if statuses.contains(&r.status) {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {statuses:?}, got {}: {}",
            r.status,
            r.text()
        ))
    }
}

fn expect_digest(r: &Reply, digest: &Digest, what: &str) -> Result<(), String> {
    match r.header("docker-content-digest") {
        Some(d) if d == digest.as_str() => Ok(()),
        other => Err(format!(
            "{what}: Docker-Content-Digest {other:?}, expected {digest}"
        )),
    }
}

fn location(r: &Reply, what: &str) -> Result<String, String> {
    r.header("location")
        .map(str::to_owned)
        .ok_or_else(|| format!("{what}: no Location"))
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

// --- pushes ------------------------------------------------------------------

/// Where a layer comes from.
enum Source {
    /// The image's config.
    Config,
    Fresh,
    Shared,
    /// A deleted image's blob of this repository: `HEAD`, upload if 404.
    Reuse,
    /// A blob of another repository: mount, upload if 202.
    Mount(String),
}

impl Worker<'_> {
    /// Uploads `blob` to `repo` on a random node: one `POST ?digest=`, a
    /// `POST` and a `PUT`, or a `POST`, two `PATCH`es and a `PUT`.
    fn upload(&mut self, trace: &mut Trace, repo: &str, blob: &Blob) -> Result<(), String> {
        let node = self.node();
        let d = &blob.digest;
        // Mostly the short ways: a push must fit in the grace period even
        // on a slow S3.
        let committed = match self.rng.below(10) {
            0..5 => {
                let r = self.call(
                    trace,
                    node,
                    Req::new("POST", format!("/v2/{repo}/blobs/uploads/?digest={d}"))
                        .header("Content-Type", "application/octet-stream")
                        .body(&blob.data)
                        .touch(),
                )?;
                expect(&r, &[201], &format!("monolithic POST of blob {d}"))?;
                r
            }
            5..8 => {
                let r = self.call(
                    trace,
                    node,
                    Req::new("POST", format!("/v2/{repo}/blobs/uploads/")),
                )?;
                expect(&r, &[202], "starting an upload")?;
                let at = location(&r, "starting an upload")?;
                let r = self.call(
                    trace,
                    node,
                    Req::new("PUT", with_digest(&at, d))
                        .header("Content-Type", "application/octet-stream")
                        .body(&blob.data)
                        .touch(),
                )?;
                expect(&r, &[201], &format!("PUT of blob {d}"))?;
                r
            }
            _ => {
                let r = self.call(
                    trace,
                    node,
                    Req::new("POST", format!("/v2/{repo}/blobs/uploads/")),
                )?;
                expect(&r, &[202], "starting a chunked upload")?;
                let mut at = location(&r, "starting a chunked upload")?;
                let half = blob.data.len() / 2;
                for (start, chunk) in [(0, &blob.data[..half]), (half, &blob.data[half..])] {
                    let r = self.call(
                        trace,
                        node,
                        Req::new("PATCH", at.clone())
                            .header("Content-Type", "application/octet-stream")
                            .header(
                                "Content-Range",
                                format!("{start}-{}", start + chunk.len() - 1),
                            )
                            .body(chunk),
                    )?;
                    expect(&r, &[202], &format!("PATCH of blob {d} at {start}"))?;
                    at = location(&r, "PATCH")?;
                }
                let r = self.call(
                    trace,
                    node,
                    Req::new("PUT", with_digest(&at, d)).body(&[]).touch(),
                )?;
                expect(&r, &[201], &format!("closing PUT of chunked blob {d}"))?;
                r
            }
        };
        expect_digest(&committed, d, &format!("upload of blob {d}"))
    }

    /// `HEAD` of `blob` in `repo`; uploads it if that answers 404.
    fn head_or_upload(&mut self, trace: &mut Trace, repo: &str, blob: &Blob) -> Result<(), String> {
        let node = self.node();
        let d = &blob.digest;
        let r = self.call(
            trace,
            node,
            Req::new("HEAD", format!("/v2/{repo}/blobs/{d}")).touch(),
        )?;
        match r.status {
            200 => {
                let length = r.header("content-length").unwrap_or("");
                if length != blob.data.len().to_string() {
                    return Err(format!(
                        "HEAD of blob {d}: Content-Length {length:?}, expected {}",
                        blob.data.len()
                    ));
                }
                expect_digest(&r, d, &format!("HEAD of blob {d}"))?;
                bump(&self.shared.counts.head_skips);
                Ok(())
            }
            404 => {
                bump(&self.shared.counts.head_uploads);
                self.upload(trace, repo, blob)
            }
            _ => Err(format!(
                "HEAD of blob {d}: expected 200 or 404, got {}",
                r.status
            )),
        }
    }

    /// Mounts `blob` from `from` into `repo`; uploads it if that answers
    /// 202.
    fn mount(
        &mut self,
        trace: &mut Trace,
        repo: &str,
        from: &str,
        blob: &Blob,
    ) -> Result<(), String> {
        let node = self.node();
        let d = &blob.digest;
        let r = self.call(
            trace,
            node,
            Req::new(
                "POST",
                format!("/v2/{repo}/blobs/uploads/?mount={d}&from={from}"),
            )
            .touch(),
        )?;
        match r.status {
            201 => {
                bump(&self.shared.counts.mounts);
                expect_digest(&r, d, &format!("mount of blob {d} from {from}"))
            }
            202 => {
                bump(&self.shared.counts.mount_fallbacks);
                let at = location(&r, "mount fall-back")?;
                let r = self.call(
                    trace,
                    node,
                    Req::new("PUT", with_digest(&at, d))
                        .header("Content-Type", "application/octet-stream")
                        .body(&blob.data)
                        .touch(),
                )?;
                expect(
                    &r,
                    &[201],
                    &format!("PUT of blob {d} after a mount answered 202"),
                )?;
                expect_digest(&r, d, &format!("PUT of blob {d} after a mount"))
            }
            _ => Err(format!(
                "mount of blob {d} from {from}: expected 201 or 202, got {}: {}",
                r.status,
                r.text()
            )),
        }
    }

    /// One blob of an image, as `source` says.
    fn blob(
        &mut self,
        trace: &mut Trace,
        repo: &str,
        blob: &Blob,
        source: &Source,
    ) -> Result<(), String> {
        match source {
            Source::Config => self.upload(trace, repo, blob),
            Source::Fresh => {
                bump(&self.shared.counts.fresh_uploads);
                self.upload(trace, repo, blob)
            }
            Source::Shared => {
                bump(&self.shared.counts.shared_uploads);
                self.head_or_upload(trace, repo, blob)
            }
            Source::Reuse => self.head_or_upload(trace, repo, blob),
            Source::Mount(from) => self.mount(trace, repo, from, blob),
        }
    }

    /// Pushes the blobs of a new image into `repo`; answers its manifest
    /// (not pushed yet). `part` is 0 for an image pushed by tag, 1 and 2
    /// for the images of an index.
    fn image(
        &mut self,
        trace: &mut Trace,
        repo: &str,
        id: u64,
        part: usize,
    ) -> Result<Pushed, String> {
        let salt = &self.shared.salt;
        let config = Blob::new(
            format!(
                "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Labels\":{{\"torture\":\"{salt}-{id}-{part}\"}}}}}}"
            )
            .into_bytes(),
        );
        let mut layers: Vec<(Blob, Source)> = Vec::new();
        // One to three layers; one or two for an index's images.
        for _ in 0..1 + self.rng.below(if part == 0 { 3 } else { 2 }) {
            let roll = self.rng.below(100);
            let chosen = if roll < 25 {
                let blob = self.shared.pool[self.rng.below(POOL)].clone();
                Some((blob, Source::Shared))
            } else if roll < 45 {
                let model = self.shared.model();
                let mine: Vec<&Blob> = model
                    .orphans
                    .iter()
                    .filter(|(r, _)| r == repo)
                    .map(|(_, b)| b)
                    .collect();
                (!mine.is_empty())
                    .then(|| (mine[self.rng.below(mine.len())].clone(), Source::Reuse))
            } else if roll < 60 {
                // From another repository: half the time a blob of a
                // deleted image there (which a collection may be removing).
                let model = self.shared.model();
                let list = if self.rng.chance(50) {
                    &model.orphans
                } else {
                    &model.recent
                };
                let others: Vec<&(String, Blob)> = list.iter().filter(|(r, _)| r != repo).collect();
                (!others.is_empty()).then(|| {
                    let (from, blob) = others[self.rng.below(others.len())];
                    (blob.clone(), Source::Mount(from.clone()))
                })
            } else {
                None
            };
            let chosen = match chosen {
                Some((blob, _)) if layers.iter().any(|(b, _)| b.digest == blob.digest) => None,
                other => other,
            };
            let chosen = chosen.unwrap_or_else(|| {
                let len = self.rng.between(200, 4096) as usize;
                (Blob::new(self.rng.bytes(len)), Source::Fresh)
            });
            layers.push(chosen);
        }
        // The blobs in parallel, as clients push them, each on its own
        // node.
        let jobs: Vec<(&Blob, &Source)> = layers
            .iter()
            .map(|(b, s)| (b, s))
            .chain([(&config, &Source::Config)])
            .collect();
        let seeds: Vec<u64> = jobs.iter().map(|_| self.rng.next()).collect();
        let shared = self.shared;
        let done: Vec<(Result<(), String>, Trace)> = std::thread::scope(|scope| {
            let running: Vec<_> = jobs
                .iter()
                .zip(seeds)
                .map(|(&(blob, source), seed)| {
                    let mut worker = Worker {
                        shared,
                        agent: self.agent.clone(),
                        rng: Rng::new(seed),
                    };
                    let first = trace.first;
                    scope.spawn(move || {
                        let mut part = Trace {
                            first,
                            ..Trace::default()
                        };
                        let result = worker.blob(&mut part, repo, blob, source);
                        if result.is_err() {
                            part.failed = part.last;
                        }
                        (result, part)
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|r| r.join().expect("a blob upload thread panicked"))
                .collect()
        });
        let mut failure: Option<(Instant, String)> = None;
        for (result, part) in done {
            if let Err(e) = result {
                let at = part.failed.unwrap_or_else(Instant::now);
                if failure.as_ref().is_none_or(|(t, _)| at < *t) {
                    failure = Some((at, e));
                }
            }
            trace.merge(part);
        }
        if let Some((_, e)) = failure {
            return Err(e);
        }
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.data.len()},
            "layers": layers
                .iter()
                .map(|(b, _)| json!({"mediaType": OCI_LAYER, "digest": b.digest, "size": b.data.len()}))
                .collect::<Vec<_>>(),
        }))
        .unwrap();
        let mut blobs = vec![config];
        blobs.extend(layers.into_iter().map(|(b, _)| b));
        Ok(Pushed {
            digest: Digest::sha256(&body),
            body: Arc::new(body),
            blobs,
        })
    }

    /// `PUT`s a manifest under `reference` (a tag or its digest); answers
    /// the node that acknowledged it, and when.
    fn put_manifest(
        &mut self,
        trace: &mut Trace,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: &Pushed,
    ) -> Result<String, String> {
        let node = self.node();
        let r = self.call(
            trace,
            node,
            Req::new("PUT", format!("/v2/{repo}/manifests/{reference}"))
                .header("Content-Type", media_type)
                .body(&manifest.body),
        )?;
        let what = format!("manifest PUT {repo}:{reference}");
        expect(&r, &[201], &what)?;
        expect_digest(&r, &manifest.digest, &what)?;
        Ok(format!("by {} at {}", node.name, clock(SystemTime::now())))
    }

    /// A tag for push `id` in `repo`: a new one, or sometimes (mostly,
    /// when many images are live) an existing one, whose image is then
    /// marked as going.
    fn choose_tag(&mut self, repo: &str, id: u64) -> (String, Option<u64>) {
        let shared = self.shared;
        let mut model = shared.model();
        let percent = if model.live.len() > LIVE_CAP { 100 } else { 15 };
        if self.rng.chance(percent) {
            let candidates: Vec<usize> = model
                .live
                .iter()
                .enumerate()
                .filter(|(_, i)| i.repo == repo && !model.going.contains(&i.id))
                .map(|(n, _)| n)
                .collect();
            if !candidates.is_empty() {
                let old = &model.live[candidates[self.rng.below(candidates.len())]];
                let (old_id, tag) = (old.id, old.tag.clone());
                let why = format!("re-tagged by push #{id} from {}", clock(SystemTime::now()));
                model.going.insert(old_id);
                model.went.insert(old_id, why);
                return (tag, Some(old_id));
            }
        }
        (format!("t{id}"), None)
    }

    fn push_single(
        &mut self,
        trace: &mut Trace,
        id: u64,
        repo: &str,
    ) -> Result<(Image, Option<u64>), String> {
        let top = self.image(trace, repo, id, 0)?;
        let (tag, replaced) = self.choose_tag(repo, id);
        let acknowledged = self.put_manifest(trace, repo, &tag, OCI_MANIFEST, &top)?;
        Ok((
            Image {
                id,
                repo: repo.to_owned(),
                tag,
                top,
                children: Vec::new(),
                acknowledged,
            },
            replaced,
        ))
    }

    /// Two image manifests by digest, then an index of them by tag.
    fn push_index(
        &mut self,
        trace: &mut Trace,
        id: u64,
        repo: &str,
    ) -> Result<(Image, Option<u64>), String> {
        let mut children = Vec::new();
        for part in 1..=2 {
            let child = self.image(trace, repo, id, part)?;
            self.put_manifest(trace, repo, child.digest.as_str(), OCI_MANIFEST, &child)?;
            children.push(child);
        }
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": children
                .iter()
                .zip(["amd64", "arm64"])
                .map(|(c, arch)| json!({
                    "mediaType": OCI_MANIFEST,
                    "digest": c.digest,
                    "size": c.body.len(),
                    "platform": {"architecture": arch, "os": "linux"},
                }))
                .collect::<Vec<_>>(),
        }))
        .unwrap();
        let top = Pushed {
            digest: Digest::sha256(&body),
            body: Arc::new(body),
            blobs: Vec::new(),
        };
        let (tag, replaced) = self.choose_tag(repo, id);
        let acknowledged = self.put_manifest(trace, repo, &tag, OCI_INDEX, &top)?;
        Ok((
            Image {
                id,
                repo: repo.to_owned(),
                tag,
                top,
                children,
                acknowledged,
            },
            replaced,
        ))
    }

    fn pusher(mut self) {
        let shared = self.shared;
        while !shared.stopped() {
            let id = shared.next_id();
            let repo = self.repo();
            let index = self.rng.chance(15);
            let mut trace = Trace::default();
            let result = if index {
                self.push_index(&mut trace, id, &repo)
            } else {
                self.push_single(&mut trace, id, &repo)
            };
            match result {
                Ok((image, replaced)) => {
                    bump(&shared.counts.pushes);
                    if index {
                        bump(&shared.counts.index_pushes);
                    }
                    if trace.span() >= shared.delay {
                        bump(&shared.counts.slow_pushes);
                    }
                    shared.slow(&trace, || format!("push #{id} ({})", image.describe()));
                    let mut model = shared.model();
                    if let Some(old) = replaced {
                        bump(&shared.counts.retags);
                        model.gone(old);
                    }
                    for blob in image.blobs() {
                        Model::remember(&mut model.recent, &image.repo, blob);
                    }
                    model.live.push(image);
                }
                Err(error) => {
                    let span = trace.span();
                    let kind = if span < shared.delay {
                        Kind::PushWithinDelay
                    } else {
                        Kind::PushOutsideDelay
                    };
                    let what = format!(
                        "push #{id} ({}) to {repo}, failing {} ms after its first blob request",
                        if index { "an index" } else { "an image" },
                        span.as_millis()
                    );
                    shared.fail(kind, what, error, trace);
                }
            }
            // About 15 pushes a second in all on the filesystem: enough
            // to keep every collection busy, and the two debug builds well
            // below two cores.
            let pause = self.rng.between(100, 200);
            shared.pause(pause);
        }
    }
}

// --- pulls and deletes -------------------------------------------------------

impl Worker<'_> {
    /// A random live image nobody is removing.
    fn pick_live(&mut self) -> Option<Image> {
        let shared = self.shared;
        let model = shared.model();
        let candidates: Vec<&Image> = model
            .live
            .iter()
            .filter(|i| !model.going.contains(&i.id))
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.below(candidates.len())].clone())
    }

    /// Pulls `image` by tag, each request on a random node, checking every
    /// digest.
    fn pull(&mut self, trace: &mut Trace, image: &Image) -> Result<(), String> {
        let repo = &image.repo;
        let node = self.node();
        let r = self.call(
            trace,
            node,
            Req::new("GET", format!("/v2/{repo}/manifests/{}", image.tag)).header("Accept", ACCEPT),
        )?;
        let what = format!("GET manifest {repo}:{}", image.tag);
        expect(&r, &[200], &what)?;
        expect_digest(&r, &image.top.digest, &what)?;
        if r.body != *image.top.body {
            return Err(format!("{what}: not the manifest pushed"));
        }
        for child in &image.children {
            let node = self.node();
            let r = self.call(
                trace,
                node,
                Req::new("GET", format!("/v2/{repo}/manifests/{}", child.digest))
                    .header("Accept", ACCEPT),
            )?;
            let what = format!("GET child manifest {repo}@{}", child.digest);
            expect(&r, &[200], &what)?;
            if Digest::sha256(&r.body) != child.digest {
                return Err(format!("{what}: the body has another digest"));
            }
        }
        for blob in image.blobs() {
            let node = self.node();
            let r = self.call(
                trace,
                node,
                Req::new("GET", format!("/v2/{repo}/blobs/{}", blob.digest)),
            )?;
            let what = format!("GET blob {repo}@{}", blob.digest);
            expect(&r, &[200], &what)?;
            let got = Digest::sha256(&r.body);
            if got != blob.digest {
                return Err(format!(
                    "{what}: {} bytes whose digest is {got}",
                    r.body.len()
                ));
            }
            bump(&self.shared.counts.blobs_verified);
        }
        Ok(())
    }

    fn puller(mut self) {
        let shared = self.shared;
        while !shared.stopped() {
            let Some(image) = self.pick_live() else {
                shared.pause(100);
                continue;
            };
            let mut trace = Trace::default();
            match self.pull(&mut trace, &image) {
                Ok(()) => bump(&shared.counts.pulls),
                Err(error) => {
                    let went = shared.model().went.get(&image.id).cloned();
                    match went {
                        Some(_) => bump(&shared.counts.pulls_excused),
                        None => shared.fail(
                            Kind::Pull,
                            format!("pull of {}", image.describe()),
                            error,
                            trace,
                        ),
                    }
                }
            }
            let pause = self.rng.between(50, 100);
            shared.pause(pause);
        }
    }

    /// Every half second or so, deletes a random image by digest.
    fn deleter(mut self) {
        let shared = self.shared;
        while !shared.stopped() {
            let pause = self.rng.between(400, 600);
            shared.pause(pause);
            if shared.stopped() {
                break;
            }
            let image = {
                let mut model = shared.model();
                let candidates: Vec<usize> = model
                    .live
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| !model.going.contains(&i.id))
                    .map(|(n, _)| n)
                    .collect();
                if candidates.len() < 10 {
                    continue;
                }
                let image = model.live[candidates[self.rng.below(candidates.len())]].clone();
                model.going.insert(image.id);
                let why = format!("deleted from {}", clock(SystemTime::now()));
                model.went.insert(image.id, why);
                image
            };
            let mut trace = Trace::default();
            let node = self.node();
            let result = self.call(
                &mut trace,
                node,
                Req::new(
                    "DELETE",
                    format!("/v2/{}/manifests/{}", image.repo, image.top.digest),
                ),
            );
            match result.and_then(|r| expect(&r, &[202], "DELETE")) {
                Ok(()) => {
                    bump(&shared.counts.deletes);
                    shared.model().gone(image.id);
                }
                Err(error) => shared.fail(
                    Kind::Delete,
                    format!("delete of {}", image.describe()),
                    error,
                    trace,
                ),
            }
        }
    }
}

// --- the run -----------------------------------------------------------------

fn torture(label: &str, delay: Duration, servers: &[Berth], nodes: Vec<Node>, stored: &Stored) {
    let secs: u64 = std::env::var("BERTH_GC_TORTURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let seed = common::seed_from_env(
        "BERTH_GC_TORTURE_SEED",
        &format!("gc torture ({label}): {secs} s of load"),
    );
    let mut rng = Rng::new(seed);
    // Contents unique to this run, so that a shared Redis holds nothing
    // of other runs' blobs.
    let salt = format!("{:016x}", rng.next());
    let space = &salt[..8];
    let shared = Shared {
        delay,
        repos: (0..REPOSITORIES)
            .map(|n| format!("torture-{space}/app{n}"))
            .collect(),
        pool: (0..POOL)
            .map(|n| {
                let mut data = format!("shared layer {n} of {salt}\n").into_bytes();
                let len = rng.between(300, 3000) as usize;
                data.extend(rng.bytes(len));
                Blob::new(data)
            })
            .collect(),
        salt,
        nodes,
        stop: AtomicBool::new(false),
        model: Mutex::new(Model::default()),
        counts: Counts::default(),
        failures: Mutex::new(Vec::new()),
        slowest: Mutex::new(Vec::new()),
    };

    let load_started = Instant::now();
    std::thread::scope(|scope| {
        let shared = &shared;
        for n in 0..PUSHERS + PULLERS + 1 {
            let seed = seed ^ (n as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            scope.spawn(move || {
                let worker = Worker::new(shared, seed);
                if n < PUSHERS {
                    worker.pusher();
                } else if n < PUSHERS + PULLERS {
                    worker.puller();
                } else {
                    worker.deleter();
                }
            });
        }
        let deadline = load_started + Duration::from_secs(secs);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        shared.stop.store(true, Ordering::SeqCst);
    });
    let load_took = load_started.elapsed();

    let mut problems: Vec<String> = Vec::new();
    let agent = client();

    // Quiescence: two collections that began after every marker of the
    // load has left their window.
    std::thread::sleep(delay + refresh(delay) + Duration::from_secs(1));
    let completed = |problems: &mut Vec<String>| -> f64 {
        shared
            .nodes
            .iter()
            .map(|n| match scrape(&agent, n) {
                Ok(s) => sample(&s, "berth_gc_runs_total", Some(("result", "removed"))),
                Err(e) => {
                    problems.push(e);
                    0.0
                }
            })
            .sum()
    };
    let base = completed(&mut problems);
    let waited = Instant::now();
    let mut quiet = false;
    while waited.elapsed() < Duration::from_secs(60) {
        if completed(&mut problems) >= base + 2.0 {
            quiet = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    if !quiet {
        problems.push(format!(
            "quiescence: fewer than 2 collections completed (result=\"removed\") on the two nodes \
             within 60 s after the load stopped and the grace period passed ({} before, {} after)",
            base,
            completed(&mut Vec::new())
        ));
    }
    let quiet_after = waited.elapsed();

    // What the tags reach, through the API of the first node.
    let api = &shared.nodes[0];
    let live = match live_set(&agent, api) {
        Ok(live) => live,
        Err(e) => {
            problems.push(format!("listing the live set through {}: {e}", api.name));
            LiveSet::default()
        }
    };
    problems.extend(live.errors.iter().cloned());
    // What the storage holds.
    let stored_blobs = match stored {
        Stored::Filesystem(root) => stored_on_filesystem(root),
        Stored::S3 { s3, root } => stored_on_s3(s3, root),
    };
    let stored_blobs = stored_blobs.unwrap_or_else(|e| {
        problems.push(format!("listing the blobs in storage: {e}"));
        BTreeSet::new()
    });
    let lost: Vec<&String> = live.digests.difference(&stored_blobs).collect();
    let kept: Vec<&String> = stored_blobs.difference(&live.digests).collect();
    if !lost.is_empty() {
        problems.push(format!(
            "{} blobs that tags reach are missing from storage: {}",
            lost.len(),
            lost.iter()
                .take(20)
                .map(|d| format!("{d} ({})", live.who.get(*d).map_or("?", String::as_str)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !kept.is_empty() && quiet {
        problems.push(format!(
            "{} blobs no tag reaches are still in storage after two collections past the grace period: {}",
            kept.len(),
            kept.iter()
                .take(20)
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // Every tag pulls, from both nodes.
    let mut pulled = 0;
    for (reference, digests) in &live.tags {
        let (repo, tag) = reference.split_once(':').unwrap_or_default();
        for node in &shared.nodes {
            let url = format!("{}/v2/{repo}/manifests/{tag}", node.url);
            let expected = live.manifests.get(reference).map_or("", String::as_str);
            match send(&agent, &url, &Req::new("GET", String::new()).header("Accept", ACCEPT)) {
                Ok(r) if r.status == 200 && Digest::sha256(&r.body).as_str() == expected => {}
                Ok(r) => problems.push(format!(
                    "final pull of {reference} from {}: GET manifest answered {} (digest {}, {expected} from {}): {}",
                    node.name,
                    r.status,
                    Digest::sha256(&r.body),
                    api.name,
                    r.text()
                )),
                Err(e) => problems.push(format!(
                    "final pull of {reference} from {}: GET manifest: {e}",
                    node.name
                )),
            }
            for digest in digests {
                let url = format!("{}/v2/{repo}/blobs/{digest}", node.url);
                match send(&agent, &url, &Req::new("GET", String::new())) {
                    Ok(r) if r.status == 200 && Digest::sha256(&r.body).as_str() == digest => {
                        pulled += 1
                    }
                    Ok(r) => problems.push(format!(
                        "final pull of {reference} from {}: GET blob {digest} answered {} with {} bytes (digest {}): {}",
                        node.name,
                        r.status,
                        r.body.len(),
                        Digest::sha256(&r.body),
                        if r.status == 200 { String::new() } else { r.text() }
                    )),
                    Err(e) => problems.push(format!(
                        "final pull of {reference} from {}: GET blob {digest}: {e}",
                        node.name
                    )),
                }
            }
        }
    }
    // Every image the load believes live is tagged as it was pushed.
    let model = shared.model();
    let mut model_lost = 0;
    for image in model.live.iter().filter(|i| !model.going.contains(&i.id)) {
        let reference = format!("{}:{}", image.repo, image.tag);
        match live.manifests.get(&reference) {
            Some(d) if d == image.top.digest.as_str() => {}
            other => {
                model_lost += 1;
                if model_lost <= 20 {
                    problems.push(format!(
                        "acknowledged and never deleted or re-tagged, but {} at the end: {}",
                        other.map_or("its tag is gone".to_owned(), |d| format!(
                            "the tag names {d}"
                        )),
                        image.describe()
                    ));
                }
            }
        }
    }
    let model_live = model.live.len();
    drop(model);
    // One run removes at a time, across the nodes.
    let phases = removal_phases(&shared.nodes);
    for overlap in overlapping(&phases) {
        problems.push(format!("two collections removed at once: {overlap}"));
    }

    // The numbers.
    let failures = std::mem::take(
        &mut *shared
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let of = |kind: Kind| failures.iter().filter(|f| f.kind == kind).count();
    let c = &shared.counts;
    let mut report = String::new();
    let _ = writeln!(
        report,
        "gc torture ({label}): {:.0} s of load (seed {seed})",
        load_took.as_secs_f64()
    );
    let _ = writeln!(
        report,
        "  pushes: {} acknowledged ({} indexes, {} re-tags), {} took longer than the delay; \
         failed: {} within the delay, {} outside it",
        count(&c.pushes),
        count(&c.index_pushes),
        count(&c.retags),
        count(&c.slow_pushes),
        of(Kind::PushWithinDelay),
        of(Kind::PushOutsideDelay)
    );
    let _ = writeln!(
        report,
        "  layers: {} fresh, {} from the shared pool; {} HEAD-then-skip, {} HEAD 404 then upload; \
         {} mounted, {} mounts answered 202 then upload",
        count(&c.fresh_uploads),
        count(&c.shared_uploads),
        count(&c.head_skips),
        count(&c.head_uploads),
        count(&c.mounts),
        count(&c.mount_fallbacks)
    );
    let _ = writeln!(
        report,
        "  pulls: {} complete ({} blobs verified), {} failed on images deleted or re-tagged meanwhile, {} failed",
        count(&c.pulls),
        count(&c.blobs_verified),
        count(&c.pulls_excused),
        of(Kind::Pull)
    );
    let _ = writeln!(
        report,
        "  deletes: {} ({} failed)",
        count(&c.deletes),
        of(Kind::Delete)
    );
    for node in &shared.nodes {
        match scrape(&agent, node) {
            Ok(s) => {
                let runs = |result| sample(&s, "berth_gc_runs_total", Some(("result", result)));
                let _ = writeln!(
                    report,
                    "  {}: collections completed {}, busy {}, failed {}; removed {} blobs, {} manifests, {} bytes",
                    node.name,
                    runs("removed"),
                    runs("busy"),
                    runs("failed"),
                    sample(&s, "berth_gc_blobs_removed_total", None),
                    sample(&s, "berth_gc_manifests_removed_total", None),
                    sample(&s, "berth_gc_bytes_removed_total", None),
                );
            }
            Err(e) => problems.push(e),
        }
        let log = std::fs::read_to_string(&node.log).unwrap_or_default();
        let failed: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("garbage collection failed") || l.contains(" ERROR "))
            .collect();
        if !failed.is_empty() {
            let _ = writeln!(
                report,
                "  {}: {} failed collections or errors in the log, the first: {}",
                node.name,
                failed.len(),
                failed
                    .iter()
                    .take(5)
                    .copied()
                    .collect::<Vec<_>>()
                    .join("\n    ")
            );
        }
    }
    let _ = writeln!(
        report,
        "  collections that removed something: {} (on {})",
        phases.len(),
        shared
            .nodes
            .iter()
            .map(|n| format!(
                "{} {}",
                n.name,
                phases.iter().filter(|p| p.2 == n.name).count()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        report,
        "  end: {} repositories, {} tags ({} images live in the model), {} blobs reached, {} stored, \
         {} blob GETs verified on both nodes; quiescent after {:.1} s more",
        live.repositories,
        live.tags.len(),
        model_live,
        live.digests.len(),
        stored_blobs.len(),
        pulled,
        quiet_after.as_secs_f64()
    );
    let slowest = std::mem::take(
        &mut *shared
            .slowest
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    for (span, what, trace) in &slowest {
        let _ = writeln!(
            report,
            "  a slow push: {} ms from its first blob request to its manifest PUT: {what}\n    {}",
            span.as_millis(),
            trace.join("\n    ")
        );
    }
    println!("{report}");

    // The load's failures first.
    let mut load_problems: Vec<String> = failures
        .iter()
        .filter(|f| f.kind != Kind::PushOutsideDelay)
        .map(|f| format!("{:?}: {}: {}", f.kind, f.what, f.error))
        .collect();
    load_problems.append(&mut problems);
    let problems = load_problems;
    if problems.is_empty() && failures.is_empty() {
        return;
    }

    // Details: each failure's requests and the log lines naming its
    // digests; the logs kept.
    let mut details = String::new();
    for f in failures.iter().take(8) {
        let _ = writeln!(details, "\n{:?}: {}\n  error: {}", f.kind, f.what, f.error);
        for line in &f.trace {
            let _ = writeln!(details, "  {line}");
        }
        let mut text = f.trace.join("\n");
        text.push_str(&f.error);
        text.push_str(&f.what);
        let digests = digests_in(&text);
        details.push_str(&log_lines(&shared.nodes, &digests, 40));
    }
    if !lost.is_empty() {
        let digests: BTreeSet<String> = lost.iter().take(3).map(|d| (*d).clone()).collect();
        let _ = writeln!(details, "\nlog lines of the first blobs lost:");
        details.push_str(&log_lines(&shared.nodes, &digests, 40));
    }
    if !kept.is_empty() && quiet {
        let digests: BTreeSet<String> = kept.iter().take(3).map(|d| (*d).clone()).collect();
        let _ = writeln!(details, "\nlog lines of the first blobs kept:");
        details.push_str(&log_lines(&shared.nodes, &digests, 40));
    }
    let kept_logs = keep_logs(label, servers);
    if problems.is_empty() {
        println!(
            "pushes that failed outside the grace period (not covered by the contract):{details}\nlogs: {kept_logs}"
        );
        return;
    }
    panic!(
        "gc torture ({label}) found {} problems (seed {seed}):\n- {}\n\n{report}{details}\nlogs: {kept_logs}",
        problems.len(),
        problems.join("\n- ")
    );
}

// --- metrics and logs ----------------------------------------------------------

fn scrape(agent: &ureq::Agent, node: &Node) -> Result<prometheus_parse::Scrape, String> {
    let url = format!("http://127.0.0.1:{}/metrics", node.debug_port);
    let r = send(agent, &url, &Req::new("GET", String::new()))
        .map_err(|e| format!("{} /metrics: {e}", node.name))?;
    if r.status != 200 {
        return Err(format!(
            "{} /metrics: {}: {}",
            node.name,
            r.status,
            r.text()
        ));
    }
    let text = String::from_utf8_lossy(&r.body).into_owned();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .map_err(|e| format!("{} /metrics does not parse: {e}", node.name))
}

fn sample(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum::<f64>()
        // An empty sum is -0.
        + 0.0
}

/// The removal phases of the nodes' collections, from their logs: from
/// "announced the removals" to the run's end ("done", "failed" or
/// "skipped"), as (start, end, node) with the log's RFC 3339 timestamps
/// (UTC, fixed width, so they compare as strings).
fn removal_phases(nodes: &[Node]) -> Vec<(String, String, String)> {
    let mut phases = Vec::new();
    for node in nodes {
        let log = std::fs::read_to_string(&node.log).unwrap_or_default();
        let mut open: Option<String> = None;
        for line in log.lines() {
            let at = line.split_whitespace().next().unwrap_or_default();
            if line.contains("garbage collection: announced the removals") {
                open = Some(at.to_owned());
            } else if (line.contains("garbage collection done")
                || line.contains("garbage collection failed")
                || line.contains("garbage collection skipped"))
                && let Some(start) = open.take()
            {
                phases.push((start, at.to_owned(), node.name.clone()));
            }
        }
        if let Some(start) = open {
            phases.push((start, "~ still running".to_owned(), node.name.clone()));
        }
    }
    phases.sort();
    phases
}

/// Pairs of removal phases of different nodes that overlap in time.
fn overlapping(phases: &[(String, String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (n, a) in phases.iter().enumerate() {
        for b in &phases[n + 1..] {
            // Sorted by start: b starts at or after a; they overlap if b
            // starts before a ends.
            if b.0 < a.1 && a.2 != b.2 {
                out.push(format!(
                    "{} removed from {} to {} while {} removed from {} to {}",
                    a.2, a.0, a.1, b.2, b.0, b.1
                ));
            }
        }
    }
    out
}

/// The `sha256:<hex>` digests in `text`.
fn digests_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("sha256:") {
        let hex: String = rest[at + 7..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if hex.len() == 64 {
            out.insert(format!("sha256:{hex}"));
        }
        rest = &rest[at + 7..];
    }
    out
}

/// The lines of the nodes' logs that name one of `digests` (at most
/// `limit` a node), and the collections' summary lines among them.
fn log_lines(nodes: &[Node], digests: &BTreeSet<String>, limit: usize) -> String {
    let mut out = String::new();
    if digests.is_empty() {
        return out;
    }
    let hexes: Vec<&str> = digests.iter().map(|d| &d[7..]).collect();
    for node in nodes {
        let log = std::fs::read_to_string(&node.log).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| hexes.iter().any(|h| l.contains(h)))
            .collect();
        let _ = writeln!(
            out,
            "  {} log, {} lines naming {} digests{}:",
            node.name,
            lines.len(),
            digests.len(),
            if lines.len() > limit {
                format!(" (the last {limit})")
            } else {
                String::new()
            }
        );
        for line in &lines[lines.len().saturating_sub(limit)..] {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

/// Copies the nodes' logs under the target's temporary directory.
fn keep_logs(label: &str, servers: &[Berth]) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "gc-torture-{}-{}",
        label.replace('+', "-"),
        std::process::id()
    ));
    let _ = std::fs::create_dir_all(&dir);
    let mut kept = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        let to = dir.join(format!("node-{}.log", ["a", "b"].get(n).unwrap_or(&"x")));
        if std::fs::copy(&server.log, &to).is_ok() {
            kept.push(to.display().to_string());
        }
    }
    kept.join(", ")
}

// --- the end state -------------------------------------------------------------

/// What the tags reach, read through the API.
#[derive(Default)]
struct LiveSet {
    repositories: usize,
    /// Every digest reached: manifests, index children, configs, layers.
    digests: BTreeSet<String>,
    /// For each digest, a tag that reaches it.
    who: HashMap<String, String>,
    /// `repo:tag` -> the blobs to pull.
    tags: BTreeMap<String, Vec<String>>,
    /// `repo:tag` -> its manifest's digest.
    manifests: HashMap<String, String>,
    /// The tags that did not pull (what they reach may be missing above).
    errors: Vec<String>,
}

fn get_json(agent: &ureq::Agent, url: &str) -> Result<(Reply, Value), String> {
    let r = send(
        agent,
        url,
        &Req::new("GET", String::new()).header("Accept", ACCEPT),
    )?;
    if r.status != 200 {
        return Err(format!("GET {url}: {}: {}", r.status, r.text()));
    }
    let value = serde_json::from_slice(&r.body)
        .map_err(|e| format!("GET {url}: not JSON ({e}): {}", r.text()))?;
    Ok((r, value))
}

fn live_set(agent: &ureq::Agent, node: &Node) -> Result<LiveSet, String> {
    let mut live = LiveSet::default();
    let mut repos = Vec::new();
    let mut next = Some(format!("{}/v2/_catalog?n=1000", node.url));
    while let Some(url) = next.take() {
        let (r, catalog) = get_json(agent, &url)?;
        for repo in catalog["repositories"].as_array().into_iter().flatten() {
            repos.push(repo.as_str().unwrap_or_default().to_owned());
        }
        next = r.header("link").and_then(|l| {
            let inner = l.split_once('<')?.1.split_once('>')?.0;
            Some(if inner.starts_with("http") {
                inner.to_owned()
            } else {
                format!("{}{inner}", node.url)
            })
        });
    }
    live.repositories = repos.len();
    for repo in &repos {
        let url = format!("{}/v2/{repo}/tags/list", node.url);
        let r = send(agent, &url, &Req::new("GET", String::new()))?;
        let tags: Vec<String> = match r.status {
            200 => serde_json::from_slice::<Value>(&r.body)
                .map_err(|e| format!("GET {url}: {e}"))?["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            404 => Vec::new(),
            _ => return Err(format!("GET {url}: {}: {}", r.status, r.text())),
        };
        for tag in tags {
            if let Err(e) = reach_tag(agent, node, repo, &tag, &mut live) {
                live.errors.push(format!(
                    "tag {repo}:{tag} does not pull from {}: {e}",
                    node.name
                ));
            }
        }
    }
    Ok(live)
}

/// Adds what `repo:tag` reaches to `live`.
fn reach_tag(
    agent: &ureq::Agent,
    node: &Node,
    repo: &str,
    tag: &str,
    live: &mut LiveSet,
) -> Result<(), String> {
    let reference = format!("{repo}:{tag}");
    let (r, manifest) = get_json(agent, &format!("{}/v2/{repo}/manifests/{tag}", node.url))?;
    let digest = Digest::sha256(&r.body).to_string();
    if r.header("docker-content-digest") != Some(digest.as_str()) {
        return Err(format!(
            "Docker-Content-Digest {:?} but the body's digest is {digest}",
            r.header("docker-content-digest")
        ));
    }
    let reach = |d: &str, live: &mut LiveSet| {
        live.digests.insert(d.to_owned());
        live.who
            .entry(d.to_owned())
            .or_insert_with(|| reference.clone());
    };
    reach(&digest, live);
    live.manifests.insert(reference.clone(), digest.clone());
    let mut images = vec![manifest.clone()];
    for child in manifest["manifests"].as_array().into_iter().flatten() {
        let child = child["digest"].as_str().unwrap_or_default().to_owned();
        reach(&child, live);
        let (r, body) = get_json(agent, &format!("{}/v2/{repo}/manifests/{child}", node.url))
            .map_err(|e| format!("child {child}: {e}"))?;
        if Digest::sha256(&r.body).as_str() != child {
            return Err(format!("child {child}: another body"));
        }
        images.push(body);
    }
    let mut blobs = Vec::new();
    for image in &images {
        let config = image["config"]["digest"].as_str();
        let layers = image["layers"].as_array().into_iter().flatten();
        for d in config
            .into_iter()
            .chain(layers.filter_map(|l| l["digest"].as_str()))
        {
            reach(d, live);
            blobs.push(d.to_owned());
        }
    }
    live.tags.insert(reference, blobs);
    Ok(())
}

/// The blobs under `<root>/docker/registry/v2/blobs` on the filesystem.
fn stored_on_filesystem(root: &Path) -> Result<BTreeSet<String>, String> {
    let dir = root.join("docker/registry/v2/blobs/sha256");
    let mut out = BTreeSet::new();
    if !dir.exists() {
        return Ok(out);
    }
    let entries = |p: &Path| std::fs::read_dir(p).map_err(|e| format!("{}: {e}", p.display()));
    for prefix in entries(&dir)? {
        let prefix = prefix.map_err(|e| e.to_string())?.path();
        for blob in entries(&prefix)? {
            let blob = blob.map_err(|e| e.to_string())?.path();
            if blob.join("data").is_file() {
                let hex = blob.file_name().unwrap_or_default().to_string_lossy();
                out.insert(format!("sha256:{hex}"));
            }
        }
    }
    Ok(out)
}

/// The blobs under `<root>/docker/registry/v2/blobs` in the bucket: a
/// signed (SigV4) ListObjectsV2, page by page.
fn stored_on_s3(s3: &S3Env, root: &str) -> Result<BTreeSet<String>, String> {
    let prefix = format!("{}/docker/registry/v2/blobs/", root.trim_matches('/'));
    let agent = client();
    let host = s3
        .endpoint
        .split_once("://")
        .map_or(s3.endpoint.as_str(), |(_, h)| h)
        .trim_end_matches('/')
        .to_owned();
    let mut out = BTreeSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![
            ("list-type".to_owned(), "2".to_owned()),
            ("prefix".to_owned(), prefix.clone()),
        ];
        if let Some(t) = &token {
            params.push(("continuation-token".to_owned(), t.clone()));
        }
        params.sort();
        let query = params
            .iter()
            .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let path = format!("/{}", uri_encode(&s3.bucket));
        let headers = sigv4_headers(s3, &host, "GET", &path, &query);
        let mut req = Req::new("GET", String::new());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let url = format!("{}{path}?{query}", s3.endpoint.trim_end_matches('/'));
        let r = send(&agent, &url, &req)?;
        if r.status != 200 {
            return Err(format!("ListObjectsV2 {url}: {}: {}", r.status, r.text()));
        }
        let xml = String::from_utf8_lossy(&r.body).into_owned();
        for key in xml_values(&xml, "Key") {
            let rest = key.strip_prefix(&prefix).unwrap_or(&key);
            let parts: Vec<&str> = rest.split('/').collect();
            if let ["sha256", _, hex, "data"] = parts[..] {
                out.insert(format!("sha256:{hex}"));
            }
        }
        let truncated = xml_values(&xml, "IsTruncated").first().map(String::as_str) == Some("true");
        token = xml_values(&xml, "NextContinuationToken").into_iter().next();
        if !truncated || token.is_none() {
            return Ok(out);
        }
    }
}

/// The text of every `<tag>…</tag>` in `xml`, unescaped.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        rest = &rest[at + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(
            rest[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &rest[end..];
    }
    out
}

/// RFC 3986 percent-encoding of everything but the unreserved characters,
/// as SigV4 wants it.
fn uri_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn sha256_raw(data: &[u8]) -> Vec<u8> {
    Digest::sha256(data).to_raw()
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = if key.len() > 64 {
        sha256_raw(key)
    } else {
        key.to_vec()
    };
    block.resize(64, 0);
    let mut inner: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(message);
    let mut outer: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    outer.extend(sha256_raw(&inner));
    sha256_raw(&outer)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `YYYYMMDDTHHMMSSZ` and `YYYYMMDD` of `at` (UTC).
fn amz_dates(at: SystemTime) -> (String, String) {
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    (
        format!("{date}T{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60),
        date,
    )
}

/// The headers of a SigV4-signed request with an empty body.
fn sigv4_headers(
    s3: &S3Env,
    host: &str,
    method: &str,
    path: &str,
    query: &str,
) -> Vec<(&'static str, String)> {
    let (amz_date, date) = amz_dates(SystemTime::now());
    let payload = hex(&sha256_raw(b""));
    let signed = "host;x-amz-content-sha256;x-amz-date";
    let canonical = format!(
        "{method}\n{path}\n{query}\nhost:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n\n{signed}\n{payload}"
    );
    let scope = format!("{date}/{}/s3/aws4_request", s3.region);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&sha256_raw(canonical.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{}", s3.secret_key).as_bytes(), date.as_bytes());
    for part in [s3.region.as_str(), "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex(&hmac_sha256(&key, to_sign.as_bytes()));
    vec![
        ("x-amz-date", amz_date),
        ("x-amz-content-sha256", payload),
        (
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                s3.access_key
            ),
        ),
    ]
}

/// The test's own helpers.
#[test]
fn helpers() {
    let phase =
        |start: &str, end: &str, node: &str| (start.to_owned(), end.to_owned(), node.to_owned());
    let phases = [
        phase(
            "2026-12-08T00:00:01.000000Z",
            "2026-12-08T00:00:02.000000Z",
            "a",
        ),
        phase(
            "2026-12-08T00:00:03.000000Z",
            "2026-12-08T00:00:04.000000Z",
            "b",
        ),
        phase(
            "2026-12-08T00:00:03.500000Z",
            "2026-12-08T00:00:05.000000Z",
            "a",
        ),
    ];
    assert!(overlapping(&phases[..2]).is_empty());
    assert_eq!(overlapping(&phases).len(), 1);
    assert_eq!(
        shorten("/v2/r/blobs/uploads/u?_state=abc&digest=sha256:1"),
        "/v2/r/blobs/uploads/u?_state=…&digest=sha256:1"
    );
    assert_eq!(host_port("redis://127.0.0.1:6379/0"), "127.0.0.1:6379");
    // RFC 4231, test case 2.
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    assert_eq!(
        amz_dates(at),
        ("20231114T221320Z".to_owned(), "20231114".to_owned())
    );
    assert_eq!(uri_encode("a/b c~"), "a%2Fb%20c~");
    assert_eq!(
        digests_in(&format!("x sha256:{} y", "ab".repeat(32))).len(),
        1
    );
}
