//! The pull-through cache end to end: the real binary with `proxy:`
//! configured, in front of a real upstream on loopback (a second berth,
//! or Debian's `docker-registry`) holding images built with umoci; pulls
//! with skopeo. Upstream traffic is counted by a forwarder between the
//! proxy and the upstream (`berth_testkit::HttpCounter`).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_digest::{Algorithm, Digest, Digester};
use berth_testkit::{DockerRegistry, HttpCounter, free_port, program};
use common::skopeo::{skopeo, skopeo_ok};
use common::{Berth, run};

// --- helpers ---------------------------------------------------------------

/// The digest of the manifest `skopeo inspect --raw --tls-verify=false
/// ARGS` reads.
fn raw_digest(args: &[&str]) -> Digest {
    common::skopeo::raw_digest(&[&["--tls-verify=false"][..], args].concat())
}

/// Whether skopeo and umoci are here (scripts/test.sh installs them).
fn have_tools() -> bool {
    program("skopeo") && program("umoci")
}

/// Adds an image tagged `tag` to the OCI layout: two layers (a text file,
/// then 1 MiB of data that differs per `seed`), amd64/linux.
fn build_image(layout: &Path, tag: &str, seed: u64) {
    let hello = format!("hello from {tag}\n");
    let data = data(1 << 20, seed);
    common::umoci::build_image(
        layout,
        tag,
        &[&[("hello.txt", hello.as_bytes())], &[("data.bin", &data)]],
    );
}

/// An OCI layout with images `v1` and `v2`, and `multi`: an index of
/// both (as linux/amd64 and linux/arm64).
fn build_images(work: &Path) -> PathBuf {
    let layout = work.join("layout");
    build_image(&layout, "v1", 1);
    build_image(&layout, "v2", 2);
    let index_json = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_json).unwrap()).unwrap();
    const NAME: &str = "org.opencontainers.image.ref.name";
    let entry = |tag: &str, arch: &str| {
        let mut d = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"][NAME] == tag)
            .unwrap()
            .clone();
        d.as_object_mut().unwrap().remove("annotations");
        d["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        d
    };
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("v1", "amd64"), entry("v2", "arm64")],
    })
    .to_string();
    let digest = Digest::sha256(body.as_bytes());
    std::fs::write(
        layout.join(format!("blobs/sha256/{}", digest.encoded())),
        &body,
    )
    .unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": body.len(),
            "annotations": {NAME: "multi"},
        }));
    std::fs::write(&index_json, index.to_string()).unwrap();
    layout
}

/// Deterministic bytes (the driver test suite's pattern).
fn data(len: usize, seed: u64) -> Vec<u8> {
    berth_driver::testsuite::pattern(len, seed).to_vec()
}

fn host(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// A proxy berth of `remote` with `proxy_extra` under `proxy:` and a
/// debug listener with metrics; answers it and its debug port.
fn start_proxy(remote: &str, proxy_extra: &str) -> (Berth, u16) {
    let debug = free_port();
    let b = Berth::start_with(&format!(
        "  debug:\n    addr: 127.0.0.1:{debug}\n    prometheus:\n      enabled: true\nproxy:\n  remoteurl: {remote}\n{proxy_extra}"
    ));
    (b, debug)
}

/// The value of a sample of `/metrics` (`name{labels}` as written).
fn metric(debug: u16, sample: &str) -> Option<u64> {
    let text = berth_testkit::http()
        .get(&format!("http://127.0.0.1:{debug}/metrics"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    text.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name.trim_end_matches("{}") == sample)
            .then(|| value.parse::<f64>().ok().map(|v| v as u64))?
    })
}

/// Pulls `image` (`repo:tag` or `repo@digest`) from `registry` into a
/// new OCI layout under `work`, with `creds` if any; answers the digest
/// of the manifest pulled.
fn pull(registry: &str, image: &str, work: &Path, creds: Option<&str>) -> Digest {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = work.join(format!("out-{n}"));
    let src = format!("docker://{}/{image}", host(registry));
    let dest = format!("oci:{}:pulled", out.display());
    let mut args = vec!["copy", "--src-tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--src-creds", creds]);
    }
    args.extend([src.as_str(), dest.as_str()]);
    skopeo_ok(&args);
    raw_digest(&[&format!("oci:{}:pulled", out.display())])
}

/// Pushes tag `tag` of the layout to `registry` as `repo:as_tag`.
fn push(layout: &Path, tag: &str, registry: &str, repo_tag: &str, creds: Option<&str>) {
    let src = format!("oci:{}:{tag}", layout.display());
    let dest = format!("docker://{}/{repo_tag}", host(registry));
    let mut args = vec!["copy", "--dest-tls-verify=false"];
    if let Some(creds) = creds {
        args.extend(["--dest-creds", creds]);
    }
    args.extend([src.as_str(), dest.as_str()]);
    skopeo_ok(&args);
}

/// Files under `root` whose path contains `part`.
/// How many files of Distribution's tree under `root` have `part` in their
/// path (garbage collection's markers under `berth/` are not counted).
fn files_with(root: &Path, part: &str) -> usize {
    let mut count = 0;
    let mut stack = vec![root.join("docker")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.display().to_string().contains(part) {
                count += 1;
            }
        }
    }
    count
}

fn wait(what: &str, secs: u64, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The layers of the image `digest` in the layout `out` (config first).
fn blobs_of(layout: &Path, tag: &str) -> Vec<Digest> {
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--raw",
            &format!("oci:{}:{tag}", layout.display()),
        ],
    );
    let m: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let mut out = vec![Digest::parse(m["config"]["digest"].as_str().unwrap()).unwrap()];
    for layer in m["layers"].as_array().unwrap() {
        out.push(Digest::parse(layer["digest"].as_str().unwrap()).unwrap());
    }
    out
}

/// Peak resident memory (`VmHWM`) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// Writes a blob of `size` bytes (`block` repeated) straight into the
/// storage layout of a stopped or idle registry root, linked into `repo`
/// (faster than pushing it through HTTP); answers its digest.
fn seed_big_blob(root: &Path, repo: &str, block: &[u8], size: u64) -> Digest {
    use std::io::Write;
    let staged = root.join("staged-blob");
    std::fs::create_dir_all(root).unwrap();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&staged).unwrap());
    let mut digester = Digester::new(Algorithm::Sha256);
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        digester.update(&block[..n]);
        file.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    file.flush().unwrap();
    drop(file);
    let digest = digester.finish();
    let hex = digest.encoded();
    let v2 = root.join("docker/registry/v2");
    let dir = v2.join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(&staged, dir.join("data")).unwrap();
    let link = v2.join(format!("repositories/{repo}/_layers/sha256/{hex}"));
    std::fs::create_dir_all(&link).unwrap();
    std::fs::write(link.join("link"), digest.as_str()).unwrap();
    digest
}

/// GETs a blob and hashes it as it streams: (digest, bytes).
fn fetch_blob(url: &str) -> (Digest, u64) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent.get(url).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET {url}");
    let mut reader = resp.into_body().into_reader();
    let mut digester = Digester::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        digester.update(&buf[..n]);
        total += n as u64;
    }
    (digester.finish(), total)
}

// --- tests -----------------------------------------------------------------

/// skopeo pulls through the proxy from a berth upstream: the digests are
/// the upstream's; the second pull by tag costs the upstream one `HEAD`,
/// a pull by digest nothing; pushes are refused.
#[test]
fn skopeo_pulls_through_from_a_berth_upstream() {
    if !have_tools() {
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let layout = build_images(work.path());
    let upstream = Berth::start();
    push(&layout, "v1", &upstream.url, "library/app:v1", None);
    let counter = HttpCounter::start(&upstream.url);
    let (proxy, debug) = start_proxy(&counter.url, "");

    let pushed = raw_digest(&[&format!("oci:{}:v1", layout.display())]);
    assert_eq!(
        pull(&proxy.url, "library/app:v1", work.path(), None),
        pushed
    );
    let blobs = blobs_of(&layout, "v1");
    assert_eq!(blobs.len(), 3);
    assert_eq!(
        counter.count("GET", "/blobs/"),
        3,
        "{:?}",
        counter.requests()
    );
    assert_eq!(counter.count("HEAD", "/manifests/v1"), 1);
    assert_eq!(counter.count("GET", "/manifests/"), 1);
    let first = counter.bytes_down();
    assert!(first > 1 << 20, "the layers came from the upstream");

    // Second pull by tag: one HEAD upstream (is v1 still v1?), no bytes.
    counter.reset();
    assert_eq!(
        pull(&proxy.url, "library/app:v1", work.path(), None),
        pushed
    );
    assert_eq!(
        counter.requests(),
        ["HEAD /v2/library/app/manifests/v1"],
        "only the tag check goes upstream"
    );
    assert!(counter.bytes_down() - first < 4096);
    // By digest: nothing upstream at all.
    counter.reset();
    let by_digest = format!("library/app@{pushed}");
    assert_eq!(pull(&proxy.url, &by_digest, work.path(), None), pushed);
    assert!(counter.requests().is_empty(), "{:?}", counter.requests());

    // What the proxy counted.
    assert_eq!(
        metric(debug, r#"berth_proxy_misses_total{kind="blob"}"#),
        Some(3)
    );
    assert_eq!(
        metric(debug, r#"berth_proxy_hits_total{kind="blob"}"#),
        Some(6)
    );
    assert_eq!(
        metric(debug, r#"berth_proxy_misses_total{kind="manifest"}"#),
        Some(1)
    );
    assert_eq!(metric(debug, "berth_proxy_upstream_errors_total"), Some(0));
    let bytes = metric(debug, r#"berth_proxy_upstream_bytes_total{kind="blob"}"#).unwrap();
    assert!(bytes > 1 << 20);
    assert_eq!(metric(debug, "berth_proxy_scheduled"), Some(4));

    // A multi-platform index, every platform (skopeo copy --all).
    skopeo_ok(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{}/library/multi:1", host(&upstream.url)),
    ]);
    let out = work.path().join("multi");
    skopeo_ok(&[
        "copy",
        "--all",
        "--src-tls-verify=false",
        &format!("docker://{}/library/multi:1", host(&proxy.url)),
        &format!("oci:{}:multi", out.display()),
    ]);
    let index = raw_digest(&[&format!("oci:{}:multi", layout.display())]);
    assert_eq!(
        raw_digest(&[&format!("oci:{}:multi", out.display())]),
        index
    );
    assert_eq!(
        raw_digest(&[&format!("docker://{}/library/multi:1", host(&proxy.url))]),
        index
    );

    // Pushes and deletes: UNSUPPORTED, nothing sent upstream.
    counter.reset();
    let out = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:v2", layout.display()),
        &format!("docker://{}/library/app:v2", host(&proxy.url)),
    ]);
    assert!(!out.status.success(), "a push to the proxy");
    proxy
        .post("/v2/library/app/blobs/uploads/", b"")
        .assert_error(405, "UNSUPPORTED");
    proxy
        .delete(&format!("/v2/library/app/manifests/{pushed}"))
        .assert_error(405, "UNSUPPORTED");
    assert_eq!(counter.count("POST", ""), 0);
    assert_eq!(counter.count("PUT", ""), 0);
    assert_eq!(counter.count("DELETE", ""), 0);
    eprintln!("took {:?}", started.elapsed());
}

/// A tag moved upstream is followed; with the upstream stopped, what is
/// cached still pulls and what is not gets a clear error.
#[test]
fn tag_moves_and_upstream_outage() {
    if !have_tools() {
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let layout = build_images(work.path());
    let upstream = Berth::start();
    push(&layout, "v1", &upstream.url, "library/app:v1", None);
    push(&layout, "v1", &upstream.url, "library/other:v1", None);
    let counter = HttpCounter::start(&upstream.url);
    let (proxy, _) = start_proxy(&counter.url, "");

    let v1 = raw_digest(&[&format!("oci:{}:v1", layout.display())]);
    let v2 = raw_digest(&[&format!("oci:{}:v2", layout.display())]);
    assert_eq!(pull(&proxy.url, "library/app:v1", work.path(), None), v1);

    // The tag moves upstream: the proxy follows.
    push(&layout, "v2", &upstream.url, "library/app:v1", None);
    assert_eq!(pull(&proxy.url, "library/app:v1", work.path(), None), v2);
    let r = proxy.head("/v2/library/app/manifests/v1");
    assert_eq!(r.header("docker-content-digest"), Some(v2.as_str()));

    // The upstream stops.
    drop(upstream);
    assert_eq!(pull(&proxy.url, "library/app:v1", work.path(), None), v2);
    let by_digest = format!("library/app@{v1}");
    assert_eq!(pull(&proxy.url, &by_digest, work.path(), None), v1);
    // Not cached: 503 UNAVAILABLE (retry later) naming the upstream; the
    // cause only in the log (berth-api keeps backend details out of
    // responses).
    let r = proxy.get("/v2/library/other/manifests/v1");
    r.assert_error(503, "UNAVAILABLE");
    assert_eq!(
        r.message(),
        format!("upstream registry {} unavailable", host(&counter.url))
    );
    let uncached = blobs_of(&layout, "v1")[0].clone();
    proxy
        .get(&format!("/v2/library/other/blobs/{uncached}"))
        .assert_error(503, "UNAVAILABLE");
    let log = proxy.log_text();
    assert!(
        log.contains(&format!(
            "upstream registry {} unavailable",
            host(&counter.url)
        )),
        "{log}"
    );
    let out = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{}/library/other:v1", host(&proxy.url)),
        &format!("oci:{}:x", work.path().join("never").display()),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("unavailable"), "{stderr}");
    eprintln!("took {:?}", started.elapsed());
}

/// With `proxy.ttl`, cached content goes when its time is up (state in
/// `scheduler-state.json`) and comes back on the next pull; the schedule
/// survives a restart.
#[test]
fn ttl_expiry_and_restart() {
    if !have_tools() {
        return;
    }
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let layout = build_images(work.path());
    let upstream = Berth::start();
    push(&layout, "v1", &upstream.url, "library/app:v1", None);
    let counter = HttpCounter::start(&upstream.url);
    let pushed = raw_digest(&[&format!("oci:{}:v1", layout.display())]);
    let layers = blobs_of(&layout, "v1");
    let layer = layers[2].encoded().to_owned();

    // A short TTL: gone, then back.
    let (proxy, debug) = start_proxy(&counter.url, "  ttl: 3s\n");
    assert_eq!(
        pull(&proxy.url, "library/app:v1", work.path(), None),
        pushed
    );
    let state = proxy.root.join("scheduler-state.json");
    wait("the schedule on storage", 10, || {
        std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.as_object().is_some_and(|o| o.len() == 4))
    });
    assert_eq!(files_with(&proxy.root, &layer), 2, "data and link");
    wait("expiry", 20, || files_with(&proxy.root, &layer) == 0);
    wait("expiry counted", 10, || {
        metric(debug, r#"berth_proxy_expired_total{kind="blob"}"#) == Some(3)
    });
    counter.reset();
    assert_eq!(
        pull(&proxy.url, "library/app:v1", work.path(), None),
        pushed
    );
    assert_eq!(counter.count("GET", "/blobs/"), 3, "fetched again");
    assert_eq!(files_with(&proxy.root, &layer), 2);
    drop(proxy);

    // A long TTL survives a restart (even a kill).
    let (proxy, debug) = start_proxy(&counter.url, "  ttl: 1h\n");
    pull(&proxy.url, "library/app:v1", work.path(), None);
    let state = proxy.root.join("scheduler-state.json");
    wait("the schedule on storage", 10, || {
        std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.as_object().is_some_and(|o| o.len() == 4))
    });
    let before = std::fs::read(&state).unwrap();
    let proxy = proxy.restart();
    assert_eq!(metric(debug, "berth_proxy_scheduled"), Some(4));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    drop(proxy);
    eprintln!("took {:?}", started.elapsed());
}

/// Eight clients pull one 256 MiB blob at once: the upstream sends it
/// once, every client gets every byte.
#[test]
fn eight_concurrent_pulls_of_a_256_mib_blob_fetch_it_once() {
    let upstream = Berth::start();
    let block = data(64 << 20, 3);
    let size = 256u64 << 20;
    let digest = seed_big_blob(&upstream.root, "big/blob", &block, size);
    drop(block);
    let counter = HttpCounter::start(&upstream.url);
    let (proxy, debug) = start_proxy(&counter.url, "");

    let started = Instant::now();
    let url = proxy.url(&format!("/v2/big/blob/blobs/{digest}"));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || fetch_blob(&url))
        })
        .collect();
    for reader in readers {
        let (got, len) = reader.join().unwrap();
        assert_eq!(len, size);
        assert_eq!(got, digest);
    }
    let took = started.elapsed();
    assert_eq!(
        counter.count("GET", "/blobs/"),
        1,
        "one fetch upstream: {:?}",
        counter.requests()
    );
    assert!(counter.bytes_down() < size + (1 << 20));
    assert_eq!(metric(debug, "berth_proxy_blob_fetches_total"), Some(1));
    eprintln!(
        "8 concurrent pulls of 256 MiB through the proxy: {took:?}; upstream requests {:?}; proxy peak RSS {} MiB",
        counter.requests(),
        peak_rss_kib(proxy.pid()) / 1024
    );
}

/// Streaming a 1 GiB blob through the proxy keeps its memory bounded.
#[test]
fn memory_stays_bounded_streaming_a_1_gib_blob() {
    let upstream = Berth::start();
    let block = data(64 << 20, 4);
    let size = 1u64 << 30;
    let digest = seed_big_blob(&upstream.root, "big/blob", &block, size);
    drop(block);
    let (proxy, _) = start_proxy(&upstream.url, "");
    let before = peak_rss_kib(proxy.pid());
    let started = Instant::now();
    let (got, len) = fetch_blob(&proxy.url(&format!("/v2/big/blob/blobs/{digest}")));
    let took = started.elapsed();
    assert_eq!((got, len), (digest.clone(), size));
    let peak = peak_rss_kib(proxy.pid());
    eprintln!(
        "1 GiB through the proxy in {took:?}; proxy peak RSS {} MiB (at start {} MiB)",
        peak / 1024,
        before / 1024
    );
    assert!(peak < 128 * 1024, "peak RSS {peak} KiB streaming 1 GiB");
    // It was stored, and is served from storage the second time.
    let started = Instant::now();
    let (again, _) = fetch_blob(&proxy.url(&format!("/v2/big/blob/blobs/{digest}")));
    assert_eq!(again, digest);
    eprintln!(
        "the same 1 GiB from the proxy's storage: {:?}",
        started.elapsed()
    );
}

/// A `docker-registry` upstream with htpasswd: the proxy pulls with its
/// credentials; without them the client is told the upstream refused.
#[test]
fn docker_registry_upstream_with_htpasswd() {
    if !have_tools() || !program("htpasswd") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = build_images(work.path());
    let users = work.path().join("htpasswd");
    run(
        "htpasswd",
        &[
            "-B",
            "-b",
            "-c",
            users.to_str().unwrap(),
            "alice",
            "wonder land",
        ],
    );
    let Some(upstream) = DockerRegistry::start_with(
        &work.path().join("upstream"),
        &format!(
            "auth:\n  htpasswd:\n    realm: basic-realm\n    path: {}\n",
            users.display()
        ),
    ) else {
        return;
    };
    let creds = "alice:wonder land";
    push(&layout, "v1", &upstream.url, "team/app:v1", Some(creds));
    let counter = HttpCounter::start(&upstream.url);
    let (proxy, _) = start_proxy(&counter.url, "  username: alice\n  password: wonder land\n");
    let pushed = raw_digest(&[&format!("oci:{}:v1", layout.display())]);
    assert_eq!(pull(&proxy.url, "team/app:v1", work.path(), None), pushed);
    assert_eq!(counter.count("GET", "/blobs/"), 3);
    counter.reset();
    assert_eq!(pull(&proxy.url, "team/app:v1", work.path(), None), pushed);
    assert_eq!(counter.count("GET", ""), 0, "{:?}", counter.requests());

    let (anonymous, _) = start_proxy(&counter.url, "");
    let r = anonymous.get("/v2/team/app/manifests/v1");
    r.assert_error(403, "DENIED");
    assert!(r.message().contains("upstream"), "{}", r.message());
}

/// Token authentication upstream (a berth and a docker-registry, with a
/// token server on loopback signing RS256 JWTs).
#[test]
fn token_auth_upstreams() {
    if !have_tools() || !program("openssl") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let layout = build_images(work.path());
    let pushed = raw_digest(&[&format!("oci:{}:v1", layout.display())]);
    let tokens = TokenServer::start(Issuer::new());
    let auth = format!(
        "auth:\n  token:\n    realm: {}/token\n    service: upstream\n    issuer: test-issuer\n    rootcertbundle: {}\n",
        tokens.url,
        tokens.issuer.bundle().display()
    );
    let creds = "alice:pw";

    let berth = Berth::start_with(&auth);
    let mut upstreams = vec![("berth", berth.url.clone())];
    let distribution = DockerRegistry::start_with(&work.path().join("upstream"), &auth);
    if let Some(d) = &distribution {
        upstreams.push(("docker-registry", d.url.clone()));
    }
    for (kind, url) in upstreams {
        push(&layout, "v1", &url, "team/app:v1", Some(creds));
        let counter = HttpCounter::start(&url);
        let (proxy, _) = start_proxy(&counter.url, "  username: alice\n  password: pw\n");
        let issued = tokens.issued();
        assert_eq!(
            pull(&proxy.url, "team/app:v1", work.path(), None),
            pushed,
            "{kind}"
        );
        assert_eq!(counter.count("GET", "/blobs/"), 3, "{kind}");
        assert!(tokens.issued() > issued, "{kind}: the proxy got tokens");
        // The anonymous can not.
        let (anonymous, _) = start_proxy(&counter.url, "");
        anonymous
            .get("/v2/team/app/manifests/v1")
            .assert_error(403, "DENIED");
    }
    drop(berth);
}

// --- a token server --------------------------------------------------------

/// Signing material (`berth_testkit::TokenIssuer`: an RSA key and its
/// self-signed certificate, the registries' `rootcertbundle`).
struct Issuer(berth_testkit::TokenIssuer);

impl Issuer {
    fn new() -> Issuer {
        Issuer(berth_testkit::TokenIssuer::new("berth proxy test token issuer").expect("openssl"))
    }

    fn bundle(&self) -> PathBuf {
        self.0.bundle()
    }

    /// An RS256 JWT granting `scopes` (`repository:NAME:ACTIONS`).
    fn token(&self, scopes: &[String]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: serde_json::Value =
            serde_json::from_str(&berth_testkit::access_claim(scopes)).unwrap();
        static JTI: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let claims = serde_json::json!({
            "iss": "test-issuer", "sub": "alice", "aud": "upstream",
            "exp": now + 300, "nbf": now - 10, "iat": now - 10,
            "jti": format!("jti-{}", JTI.fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
            "access": access,
        });
        self.0.sign(&claims.to_string())
    }
}

/// `GET /token?service=upstream&scope=…` with Basic `alice:pw`: a token
/// granting the scopes asked for; anyone else gets 401.
struct TokenServer {
    url: String,
    issuer: std::sync::Arc<Issuer>,
    issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TokenServer {
    fn start(issuer: Issuer) -> TokenServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let issuer = std::sync::Arc::new(issuer);
        let issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (i, n) = (issuer.clone(), issued.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (i, n) = (i.clone(), n.clone());
                std::thread::spawn(move || TokenServer::serve(conn, &i, &n));
            }
        });
        TokenServer {
            url,
            issuer,
            issued,
        }
    }

    fn issued(&self) -> usize {
        self.issued.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn serve(conn: std::net::TcpStream, issuer: &Issuer, issued: &std::sync::atomic::AtomicUsize) {
        use std::io::Write;
        let mut writer = conn.try_clone().unwrap();
        let mut reader = std::io::BufReader::new(conn);
        while let Some(request) = berth_testkit::read_request(&mut reader) {
            use base64::Engine;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("alice:pw")
            );
            let authorization = request.header("authorization").unwrap_or_default();
            let scopes: Vec<String> = request
                .query("scope")
                .iter()
                .flat_map(|s| s.split(' ').map(str::to_owned).collect::<Vec<_>>())
                .collect();
            let (status, body) = if authorization == expected {
                issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let token = issuer.token(&scopes);
                (
                    200,
                    serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                        .to_string(),
                )
            } else {
                (401, r#"{"details":"bad credentials"}"#.to_owned())
            };
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if writer.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}
