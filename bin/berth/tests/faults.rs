//! Fault injection: the real binary with a `berth_testkit::FaultProxy`
//! between it and Redis, and between it and the S3 server (Garage), both
//! started by scripts/test.sh. The proxy stalls, resets, blackholes or
//! answers `503 SlowDown` while requests are in flight; the tests check
//! what the registry's clients see (statuses, and the time to an answer,
//! against bounds derived from the configured timeouts) and what is left
//! in storage (read back through a second berth on the same bucket, with
//! no cache and no proxy).
//!
//! The bounds, the timeouts and the measured times are written up in
//! docs/reliability.md ("Fault injection"). `BERTH_FAULT_SEED` replays a
//! run's fault schedule (each run prints its seed).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use berth_digest::Digest;
use berth_testkit::{
    Aim, AimAction, CannedResponse, Fault, FaultProxy, S3Env, free_port, s3_env, service,
};
use common::{Berth, Resp, Rng, metric};
use serde_json::json;

// --- shared helpers --------------------------------------------------------

/// The tests measure times against bounds: one at a time, so that they do
/// not slow each other down on a small machine.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `host:port` of a `scheme://host:port[/...]` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// Runs `request`, answering its response and how long it took.
fn timed(request: impl FnOnce() -> Resp) -> (Resp, Duration) {
    let started = Instant::now();
    let resp = request();
    (resp, started.elapsed())
}

/// Pushes `data` as one blob (`POST ?digest=`), timed; answers the digest.
fn push_small_blob(b: &Berth, repo: &str, data: &[u8], bound: Duration) -> (Digest, Duration) {
    let digest = Digest::sha256(data);
    let (r, took) = timed(|| b.post(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"), data));
    assert_eq!(r.status, 201, "monolithic push to {repo}: {}", r.text());
    assert!(
        took <= bound,
        "monolithic push took {took:?} (bound {bound:?})"
    );
    (digest, took)
}

/// An OCI image manifest for a config and layers.
fn image_manifest(config: &(Digest, usize), layers: &[(Digest, usize)]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.0,
            "size": config.1,
        },
        "layers": layers.iter().map(|(digest, size)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": size,
        })).collect::<Vec<_>>(),
    }))
    .expect("manifest JSON")
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn put_manifest(b: &Berth, repo: &str, reference: &str, body: &[u8]) -> Resp {
    b.put(
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", OCI_MANIFEST)],
        body,
    )
}

/// Pulls a manifest (by tag or digest) and every blob it references,
/// checking each digest: the image is intact.
fn assert_pulls_intact(b: &Berth, repo: &str, reference: &str, want: &[u8]) {
    let r = b.get_with(
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Accept", OCI_MANIFEST)],
    );
    assert_eq!(
        r.status,
        200,
        "GET manifest {repo}:{reference}: {}",
        r.text()
    );
    assert_eq!(
        r.body, want,
        "manifest {repo}:{reference} is not what was pushed"
    );
    let manifest = r.json();
    let mut blobs = vec![manifest["config"].clone()];
    blobs.extend(manifest["layers"].as_array().cloned().unwrap_or_default());
    for blob in blobs {
        let digest = blob["digest"].as_str().expect("a blob digest");
        let (status, body) = get_blob(b, repo, digest);
        assert_eq!(status, 200, "GET blob {digest} of {repo}");
        assert_eq!(
            Digest::sha256(&body).as_str(),
            digest,
            "blob {digest} of {repo} does not match its digest"
        );
        assert_eq!(Some(body.len() as u64), blob["size"].as_u64());
    }
}

/// `GET` of a blob, its body read whole (`Resp` stops at ureq's default
/// 10 MB limit): status and body.
fn get_blob(b: &Berth, repo: &str, digest: &str) -> (u16, Vec<u8>) {
    let resp = berth_testkit::http()
        .get(&b.url(&format!("/v2/{repo}/blobs/{digest}")))
        .call()
        .unwrap_or_else(|e| panic!("GET blob {digest} of {repo}: {e}"));
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let bytes = body
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("GET blob {digest} of {repo}: reading the body: {e}"));
    (status, bytes)
}

/// A 5xx a client retries: the registry's JSON error (no body for a
/// `HEAD`), with a status of 500 (`UNKNOWN`), 502, 503 (`UNAVAILABLE`) or
/// 504.
fn assert_retryable(r: &Resp, what: &str) {
    assert!(
        matches!(r.status, 500 | 502 | 503 | 504),
        "{what}: expected a retryable 5xx, got {}: {}",
        r.status,
        r.text()
    );
    if r.body.is_empty() && what.contains("HEAD") {
        return;
    }
    let body = r.json();
    assert!(
        body["errors"][0]["code"].is_string(),
        "{what}: not an error body: {}",
        r.text()
    );
}

// --- Redis -----------------------------------------------------------------

/// The Redis timeouts the test configures (`redis.dialtimeout`,
/// `readtimeout`, `writetimeout`).
const REDIS_TIMEOUT: Duration = Duration::from_millis(200);
/// One cache call's deadline: berth-cache bounds each call by the dial,
/// write and read timeouts together.
const REDIS_CALL: Duration = Duration::from_millis(3 * REDIS_TIMEOUT.as_millis() as u64);
/// A request meets that deadline at most twice before it is served from
/// storage (a stat, then a fill or a set once the one-second back-off
/// after a failure has ended); the filesystem storage answers well within
/// the slack.
const REDIS_BOUND: Duration = Duration::from_millis(2 * REDIS_CALL.as_millis() as u64 + 2000);

/// berth with a Redis descriptor cache reached through `proxy`, on a
/// filesystem root, with the debug server's metrics.
fn berth_with_redis(proxy: &FaultProxy, debug_port: u16, root: &std::path::Path) -> Berth {
    let ms = REDIS_TIMEOUT.as_millis();
    Berth::start_with(&format!(
        "  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
         cache:\n    blobdescriptor: redis\n  maintenance:\n    uploadpurging:\n      enabled: false\n\
         redis:\n  addr: {}\n  dialtimeout: {ms}ms\n  readtimeout: {ms}ms\n  writetimeout: {ms}ms\n",
        root.display(),
        proxy.addr(),
    ))
}

/// Redis stalls, resets, blackholes and closes one way while berth serves
/// blob and manifest reads and pushes: every request is answered from
/// storage within `REDIS_BOUND`, the cache's errors are counted, and once
/// Redis passes again the cache is used again (hits are counted).
#[test]
fn redis_faults_are_served_from_storage() {
    let _serial = serial();
    let Some(url) = service("BERTH_TEST_REDIS_URL", "Redis") else {
        return;
    };
    let proxy = FaultProxy::start(host_port(&url)).expect("start the fault proxy");
    let debug_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let b = berth_with_redis(&proxy, debug_port, &dir.path().join("root"));
    let repo = "faults/redis";
    let mut rng = Rng::from_env("BERTH_FAULT_SEED", "fault schedule seed");

    // Warm: an image pushed, its layer read twice; the second read hits.
    let config = format!("{{\"seed\":{}}}", rng.next());
    let (config_digest, _) = push_small_blob(&b, repo, config.as_bytes(), REDIS_BOUND);
    let layer = rng.bytes(64 << 10);
    let (layer_digest, _) = push_small_blob(&b, repo, &layer, REDIS_BOUND);
    let manifest = image_manifest(
        &(config_digest.clone(), config.len()),
        &[(layer_digest.clone(), layer.len())],
    );
    assert_eq!(put_manifest(&b, repo, "base", &manifest).status, 201);
    let hits = metric(debug_port, "berth_cache_hits_total", ("", ""));
    for _ in 0..2 {
        assert_eq!(
            b.head(&format!("/v2/{repo}/blobs/{layer_digest}")).status,
            200
        );
    }
    assert!(
        metric(debug_port, "berth_cache_hits_total", ("", "")) > hits,
        "the cache is used before any fault"
    );

    let faults = [
        ("stall", Fault::Stall),
        ("reset", Fault::Reset),
        ("blackhole", Fault::Blackhole),
        (
            "one-way close",
            Fault::OneWayClose(berth_testkit::Direction::ToClient),
        ),
    ];
    let mut report = Vec::new();
    for (round, (name, fault)) in faults.into_iter().enumerate() {
        let errors = metric(debug_port, "berth_cache_errors_total", ("", ""));
        proxy.set(fault);
        let mut slowest = Duration::ZERO;
        let mut check = |what: &str, (r, took): (Resp, Duration), status: u16| {
            assert_eq!(r.status, status, "{name}: {what}: {}", r.text());
            assert!(
                took <= REDIS_BOUND,
                "{name}: {what} took {took:?}, more than the bound {REDIS_BOUND:?}"
            );
            slowest = slowest.max(took);
            r
        };
        // The requests twice: the second time after the cache's back-off
        // (1 s) has ended, so the cache is tried, and fails, again.
        let mut last = None;
        for pass in 0..2 {
            if pass == 1 {
                std::thread::sleep(Duration::from_millis(1200));
            }
            // Reads of what was pushed before the fault.
            let r = check(
                "blob HEAD",
                timed(|| b.head(&format!("/v2/{repo}/blobs/{layer_digest}"))),
                200,
            );
            assert_eq!(
                r.header("content-length"),
                Some(layer.len().to_string().as_str())
            );
            let r = check(
                "blob GET",
                timed(|| b.get(&format!("/v2/{repo}/blobs/{layer_digest}"))),
                200,
            );
            assert_eq!(r.body, layer, "{name}: blob GET");
            let r = check(
                "manifest GET",
                timed(|| {
                    b.get_with(
                        &format!("/v2/{repo}/manifests/base"),
                        &[("Accept", OCI_MANIFEST)],
                    )
                }),
                200,
            );
            assert_eq!(r.body, manifest, "{name}: manifest GET");
            check(
                "manifest HEAD",
                timed(|| b.head(&format!("/v2/{repo}/manifests/base"))),
                200,
            );
            // A push during the fault, then reads of it.
            let data = rng.bytes(32 << 10);
            let digest = Digest::sha256(&data);
            check(
                "blob push",
                timed(|| b.post(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"), &data)),
                201,
            );
            let pushed = image_manifest(
                &(config_digest.clone(), config.len()),
                &[(digest.clone(), data.len())],
            );
            let tag = format!("during-{round}-{pass}");
            check(
                "manifest push",
                timed(|| put_manifest(&b, repo, &tag, &pushed)),
                201,
            );
            check(
                "new blob HEAD",
                timed(|| b.head(&format!("/v2/{repo}/blobs/{digest}"))),
                200,
            );
            last = Some((tag, pushed, digest));
        }
        let (tag, pushed, digest) = last.expect("two passes");
        let errors_during = metric(debug_port, "berth_cache_errors_total", ("", ""));
        assert!(
            errors_during >= errors + 2.0,
            "{name}: the cache's errors are counted, once a pass ({errors} before, \
             {errors_during} after)"
        );

        // Recovery: after the back-off (1 s), reads hit the cache again.
        proxy.set(Fault::Pass);
        let hits = metric(debug_port, "berth_cache_hits_total", ("", ""));
        let recovered = Instant::now();
        let mut hit_after = None;
        while recovered.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(250));
            for d in [&layer_digest, &digest] {
                assert_eq!(b.head(&format!("/v2/{repo}/blobs/{d}")).status, 200);
            }
            if metric(debug_port, "berth_cache_hits_total", ("", "")) > hits {
                hit_after = Some(recovered.elapsed());
                break;
            }
        }
        let hit_after =
            hit_after.unwrap_or_else(|| panic!("{name}: the cache is not used again after 10 s"));
        assert_pulls_intact(&b, repo, &tag, &pushed);
        report.push(format!(
            "{name}: slowest request {} ms, cache errors +{}, cache hits again {} ms after recovery",
            slowest.as_millis(),
            errors_during - errors,
            hit_after.as_millis()
        ));
    }
    assert_pulls_intact(&b, repo, "base", &manifest);
    println!(
        "redis faults (bound {} ms):\n  {}",
        REDIS_BOUND.as_millis(),
        report.join("\n  ")
    );
}

// --- S3 --------------------------------------------------------------------

/// The S3 driver's timeouts the tests configure
/// (`storage.s3.connecttimeout`, `readtimeout`, `operationtimeout`).
const S3_CONNECT_TIMEOUT: &str = "1s";
const S3_READ_TIMEOUT: &str = "4s";
const S3_OPERATION_TIMEOUT: Duration = Duration::from_secs(8);
/// A request that needs S3 fails at its first S3 operation that fails,
/// within the operation timeout (its attempts and back-off included);
/// the slack covers the rest of the request on a loaded machine.
const S3_BOUND: Duration = Duration::from_secs(S3_OPERATION_TIMEOUT.as_secs() + 4);

/// The S3 part size the tests use: the smallest, so that parts go out
/// during the uploads.
const CHUNK_SIZE: usize = 5 << 20;

/// berth on the test bucket at `root`, through `endpoint` (the proxy, or
/// the S3 server itself), with no descriptor cache (every read goes to
/// S3) and redirects off (blobs are served through berth).
fn berth_on_s3(s3: &S3Env, endpoint: &str, root: &str) -> Berth {
    Berth::start_with(&format!(
        "storage:\n  s3:\n    region: {}\n    regionendpoint: {endpoint}\n    forcepathstyle: true\n    \
         bucket: {}\n    rootdirectory: {root}\n    accesskey: {}\n    secretkey: {}\n    \
         chunksize: {CHUNK_SIZE}\n    connecttimeout: {S3_CONNECT_TIMEOUT}\n    \
         readtimeout: {S3_READ_TIMEOUT}\n    operationtimeout: {}s\n  \
         delete:\n    enabled: true\n  redirect:\n    disable: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n",
        s3.region,
        s3.bucket,
        s3.access_key,
        s3.secret_key,
        S3_OPERATION_TIMEOUT.as_secs(),
    ))
}

/// Which request of an image's push a fault is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The layer's n-th `PATCH`.
    Patch(usize),
    /// The layer's final `PUT ?digest=`.
    Put,
    /// The manifest `PUT`.
    Manifest,
}

/// A fault aimed at one request: put in force `delay` after the request
/// starts, for `hold` (or until the request is answered).
#[derive(Debug, Clone)]
struct Plan {
    target: Target,
    fault: Fault,
    delay: Duration,
    hold: Option<Duration>,
}

/// A fault in a few words, for the report.
fn describe(fault: &Fault) -> String {
    match fault {
        Fault::Reset => "reset".to_owned(),
        Fault::Respond(canned) => format!("S3 answers {}", canned.status()),
        Fault::Aimed(aim) => {
            let action = match &aim.action {
                AimAction::Respond(canned) => format!("S3 answers {} to", canned.status()),
                AimAction::Reset => "reset on".to_owned(),
                AimAction::LoseAnswer => "answers lost to".to_owned(),
            };
            format!("{action} {} *{}*", aim.method, aim.target_contains)
        }
        other => format!("{other:?}"),
    }
}

/// Runs `request` with `plan`'s fault injected from another thread; the
/// proxy passes again once the request is answered.
fn with_fault(proxy: &FaultProxy, plan: &Plan, request: impl FnOnce() -> Resp) -> (Resp, Duration) {
    let done = AtomicBool::new(false);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(plan.delay);
            if done.load(Ordering::SeqCst) {
                return;
            }
            proxy.set(plan.fault.clone());
            if let Some(hold) = plan.hold {
                std::thread::sleep(hold);
                proxy.set(Fault::Pass);
            }
        });
        let out = timed(request);
        done.store(true, Ordering::SeqCst);
        out
    });
    proxy.set(Fault::Pass);
    out
}

/// A manifest pushed (or attempted): its digest and bytes.
type Pushed = (Digest, Vec<u8>);

/// What the pushes left to check.
#[derive(Default)]
struct Ledger {
    /// Every blob pushed or attempted, by repository.
    blobs: BTreeMap<String, BTreeMap<Digest, Vec<u8>>>,
    /// Every manifest pushed or attempted, by repository and tag, in
    /// order.
    manifests: BTreeMap<(String, String), Vec<Pushed>>,
    /// Manifests acknowledged with 201: (repository, tag, bytes).
    acknowledged: Vec<(String, String, Vec<u8>)>,
    /// Blobs read back whole already.
    whole: std::cell::RefCell<BTreeSet<Digest>>,
    /// Requests that failed: (what, status, time).
    failures: Vec<(String, u16, Duration)>,
    /// Requests that were aimed at and still succeeded (the fault came
    /// too late, or the SDK's retry got through).
    survived: usize,
}

/// Nothing half-visible, checked through the verifier (no cache, no
/// proxy): a blob of the repository is either unknown or whole; a
/// manifest is unknown or whole; a tag points at a manifest whose blobs
/// are all there.
fn assert_consistent(v: &Berth, ledger: &Ledger, repo: &str) {
    // The blobs linked in the repository, each read whole once (a blob
    // never changes once it is whole).
    let mut linked = BTreeSet::new();
    for (digest, data) in ledger.blobs.get(repo).into_iter().flatten() {
        let r = v.head(&format!("/v2/{repo}/blobs/{digest}"));
        match r.status {
            404 => continue,
            200 => {}
            other => panic!("HEAD blob {digest} of {repo}: {other}: {}", r.text()),
        }
        linked.insert(digest.clone());
        if ledger.whole.borrow().contains(digest) {
            continue;
        }
        let (status, body) = get_blob(v, repo, digest.as_str());
        assert_eq!(
            status, 200,
            "blob {digest} of {repo} is linked but does not read"
        );
        if body != *data {
            let at = body.iter().zip(data.iter()).position(|(a, b)| a != b);
            panic!(
                "blob {digest} of {repo} is linked but not whole: {} bytes read, {} \
                 pushed, first difference at {at:?}, read digest {}",
                body.len(),
                data.len(),
                Digest::sha256(&body)
            );
        }
        ledger.whole.borrow_mut().insert(digest.clone());
    }
    for ((r_repo, tag), attempts) in &ledger.manifests {
        if r_repo != repo {
            continue;
        }
        // Each manifest pushed, by digest: known (and whole) or unknown.
        for (digest, body) in attempts {
            let r = v.get_with(
                &format!("/v2/{repo}/manifests/{digest}"),
                &[("Accept", OCI_MANIFEST)],
            );
            assert!(
                r.status == 404 || (r.status == 200 && r.body == *body),
                "manifest {digest} of {repo}: {}: {}",
                r.status,
                r.text()
            );
        }
        let r = v.get_with(
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("Accept", OCI_MANIFEST)],
        );
        match r.status {
            404 => assert!(
                !ledger
                    .acknowledged
                    .iter()
                    .any(|(a, t, _)| a == repo && t == tag),
                "tag {repo}:{tag} was acknowledged and is gone"
            ),
            200 => {
                assert!(
                    attempts.iter().any(|(_, body)| *body == r.body),
                    "tag {repo}:{tag} points at a manifest nobody pushed"
                );
                let manifest = r.json();
                let mut blobs = vec![manifest["config"]["digest"].clone()];
                blobs.extend(
                    manifest["layers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|l| l["digest"].clone()),
                );
                for blob in blobs {
                    let blob = blob.as_str().unwrap_or_default();
                    assert!(
                        linked.iter().any(|d| d.as_str() == blob),
                        "tag {repo}:{tag} points at a manifest whose blob {blob} is missing"
                    );
                }
            }
            other => panic!("GET manifest {repo}:{tag}: {other}: {}", r.text()),
        }
    }
}

/// One image's push through the faulty proxy, with clients' recovery:
/// after a failed `PATCH`, ask where the upload stands and go on from
/// there; after a failed `PUT`, ask again and retry.
struct Pusher<'a> {
    b: &'a Berth,
    v: &'a Berth,
    proxy: &'a FaultProxy,
    ledger: &'a mut Ledger,
    /// The plan's fault was injected already (retries go without).
    fired: bool,
}

impl Pusher<'_> {
    /// Runs a request, with `plan`'s fault if it is aimed at `target`.
    fn request(
        &mut self,
        plan: &Plan,
        target: Target,
        request: impl FnOnce() -> Resp,
    ) -> (Resp, bool) {
        let aimed = plan.target == target && !self.fired;
        self.fired |= aimed;
        let (r, took) = if aimed {
            with_fault(self.proxy, plan, request)
        } else {
            timed(request)
        };
        let what = format!("{target:?} ({})", describe(&plan.fault));
        if r.status >= 500 {
            assert!(
                aimed,
                "{target:?} failed without a fault: {}: {}",
                r.status,
                r.text()
            );
            assert_retryable(&r, &what);
            assert!(
                took <= S3_BOUND,
                "{what}: answered {} after {took:?}, more than the bound {S3_BOUND:?}",
                r.status
            );
            self.ledger.failures.push((what, r.status, took));
            (r, false)
        } else {
            if aimed {
                self.ledger.survived += 1;
            }
            (r, true)
        }
    }

    /// Pushes `data` in `PATCH`es of `chunk` bytes, then `PUT`.
    fn push_layer(&mut self, repo: &str, data: &[u8], chunk: usize, plan: &Plan) -> Digest {
        let digest = Digest::sha256(data);
        self.ledger
            .blobs
            .entry(repo.to_owned())
            .or_default()
            .insert(digest.clone(), data.to_vec());
        let r = self.b.post(&format!("/v2/{repo}/blobs/uploads/"), b"");
        assert_eq!(r.status, 202, "POST upload: {}", r.text());
        let mut location = r.header("location").expect("Location").to_owned();
        let mut offset = 0;
        let mut n = 0;
        while offset < data.len() {
            let end = (offset + chunk).min(data.len());
            let range = format!("{offset}-{}", end - 1);
            let b = self.b;
            let (r, ok) = self.request(plan, Target::Patch(n), || {
                b.patch(
                    &location,
                    &[
                        ("Content-Type", "application/octet-stream"),
                        ("Content-Range", &range),
                    ],
                    &data[offset..end],
                )
            });
            if ok {
                assert_eq!(r.status, 202, "PATCH {range}: {}", r.text());
                assert_eq!(r.header("range"), Some(format!("0-{}", end - 1).as_str()));
                location = r.header("location").expect("Location").to_owned();
                offset = end;
            } else {
                // Nothing of it is a blob yet.
                assert_eq!(
                    self.v.head(&format!("/v2/{repo}/blobs/{digest}")).status,
                    404,
                    "a blob is visible before its upload is committed"
                );
                // Where does the upload stand? All of the chunk or none.
                let r = self.b.get(&location);
                assert_eq!(
                    r.status,
                    204,
                    "upload status after a failed PATCH (the upload must resume): {}",
                    r.text()
                );
                let stored = upload_size(&r);
                assert!(
                    stored == offset || stored == end,
                    "after a failed PATCH of {range}, the upload has {stored} bytes"
                );
                location = r.header("location").expect("Location").to_owned();
                offset = stored;
            }
            n += 1;
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        for attempt in 0.. {
            assert!(attempt < 2, "the PUT failed again after recovery");
            let b = self.b;
            let (r, ok) = self.request(plan, Target::Put, || {
                b.put(&put, &[("Content-Type", "application/octet-stream")], b"")
            });
            if ok {
                assert_eq!(r.status, 201, "PUT upload: {}", r.text());
                break;
            }
            assert_consistent(self.v, self.ledger, repo);
            // Ask where it stands: still there (retry the PUT), or
            // committed already.
            let r = self.b.get(&location);
            match r.status {
                204 => {
                    assert_eq!(
                        upload_size(&r),
                        data.len(),
                        "upload size after a failed PUT"
                    );
                    continue;
                }
                404 => {
                    let head = self.b.head(&format!("/v2/{repo}/blobs/{digest}"));
                    assert_eq!(
                        head.status,
                        200,
                        "after a failed PUT the upload is gone but the blob is not there: {}",
                        r.text()
                    );
                    break;
                }
                other => panic!("upload status after a failed PUT: {other}: {}", r.text()),
            }
        }
        digest
    }

    /// Pushes `manifest` as `repo:tag`, retrying after a failure.
    fn push_manifest(&mut self, repo: &str, tag: &str, manifest: &[u8], plan: &Plan) {
        self.ledger
            .manifests
            .entry((repo.to_owned(), tag.to_owned()))
            .or_default()
            .push((Digest::sha256(manifest), manifest.to_vec()));
        let b = self.b;
        let (r, ok) = self.request(plan, Target::Manifest, || {
            put_manifest(b, repo, tag, manifest)
        });
        if !ok {
            // Right after the failure: the tag points at a whole image
            // (the new one or the one before), never at a missing one.
            assert_consistent(self.v, self.ledger, repo);
            let r = put_manifest(self.b, repo, tag, manifest);
            assert_eq!(
                r.status,
                201,
                "manifest PUT retried after recovery: {}",
                r.text()
            );
        } else {
            assert_eq!(r.status, 201, "manifest PUT: {}", r.text());
        }
        self.ledger
            .acknowledged
            .push((repo.to_owned(), tag.to_owned(), manifest.to_vec()));
    }
}

/// The size an upload's `Range` header reports (`0-<last>`; `0-0` is
/// taken as empty only for an upload that had nothing yet).
fn upload_size(r: &Resp) -> usize {
    let range = r.header("range").expect("a Range header");
    let last: usize = range
        .strip_prefix("0-")
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("bad Range {range}"));
    if last == 0 { 0 } else { last + 1 }
}

/// S3 resets connections or answers `503 SlowDown` at varied moments of
/// chunked uploads (`PATCH`, the final `PUT`) and manifest `PUT`s:
/// clients get a retryable 5xx within `S3_BOUND`, nothing half-visible is
/// left (checked right after each failure), interrupted uploads resume
/// from the `Range` the registry reports, and every acknowledged image
/// pulls intact afterwards, through both the faulted registry and a fresh
/// one on the same bucket.
#[test]
fn s3_resets_and_slowdowns_mid_push() {
    let _serial = serial();
    let Some(s3) = s3_env("s3 resets and slowdowns mid push") else {
        return;
    };
    let proxy = FaultProxy::start_http(host_port(&s3.endpoint)).expect("start the fault proxy");
    let root = berth_testkit::unique_root();
    let b = berth_on_s3(&s3, &proxy.url(), &root);
    let v = berth_on_s3(&s3, &s3.endpoint, &root);
    let mut rng = Rng::from_env("BERTH_FAULT_SEED", "fault schedule seed");
    let slow_down = || Fault::Respond(CannedResponse::s3_slow_down());
    let aimed = |method: &str, target: &str, action: AimAction| {
        Fault::Aimed(Aim::new(method, target, action))
    };
    let s3_503 = || AimAction::Respond(CannedResponse::s3_slow_down());
    // (the request aimed at, the fault, certain): a certain fault is in
    // force from the start of the request to its answer; the others come
    // at a random moment, and sometimes lift before the answer (the SDK's
    // retry may then get through).
    let schedule = [
        // Whatever S3 request comes first.
        (Target::Patch(1), Fault::Reset, true),
        (Target::Manifest, slow_down(), true),
        // Chunk 2 (4 to 6 MiB) sends the first 5 MiB part; then the tail
        // object, the upload's record of where it stands, fails…
        (Target::Patch(2), aimed("PUT", "~tail", s3_503()), true),
        // …or is written, but its answers are lost.
        (
            Target::Patch(2),
            aimed("PUT", "~tail", AimAction::LoseAnswer),
            true,
        ),
        // The multipart upload completes; its answer is lost.
        (
            Target::Put,
            aimed("POST", "uploadId=", AimAction::LoseAnswer),
            true,
        ),
        // The blob moves into the blob store; its repository link fails.
        (Target::Put, aimed("PUT", "/_layers/", s3_503()), true),
        // The manifest is stored and linked; the tag's link fails.
        (
            Target::Manifest,
            aimed("PUT", "/current/link", AimAction::Reset),
            true,
        ),
        // The revision link is written; its answers are lost.
        (
            Target::Manifest,
            aimed("PUT", "/_manifests/revisions/", AimAction::LoseAnswer),
            true,
        ),
        // At random moments.
        (Target::Patch(0), slow_down(), false),
        (Target::Put, Fault::Reset, false),
        (Target::Manifest, Fault::Reset, false),
    ];
    let mut ledger = Ledger::default();
    let started = Instant::now();
    for (i, (target, fault, certain)) in schedule.into_iter().enumerate() {
        let plan = Plan {
            target,
            fault,
            delay: if certain {
                Duration::ZERO
            } else {
                Duration::from_millis(rng.below(250) as u64)
            },
            hold: (!certain && rng.below(2) == 0)
                .then(|| Duration::from_millis(30 + rng.below(200) as u64)),
        };
        let (failures, matched) = (ledger.failures.len(), proxy.matched());
        let repo = format!("faults/s3-{}", i % 2);
        let tag = format!("t{}", i % 3);
        let mut pusher = Pusher {
            b: &b,
            v: &v,
            proxy: &proxy,
            ledger: &mut ledger,
            fired: false,
        };
        let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"n\":{i}}}");
        let (config_digest, _) = push_small_blob(&b, &repo, config.as_bytes(), S3_BOUND);
        pusher
            .ledger
            .blobs
            .entry(repo.clone())
            .or_default()
            .insert(config_digest.clone(), config.clone().into_bytes());
        // 6 to 8 MiB in 2 MiB chunks: a 5 MiB part goes out in chunk 2.
        let size = (6 << 20) + rng.below(2 << 20);
        let layer = rng.bytes(size);
        let layer_digest = pusher.push_layer(&repo, &layer, 2 << 20, &plan);
        let manifest = image_manifest(
            &(config_digest, config.len()),
            &[(layer_digest, layer.len())],
        );
        pusher.push_manifest(&repo, &tag, &manifest, &plan);
        assert_consistent(&v, &ledger, &repo);
        if certain {
            assert!(
                ledger.failures.len() > failures,
                "{plan:?}: a certain fault did not fail its request"
            );
        }
        if matches!(plan.fault, Fault::Aimed(_)) {
            assert!(
                proxy.matched() > matched,
                "{plan:?}: the aimed fault never met its S3 request"
            );
        }
    }
    let pushing = started.elapsed();

    // After recovery, every acknowledged image pulls intact, through the
    // registry that saw the faults and through the fresh one; the tags
    // are the last acknowledged pushes.
    let mut last: BTreeMap<(String, String), Vec<u8>> = BTreeMap::new();
    for (repo, tag, manifest) in &ledger.acknowledged {
        last.insert((repo.clone(), tag.clone()), manifest.clone());
        let digest = Digest::sha256(manifest);
        assert_pulls_intact(&b, repo, digest.as_str(), manifest);
        assert_pulls_intact(&v, repo, digest.as_str(), manifest);
    }
    for ((repo, tag), manifest) in &last {
        assert_pulls_intact(&v, repo, tag, manifest);
    }
    for repo in ["faults/s3-0", "faults/s3-1"] {
        assert_consistent(&v, &ledger, repo);
        let tags = v.get(&format!("/v2/{repo}/tags/list")).json();
        let listed: BTreeSet<&str> = tags["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        let pushed: BTreeSet<&str> = last
            .keys()
            .filter(|(r, _)| r == repo)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(listed, pushed, "tags of {repo}");
    }

    let failed = |what: &str| {
        ledger
            .failures
            .iter()
            .filter(|(w, _, _)| w.starts_with(what))
            .count()
    };
    assert!(
        failed("Patch") >= 3,
        "PATCHes failed: {:?}",
        ledger.failures
    );
    assert!(failed("Put") >= 2, "PUTs failed: {:?}", ledger.failures);
    assert!(
        failed("Manifest") >= 3,
        "manifest PUTs failed: {:?}",
        ledger.failures
    );
    println!(
        "s3 faults: {} requests failed ({} aimed at survived), {} ms pushing; \
         proxy: {} connections, {} reset, {} answered 503",
        ledger.failures.len(),
        ledger.survived,
        pushing.as_millis(),
        proxy.accepted(),
        proxy.resets(),
        proxy.answered()
    );
    for (what, status, took) in &ledger.failures {
        println!("  {what}: {status} after {} ms", took.as_millis());
    }
}

/// A blackholed S3 (connections accepted, nothing answered): every
/// request that needs it is answered with a retryable 5xx within
/// `S3_BOUND`, not held; once S3 answers again, the interrupted upload
/// goes on from where it stood and the image pulls intact.
#[test]
fn s3_blackhole_is_bounded_by_the_timeouts() {
    let _serial = serial();
    let Some(s3) = s3_env("s3 blackhole is bounded by the timeouts") else {
        return;
    };
    let proxy = FaultProxy::start_http(host_port(&s3.endpoint)).expect("start the fault proxy");
    let root = berth_testkit::unique_root();
    let b = berth_on_s3(&s3, &proxy.url(), &root);
    let mut rng = Rng::from_env("BERTH_FAULT_SEED", "fault schedule seed");
    let repo = "faults/blackhole";

    let (base, base_digest) = b.push_image(repo, "base", 7);
    let config = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"blackhole\":true}";
    let (config_digest, _) = push_small_blob(&b, repo, config.as_bytes(), S3_BOUND);
    let existing = config_digest.clone();
    let layer = rng.bytes(3 << 20);
    let layer_digest = Digest::sha256(&layer);
    let r = b.post(&format!("/v2/{repo}/blobs/uploads/"), b"");
    assert_eq!(r.status, 202);
    let half = layer.len() / 2;
    let r = b.patch(
        r.header("location").expect("Location"),
        &[("Content-Range", &format!("0-{}", half - 1))],
        &layer[..half],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let location = r.header("location").expect("Location").to_owned();
    let manifest = image_manifest(
        &(config_digest, config.len()),
        &[(layer_digest.clone(), layer.len())],
    );

    proxy.set(Fault::Blackhole);
    let mut times = Vec::new();
    let mut check = |what: &str, (r, took): (Resp, Duration)| {
        assert_retryable(&r, what);
        assert!(
            took <= S3_BOUND,
            "{what}: answered after {took:?}, more than the bound {S3_BOUND:?}"
        );
        times.push(format!(
            "{what}: {} after {} ms",
            r.status,
            took.as_millis()
        ));
    };
    check(
        "blob HEAD",
        timed(|| b.head(&format!("/v2/{repo}/blobs/{existing}"))),
    );
    check(
        "manifest GET",
        timed(|| b.get(&format!("/v2/{repo}/manifests/{base_digest}"))),
    );
    check(
        "PATCH",
        timed(|| {
            b.patch(
                &location,
                &[("Content-Range", &format!("{half}-{}", layer.len() - 1))],
                &layer[half..],
            )
        }),
    );
    check(
        "manifest PUT",
        timed(|| put_manifest(&b, repo, "during", &manifest)),
    );
    assert!(
        proxy.dropped_bytes() > 0,
        "the blackhole swallowed the requests"
    );

    // S3 answers again: the upload stands where it stood, goes on, and
    // the image pulls intact.
    proxy.set(Fault::Pass);
    let r = b.get(&location);
    assert_eq!(
        r.status,
        204,
        "upload status after the blackhole: {}",
        r.text()
    );
    assert_eq!(upload_size(&r), half);
    let r = b.patch(
        r.header("location").expect("Location"),
        &[("Content-Range", &format!("{half}-{}", layer.len() - 1))],
        &layer[half..],
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let location = r.header("location").expect("Location");
    let sep = if location.contains('?') { '&' } else { '?' };
    let r = b.put(&format!("{location}{sep}digest={layer_digest}"), &[], b"");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(put_manifest(&b, repo, "after", &manifest).status, 201);
    assert_pulls_intact(&b, repo, "after", &manifest);
    assert_pulls_intact(&b, repo, "base", &base);
    println!(
        "s3 blackhole (operation timeout {} s, bound {} ms):\n  {}",
        S3_OPERATION_TIMEOUT.as_secs(),
        S3_BOUND.as_millis(),
        times.join("\n  ")
    );
}
