//! Online garbage collection (`storage.maintenance.gc` inside `berth
//! serve`) under `kill -9`, and against the offline command:
//!
//! - a run killed at different points (during the mark, at its end, at
//!   the announcement, while it removes) leaves the storage consistent on
//!   disk, and once the killed run's lease has lapsed the next run
//!   finishes the work: exactly the live images stay, and they pull;
//! - one online run removes exactly what `berth garbage-collect
//!   --delete-untagged` removes from a copy of the same root, and the
//!   same blobs as Distribution's `registry garbage-collect
//!   --delete-untagged` (when `docker-registry` is installed).
//!
//! `BERTH_GC_KILL_SEED` replays a run's contents and kill timings (each
//! run prints its seed).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use berth_digest::Digest;
use berth_testkit::{DockerRegistry, copy_tree, free_port, tree_files};
use common::{Berth, Rng, metric};
use serde_json::{Value, json};

const V2: &str = "docker/registry/v2";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// The lease's life without renewal (`record::LEASE_TTL`), plus the
/// second a run waits after writing it, plus slack for a loaded machine.
const LEASE_WAIT: Duration = Duration::from_secs(45);

// --- shared helpers --------------------------------------------------------

/// Both tests time a server's runs: one at a time, so that they do not
/// slow each other down on a small machine.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A blob's data file, relative to `docker/registry/v2`.
fn blob_rel(d: &Digest) -> String {
    let hex = d.encoded();
    format!("blobs/{}/{}/{hex}/data", d.algorithm(), &hex[..2])
}

/// A revision link, relative to `docker/registry/v2`.
fn revision_rel(repo: &str, d: &Digest) -> String {
    format!(
        "repositories/{repo}/_manifests/revisions/{}/{}/link",
        d.algorithm(),
        d.encoded()
    )
}

/// The digest a link file holds.
fn read_link(path: &Path) -> Option<Digest> {
    let text = std::fs::read_to_string(path).ok()?;
    Digest::parse(text.trim()).ok()
}

fn write_file(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Waits (bounded) for a completed run (`berth_gc_runs_total{result=
/// "removed"}` at least 1) on `b`; panics with the log otherwise.
fn wait_for_completed_run(b: &Berth, debug_port: u16, timeout: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if metric(debug_port, "berth_gc_runs_total", ("result", "removed")) >= 1.0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "no garbage collection run completed within {timeout:?} \
             (runs: busy {}, failed {}); berth's log:\n{}",
            metric(debug_port, "berth_gc_runs_total", ("result", "busy")),
            metric(debug_port, "berth_gc_runs_total", ("result", "failed")),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop_gracefully(b: &mut Berth) {
    let status = Command::new("kill")
        .args(["-TERM", &b.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(b.wait_exit(Duration::from_secs(30)), "berth did not stop");
}

/// The storage section of a configuration on `root`, with `gc` (lines
/// below `gc:`, indented six spaces) when given.
fn storage_section(root: &Path, gc: &str) -> String {
    format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
         cache:\n    blobdescriptor: inmemory\n  maintenance:\n    uploadpurging:\n      enabled: false\n    \
         gc:\n{gc}",
        root.display()
    )
}

/// berth on `root` (with `extra` before the storage section: the rest of
/// `http`, `log`), its root set.
fn serve(root: &Path, extra: &str, gc: &str) -> Berth {
    let mut b = Berth::start_with(&format!("{extra}{}", storage_section(root, gc)));
    b.root = root.to_owned();
    b
}

/// The scheduled collection every node of these tests runs.
const GC_EVERY_200MS: &str =
    "      enabled: true\n      interval: 200ms\n      delay: 0s\n      deleteuntagged: true\n";

/// Every blob data file: digest and path.
fn blob_files(v2: &Path) -> BTreeMap<Digest, PathBuf> {
    let mut out = BTreeMap::new();
    let root = v2.join("blobs");
    let Ok(algs) = std::fs::read_dir(&root) else {
        return out;
    };
    for alg in algs.flatten() {
        for prefix in std::fs::read_dir(alg.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for blob in std::fs::read_dir(prefix.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let data = blob.path().join("data");
                if data.is_file() {
                    let name = format!(
                        "{}:{}",
                        alg.file_name().to_string_lossy(),
                        blob.file_name().to_string_lossy()
                    );
                    let digest = Digest::parse(&name)
                        .unwrap_or_else(|e| panic!("{}: not a blob ({e})", data.display()));
                    out.insert(digest, data);
                }
            }
        }
    }
    out
}

/// Every repository (a directory of `repositories/` holding
/// `_manifests`), by name.
fn repositories(v2: &Path) -> Vec<String> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "_manifests" {
                let repo = dir
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push(repo);
            } else if !name.starts_with('_') {
                visit(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    let root = v2.join("repositories");
    visit(&root, &root, &mut out);
    out.sort();
    out
}

/// Every revision link of every repository: (repository, digest).
fn revisions(v2: &Path) -> BTreeSet<(String, Digest)> {
    let mut out = BTreeSet::new();
    for repo in repositories(v2) {
        let dir = v2.join(format!("repositories/{repo}/_manifests/revisions/sha256"));
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if let Some(d) = read_link(&entry.path().join("link")) {
                out.insert((repo.clone(), d));
            }
        }
    }
    out
}

/// The digests a manifest references: config and layers, or an index's
/// manifests.
fn references(manifest: &Value) -> Vec<Digest> {
    let mut out = Vec::new();
    let mut take = |d: &Value| {
        if let Some(s) = d["digest"].as_str() {
            out.push(Digest::parse(s).unwrap());
        }
    };
    take(&manifest["config"]);
    for key in ["layers", "manifests"] {
        for d in manifest[key].as_array().into_iter().flatten() {
            take(d);
        }
    }
    out
}

// --- test 1: kills ----------------------------------------------------------

/// An image (or index) written into the root or pushed.
#[derive(Debug, Clone)]
struct Image {
    repo: String,
    digest: Digest,
    media_type: &'static str,
    /// Config and layers (empty for an index).
    blobs: Vec<Digest>,
    /// The manifests of an index.
    children: Vec<Image>,
    body: Vec<u8>,
}

impl Image {
    /// Its digest, its blobs, and its children's, recursively.
    fn all_digests(&self) -> Vec<Digest> {
        let mut out = vec![self.digest.clone()];
        out.extend(self.blobs.iter().cloned());
        for c in &self.children {
            out.extend(c.all_digests());
        }
        out
    }

    /// The manifests it keeps in its repository: itself and its children.
    fn revisions(&self) -> Vec<(String, Digest)> {
        let mut out = vec![(self.repo.clone(), self.digest.clone())];
        for c in &self.children {
            out.extend(c.revisions());
        }
        out
    }
}

/// Writes Distribution's layout directly: faster than the HTTP API for
/// thousands of blobs.
struct Layout {
    v2: PathBuf,
}

impl Layout {
    fn blob(&self, data: &[u8]) -> Digest {
        let d = Digest::sha256(data);
        write_file(&self.v2.join(blob_rel(&d)), data);
        d
    }

    fn link(&self, rel: &str, d: &Digest) {
        write_file(&self.v2.join(rel), d.as_str().as_bytes());
    }

    /// A blob linked into `repo`, as an upload leaves it.
    fn layer(&self, repo: &str, data: &[u8]) -> Digest {
        let d = self.blob(data);
        self.link(
            &format!(
                "repositories/{repo}/_layers/{}/{}/link",
                d.algorithm(),
                d.encoded()
            ),
            &d,
        );
        d
    }

    fn revision(&self, repo: &str, d: &Digest) {
        self.link(&revision_rel(repo, d), d);
    }

    /// Points `tag` at `d`, with its history entry.
    fn tag(&self, repo: &str, tag: &str, d: &Digest) {
        let dir = format!("repositories/{repo}/_manifests/tags/{tag}");
        self.link(&format!("{dir}/current/link"), d);
        self.link(
            &format!("{dir}/index/{}/{}/link", d.algorithm(), d.encoded()),
            d,
        );
    }

    /// An OCI image: its config and `layers` own layers (after `shared`)
    /// stored and linked; its manifest stored and linked as a revision
    /// when `store`, else only built (to be pushed).
    fn image(
        &self,
        rng: &mut Rng,
        repo: &str,
        label: &str,
        shared: Option<&(Digest, usize)>,
        layers: usize,
        store: bool,
    ) -> Image {
        let config = json!({"architecture": "amd64", "os": "linux", "label": format!("{repo} {label}"), "n": rng.next()})
            .to_string();
        let config_digest = self.layer(repo, config.as_bytes());
        let mut descriptors: Vec<(Digest, usize)> = shared.into_iter().cloned().collect();
        for i in 0..layers {
            let mut data = format!("{repo} {label} layer {i} ").into_bytes();
            let len = rng.between(64, 400) as usize;
            data.extend(rng.bytes(len));
            descriptors.push((self.layer(repo, &data), data.len()));
        }
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": descriptors.iter().map(|(d, size)| json!({"mediaType": OCI_LAYER, "digest": d, "size": size})).collect::<Vec<_>>(),
        }))
        .unwrap();
        let digest = Digest::sha256(&body);
        if store {
            self.blob(&body);
            self.revision(repo, &digest);
        }
        let mut blobs = vec![config_digest];
        blobs.extend(descriptors.into_iter().map(|(d, _)| d));
        Image {
            repo: repo.to_owned(),
            digest,
            media_type: OCI_MANIFEST,
            blobs,
            children: Vec::new(),
            body,
        }
    }

    /// An OCI index of `children` (already stored), stored and linked.
    fn index(&self, repo: &str, children: Vec<Image>) -> Image {
        let archs = ["amd64", "arm64", "s390x"];
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": children.iter().zip(archs).map(|(c, arch)| json!({
                "mediaType": c.media_type, "digest": c.digest, "size": c.body.len(),
                "platform": {"architecture": arch, "os": "linux"},
            })).collect::<Vec<_>>(),
        }))
        .unwrap();
        let digest = self.blob(&body);
        self.revision(repo, &digest);
        Image {
            repo: repo.to_owned(),
            digest,
            media_type: OCI_INDEX,
            blobs: Vec::new(),
            children,
            body,
        }
    }
}

/// What the registry must keep, and what it must lose.
struct Reference {
    /// (tag, image) of every tag at the end.
    live: Vec<(String, Image)>,
    /// Manifests no tag reaches (their revision links exist at the start).
    untagged: Vec<Image>,
    /// Manifests deleted by digest through the API.
    deleted: Vec<Image>,
}

impl Reference {
    fn live_blobs(&self) -> BTreeSet<Digest> {
        self.live
            .iter()
            .flat_map(|(_, i)| i.all_digests())
            .collect()
    }

    fn live_revisions(&self) -> BTreeSet<(String, Digest)> {
        self.live.iter().flat_map(|(_, i)| i.revisions()).collect()
    }
}

const REPOSITORIES: usize = 30;
/// Manifests per repository that never had a tag.
const UNTAGGED: usize = 8;
/// Blobs per repository uploaded and never referenced.
const ORPHANS: usize = 20;

/// 30 repositories, each with two tagged images sharing a base layer
/// (`stable`, and `latest` pushed through the API over an older image),
/// two images tagged then deleted by digest through the API, eight
/// manifests that never had a tag and orphan blobs; every fifth
/// repository also a tagged index of two images pushed by digest.
/// Answers what must stay.
fn build_garbage(root: &Path, rng: &mut Rng) -> Reference {
    let started = Instant::now();
    let layout = Layout { v2: root.join(V2) };
    let mut reference = Reference {
        live: Vec::new(),
        untagged: Vec::new(),
        deleted: Vec::new(),
    };
    // Pushed or deleted through the API below.
    let mut to_push: Vec<Image> = Vec::new();
    for r in 0..REPOSITORIES {
        let repo = format!("kill/r{r:02}");
        let mut base = format!("{repo} base layer ").into_bytes();
        base.extend(rng.bytes(300));
        let base = (layout.layer(&repo, &base), base.len());
        let stable = layout.image(rng, &repo, "stable", Some(&base), 3, true);
        layout.tag(&repo, "stable", &stable.digest);
        reference.live.push(("stable".into(), stable));
        let old = layout.image(rng, &repo, "old", Some(&base), 3, true);
        layout.tag(&repo, "latest", &old.digest);
        reference.untagged.push(old);
        to_push.push(layout.image(rng, &repo, "latest", Some(&base), 3, false));
        for i in 0..2 {
            let doomed = layout.image(rng, &repo, &format!("d{i}"), None, 10, true);
            layout.tag(&repo, &format!("d{i}"), &doomed.digest);
            reference.deleted.push(doomed);
        }
        for i in 0..UNTAGGED {
            // Every other one shares the base layer, which stays.
            let shared = (i % 2 == 0).then_some(&base);
            let loose = layout.image(rng, &repo, &format!("loose{i}"), shared, 10, true);
            reference.untagged.push(loose);
        }
        if r % 5 == 0 {
            let children = (0..2)
                .map(|i| layout.image(rng, &repo, &format!("platform{i}"), None, 2, true))
                .collect();
            let index = layout.index(&repo, children);
            layout.tag(&repo, "multi", &index.digest);
            reference.live.push(("multi".into(), index));
        }
        for i in 0..ORPHANS {
            let mut data = format!("{repo} orphan {i} ").into_bytes();
            data.extend(rng.bytes(100));
            layout.layer(&repo, &data);
        }
    }
    let written = started.elapsed();

    // Through the API: move each `latest` onto a new image, delete two
    // images by digest, upload two blobs nothing will reference.
    let mut b = serve(root, "", "      delay: 0s\n");
    for image in to_push {
        let r = b.put(
            &format!("/v2/{}/manifests/latest", image.repo),
            &[("Content-Type", image.media_type)],
            &image.body,
        );
        assert_eq!(r.status, 201, "push {}:latest: {}", image.repo, r.text());
        assert_eq!(
            r.header("docker-content-digest"),
            Some(image.digest.as_str())
        );
        reference.live.push(("latest".into(), image));
    }
    for image in &reference.deleted {
        let r = b.delete(&format!("/v2/{}/manifests/{}", image.repo, image.digest));
        assert_eq!(
            r.status,
            202,
            "delete {}@{}: {}",
            image.repo,
            image.digest,
            r.text()
        );
    }
    for r in 0..REPOSITORIES {
        for i in 0..2 {
            b.push_blob(
                &format!("kill/r{r:02}"),
                format!("pushed orphan {r} {i}").as_bytes(),
            );
        }
    }
    // What was written directly serves.
    for (tag, image) in &reference.live {
        let r = b.get_with(
            &format!("/v2/{}/manifests/{tag}", image.repo),
            &[("Accept", ACCEPT)],
        );
        assert_eq!(r.status, 200, "{}:{tag}: {}", image.repo, r.text());
        assert_eq!(
            Digest::sha256(&r.body),
            image.digest,
            "{}:{tag}",
            image.repo
        );
    }
    stop_gracefully(&mut b);
    drop(b);
    // ... and so it does from Distribution.
    if let Some(distribution) = DockerRegistry::start(root) {
        for (tag, image) in reference.live.iter().take(6) {
            let (status, _, body) = distribution.get_manifest(&image.repo, tag, image.media_type);
            assert_eq!(status, 200, "Distribution: {}:{tag}", image.repo);
            assert_eq!(Digest::sha256(&body), image.digest);
            for blob in &image.blobs {
                let (status, body) = distribution.get_blob(&image.repo, blob.as_str());
                assert_eq!(status, 200, "Distribution: {}@{blob}", image.repo);
                assert_eq!(&Digest::sha256(&body), blob);
            }
        }
    }
    println!(
        "setup: {} blobs ({} live), {} revisions; written in {written:?}, all in {:?}",
        blob_files(&root.join(V2)).len(),
        reference.live_blobs().len(),
        revisions(&root.join(V2)).len(),
        started.elapsed()
    );
    reference
}

/// Checks the storage on disk: every blob's data hashes to its digest;
/// every revision link names its own digest and an existing manifest
/// blob, whose references (config, layers, index entries) all exist;
/// every tag points at a revision with its blob; every live image is
/// fully there. Answers the problems, and notes (harmless leftovers).
fn check_consistency(root: &Path, reference: &Reference) -> (Vec<String>, Vec<String>) {
    let v2 = root.join(V2);
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let blobs = blob_files(&v2);
    for (digest, path) in &blobs {
        let data = std::fs::read(path).unwrap();
        if Digest::sha256(&data) != *digest {
            problems.push(format!(
                "{}: content does not match its digest",
                path.display()
            ));
        }
    }
    // Blob directories without data (a removal stopped half-way).
    for prefix in std::fs::read_dir(v2.join("blobs/sha256"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for blob in std::fs::read_dir(prefix.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if !blob.path().join("data").exists() {
                notes.push(format!(
                    "blob directory without data: {}",
                    blob.path().display()
                ));
            }
        }
    }
    let has_blob = |d: &Digest| blobs.contains_key(d);
    for repo in repositories(&v2) {
        let manifests = v2.join(format!("repositories/{repo}/_manifests"));
        for entry in std::fs::read_dir(manifests.join("revisions/sha256"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let link = entry.path().join("link");
            let hex = entry.file_name().to_string_lossy().into_owned();
            let Some(digest) = read_link(&link) else {
                if link.exists() {
                    problems.push(format!("{}: not a digest", link.display()));
                } else {
                    notes.push(format!(
                        "revision directory without link: {}",
                        entry.path().display()
                    ));
                }
                continue;
            };
            if digest.encoded() != hex {
                problems.push(format!("{}: holds {digest}", link.display()));
            }
            let Some(path) = blobs.get(&digest) else {
                problems.push(format!(
                    "dangling revision: {repo}@{digest} ({}) has no manifest blob",
                    link.display()
                ));
                continue;
            };
            let manifest: Value = match serde_json::from_slice(&std::fs::read(path).unwrap()) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(format!("{repo}@{digest}: not JSON ({e})"));
                    continue;
                }
            };
            for referenced in references(&manifest) {
                if !has_blob(&referenced) {
                    problems.push(format!(
                        "{repo}@{digest} references {referenced}, whose blob is gone"
                    ));
                }
            }
        }
        for tag in std::fs::read_dir(manifests.join("tags"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = tag.file_name().to_string_lossy().into_owned();
            let current = tag.path().join("current/link");
            let Some(digest) = read_link(&current) else {
                if current.exists() {
                    problems.push(format!("{}: not a digest", current.display()));
                }
                continue;
            };
            if read_link(&v2.join(revision_rel(&repo, &digest))).as_ref() != Some(&digest) {
                problems.push(format!(
                    "tag {repo}:{name} points at {digest}, which has no revision link"
                ));
            }
            if !has_blob(&digest) {
                problems.push(format!(
                    "tag {repo}:{name} points at {digest}, whose blob is gone"
                ));
            }
        }
    }
    for (tag, image) in &reference.live {
        let current = v2.join(format!(
            "repositories/{}/_manifests/tags/{tag}/current/link",
            image.repo
        ));
        if read_link(&current).as_ref() != Some(&image.digest) {
            problems.push(format!(
                "live tag {}:{tag} no longer points at {}",
                image.repo, image.digest
            ));
        }
        for (repo, digest) in image.revisions() {
            if read_link(&v2.join(revision_rel(&repo, &digest))).as_ref() != Some(&digest) {
                problems.push(format!(
                    "live manifest {repo}@{digest} lost its revision link"
                ));
            }
        }
        for digest in image.all_digests() {
            if !has_blob(&digest) {
                problems.push(format!(
                    "live blob {digest} (of {}:{tag}) is gone",
                    image.repo
                ));
            }
        }
    }
    (problems, notes)
}

/// Where a kill comes.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// After the run took its lease and waited its second: during the
    /// mark, `permille` of the way through (as long as an earlier run's
    /// mark took).
    DuringMark { permille: u64 },
    /// At the end of the mark ("marked N manifests in M repositories"),
    /// while the blobs are listed: before any announcement.
    EndOfMark,
    /// `ms` after "announced the removals".
    Announced { ms: u64 },
    /// Once `blobs` blobs were removed.
    BlobsRemoved { blobs: usize },
}

/// What a node's log said so far.
#[derive(Debug, Default)]
struct Progress {
    end_of_mark: bool,
    listed: bool,
    announced: bool,
    manifests_removed: usize,
    blobs_removed: usize,
    done: bool,
    skipped: usize,
    failed: bool,
}

/// Follows a log file as it grows.
struct Tail {
    file: std::fs::File,
    text: String,
    /// Where the next unread line starts in `text`.
    scanned: usize,
    progress: Progress,
}

impl Tail {
    fn open(path: &Path) -> Tail {
        Tail {
            file: std::fs::File::open(path).unwrap(),
            text: String::new(),
            scanned: 0,
            progress: Progress::default(),
        }
    }

    fn poll(&mut self) -> &Progress {
        let mut buf = Vec::new();
        self.file.read_to_end(&mut buf).unwrap();
        self.text.push_str(&String::from_utf8_lossy(&buf));
        while let Some(end) = self.text[self.scanned..].find('\n') {
            let line = &self.text[self.scanned..self.scanned + end];
            let p = &mut self.progress;
            if line.contains("garbage collection: marked ") && line.contains(" manifests in ") {
                p.end_of_mark = true;
            } else if line.contains("garbage collection: listed ") {
                p.listed = true;
            } else if line.contains("garbage collection: announced the removals") {
                p.announced = true;
            } else if line.contains("garbage collection: removed manifest") {
                p.manifests_removed += 1;
            } else if line.contains("garbage collection: removed blob") {
                p.blobs_removed += 1;
            } else if line.contains("garbage collection done") {
                p.done = true;
            } else if line.contains("garbage collection skipped") {
                p.skipped += 1;
            } else if line.contains("garbage collection failed") {
                p.failed = true;
            }
            self.scanned += end + 1;
        }
        &self.progress
    }
}

/// The lease as a run wrote it.
#[derive(Debug, Clone)]
struct Lease {
    run: String,
    pid: u32,
    expires: u64,
}

fn read_lease(root: &Path) -> Option<Lease> {
    let body = std::fs::read(root.join("berth/gc/lease")).ok()?;
    let v: Value = serde_json::from_slice(&body).ok()?;
    Some(Lease {
        run: v["run"].as_str()?.to_owned(),
        pid: u32::try_from(v["pid"].as_u64()?).ok()?,
        expires: v["expires"].as_u64()?,
    })
}

/// The files of a run's record.
fn run_record(root: &Path, run: &str) -> String {
    let mut files: Vec<String> = std::fs::read_dir(root.join(format!("berth/gc/runs/{run}")))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    if files.is_empty() {
        "none".into()
    } else {
        files.join(", ")
    }
}

/// The end of a log, for failure messages.
fn log_end(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let keep = lines.len().saturating_sub(80);
    let mut out = String::new();
    if keep > 0 {
        out.push_str(&format!("[... {keep} lines ...]\n"));
    }
    out.push_str(&lines[keep..].join("\n"));
    out
}

/// A run killed with `kill -9` at various points never leaves the
/// storage inconsistent; after the last kill, once the killed run's lease
/// has lapsed, the next run leaves exactly the live images, which pull.
#[test]
fn kill_mid_run_leaves_storage_consistent() {
    let _serial = serial();
    let test_started = Instant::now();
    let mut rng = Rng::from_env("BERTH_GC_KILL_SEED", "contents and kill timings");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let reference = build_garbage(&root, &mut rng);
    let live_blobs = reference.live_blobs();
    // Past the markers' window of the pushes above (delay 0s, 100 ms).
    std::thread::sleep(Duration::from_millis(300));

    // The first kill measures how long a mark takes, for the second; the
    // one that may remove the most comes last.
    let kills = [
        KillAt::EndOfMark,
        KillAt::DuringMark {
            permille: rng.between(150, 750),
        },
        KillAt::Announced { ms: 0 },
        KillAt::BlobsRemoved {
            blobs: rng.between(5, 60) as usize,
        },
        KillAt::Announced {
            ms: rng.between(1, 300),
        },
    ];
    // The lease of the last killed run.
    let mut previous: Option<Lease> = None;
    // How long a mark took (from the lease's write, less its second).
    let mut mark_ms: Option<u64> = None;
    for (n, kill_at) in kills.iter().enumerate() {
        let before = blob_files(&root.join(V2)).len();
        let mut b = serve(&root, "log:\n  level: info\n", GC_EVERY_200MS);
        let node_started = unix_ms();
        let mut tail = Tail::open(&b.log);
        // This node's run takes the lease, once the killed run's lapsed.
        let deadline = Instant::now() + LEASE_WAIT;
        let lease = loop {
            if let Some(lease) = read_lease(&root)
                && previous.as_ref().is_none_or(|p| p.run != lease.run)
            {
                break lease;
            }
            assert!(
                Instant::now() < deadline,
                "kill {n}: no run took the lease within {LEASE_WAIT:?} (the killed run's: {previous:?}); log:\n{}",
                log_end(&b.log_text())
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        let lease_seen = unix_ms();
        assert_eq!(
            lease.pid,
            b.pid(),
            "kill {n}: the lease is not this node's: {lease:?}"
        );
        if let Some(p) = &previous {
            assert!(
                lease_seen >= p.expires,
                "kill {n}: a run took the lease at {lease_seen} though the killed run's ({}) held it until {}",
                p.run,
                p.expires
            );
            if node_started + 1000 < p.expires {
                let p = tail.poll();
                assert!(
                    p.skipped > 0,
                    "kill {n}: the runs before the killed run's lease lapsed were not skipped; log:\n{}",
                    log_end(&b.log_text())
                );
            }
        }

        // Wait for the moment to kill.
        let deadline = Instant::now() + Duration::from_secs(120);
        let reached = |p: &Progress| match kill_at {
            KillAt::DuringMark { .. } => true,
            KillAt::EndOfMark => p.end_of_mark,
            KillAt::Announced { .. } => p.announced,
            KillAt::BlobsRemoved { blobs } => p.blobs_removed >= *blobs,
        };
        let mut completed_first = false;
        loop {
            let p = tail.poll();
            if p.end_of_mark && mark_ms.is_none() {
                mark_ms = Some(unix_ms().saturating_sub(lease_seen + 1000).max(1));
            }
            if reached(p) {
                break;
            }
            if p.done || p.failed {
                completed_first = true;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "kill {n}: the run never reached {kill_at:?}; log:\n{}",
                log_end(&tail.text)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let trigger = Instant::now();
        match kill_at {
            // The run waits a second after writing its lease, then marks.
            KillAt::DuringMark { permille } => {
                let into = mark_ms.expect("an earlier run measured the mark") * permille / 1000;
                let since = Duration::from_millis(unix_ms().saturating_sub(lease_seen));
                std::thread::sleep(Duration::from_millis(1000 + into).saturating_sub(since));
            }
            KillAt::Announced { ms } => std::thread::sleep(Duration::from_millis(*ms)),
            _ => {}
        }
        let status = Command::new("kill")
            .args(["-9", &b.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -9 {}", b.pid());
        let killed_after = trigger.elapsed();
        assert!(
            b.wait_exit(Duration::from_secs(10)),
            "kill {n}: berth did not die"
        );
        let p = tail.poll();
        let phase = if p.done {
            "after the run completed"
        } else if p.blobs_removed > 0 {
            "while removing blobs"
        } else if p.manifests_removed > 0 {
            "while removing manifests"
        } else if p.announced {
            "after the announcement, before any removal was logged"
        } else if p.listed {
            "after the blob listing, before the announcement"
        } else if p.end_of_mark {
            "while listing blobs"
        } else {
            "during the mark (or the lease's wait)"
        };
        let after = blob_files(&root.join(V2)).len();
        let lease_after = read_lease(&root).expect("the killed run's lease stays");
        println!(
            "kill {n} ({kill_at:?}, marks take {mark_ms:?} ms): {killed_after:?} after the trigger, {phase}; \
             log: {} manifests, {} blobs removed; record of run {}: {}; blobs {before} -> {after}; lease until {} (+{} ms)",
            p.manifests_removed,
            p.blobs_removed,
            lease.run,
            run_record(&root, &lease.run),
            lease_after.expires,
            lease_after.expires.saturating_sub(unix_ms()),
        );
        if matches!(kill_at, KillAt::DuringMark { .. } | KillAt::EndOfMark) {
            assert!(
                !p.announced && run_record(&root, &lease.run) == "none",
                "kill {n} ({kill_at:?}) came after the announcement; log:\n{}",
                log_end(&tail.text)
            );
        }
        if completed_first {
            println!("kill {n}: the run ended before the kill point (nothing left at that point)");
        }
        assert_eq!(
            lease_after.run, lease.run,
            "kill {n}: the lease changed hands"
        );
        let (problems, notes) = check_consistency(&root, &reference);
        for note in &notes {
            println!("kill {n}: note: {note}");
        }
        assert!(
            problems.is_empty(),
            "kill {n} ({kill_at:?}, {phase}) left the storage inconsistent:\n{}\n\nberth's log:\n{}",
            problems.join("\n"),
            log_end(&tail.text)
        );
        previous = Some(lease_after);
    }
    let garbage_left: Vec<Digest> = blob_files(&root.join(V2))
        .into_keys()
        .filter(|d| !live_blobs.contains(d))
        .collect();
    let manifests_left = revisions(&root.join(V2))
        .difference(&reference.live_revisions())
        .count();
    println!(
        "after the kills: {} garbage blobs, {manifests_left} garbage manifests left",
        garbage_left.len()
    );

    // The next run finishes the work once the killed run's lease lapses.
    let debug_port = free_port();
    let b = serve(
        &root,
        &format!(
            "  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\nlog:\n  level: info\n"
        ),
        GC_EVERY_200MS,
    );
    let took = wait_for_completed_run(&b, debug_port, LEASE_WAIT + Duration::from_secs(60));
    println!("the last run completed {took:?} after the node started");
    let on_disk: BTreeSet<Digest> = blob_files(&root.join(V2)).into_keys().collect();
    let extra: Vec<&Digest> = on_disk.difference(&live_blobs).collect();
    let missing: Vec<&Digest> = live_blobs.difference(&on_disk).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "after a completed run the blobs are not the live set: {} extra {extra:?}, {} missing {missing:?}\nlog:\n{}",
        extra.len(),
        missing.len(),
        log_end(&b.log_text())
    );
    assert_eq!(
        revisions(&root.join(V2)),
        reference.live_revisions(),
        "the manifests left are not the live ones"
    );
    let (problems, notes) = check_consistency(&root, &reference);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for note in notes {
        println!("after the last run: note: {note}");
    }
    let removed = metric(debug_port, "berth_gc_blobs_removed_total", ("", ""));
    assert_eq!(
        removed as usize,
        garbage_left.len(),
        "berth_gc_blobs_removed_total against the garbage blobs left by the kills"
    );
    let removed = metric(debug_port, "berth_gc_manifests_removed_total", ("", ""));
    assert_eq!(
        removed as usize, manifests_left,
        "berth_gc_manifests_removed_total"
    );

    // Every live image pulls, digests verified; the rest is gone.
    for (tag, image) in &reference.live {
        let r = b.get_with(
            &format!("/v2/{}/manifests/{tag}", image.repo),
            &[("Accept", ACCEPT)],
        );
        assert_eq!(r.status, 200, "{}:{tag}: {}", image.repo, r.text());
        assert_eq!(
            Digest::sha256(&r.body),
            image.digest,
            "{}:{tag}",
            image.repo
        );
        assert_eq!(
            r.header("docker-content-digest"),
            Some(image.digest.as_str())
        );
        let mut images = vec![image];
        images.extend(image.children.iter());
        for image in images {
            let r = b.get_with(
                &format!("/v2/{}/manifests/{}", image.repo, image.digest),
                &[("Accept", image.media_type)],
            );
            assert_eq!(
                r.status,
                200,
                "{}@{}: {}",
                image.repo,
                image.digest,
                r.text()
            );
            assert_eq!(Digest::sha256(&r.body), image.digest);
            for blob in &image.blobs {
                let r = b.get(&format!("/v2/{}/blobs/{blob}", image.repo));
                assert_eq!(r.status, 200, "{}@{blob}: {}", image.repo, r.text());
                assert_eq!(&Digest::sha256(&r.body), blob, "{}@{blob}", image.repo);
            }
        }
    }
    for image in reference.untagged.iter().chain(&reference.deleted) {
        let r = b.get_with(
            &format!("/v2/{}/manifests/{}", image.repo, image.digest),
            &[("Accept", ACCEPT)],
        );
        assert_eq!(r.status, 404, "{}@{} survived", image.repo, image.digest);
    }
    println!(
        "kill_mid_run_leaves_storage_consistent: {:?}",
        test_started.elapsed()
    );
}

// --- test 2: online against offline ----------------------------------------

/// Pushes an OCI image of a new config and the given layers (already in
/// the repository) by digest, untagged; answers its digest.
fn push_by_digest(b: &Berth, repo: &str, config: &[u8], layers: &[(Digest, usize)]) -> Digest {
    let config_digest = b.push_blob(repo, config);
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers.iter().map(|(d, size)| json!({"mediaType": OCI_LAYER, "digest": d, "size": size})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let digest = Digest::sha256(&body);
    let r = b.put(
        &format!("/v2/{repo}/manifests/{digest}"),
        &[("Content-Type", OCI_MANIFEST)],
        &body,
    );
    assert_eq!(r.status, 201, "push by digest: {}", r.text());
    digest
}

/// The blobs of an image as `push_image` pushed it: manifest, config,
/// layer.
fn image_blobs(b: &Berth, repo: &str, manifest: &Digest) -> Vec<Digest> {
    let m = b
        .get_with(
            &format!("/v2/{repo}/manifests/{manifest}"),
            &[("Accept", OCI_MANIFEST)],
        )
        .json();
    let mut out = vec![manifest.clone()];
    out.extend(references(&m));
    out
}

/// Differences between two trees' files, for failure messages.
fn differences(a: &BTreeMap<String, Vec<u8>>, b: &BTreeMap<String, Vec<u8>>) -> String {
    let mut out = String::new();
    for (path, data) in a {
        match b.get(path) {
            None => out.push_str(&format!("only in the first: {path}\n")),
            Some(other) if other != data => out.push_str(&format!("differs: {path}\n")),
            _ => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push_str(&format!("only in the second: {path}\n"));
    }
    out
}

/// The blob data files among `files` (paths relative to `docker/`).
fn blob_paths(files: &BTreeMap<String, Vec<u8>>) -> BTreeSet<String> {
    files
        .keys()
        .filter(|p| p.starts_with("registry/v2/blobs/") && p.ends_with("/data"))
        .cloned()
        .collect()
}

/// On a quiet registry, one scheduled run removes exactly what `berth
/// garbage-collect --delete-untagged` removes from a copy of the root,
/// and the same blobs as Distribution's command on a third copy.
#[test]
fn online_run_equals_offline_command() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut b = serve(&root, "", "      delay: 0s\n");

    // equal/app: v1 kept; v2 moved onto v1 (its image is untagged); v3
    // deleted by digest; an orphan, and an orphan unlinked by a DELETE.
    let (_, v1) = b.push_image("equal/app", "v1", 1);
    let (_, v2) = b.push_image("equal/app", "v2", 2);
    let (_, v3) = b.push_image("equal/app", "v3", 3);
    let v1_body = b
        .get_with(
            &format!("/v2/equal/app/manifests/{v1}"),
            &[("Accept", OCI_MANIFEST)],
        )
        .body;
    let r = b.put(
        "/v2/equal/app/manifests/v2",
        &[("Content-Type", OCI_MANIFEST)],
        &v1_body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v3_blobs = image_blobs(&b, "equal/app", &v3);
    let r = b.delete(&format!("/v2/equal/app/manifests/{v3}"));
    assert_eq!(r.status, 202, "{}", r.text());
    let orphan = b.push_blob("equal/app", b"an orphan nobody references");
    let unlinked = b.push_blob("equal/app", b"an orphan, unlinked");
    assert_eq!(
        b.delete(&format!("/v2/equal/app/blobs/{unlinked}")).status,
        202
    );

    // equal/other: v1's image again (same digest, tagged `x`), `y` kept;
    // `z` moved onto y; an image pushed by digest sharing y's layer.
    let (_, x) = b.push_image("equal/other", "x", 1);
    assert_eq!(x, v1);
    let (_, y) = b.push_image("equal/other", "y", 4);
    let (_, z) = b.push_image("equal/other", "z", 7);
    let y_body = b
        .get_with(
            &format!("/v2/equal/other/manifests/{y}"),
            &[("Accept", OCI_MANIFEST)],
        )
        .body;
    let r = b.put(
        "/v2/equal/other/manifests/z",
        &[("Content-Type", OCI_MANIFEST)],
        &y_body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let y_manifest: Value = serde_json::from_slice(&y_body).unwrap();
    let y_layer = (
        Digest::parse(y_manifest["layers"][0]["digest"].as_str().unwrap()).unwrap(),
        y_manifest["layers"][0]["size"].as_u64().unwrap() as usize,
    );
    let loose = push_by_digest(
        &b,
        "equal/other",
        b"{\"loose\":true}",
        std::slice::from_ref(&y_layer),
    );

    let live: BTreeSet<Digest> = image_blobs(&b, "equal/app", &v1)
        .into_iter()
        .chain(image_blobs(&b, "equal/other", &y))
        .collect();
    let mut garbage: BTreeSet<Digest> = image_blobs(&b, "equal/app", &v2)
        .into_iter()
        .chain(v3_blobs)
        .chain(image_blobs(&b, "equal/other", &z))
        .chain(image_blobs(&b, "equal/other", &loose))
        .collect();
    garbage.extend([orphan, unlinked]);
    garbage.remove(&y_layer.0);
    assert!(live.is_disjoint(&garbage));
    let garbage_manifests: BTreeSet<(String, Digest)> = [
        ("equal/app".to_owned(), v2.clone()),
        ("equal/other".to_owned(), z.clone()),
        ("equal/other".to_owned(), loose.clone()),
    ]
    .into();
    stop_gracefully(&mut b);
    drop(b);
    // Past the grace period (zero, plus the markers' 100 ms).
    std::thread::sleep(Duration::from_millis(400));
    let original = tree_files(&root.join("docker"));
    let original_blobs: BTreeSet<Digest> = blob_files(&root.join(V2)).into_keys().collect();
    assert_eq!(
        original_blobs,
        live.union(&garbage).cloned().collect(),
        "the scenario's blobs"
    );

    let (a, offline, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    for copy in [&a, &offline, &c] {
        copy_tree(&root, copy);
    }

    // A: one scheduled run.
    let debug_port = free_port();
    let mut online = serve(
        &a,
        &format!(
            "  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\nlog:\n  level: info\n"
        ),
        "      enabled: true\n      interval: 300ms\n      delay: 0s\n      deleteuntagged: true\n",
    );
    let took = wait_for_completed_run(&online, debug_port, Duration::from_secs(60));
    let online_blobs = metric(debug_port, "berth_gc_blobs_removed_total", ("", "")) as usize;
    let online_manifests =
        metric(debug_port, "berth_gc_manifests_removed_total", ("", "")) as usize;
    let log = online.log_text();
    stop_gracefully(&mut online);
    println!(
        "online: a run completed {took:?} after start; {online_manifests} manifests, {online_blobs} blobs removed"
    );

    // B: the command.
    let config = dir.path().join("offline.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: info\n{}http:\n  addr: 127.0.0.1:{}\n",
            storage_section(&offline, "      delay: 0s\n"),
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("garbage-collect")
        .arg(&config)
        .arg("--delete-untagged")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "berth garbage-collect: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline_blobs = stdout
        .lines()
        .filter(|l| l.starts_with("removed blob "))
        .count();
    let offline_manifests = stdout
        .lines()
        .filter(|l| l.starts_with("removed manifest "))
        .count();

    let (files_a, files_b) = (
        tree_files(&a.join("docker")),
        tree_files(&offline.join("docker")),
    );
    assert!(
        files_a == files_b,
        "the online run (first) and the command (second) left different files under docker/:\n{}\n\
         online log:\n{}\ncommand's output:\n{stdout}",
        differences(&files_a, &files_b),
        log_end(&log)
    );
    assert_eq!(
        (online_manifests, online_blobs),
        (offline_manifests, offline_blobs),
        "manifests and blobs removed: online (metrics) against the command (its output):\n{stdout}"
    );

    // What went is exactly the garbage.
    let left: BTreeSet<Digest> = blob_files(&a.join(V2)).into_keys().collect();
    assert_eq!(left, live, "the blobs left by the online run");
    assert_eq!(online_blobs, garbage.len());
    let gone: BTreeSet<(String, Digest)> = revisions(&root.join(V2))
        .difference(&revisions(&a.join(V2)))
        .cloned()
        .collect();
    assert_eq!(
        gone, garbage_manifests,
        "the manifests the online run removed"
    );
    assert_ne!(files_a, original);

    // C: Distribution's command, when installed.
    let Some(out) = DockerRegistry::garbage_collect(&c, &["--delete-untagged"]) else {
        return;
    };
    assert!(
        out.status.success(),
        "docker-registry garbage-collect: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let files_c = tree_files(&c.join("docker"));
    let (blobs_a, blobs_c) = (blob_paths(&files_a), blob_paths(&files_c));
    assert_eq!(blobs_a.len(), live.len(), "{blobs_a:#?}");
    assert!(
        blobs_a == blobs_c,
        "berth's online run and Distribution keep different blobs:\nonly berth: {:#?}\nonly Distribution: {:#?}",
        blobs_a.difference(&blobs_c).collect::<Vec<_>>(),
        blobs_c.difference(&blobs_a).collect::<Vec<_>>()
    );
    assert_eq!(
        revisions(&a.join(V2)),
        revisions(&c.join(V2)),
        "berth's online run and Distribution keep different manifests"
    );
    let rest = differences(&files_a, &files_c);
    println!(
        "Distribution's command: the same {} blobs and manifests kept; other files under docker/: {}",
        blobs_c.len(),
        if rest.is_empty() {
            "identical\n"
        } else {
            "differ (berth first):\n"
        }
    );
    print!("{rest}");
}
