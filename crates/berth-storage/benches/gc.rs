//! Garbage collection, berth against Distribution, in one run.
//!
//! `cargo bench -p berth-storage --bench gc` seeds a storage root in
//! Distribution's layout with N blobs (10,000 and 100,000 on the
//! filesystem; 1,000, and 10,000 as a dry run, on the S3 server of
//! `BERTH_TEST_S3_*`):
//!
//! - N/4 Docker schema 2 image manifests in N/500 repositories (125 a
//!   repository), each referencing a config of its own and 3 layers: one
//!   shared by the whole repository, one shared by a pair of manifests,
//!   one of its own;
//! - every other manifest tagged (`t0000`, `t0002`, …: 63 tags a
//!   repository), and the untagged one of each pair in its partner's tag
//!   history (the tag was moved off it), so `--delete-untagged` removes
//!   half the manifests, with their config and own layer;
//! - orphan blobs up to N (half of them with a layer link, as a layer
//!   whose manifest never came), so that about half of the blobs are
//!   garbage.
//!
//! The files (blob data, `_layers` links, revision links, tag `current`
//! and `index` links) are written directly, not pushed: with `std::fs`
//! from a few threads on the filesystem, with `S3Driver::put_content` 64
//! at a time on S3. Every manifest's digest is the SHA-256 of its bytes.
//!
//! Each round writes the same tree twice, one root for each collector (a
//! dry run removes nothing, so both read one root), then runs
//! `--delete-untagged` collections, alternating who goes first:
//!
//! - berth's `Registry::garbage_collect` (a zero grace period), in a child
//!   process (this benchmark run again with `--collect`), so that its peak
//!   RSS (`VmHWM`) is the collection's, not the seeding's. Like `berth
//!   garbage-collect`, the child runs a 2-worker runtime with one malloc
//!   arena (`MALLOC_ARENA_MAX=1`); it reports the time of the call alone,
//!   and the time of each phase (from `GcProgress`);
//! - Debian's `docker-registry garbage-collect --delete-untagged CONFIG`
//!   (CNCF Distribution 2.8), wall time of the process, its peak RSS from
//!   GNU `time -f %M` when `/usr/bin/time` is GNU time, else from polling
//!   `/proc/PID/status`. Skipped with a message when it is not installed.
//!
//! It checks that berth removed (or would remove) exactly the expected
//! manifests and blobs, that docker-registry found the same numbers
//! eligible, and after real runs that both left the same files (blob data,
//! revision, tag and layer links). Objects per second counts the blobs
//! listed plus the manifests (revisions) read; ratios are
//! berth/Distribution.
//!
//! `BERTH_BENCH_GC_CASES` replaces the cases: `STORE:BLOBS[:ROUNDS[:dry]]`,
//! comma-separated, STORE `fs` or `s3` (`fs:100000:1,s3:10000:1:dry`).
//! The directory is `BERTH_BENCH_DIR` if set, else a temporary directory
//! under Cargo's target directory. Without `--bench` (as `cargo test` runs
//! it) it seeds 300 blobs on the filesystem and 40 on S3 (if one is
//! configured), once each.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_digest::Digest;
use berth_driver::{FilesystemDriver, StorageDriver, Walk};
use berth_driver_s3::{S3Driver, S3Parameters};
use berth_manifest::media_type;
use berth_reference::{RepositoryName, Tag};
use berth_storage::{GcOptions, GcProgress, Registry, StorageOptions, paths};
use berth_testkit::S3Env;
use berth_testkit::bench::{benching, median};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

/// Threads writing files while seeding the filesystem.
const FS_SEED_THREADS: usize = 4;
/// Objects written at once while seeding S3.
const S3_SEED_CONCURRENCY: usize = 64;
/// One manifest per this many blobs.
const BLOBS_PER_MANIFEST: usize = 4;
/// One repository per this many blobs (at least two repositories).
const BLOBS_PER_REPOSITORY: usize = 500;
/// The argument that makes this program the collecting child.
const COLLECT: &str = "--collect";
/// The line the child prints its result on.
const RESULT: &str = "gc-result ";

/// Where a root lives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Filesystem,
    S3,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Filesystem => "filesystem",
            Store::S3 => "s3",
        }
    }
}

/// One measurement: this many blobs on that store, so many rounds, for
/// real or as a dry run.
struct Case {
    blobs: usize,
    store: Store,
    rounds: usize,
    dry_run: bool,
}

/// A seeded tree: its files and what a `--delete-untagged` collection
/// must remove.
struct Layout {
    blobs: usize,
    repositories: usize,
    manifests: usize,
    /// Storage paths and contents, blobs and links.
    files: Vec<(String, Bytes)>,
    /// The data files of the blobs that must go.
    garbage: BTreeSet<String>,
    /// How many manifests must go.
    doomed: usize,
}

impl Layout {
    /// Blobs listed plus manifests read: what "objects" counts.
    fn objects(&self) -> usize {
        self.blobs + self.manifests
    }

    /// The data files of the blobs that must stay.
    fn kept_blobs(&self) -> BTreeSet<String> {
        let root = paths::blobs_root();
        self.files
            .iter()
            .map(|(path, _)| path)
            .filter(|p| p.starts_with(&root) && !self.garbage.contains(*p))
            .cloned()
            .collect()
    }
}

/// Adds a blob; answers its digest and size.
fn blob(files: &mut Vec<(String, Bytes)>, content: Bytes) -> (Digest, usize) {
    let digest = Digest::sha256(&content);
    let size = content.len();
    files.push((paths::blob_data(&digest), content));
    (digest, size)
}

/// Adds a link file at `path` naming `digest`.
fn link(files: &mut Vec<(String, Bytes)>, path: String, digest: &Digest) {
    files.push((path, Bytes::copy_from_slice(digest.as_str().as_bytes())));
}

fn descriptor(media_type: &str, digest: &Digest, size: usize) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

/// The tree of `n` blobs described at the top.
fn layout(n: usize) -> Layout {
    let repositories = (n / BLOBS_PER_REPOSITORY).max(2);
    let per_repository = n / BLOBS_PER_MANIFEST / repositories;
    let mut files = Vec::new();
    let mut garbage = BTreeSet::new();
    let mut doomed = 0;
    let mut names = Vec::new();
    for r in 0..repositories {
        let name = RepositoryName::parse(&format!("gc-bench/r{r:04}"))
            .unwrap_or_else(|e| panic!("repository name: {e}"));
        let base = blob(
            &mut files,
            Bytes::from(format!("base layer of repository {r}\n")),
        );
        link(&mut files, paths::layer_link(&name, &base.0), &base.0);
        let mut pair = base.clone();
        for i in 0..per_repository {
            if i % 2 == 0 {
                pair = blob(
                    &mut files,
                    Bytes::from(format!("layer shared by images {i} and {} of {r}\n", i + 1)),
                );
                link(&mut files, paths::layer_link(&name, &pair.0), &pair.0);
            }
            let own = blob(
                &mut files,
                Bytes::from(format!("layer of image {i} of repository {r}\n")),
            );
            link(&mut files, paths::layer_link(&name, &own.0), &own.0);
            let layers = [&base, &pair, &own];
            let config = Bytes::from(format!(
                r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"berth.bench":"{r}/{i}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}","{}","{}"]}}}}"#,
                base.0, pair.0, own.0
            ));
            let (config_digest, config_size) = blob(&mut files, config);
            link(
                &mut files,
                paths::layer_link(&name, &config_digest),
                &config_digest,
            );
            let manifest = format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
                media_type::DOCKER_MANIFEST_V2,
                descriptor(media_type::DOCKER_CONFIG, &config_digest, config_size),
                layers
                    .iter()
                    .map(|(d, size)| descriptor(media_type::DOCKER_LAYER_GZIP, d, *size))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            let (manifest, _) = blob(&mut files, Bytes::from(manifest));
            link(
                &mut files,
                paths::revision_link(&name, &manifest),
                &manifest,
            );
            if i % 2 == 0 {
                // Tagged: t<i> points here.
                let tag = Tag::parse(&format!("t{i:04}")).unwrap_or_else(|e| panic!("tag: {e}"));
                link(&mut files, paths::tag_current_link(&name, &tag), &manifest);
                link(
                    &mut files,
                    paths::tag_index_link(&name, &tag, &manifest),
                    &manifest,
                );
                names.push((name.clone(), tag));
            } else {
                // Untagged: t<i-1> pointed here before it moved.
                let (_, tag) = names.last().unwrap_or_else(|| unreachable!());
                link(
                    &mut files,
                    paths::tag_index_link(&name, tag, &manifest),
                    &manifest,
                );
                doomed += 1;
                for d in [&manifest, &config_digest, &own.0] {
                    garbage.insert(paths::blob_data(d));
                }
            }
        }
    }
    let seeded = files
        .iter()
        .filter(|(p, _)| p.starts_with(&paths::blobs_root()))
        .count();
    assert!(seeded <= n, "the layout has {seeded} blobs, more than {n}");
    for k in 0..n - seeded {
        let (orphan, _) = blob(&mut files, Bytes::from(format!("orphan blob {k}\n")));
        garbage.insert(paths::blob_data(&orphan));
        if k % 2 == 0 {
            let name = &names[k % names.len()].0;
            link(&mut files, paths::layer_link(name, &orphan), &orphan);
        }
    }
    Layout {
        blobs: n,
        repositories,
        manifests: per_repository * repositories,
        files,
        garbage,
        doomed,
    }
}

/// Writes `files` below each of `roots` (removed first), from a few
/// threads, without syncing each file; then one `sync`.
fn write_tree(roots: &[&Path], files: &[(String, Bytes)]) {
    for root in roots {
        let _ = std::fs::remove_dir_all(root);
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..FS_SEED_THREADS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, content)) = files.get(i) else {
                        return;
                    };
                    for root in roots {
                        let file = root.join(path.trim_start_matches('/'));
                        if let Some(dir) = file.parent() {
                            std::fs::create_dir_all(dir)
                                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
                        }
                        std::fs::write(&file, content)
                            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    }
                }
            });
        }
    });
    let _ = Command::new("sync").status();
}

/// Writes `files` through each driver, `S3_SEED_CONCURRENCY` at a time.
async fn put_tree(drivers: &[&S3Driver], files: &[(String, Bytes)]) {
    futures_util::stream::iter(
        drivers
            .iter()
            .flat_map(|d| files.iter().map(move |f| (*d, f))),
    )
    .map(|(driver, (path, content))| async move {
        driver
            .put_content(path, content.clone())
            .await
            .map_err(|e| format!("{path}: {e}"))
    })
    .buffer_unordered(S3_SEED_CONCURRENCY)
    .try_collect::<()>()
    .await
    .unwrap_or_else(|e| panic!("seed S3: {e}"));
}

/// Every file below `root/docker`, relative to `root`.
fn fs_files(root: &Path) -> BTreeSet<String> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                visit(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.insert(format!("/{}", rel.to_string_lossy()));
            }
        }
    }
    let mut out = BTreeSet::new();
    visit(root, &root.join("docker"), &mut out);
    out
}

/// Every file below `/docker` of a driver's root.
async fn driver_files(driver: &dyn StorageDriver) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    driver
        .walk("/docker", &mut |info| {
            if !info.is_dir {
                out.insert(info.path.clone());
            }
            Walk::Continue
        })
        .await
        .unwrap_or_else(|e| panic!("walk: {e}"));
    out
}

/// The S3 parameters of the test server, under `root`.
fn s3_params(env: &S3Env, root: &str) -> S3Parameters {
    let mut p = S3Parameters::new(env.bucket.clone());
    p.region = Some(env.region.clone());
    p.regionendpoint = Some(env.endpoint.clone());
    p.forcepathstyle = true;
    p.accesskey = Some(env.access_key.clone());
    p.secretkey = Some(env.secret_key.clone());
    p.rootdirectory = Some(root.to_owned());
    p
}

async fn s3_driver(env: &S3Env, root: &str) -> S3Driver {
    S3Driver::new(s3_params(env, root))
        .await
        .unwrap_or_else(|e| panic!("S3Driver::new: {e}"))
}

/// The peak resident set of this process, in KiB (`VmHWM`).
fn vm_hwm_kib() -> u64 {
    proc_hwm_kib("self").unwrap_or(0)
}

/// `VmHWM` of `/proc/<pid>/status`, in KiB.
fn proc_hwm_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The phases of a collection, by the progress event that ends each.
const PHASES: [&str; 7] = [
    "lease (none in a dry run) + list repositories",
    "mark",
    "list blobs",
    "markers + announce",
    "sweep manifests",
    "sweep blobs",
    "done + tidy + release",
];

/// Which phase `p` ends, if any (`PHASES` index).
fn phase_ended(p: GcProgress) -> Vec<usize> {
    let mut ended = Vec::new();
    match p {
        GcProgress::Mark {
            repositories,
            total,
            ..
        } => {
            if repositories == 0 {
                ended.push(0);
            }
            if repositories == total {
                ended.push(1);
            }
        }
        GcProgress::ListBlobs { done: true, .. } => ended.push(2),
        GcProgress::SweepManifests { removed, total } => {
            if removed == 0 {
                ended.push(3);
            }
            if removed == total {
                ended.push(4);
            }
        }
        GcProgress::SweepBlobs { removed, total } if removed == total => ended.push(5),
        _ => {}
    }
    ended
}

/// The child: one collection of the root `args` name (`fs PATH` or `s3
/// ROOTDIRECTORY`, the server from `BERTH_TEST_S3_*`; `dry-run` after
/// them for a dry run); prints its result as JSON on one line.
fn collect(args: &[String]) {
    let (store, root, dry_run) = match args {
        [store, root] => (store, root, false),
        [store, root, dry] if dry == "dry-run" => (store, root, true),
        _ => panic!("usage: gc {COLLECT} fs|s3 ROOT [dry-run]"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let driver: Arc<dyn StorageDriver> = match store.as_str() {
            "fs" => Arc::new(FilesystemDriver::new(root)),
            "s3" => {
                let env = berth_testkit::s3_env("gc benchmark")
                    .unwrap_or_else(|| panic!("no S3 configured in the child"));
                Arc::new(s3_driver(&env, root).await)
            }
            other => panic!("unknown store {other}"),
        };
        let registry = Registry::new(driver, StorageOptions::default());
        let before_kib = vm_hwm_kib();
        let ends: Mutex<[Option<Instant>; PHASES.len()]> = Mutex::new([None; PHASES.len()]);
        let hook = |p: GcProgress| {
            for i in phase_ended(p) {
                let mut ends = ends.lock().unwrap_or_else(|e| e.into_inner());
                ends[i].get_or_insert_with(Instant::now);
            }
        };
        let start = Instant::now();
        let report = registry
            .garbage_collect_with_progress(
                GcOptions {
                    dry_run,
                    delete_untagged: true,
                    delay: Duration::ZERO,
                },
                &hook,
            )
            .await
            .unwrap_or_else(|e| panic!("garbage collection: {e}"));
        let end = Instant::now();
        let secs = (end - start).as_secs_f64();
        let hwm_kib = vm_hwm_kib();
        let mut ends = ends.into_inner().unwrap_or_else(|e| e.into_inner());
        ends[PHASES.len() - 1] = Some(end);
        let mut last = start;
        let phases: Vec<f64> = ends
            .iter()
            .map(|t| {
                let t = t.unwrap_or(last);
                let d = (t - last).as_secs_f64();
                last = t;
                d
            })
            .collect();
        println!(
            "{RESULT}{}",
            serde_json::json!({
                "secs": secs,
                "hwm_kib": hwm_kib,
                "before_kib": before_kib,
                "blobs_removed": report.blobs_removed.len(),
                "blobs_kept": report.blobs_kept,
                "manifests_removed": report.manifests_removed.len(),
                "manifests_kept": report.manifests_kept.len(),
                "phases": phases,
            })
        );
    });
}

/// What the child reported.
struct BerthRun {
    secs: f64,
    hwm_kib: u64,
    before_kib: u64,
    blobs_removed: usize,
    manifests_removed: usize,
    phases: Vec<f64>,
}

/// Runs the child on `root`.
fn run_berth(store: Store, root: &str, dry_run: bool) -> BerthRun {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current_exe: {e}"));
    let store = match store {
        Store::Filesystem => "fs",
        Store::S3 => "s3",
    };
    let out = Command::new(exe)
        .args([COLLECT, store, root])
        .args(dry_run.then_some("dry-run"))
        .env("MALLOC_ARENA_MAX", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run the collecting child: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the collecting child failed: {stdout}"
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT))
        .unwrap_or_else(|| panic!("no result from the child: {stdout}"));
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("child result {line}: {e}"));
    let num = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_f64())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    BerthRun {
        secs: num("secs"),
        hwm_kib: num("hwm_kib") as u64,
        before_kib: num("before_kib") as u64,
        blobs_removed: num("blobs_removed") as usize,
        manifests_removed: num("manifests_removed") as usize,
        phases: v
            .get("phases")
            .and_then(|p| p.as_array())
            .map(|p| p.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default(),
    }
}

/// Whether `/usr/bin/time` is GNU time (`-f %M`: the peak RSS in KiB).
fn gnu_time() -> bool {
    Command::new("/usr/bin/time")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout).contains("GNU")
                || String::from_utf8_lossy(&o.stderr).contains("GNU")
        })
}

/// One Distribution collection: wall seconds, peak RSS in KiB, and how
/// many manifests and blobs it found eligible for deletion.
struct DistributionRun {
    secs: f64,
    hwm_kib: u64,
    manifests: usize,
    blobs: usize,
}

/// `docker-registry garbage-collect --delete-untagged [--dry-run] CONFIG`,
/// its output in files beside CONFIG.
fn run_distribution(config: &Path, gnu_time: bool, dry_run: bool) -> DistributionRun {
    let log = config.with_extension("log");
    let out = config.with_extension("out");
    let rss = config.with_extension("rss");
    let stderr = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let stdout = std::fs::File::create(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let mut command = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss);
        c.arg("docker-registry");
        c
    } else {
        Command::new("docker-registry")
    };
    command
        .args(["garbage-collect", "--delete-untagged"])
        .args(dry_run.then_some("--dry-run"))
        .arg(config)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("run docker-registry garbage-collect: {e}"));
    let mut polled = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait: {e}")) {
            break status;
        }
        if !gnu_time {
            polled = polled.max(proc_hwm_kib(&child.id().to_string()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let secs = start.elapsed().as_secs_f64();
    let errors = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "docker-registry garbage-collect failed ({status}): {errors}"
    );
    let hwm_kib = if gnu_time {
        std::fs::read_to_string(&rss)
            .ok()
            .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
            .unwrap_or(0)
    } else {
        polled
    };
    let output = std::fs::read_to_string(&out).unwrap_or_default();
    let count = |what: &str| output.lines().filter(|l| l.starts_with(what)).count();
    for file in [&rss, &out, &log] {
        let _ = std::fs::remove_file(file);
    }
    DistributionRun {
        secs,
        hwm_kib,
        manifests: count("manifest eligible for deletion"),
        blobs: count("blob eligible for deletion"),
    }
}

fn fs_config(config: &Path, root: &Path) {
    std::fs::write(
        config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            root.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
}

fn s3_config(config: &Path, env: &S3Env, root: &str) {
    std::fs::write(
        config,
        format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  s3:\n    region: {}\n    regionendpoint: {}\n    \
             bucket: {}\n    rootdirectory: {root}\n    accesskey: {}\n    secretkey: {}\n    \
             secure: false\n    v4auth: true\n",
            env.region, env.endpoint, env.bucket, env.access_key, env.secret_key
        ),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
}

/// The medians of one case, for the table.
struct Row {
    blobs: usize,
    store: Store,
    dry_run: bool,
    objects: usize,
    berth_secs: f64,
    berth_mib: f64,
    berth_before_mib: f64,
    phases: Vec<f64>,
    distribution: Option<(f64, f64)>,
}

impl Row {
    fn label(&self) -> String {
        format!(
            "{}{}",
            self.store.name(),
            if self.dry_run { " (dry run)" } else { "" }
        )
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Checks that berth removed (or in a dry run, would remove) what it
/// must, that docker-registry found the same manifests and blobs eligible,
/// and after real runs that both left the same files.
fn check(
    layout: &Layout,
    berth: &BerthRun,
    theirs: Option<&DistributionRun>,
    files: Option<(BTreeSet<String>, Option<BTreeSet<String>>)>,
) {
    assert_eq!(
        (berth.manifests_removed, berth.blobs_removed),
        (layout.doomed, layout.garbage.len()),
        "berth's (manifests, blobs) removed"
    );
    if let Some(theirs) = theirs {
        assert_eq!(
            (theirs.manifests, theirs.blobs),
            (layout.doomed, layout.garbage.len()),
            "docker-registry's (manifests, blobs) eligible for deletion"
        );
    }
    let Some((berth_files, their_files)) = files else {
        return;
    };
    let blobs_root = paths::blobs_root();
    let left: BTreeSet<String> = berth_files
        .iter()
        .filter(|p| p.starts_with(&blobs_root))
        .cloned()
        .collect();
    assert!(
        left == layout.kept_blobs(),
        "berth left {} blobs, {} expected",
        left.len(),
        layout.kept_blobs().len()
    );
    if let Some(theirs) = their_files {
        let only_berth: Vec<_> = berth_files.difference(&theirs).take(5).collect();
        let only_theirs: Vec<_> = theirs.difference(&berth_files).take(5).collect();
        assert!(
            only_berth.is_empty() && only_theirs.is_empty(),
            "berth and docker-registry left different files: only berth's {only_berth:?}, \
             only docker-registry's {only_theirs:?}"
        );
    }
}

/// Runs berth and (if installed) docker-registry in turn, alternating who
/// goes first.
fn both(
    round: usize,
    berth: impl FnOnce() -> BerthRun,
    distribution: Option<impl FnOnce() -> DistributionRun>,
) -> (BerthRun, Option<DistributionRun>) {
    if round % 2 == 1 {
        let b = berth();
        (b, distribution.map(|d| d()))
    } else {
        let d = distribution.map(|d| d());
        (berth(), d)
    }
}

fn run_fs(case: &Case, dir: &Path, distribution: bool, gnu_time: bool) -> Row {
    let layout = layout(case.blobs);
    let berth_root = dir.join(format!("gc-{}-berth", case.blobs));
    // A dry run removes nothing: both read the same root.
    let their_root = if case.dry_run {
        berth_root.clone()
    } else {
        dir.join(format!("gc-{}-docker-registry", case.blobs))
    };
    let config = dir.join(format!("gc-{}-docker-registry.yml", case.blobs));
    fs_config(&config, &their_root);
    describe(&layout, case);
    let mut berth_runs = Vec::new();
    let mut their_runs = Vec::new();
    for round in 1..=case.rounds {
        let start = Instant::now();
        if round == 1 || !case.dry_run {
            let mut roots: Vec<&Path> = vec![&berth_root];
            if distribution && their_root != berth_root {
                roots.push(&their_root);
            }
            write_tree(&roots, &layout.files);
        }
        let seeded = start.elapsed().as_secs_f64();
        let (berth, theirs) = both(
            round,
            || {
                run_berth(
                    Store::Filesystem,
                    &berth_root.to_string_lossy(),
                    case.dry_run,
                )
            },
            distribution.then_some(|| run_distribution(&config, gnu_time, case.dry_run)),
        );
        let files = (!case.dry_run).then(|| {
            (
                fs_files(&berth_root),
                distribution.then(|| fs_files(&their_root)),
            )
        });
        check(&layout, &berth, theirs.as_ref(), files);
        round_line(
            round,
            seeded,
            &layout,
            &berth,
            theirs.as_ref(),
            case.dry_run,
        );
        berth_runs.push(berth);
        their_runs.extend(theirs);
    }
    for root in [&berth_root, &their_root] {
        let _ = std::fs::remove_dir_all(root);
    }
    let _ = std::fs::remove_file(&config);
    row(case, &layout, berth_runs, their_runs)
}

fn run_s3(case: &Case, env: &S3Env, dir: &Path, distribution: bool, gnu_time: bool) -> Row {
    let layout = layout(case.blobs);
    describe(&layout, case);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let config = dir.join(format!("gc-{}-s3-docker-registry.yml", case.blobs));
    let mut berth_runs = Vec::new();
    let mut their_runs = Vec::new();
    let mut seeded_roots: Option<(String, String)> = None;
    for round in 1..=case.rounds {
        let start = Instant::now();
        let (berth_root, their_root) = match &seeded_roots {
            Some(roots) if case.dry_run => roots.clone(),
            _ => {
                let berth_root = berth_testkit::unique_root();
                // A dry run removes nothing: both read the same root.
                let their_root = if case.dry_run {
                    berth_root.clone()
                } else {
                    berth_testkit::unique_root()
                };
                runtime.block_on(async {
                    let mut drivers = vec![s3_driver(env, &berth_root).await];
                    if distribution && their_root != berth_root {
                        drivers.push(s3_driver(env, &their_root).await);
                    }
                    put_tree(&drivers.iter().collect::<Vec<_>>(), &layout.files).await;
                });
                (berth_root, their_root)
            }
        };
        seeded_roots = Some((berth_root.clone(), their_root.clone()));
        let seeded = start.elapsed().as_secs_f64();
        s3_config(&config, env, &their_root);
        let (berth, theirs) = both(
            round,
            || run_berth(Store::S3, &berth_root, case.dry_run),
            distribution.then_some(|| run_distribution(&config, gnu_time, case.dry_run)),
        );
        let files = (!case.dry_run).then(|| {
            runtime.block_on(async {
                let theirs = if distribution {
                    Some(driver_files(&s3_driver(env, &their_root).await).await)
                } else {
                    None
                };
                (
                    driver_files(&s3_driver(env, &berth_root).await).await,
                    theirs,
                )
            })
        });
        check(&layout, &berth, theirs.as_ref(), files);
        round_line(
            round,
            seeded,
            &layout,
            &berth,
            theirs.as_ref(),
            case.dry_run,
        );
        berth_runs.push(berth);
        their_runs.extend(theirs);
        if !case.dry_run || round == case.rounds {
            remove_s3_roots(&runtime, env, &[&berth_root, &their_root]);
        }
    }
    let _ = std::fs::remove_file(&config);
    row(case, &layout, berth_runs, their_runs)
}

/// Deletes benchmark roots from the S3 bucket.
fn remove_s3_roots(runtime: &tokio::runtime::Runtime, env: &S3Env, roots: &[&String]) {
    let mut roots: Vec<&String> = roots.to_vec();
    roots.dedup();
    runtime.block_on(async {
        for root in roots {
            if let Err(e) = s3_driver(env, root).await.delete("/").await {
                eprintln!("warning: could not remove the benchmark root {root} in S3: {e}");
            }
        }
    });
}

fn describe(layout: &Layout, case: &Case) {
    println!(
        "{} blobs on {}{}: {} repositories, {} manifests ({} tagged), {} files; \
         --delete-untagged must remove {} manifests and {} blobs; {} round(s)",
        layout.blobs,
        case.store.name(),
        if case.dry_run { ", dry run" } else { "" },
        layout.repositories,
        layout.manifests,
        layout.manifests - layout.doomed,
        layout.files.len(),
        layout.doomed,
        layout.garbage.len(),
        case.rounds
    );
}

fn phases_text(phases: &[f64]) -> String {
    let mut out = String::new();
    for (name, secs) in PHASES.iter().zip(phases) {
        let _ = write!(
            out,
            "{}{name} {secs:.2}",
            if out.is_empty() { "" } else { ", " }
        );
    }
    out
}

fn round_line(
    round: usize,
    seeded: f64,
    layout: &Layout,
    berth: &BerthRun,
    theirs: Option<&DistributionRun>,
    dry_run: bool,
) {
    let objects = layout.objects() as f64;
    let their_text = theirs.map_or("docker-registry not run".to_owned(), |d| {
        format!(
            "docker-registry {:.2} s ({:.0} objects/s, {:.1} MiB)",
            d.secs,
            objects / d.secs,
            mib(d.hwm_kib)
        )
    });
    println!(
        "round {round}: seeded in {seeded:.1} s; berth {:.2} s ({:.0} objects/s, {:.1} MiB, \
         {:.1} MiB before); {their_text}; {}",
        berth.secs,
        objects / berth.secs,
        mib(berth.hwm_kib),
        mib(berth.before_kib),
        match (theirs.is_some(), dry_run) {
            (false, _) => "checked berth's counts",
            (true, true) => "same manifests and blobs eligible",
            (true, false) => "same files left",
        }
    );
    println!("  berth's phases (s): {}", phases_text(&berth.phases));
}

fn row(case: &Case, layout: &Layout, berth: Vec<BerthRun>, theirs: Vec<DistributionRun>) -> Row {
    let med = |v: Vec<f64>| median(v).unwrap_or(f64::NAN);
    // The phases of the round whose total is the median.
    let secs = med(berth.iter().map(|b| b.secs).collect());
    let phases = berth
        .iter()
        .find(|b| b.secs == secs)
        .map(|b| b.phases.clone())
        .unwrap_or_default();
    Row {
        blobs: case.blobs,
        store: case.store,
        dry_run: case.dry_run,
        objects: layout.objects(),
        berth_secs: secs,
        berth_mib: med(berth.iter().map(|b| mib(b.hwm_kib)).collect()),
        berth_before_mib: med(berth.iter().map(|b| mib(b.before_kib)).collect()),
        phases,
        distribution: (!theirs.is_empty()).then(|| {
            (
                med(theirs.iter().map(|d| d.secs).collect()),
                med(theirs.iter().map(|d| mib(d.hwm_kib)).collect()),
            )
        }),
    }
}

fn table(rows: &[Row]) {
    println!(
        "\nmedians; objects = blobs listed + manifests read; ratios berth/docker-registry \
         (objects/s: higher is better for berth; RSS: lower is)"
    );
    println!(
        "| blobs | driver | objects | berth s | berth objects/s | docker-registry s | \
         docker-registry objects/s | objects/s ratio | berth peak RSS MiB | \
         docker-registry peak RSS MiB | RSS ratio |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let rate = r.objects as f64 / r.berth_secs;
        let (their_secs, their_rate, ratio, their_mib, rss_ratio) = match r.distribution {
            Some((secs, m)) => {
                let their_rate = r.objects as f64 / secs;
                (
                    format!("{secs:.2}"),
                    format!("{their_rate:.0}"),
                    format!("{:.2}", rate / their_rate),
                    format!("{m:.1}"),
                    format!("{:.2}", r.berth_mib / m),
                )
            }
            None => ("–".into(), "–".into(), "–".into(), "–".into(), "–".into()),
        };
        println!(
            "| {} | {} | {} | {:.2} | {rate:.0} | {their_secs} | {their_rate} | {ratio} | \
             {:.1} | {their_mib} | {rss_ratio} |",
            r.blobs,
            r.label(),
            r.objects,
            r.berth_secs,
            r.berth_mib,
        );
    }
    println!("\nberth's phases (s, the median round) and its peak RSS before the collection:");
    for r in rows {
        println!(
            "{} blobs, {}: {}; {:.1} MiB before",
            r.blobs,
            r.label(),
            phases_text(&r.phases),
            r.berth_before_mib
        );
    }
}

/// The cases of `cargo bench`, or of `cargo test` (small).
fn default_cases() -> Vec<Case> {
    let case = |store, blobs, rounds, dry_run| Case {
        blobs,
        store,
        rounds,
        dry_run,
    };
    if benching() {
        vec![
            case(Store::Filesystem, 10_000, 3, false),
            case(Store::Filesystem, 100_000, 3, false),
            // A real run of 10,000 blobs on Garage takes hours (see
            // docs/benchmarks.md): the same repositories, two of them.
            case(Store::S3, 1_000, 1, false),
            case(Store::S3, 10_000, 1, true),
        ]
    } else {
        // Every request to S3 costs, in a debug build against a debug
        // Garage: a few dozen blobs there.
        vec![
            case(Store::Filesystem, 300, 1, false),
            case(Store::S3, 40, 1, false),
        ]
    }
}

/// `BERTH_BENCH_GC_CASES`: `STORE:BLOBS[:ROUNDS[:dry]]`, comma-separated,
/// STORE `fs` or `s3` (`fs:100000:1,s3:10000:1:dry`).
fn parse_cases(spec: &str) -> Vec<Case> {
    spec.split(',')
        .map(|case| {
            let parts: Vec<&str> = case.trim().split(':').collect();
            let store = match parts.first() {
                Some(&"fs") => Store::Filesystem,
                Some(&"s3") => Store::S3,
                _ => panic!("BERTH_BENCH_GC_CASES: {case:?} is not fs|s3:BLOBS[:ROUNDS[:dry]]"),
            };
            let number = |i: usize, default: Option<usize>| {
                parts
                    .get(i)
                    .map(|n| n.parse().ok())
                    .unwrap_or(default)
                    .unwrap_or_else(|| {
                        panic!("BERTH_BENCH_GC_CASES: {case:?} is not fs|s3:BLOBS[:ROUNDS[:dry]]")
                    })
            };
            Case {
                store,
                blobs: number(1, None),
                rounds: number(2, Some(1)).max(1),
                dry_run: match parts.get(3) {
                    None => false,
                    Some(&"dry") => true,
                    Some(_) => panic!("BERTH_BENCH_GC_CASES: {case:?}: the fourth field is `dry`"),
                },
            }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == COLLECT) {
        collect(&args[i + 1..]);
        return;
    }
    let cases = std::env::var("BERTH_BENCH_GC_CASES")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| parse_cases(&v))
        .unwrap_or_else(default_cases);
    let (dir, _guard) = berth_testkit::bench::bench_dir(env!("CARGO_TARGET_TMPDIR"));
    let distribution = berth_testkit::program("docker-registry");
    let gnu_time = gnu_time();
    println!(
        "garbage collection with --delete-untagged: berth (in a child process, 2 runtime workers, \
         one malloc arena) against docker-registry garbage-collect, in {}; docker-registry's \
         peak RSS from {}",
        dir.display(),
        if gnu_time {
            "GNU time -f %M"
        } else {
            "polling /proc/PID/status"
        }
    );
    let mut rows = Vec::new();
    let mut s3 = None;
    for case in &cases {
        match case.store {
            Store::Filesystem => rows.push(run_fs(case, &dir, distribution, gnu_time)),
            Store::S3 => {
                let env = s3.get_or_insert_with(|| berth_testkit::s3_env("gc benchmark on S3"));
                if let Some(env) = env {
                    rows.push(run_s3(case, env, &dir, distribution, gnu_time));
                }
            }
        }
    }
    table(&rows);
}
