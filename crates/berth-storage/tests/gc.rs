//! Garbage collection: berth's `Registry::garbage_collect` against
//! Distribution 2.8.2's `registry garbage-collect` (Debian's
//! `docker-registry`) on copies of one root, and berth's own rules
//! (referrers, dry run, damaged roots) on roots written directly.
//!
//! Where 2.8.2 breaks images (`--delete-untagged` removes the untagged
//! children of a tagged index) or fails (`--delete-untagged` on a
//! repository without a tags directory), berth deliberately differs; the
//! tests assert the exact difference. See docs/garbage-collection.md.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_core::BlobIngester;
use berth_digest::Digest;
use berth_driver::{FilesystemDriver, InMemoryDriver, StorageDriver, Walk};
use berth_reference::{RepositoryName, Tag};
use berth_storage::{GcManifest, GcOptions, GcProgress, GcReport, Registry, StorageOptions, paths};
use berth_testkit::{DockerRegistry, copy_tree, tree_files};
use bytes::Bytes;
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

const V2: &str = "docker/registry/v2";

const KEEP_ALL: GcOptions = GcOptions {
    dry_run: false,
    delete_untagged: false,
    delay: Duration::ZERO,
};
const DELETE_UNTAGGED: GcOptions = GcOptions {
    dry_run: false,
    delete_untagged: true,
    delay: Duration::ZERO,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn repo(name: &str) -> RepositoryName {
    RepositoryName::parse(name).unwrap()
}

fn berth_on(root: &Path) -> Registry {
    Registry::new(
        Arc::new(FilesystemDriver::new(root)),
        StorageOptions::default(),
    )
}

fn sha256(data: &[u8]) -> Digest {
    Digest::sha256(data)
}

/// Relative path of a blob's data.
fn blob_file(d: &Digest) -> String {
    format!(
        "{V2}/blobs/sha256/{}/{}/data",
        &d.encoded()[..2],
        d.encoded()
    )
}

/// Relative path of a revision link.
fn revision_file(repository: &str, d: &Digest) -> String {
    format!(
        "{V2}/repositories/{repository}/_manifests/revisions/sha256/{}/link",
        d.encoded()
    )
}

fn descriptor(media_type: &str, digest: &Digest, size: usize) -> Value {
    json!({"mediaType": media_type, "digest": digest.as_str(), "size": size})
}

/// An image or index as pushed.
#[derive(Debug, Clone)]
struct Image {
    repository: String,
    digest: Digest,
    media_type: &'static str,
    /// Config and layers (empty for an index).
    blobs: Vec<Digest>,
    /// Child manifests of an index.
    children: Vec<Image>,
}

impl Image {
    /// The blobs only this image (and its children) reference: in the
    /// scenario below, everything but the shared base layer.
    fn own_blobs(&self, shared: &Digest) -> Vec<Digest> {
        let mut out: Vec<Digest> = self
            .blobs
            .iter()
            .filter(|b| *b != shared)
            .cloned()
            .collect();
        for c in &self.children {
            out.push(c.digest.clone());
            out.extend(c.own_blobs(shared));
        }
        out
    }
}

/// Builds images through Distribution's HTTP API.
struct Pusher<'a> {
    registry: &'a DockerRegistry,
}

impl Pusher<'_> {
    fn blob(&self, repository: &str, data: &[u8]) -> (Digest, usize) {
        let digest = sha256(data);
        let answered = self
            .registry
            .push_blob(repository, data, digest.as_str(), 0);
        assert_eq!(answered, digest.as_str());
        (digest, data.len())
    }

    /// An image of one config and its own layer, plus `extra` layers;
    /// tagged `reference`, or pushed by digest when `None`.
    fn image(
        &self,
        repository: &str,
        reference: Option<&str>,
        docker: bool,
        seed: &str,
        extra: &[&[u8]],
    ) -> Image {
        let (config_type, layer_type, manifest_type) = if docker {
            (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST)
        } else {
            (OCI_CONFIG, OCI_LAYER, OCI_MANIFEST)
        };
        let config = json!({"architecture": "amd64", "os": "linux", "seed": seed}).to_string();
        let (config_digest, config_size) = self.blob(repository, config.as_bytes());
        let mut layers = vec![self.blob(repository, format!("layer of {seed}").as_bytes())];
        for data in extra {
            layers.push(self.blob(repository, data));
        }
        let body = json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": descriptor(config_type, &config_digest, config_size),
            "layers": layers.iter().map(|(d, s)| descriptor(layer_type, d, *s)).collect::<Vec<_>>(),
        })
        .to_string();
        let digest = sha256(body.as_bytes());
        let reference = reference.map_or_else(|| digest.to_string(), str::to_owned);
        let answered =
            self.registry
                .push_manifest(repository, &reference, manifest_type, body.as_bytes());
        assert_eq!(answered, digest.as_str());
        let mut blobs = vec![config_digest];
        blobs.extend(layers.into_iter().map(|(d, _)| d));
        Image {
            repository: repository.to_owned(),
            digest,
            media_type: manifest_type,
            blobs,
            children: Vec::new(),
        }
    }

    /// An index (Docker manifest list with `docker`) of `children`, with
    /// one platform each, tagged `tag`.
    fn index(&self, repository: &str, tag: &str, docker: bool, children: Vec<Image>) -> Image {
        let index_type = if docker { DOCKER_LIST } else { OCI_INDEX };
        let archs = ["amd64", "arm64", "s390x"];
        let entries: Vec<Value> = children
            .iter()
            .zip(archs)
            .map(|(child, arch)| {
                let (_, _, body) =
                    self.registry
                        .get_manifest(repository, child.digest.as_str(), child.media_type);
                let mut d = descriptor(child.media_type, &child.digest, body.len());
                d["platform"] = json!({"architecture": arch, "os": "linux"});
                d
            })
            .collect();
        let body =
            json!({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}).to_string();
        let answered = self
            .registry
            .push_manifest(repository, tag, index_type, body.as_bytes());
        let digest = sha256(body.as_bytes());
        assert_eq!(answered, digest.as_str());
        Image {
            repository: repository.to_owned(),
            digest,
            media_type: index_type,
            blobs: Vec::new(),
            children,
        }
    }
}

/// What the scenario pushed.
struct Scenario {
    /// (tag, image) for every tag at the end.
    tagged: Vec<(String, Image)>,
    /// Manifests left untagged (revision links remain).
    untagged: Vec<Image>,
    /// The layer every image shares.
    shared: Digest,
    /// Uploaded, never referenced.
    orphan: Digest,
    /// Manifests deleted by digest through the API.
    deleted: Vec<Image>,
}

/// Several repositories, a layer shared across all of them, a tag moved,
/// manifests pushed by digest only, a Docker schema 2 image, OCI images,
/// an OCI index and a Docker manifest list whose children were pushed by
/// digest, a manifest deleted by digest, an orphan blob.
fn build(registry: &DockerRegistry) -> Scenario {
    let p = Pusher { registry };
    let base: &[u8] = b"the base layer every image shares";
    let shared = sha256(base);

    // Docker schema 2, tag `latest` moved from old to new; `stable` too.
    let old = p.image("library/app", Some("latest"), true, "app-old", &[base]);
    let new = p.image("library/app", Some("latest"), true, "app-new", &[base]);
    let stable = p.image("library/app", Some("stable"), true, "app-stable", &[base]);
    // OCI: one tagged, one by digest only, one tagged then deleted.
    let v1 = p.image("team/oci", Some("v1"), false, "oci-v1", &[base]);
    let loose = p.image("team/oci", None, false, "oci-loose", &[base]);
    let doomed = p.image("team/oci", Some("v3"), false, "oci-deleted", &[base]);
    assert_eq!(
        registry.delete_manifest("team/oci", doomed.digest.as_str()),
        202
    );
    // The tagged OCI image, also pushed by digest into another repository.
    let mut copy = p.image("library/app", None, false, "oci-v1", &[base]);
    assert_eq!(copy.digest, v1.digest);
    copy.repository = "library/app".into();
    // An OCI index of two platform images pushed by digest.
    let amd = p.image("team/multi", None, false, "multi-amd64", &[base]);
    let arm = p.image("team/multi", None, false, "multi-arm64", &[]);
    let index = p.index("team/multi", "latest", false, vec![amd, arm]);
    // A Docker manifest list, likewise.
    let list_child = p.image("team/list", None, true, "list-amd64", &[base]);
    let list = p.index("team/list", "1.0", true, vec![list_child]);
    // Uploaded, never referenced.
    let (orphan, _) = p.blob("library/app", b"an orphan blob");

    Scenario {
        tagged: vec![
            ("latest".into(), new),
            ("stable".into(), stable),
            ("v1".into(), v1),
            ("latest".into(), index),
            ("1.0".into(), list),
        ],
        untagged: vec![old, loose, copy],
        shared,
        orphan,
        deleted: vec![doomed],
    }
}

/// The files of Distribution's tree (not berth's own records under
/// `berth/`, which online collection writes beside it).
fn files_of(root: &Path) -> BTreeSet<String> {
    tree_files(root)
        .into_keys()
        .filter(|p| !p.starts_with("berth/"))
        .collect()
}

fn removed(before: &BTreeSet<String>, after: &BTreeSet<String>) -> BTreeSet<String> {
    before.difference(after).cloned().collect()
}

fn run_distribution(root: &Path, args: &[&str]) -> std::process::Output {
    DockerRegistry::garbage_collect(root, args).expect("docker-registry is installed")
}

/// The report's removals are exactly the files that went.
fn check_report_against_files(
    report: &GcReport,
    gone: &BTreeSet<String>,
    sizes: &BTreeMap<String, Vec<u8>>,
) {
    let blob_files: BTreeSet<String> = gone
        .iter()
        .filter(|p| p.starts_with(&format!("{V2}/blobs/")))
        .cloned()
        .collect();
    let reported: BTreeSet<String> = report
        .blobs_removed
        .iter()
        .map(|b| blob_file(&b.digest))
        .collect();
    assert_eq!(reported, blob_files);
    let bytes: u64 = blob_files.iter().map(|p| sizes[p].len() as u64).sum();
    assert_eq!(report.bytes_freed, bytes);
    for b in &report.blobs_removed {
        assert_eq!(b.size, sizes[&blob_file(&b.digest)].len() as u64);
    }
    let revisions: BTreeSet<String> = gone
        .iter()
        .filter(|p| p.contains("/_manifests/revisions/"))
        .cloned()
        .collect();
    let reported: BTreeSet<String> = report
        .manifests_removed
        .iter()
        .map(|m| revision_file(m.repository.as_str(), &m.digest))
        .collect();
    assert_eq!(reported, revisions);
}

/// Every kept image pulls from a Distribution serving `root`: manifests
/// by tag (and children by digest) with the right Accept header, every
/// config and layer.
fn check_pulls(root: &Path, scenario: &Scenario) {
    let Some(registry) = DockerRegistry::start(root) else {
        return;
    };
    let pull_image = |image: &Image, reference: &str| {
        let (status, content_type, body) =
            registry.get_manifest(&image.repository, reference, image.media_type);
        assert_eq!(status, 200, "{}:{reference}", image.repository);
        assert_eq!(content_type, image.media_type);
        assert_eq!(sha256(&body), image.digest);
        for blob in &image.blobs {
            let (status, body) = registry.get_blob(&image.repository, blob.as_str());
            assert_eq!(status, 200, "{}@{blob}", image.repository);
            assert_eq!(&sha256(&body), blob);
        }
    };
    for (tag, image) in &scenario.tagged {
        pull_image(image, tag);
        for child in &image.children {
            pull_image(child, child.digest.as_str());
        }
    }
}

#[test]
fn same_result_as_distribution() {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let scenario = {
        let Some(registry) = DockerRegistry::start(&root) else {
            return;
        };
        build(&registry)
    }; // docker-registry stops here
    let original = tree_files(&root);
    let rt = runtime();

    for delete_untagged in [false, true] {
        let mode = if delete_untagged { "untagged" } else { "keep" };
        let theirs = dir.path().join(format!("distribution-{mode}"));
        let ours = dir.path().join(format!("berth-{mode}"));
        copy_tree(&root, &theirs);
        copy_tree(&root, &ours);

        let args: &[&str] = if delete_untagged {
            &["--delete-untagged"]
        } else {
            &[]
        };
        let out = run_distribution(&theirs, args);
        assert!(
            out.status.success(),
            "docker-registry garbage-collect: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let registry = berth_on(&ours);
        let options = GcOptions {
            dry_run: false,
            delete_untagged,
            delay: Duration::ZERO,
        };
        // A dry run first: nothing changes, and it announces the real run.
        let dry = rt
            .block_on(registry.garbage_collect(GcOptions {
                dry_run: true,
                ..options
            }))
            .unwrap();
        assert!(dry.dry_run);
        assert_eq!(tree_files(&ours), original, "a dry run changed the root");
        let report = rt.block_on(registry.garbage_collect(options)).unwrap();
        assert!(!report.dry_run);
        assert_eq!(
            GcReport {
                dry_run: false,
                ..dry
            },
            report
        );

        let before: BTreeSet<String> = original.keys().cloned().collect();
        let (after_theirs, after_ours) = (files_of(&theirs), files_of(&ours));
        check_report_against_files(&report, &removed(&before, &after_ours), &original);

        // Always gone: the orphan and the deleted image's own blobs.
        let mut always_gone = vec![blob_file(&scenario.orphan)];
        for image in &scenario.deleted {
            always_gone.push(blob_file(&image.digest));
            always_gone.extend(image.own_blobs(&scenario.shared).iter().map(blob_file));
        }
        for path in &always_gone {
            assert!(original.contains_key(path), "{path}");
            assert!(!after_ours.contains(path), "{path} survived");
        }
        // Layer links stay, as in Distribution.
        let layer_links = |files: &BTreeSet<String>| -> BTreeSet<String> {
            files
                .iter()
                .filter(|p| p.contains("/_layers/"))
                .cloned()
                .collect()
        };
        assert_eq!(layer_links(&after_ours), layer_links(&before));

        if !delete_untagged {
            assert_eq!(after_ours, after_theirs, "berth and Distribution differ");
            assert!(report.manifests_removed.is_empty());
            check_pulls(&ours, &scenario);
            continue;
        }

        // With --delete-untagged the untagged manifests go: revision link,
        // tag history, and their own blobs (not the shared layer, and not
        // the OCI image that is also tagged in team/oci).
        let removed_manifests: BTreeSet<GcManifest> =
            report.manifests_removed.iter().cloned().collect();
        let expected: BTreeSet<GcManifest> = scenario
            .untagged
            .iter()
            .map(|i| GcManifest {
                repository: repo(&i.repository),
                digest: i.digest.clone(),
            })
            .collect();
        assert_eq!(removed_manifests, expected);
        let history = format!(
            "{V2}/repositories/library/app/_manifests/tags/latest/index/sha256/{}/link",
            scenario.untagged[0].digest.encoded()
        );
        assert!(before.contains(&history) && !after_ours.contains(&history));
        assert!(!after_ours.contains(&blob_file(&scenario.untagged[0].blobs[1])));
        assert!(after_ours.contains(&blob_file(&scenario.untagged[2].blobs[1])));

        // The one deliberate difference: Distribution 2.8.2 deletes the
        // untagged children of a tagged index (their revision links, their
        // configs and layers; the child manifest blobs stay, marked as
        // the index's references), breaking pulls; berth keeps them.
        let mut kept_by_berth = BTreeSet::new();
        for (_, image) in &scenario.tagged {
            for child in &image.children {
                kept_by_berth.insert(revision_file(&child.repository, &child.digest));
                for blob in child.blobs.iter().filter(|b| **b != scenario.shared) {
                    kept_by_berth.insert(blob_file(blob));
                }
            }
        }
        // Two children of the OCI index, one of the list: link, config, layer.
        assert_eq!(kept_by_berth.len(), 9);
        let only_ours: BTreeSet<String> = after_ours.difference(&after_theirs).cloned().collect();
        let only_theirs: BTreeSet<String> = after_theirs.difference(&after_ours).cloned().collect();
        assert_eq!(only_ours, kept_by_berth);
        assert!(only_theirs.is_empty(), "{only_theirs:#?}");

        check_pulls(&ours, &scenario);
        // ... and that is what breaks on Distribution's copy.
        if let Some(distribution) = DockerRegistry::start(&theirs) {
            let (_, image) = &scenario.tagged[3];
            let (status, _, _) = distribution.get_manifest("team/multi", "latest", OCI_INDEX);
            assert_eq!(status, 200);
            for child in &image.children {
                let (status, _, _) =
                    distribution.get_manifest("team/multi", child.digest.as_str(), OCI_MANIFEST);
                assert_eq!(status, 404, "2.8.2 kept {}", child.digest);
            }
        }
        // The removed manifests no longer pull from berth's copy.
        if let Some(distribution) = DockerRegistry::start(&ours) {
            for image in &scenario.untagged {
                let (status, _, _) = distribution.get_manifest(
                    &image.repository,
                    image.digest.as_str(),
                    image.media_type,
                );
                assert_eq!(status, 404, "{}@{}", image.repository, image.digest);
            }
        }
    }
    eprintln!("same_result_as_distribution: {:?}", started.elapsed());
}

/// Distribution 2.8.2's `--delete-untagged` fails the whole collection
/// when a repository has manifests but no tags directory ("failed to
/// retrieve tags unknown repository"); berth treats it as having no tags.
#[test]
fn repository_without_tags() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let (loose, tagged) = {
        let Some(registry) = DockerRegistry::start(&root) else {
            return;
        };
        let p = Pusher {
            registry: &registry,
        };
        let loose = p.image("only/digests", None, false, "loose", &[]);
        let tagged = p.image("some/tags", Some("v1"), false, "tagged", &[]);
        (loose, tagged)
    };
    let original = tree_files(&root);
    let rt = runtime();

    // Without --delete-untagged, the same result.
    let (theirs, ours) = (dir.path().join("d-keep"), dir.path().join("b-keep"));
    copy_tree(&root, &theirs);
    copy_tree(&root, &ours);
    assert!(run_distribution(&theirs, &[]).status.success());
    rt.block_on(berth_on(&ours).garbage_collect(KEEP_ALL))
        .unwrap();
    assert_eq!(files_of(&theirs), files_of(&ours));

    // With it, Distribution fails and removes nothing; berth goes on.
    let (theirs, ours) = (dir.path().join("d-untagged"), dir.path().join("b-untagged"));
    copy_tree(&root, &theirs);
    copy_tree(&root, &ours);
    let out = run_distribution(&theirs, &["--delete-untagged"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed to retrieve tags"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree_files(&theirs), original);
    let report = rt
        .block_on(berth_on(&ours).garbage_collect(DELETE_UNTAGGED))
        .unwrap();
    assert_eq!(
        report.manifests_removed,
        vec![GcManifest {
            repository: repo("only/digests"),
            digest: loose.digest.clone()
        }]
    );
    let after = files_of(&ours);
    assert!(!after.contains(&revision_file("only/digests", &loose.digest)));
    for blob in loose.blobs.iter().chain([&loose.digest]) {
        assert!(!after.contains(&blob_file(blob)));
    }
    for blob in tagged.blobs.iter().chain([&tagged.digest]) {
        assert!(after.contains(&blob_file(blob)));
    }
}

/// A revision link whose manifest blob is missing is skipped (neither kept
/// nor removed, its references unmarked), as Distribution 2.8.2 does; a
/// kept manifest that is not a manifest fails both, removing nothing.
#[test]
fn damaged_roots_as_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let (gone_tagged, gone_loose, tagged) = {
        let Some(registry) = DockerRegistry::start(&root) else {
            return;
        };
        let p = Pusher {
            registry: &registry,
        };
        let gone_tagged = p.image("damaged/repo", Some("gone"), false, "gone-tagged", &[]);
        let gone_loose = p.image("damaged/repo", None, false, "gone-loose", &[]);
        let tagged = p.image("damaged/repo", Some("ok"), false, "ok", &[]);
        (gone_tagged, gone_loose, tagged)
    };
    for image in [&gone_tagged, &gone_loose] {
        std::fs::remove_file(root.join(blob_file(&image.digest))).unwrap();
    }
    let original = tree_files(&root);
    let rt = runtime();
    for (args, options) in [
        (&[][..], KEEP_ALL),
        (&["--delete-untagged"][..], DELETE_UNTAGGED),
    ] {
        let name = if options.delete_untagged {
            "untagged"
        } else {
            "keep"
        };
        let (theirs, ours) = (
            dir.path().join(format!("d-{name}")),
            dir.path().join(format!("b-{name}")),
        );
        copy_tree(&root, &theirs);
        copy_tree(&root, &ours);
        assert!(run_distribution(&theirs, args).status.success());
        let report = rt
            .block_on(berth_on(&ours).garbage_collect(options))
            .unwrap();
        assert_eq!(files_of(&theirs), files_of(&ours), "{name}");
        let mut dangling: Vec<GcManifest> = [&gone_tagged, &gone_loose]
            .iter()
            .map(|i| GcManifest {
                repository: repo("damaged/repo"),
                digest: i.digest.clone(),
            })
            .collect();
        dangling.sort();
        assert_eq!(report.dangling, dangling);
        assert!(report.manifests_removed.is_empty());
        // Their blobs were not marked.
        let after = files_of(&ours);
        for blob in gone_tagged.blobs.iter().chain(&gone_loose.blobs) {
            assert!(!after.contains(&blob_file(blob)));
        }
        for blob in &tagged.blobs {
            assert!(after.contains(&blob_file(blob)));
        }
    }

    // Not a manifest: both fail, nothing is removed.
    std::fs::write(root.join(blob_file(&tagged.digest)), b"not a manifest").unwrap();
    let original_corrupt = tree_files(&root);
    assert_ne!(original, original_corrupt);
    for (args, options) in [
        (&[][..], KEEP_ALL),
        (&["--delete-untagged"][..], DELETE_UNTAGGED),
    ] {
        let name = if options.delete_untagged {
            "untagged"
        } else {
            "keep"
        };
        let (theirs, ours) = (
            dir.path().join(format!("dc-{name}")),
            dir.path().join(format!("bc-{name}")),
        );
        copy_tree(&root, &theirs);
        copy_tree(&root, &ours);
        let out = run_distribution(&theirs, args);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("failed to retrieve manifest"));
        let err = rt
            .block_on(berth_on(&ours).garbage_collect(options))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("damaged/repo") && err.contains(tagged.digest.as_str()),
            "{err}"
        );
        assert_eq!(tree_files(&theirs), original_corrupt);
        assert_eq!(tree_files(&ours), original_corrupt);
    }
}

// ---------------------------------------------------------------------------
// Roots written directly through the driver: berth's own rules.

/// Writes a root through the driver, as the manifest store would.
struct Root {
    registry: Registry,
    driver: Arc<dyn StorageDriver>,
    _dir: Option<tempfile::TempDir>,
}

impl Root {
    fn inmemory() -> Root {
        let driver: Arc<dyn StorageDriver> = Arc::new(InMemoryDriver::new());
        Root {
            registry: Registry::new(driver.clone(), StorageOptions::default()),
            driver,
            _dir: None,
        }
    }

    fn filesystem() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let driver: Arc<dyn StorageDriver> = Arc::new(FilesystemDriver::new(dir.path()));
        Root {
            registry: Registry::new(driver.clone(), StorageOptions::default()),
            driver,
            _dir: Some(dir),
        }
    }

    /// A blob of `repository` (data and layer link).
    async fn blob(&self, repository: &str, media_type: &str, data: &[u8]) -> Value {
        let d = self
            .registry
            .blobs(&repo(repository))
            .put(media_type, Bytes::copy_from_slice(data))
            .await
            .unwrap();
        descriptor(media_type, &d.digest, data.len())
    }

    /// A manifest of `repository`: its payload as a blob, its revision
    /// link; answers its descriptor.
    async fn manifest(&self, repository: &str, media_type: &str, body: &Value) -> Value {
        self.raw_manifest(repository, media_type, body.to_string().as_bytes())
            .await
    }

    async fn raw_manifest(&self, repository: &str, media_type: &str, body: &[u8]) -> Value {
        let digest = sha256(body);
        self.driver
            .put_content(&paths::blob_data(&digest), Bytes::copy_from_slice(body))
            .await
            .unwrap();
        self.link(&paths::revision_link(&repo(repository), &digest), &digest)
            .await;
        descriptor(media_type, &digest, body.len())
    }

    async fn link(&self, path: &str, digest: &Digest) {
        self.driver
            .put_content(path, Bytes::copy_from_slice(digest.as_str().as_bytes()))
            .await
            .unwrap();
    }

    /// Points `tag` at `digest`, recording it in the tag's history.
    async fn tag(&self, repository: &str, tag: &str, target: &Value) {
        let (name, tag) = (repo(repository), Tag::parse(tag).unwrap());
        let digest = digest_of(target);
        self.link(&paths::tag_current_link(&name, &tag), &digest)
            .await;
        self.link(&paths::tag_index_link(&name, &tag, &digest), &digest)
            .await;
    }

    /// Indexes `referrer` as a referrer of `subject` (berth's layout).
    async fn referrer(&self, repository: &str, subject: &Value, referrer: &Value) {
        self.driver
            .put_content(
                &referrer_entry(repository, &digest_of(subject), &digest_of(referrer)),
                Bytes::from(referrer.to_string()),
            )
            .await
            .unwrap();
    }

    /// Every file and its content.
    async fn files(&self) -> BTreeMap<String, Bytes> {
        let mut paths = Vec::new();
        self.driver
            .walk("/", &mut |info| {
                if !info.is_dir {
                    paths.push(info.path.clone());
                }
                Walk::Continue
            })
            .await
            .unwrap();
        let mut out = BTreeMap::new();
        for path in paths {
            let content = self.driver.get_content(&path).await.unwrap();
            out.insert(path, content);
        }
        out
    }
}

fn digest_of(descriptor: &Value) -> Digest {
    Digest::parse(descriptor["digest"].as_str().unwrap()).unwrap()
}

fn referrer_entry(repository: &str, subject: &Digest, referrer: &Digest) -> String {
    format!(
        "{}/_referrers/{}/{}/{}/{}/descriptor",
        paths::repository(&repo(repository)),
        subject.algorithm(),
        subject.encoded(),
        referrer.algorithm(),
        referrer.encoded()
    )
}

fn oci_image(config: &Value, layers: &[&Value], subject: Option<&Value>) -> Value {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    });
    if let Some(subject) = subject {
        m["subject"] = subject.clone();
        m["artifactType"] = json!("application/vnd.example.signature");
    }
    m
}

/// What the referrers scenario wrote.
struct Signed {
    /// Must survive `--delete-untagged`: (manifest, its blobs).
    kept: Vec<(Value, Vec<Value>)>,
    /// Must go: (manifest, its own blobs).
    gone: Vec<(Value, Vec<Value>)>,
    orphan: Value,
    /// Referrers index entries that must stay / go.
    entries_kept: Vec<String>,
    entries_gone: Vec<String>,
    /// The tag history entry of the replaced image.
    history_gone: String,
}

/// In `app/signed`: image `v1` replaced an old image; the current image
/// has an untagged signature, which has an untagged attestation; the old
/// image has a signature too. An index `multi` has an untagged child,
/// which has a referrer. A schema 1 manifest is tagged `legacy`.
async fn signed_root(root: &Root) -> Signed {
    let r = "app/signed";
    let empty = root
        .blob(r, "application/vnd.oci.empty.v1+json", b"{}")
        .await;
    let image = |seed: &'static str, subject: Option<Value>| {
        let empty = empty.clone();
        async move {
            let config = match subject {
                Some(_) => empty,
                None => {
                    root.blob(r, OCI_CONFIG, json!({"seed": seed}).to_string().as_bytes())
                        .await
                }
            };
            let layer = root.blob(r, OCI_LAYER, seed.as_bytes()).await;
            let m = root
                .manifest(
                    r,
                    OCI_MANIFEST,
                    &oci_image(&config, &[&layer], subject.as_ref()),
                )
                .await;
            let own = if subject.is_some() {
                vec![layer]
            } else {
                vec![config, layer]
            };
            (m, own)
        }
    };
    let (old, old_blobs) = image("old", None).await;
    root.tag(r, "v1", &old).await;
    let (current, current_blobs) = image("current", None).await;
    root.tag(r, "v1", &current).await;
    let (sig, sig_blobs) = image("signature", Some(current.clone())).await;
    let (att, att_blobs) = image("attestation", Some(sig.clone())).await;
    let (old_sig, old_sig_blobs) = image("old signature", Some(old.clone())).await;
    let (child, child_blobs) = image("child", None).await;
    let (child_ref, child_ref_blobs) = image("child referrer", Some(child.clone())).await;
    let index = root
        .manifest(
            r,
            OCI_INDEX,
            &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child]}),
        )
        .await;
    root.tag(r, "multi", &index).await;
    // Schema 1 (unsigned): its blobSums are marked.
    let legacy_layer = root.blob(r, DOCKER_LAYER, b"legacy layer").await;
    let legacy = root
        .manifest(
            r,
            "application/vnd.docker.distribution.manifest.v1+json",
            &json!({
                "schemaVersion": 1,
                "name": r,
                "tag": "legacy",
                "architecture": "amd64",
                "fsLayers": [{"blobSum": legacy_layer["digest"]}],
                "history": [{"v1Compatibility": "{\"id\":\"1\"}"}],
            }),
        )
        .await;
    root.tag(r, "legacy", &legacy).await;
    let orphan = root.blob(r, OCI_LAYER, b"orphan").await;

    for (subject, referrer) in [
        (&current, &sig),
        (&sig, &att),
        (&old, &old_sig),
        (&child, &child_ref),
    ] {
        root.referrer(r, subject, referrer).await;
    }
    let entry = |s: &Value, f: &Value| {
        berth_driver::parent(&referrer_entry(r, &digest_of(s), &digest_of(f))).to_owned()
    };
    let mut kept_blobs_of_current = current_blobs.clone();
    kept_blobs_of_current.push(empty.clone());
    Signed {
        kept: vec![
            (current.clone(), kept_blobs_of_current),
            (sig.clone(), sig_blobs),
            (att.clone(), att_blobs),
            (index, vec![]),
            (child.clone(), child_blobs),
            (child_ref.clone(), child_ref_blobs),
            (legacy, vec![legacy_layer]),
        ],
        gone: vec![(old.clone(), old_blobs), (old_sig.clone(), old_sig_blobs)],
        orphan,
        entries_kept: vec![
            entry(&current, &sig),
            entry(&sig, &att),
            entry(&child, &child_ref),
        ],
        entries_gone: vec![entry(&old, &old_sig)],
        history_gone: paths::tag_index_link(&repo(r), &Tag::parse("v1").unwrap(), &digest_of(&old)),
    }
}

fn has_blob(files: &BTreeMap<String, Bytes>, d: &Value) -> bool {
    files.contains_key(&paths::blob_data(&digest_of(d)))
}

fn has_revision(files: &BTreeMap<String, Bytes>, d: &Value) -> bool {
    files.contains_key(&paths::revision_link(&repo("app/signed"), &digest_of(d)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referrers_are_kept_with_their_subject() {
    for root in [Root::inmemory(), Root::filesystem()] {
        let s = signed_root(&root).await;
        let before = root.files().await;
        let report = root
            .registry
            .garbage_collect(DELETE_UNTAGGED)
            .await
            .unwrap();
        let after = root.files().await;

        for (m, blobs) in &s.kept {
            assert!(has_revision(&after, m), "{m}");
            assert!(has_blob(&after, m), "{m}");
            for b in blobs {
                assert!(has_blob(&after, b), "{b} of {m}");
            }
        }
        for (m, blobs) in &s.gone {
            assert!(!has_revision(&after, m), "{m}");
            assert!(!has_blob(&after, m), "{m}");
            for b in blobs {
                assert!(!has_blob(&after, b), "{b} of {m}");
            }
        }
        assert!(!has_blob(&after, &s.orphan));
        for e in &s.entries_kept {
            assert!(after.contains_key(&format!("{e}/descriptor")), "{e}");
        }
        for e in &s.entries_gone {
            assert!(before.contains_key(&format!("{e}/descriptor")), "{e}");
            assert!(!after.contains_key(&format!("{e}/descriptor")), "{e}");
        }
        assert!(before.contains_key(&s.history_gone));
        assert!(!after.contains_key(&s.history_gone));
        // Layer links stay.
        let links = |f: &BTreeMap<String, Bytes>| {
            f.keys()
                .filter(|p| p.contains("/_layers/"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(links(&before), links(&after));

        let mut expected: Vec<GcManifest> = s
            .gone
            .iter()
            .map(|(m, _)| GcManifest {
                repository: repo("app/signed"),
                digest: digest_of(m),
            })
            .collect();
        expected.sort();
        assert_eq!(report.manifests_removed, expected);
        assert_eq!(report.manifests_kept.len(), s.kept.len());
        assert!(report.dangling.is_empty());
        // Exactly the manifests and blobs listed went, and nothing else.
        let gone: BTreeSet<&String> = before.keys().filter(|p| !after.contains_key(*p)).collect();
        let mut expected_gone: BTreeSet<String> = BTreeSet::new();
        for (m, blobs) in &s.gone {
            expected_gone.insert(paths::revision_link(&repo("app/signed"), &digest_of(m)));
            expected_gone.insert(paths::blob_data(&digest_of(m)));
            for b in blobs {
                expected_gone.insert(paths::blob_data(&digest_of(b)));
            }
        }
        expected_gone.insert(paths::blob_data(&digest_of(&s.orphan)));
        for e in &s.entries_gone {
            expected_gone.insert(format!("{e}/descriptor"));
        }
        expected_gone.insert(s.history_gone.clone());
        assert_eq!(gone, expected_gone.iter().collect());
        assert_eq!(
            report.bytes_freed,
            report.blobs_removed.iter().map(|b| b.size).sum::<u64>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_delete_untagged_only_unreferenced_blobs_go() {
    let root = Root::inmemory();
    let s = signed_root(&root).await;
    let before = root.files().await;
    let report = root.registry.garbage_collect(KEEP_ALL).await.unwrap();
    let after = root.files().await;
    let gone: Vec<&String> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    assert_eq!(gone, vec![&paths::blob_data(&digest_of(&s.orphan))]);
    assert!(report.manifests_removed.is_empty());
    assert_eq!(report.manifests_kept.len(), s.kept.len() + s.gone.len());
    assert_eq!(report.blobs_removed.len(), 1);
    assert_eq!(report.bytes_freed, b"orphan".len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_changes_nothing_and_announces_the_real_run() {
    for options in [KEEP_ALL, DELETE_UNTAGGED] {
        let root = Root::filesystem();
        signed_root(&root).await;
        let before = root.files().await;
        let dry = root
            .registry
            .garbage_collect(GcOptions {
                dry_run: true,
                ..options
            })
            .await
            .unwrap();
        assert!(dry.dry_run);
        assert_eq!(root.files().await, before);
        assert!(!dry.blobs_removed.is_empty());
        let real = root.registry.garbage_collect(options).await.unwrap();
        assert_eq!(
            GcReport {
                dry_run: false,
                ..dry
            },
            real
        );
        // A second run finds nothing more.
        let again = root.registry.garbage_collect(options).await.unwrap();
        assert!(again.blobs_removed.is_empty() && again.manifests_removed.is_empty());
        assert_eq!(again.bytes_freed, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_kept_manifest_fails_and_removes_nothing() {
    for options in [KEEP_ALL, DELETE_UNTAGGED] {
        let root = Root::inmemory();
        signed_root(&root).await;
        let broken = root
            .raw_manifest(
                "app/broken",
                OCI_MANIFEST,
                b"{\"schemaVersion\": 2, \"config\": 1}",
            )
            .await;
        root.tag("app/broken", "latest", &broken).await;
        let before = root.files().await;
        let err = root
            .registry
            .garbage_collect(options)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("app/broken") && err.contains(broken["digest"].as_str().unwrap()),
            "{err}"
        );
        assert_eq!(root.files().await, before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_untagged_manifest_is_removed_unread() {
    // As Distribution: with --delete-untagged an untagged manifest is never
    // read, so one that is not a manifest goes like any other.
    let root = Root::inmemory();
    let layer = root.blob("app/x", OCI_LAYER, b"layer").await;
    let config = root.blob("app/x", OCI_CONFIG, b"{}").await;
    let good = root
        .manifest("app/x", OCI_MANIFEST, &oci_image(&config, &[&layer], None))
        .await;
    root.tag("app/x", "v1", &good).await;
    let junk = root.raw_manifest("app/x", OCI_MANIFEST, b"junk").await;
    let report = root
        .registry
        .garbage_collect(DELETE_UNTAGGED)
        .await
        .unwrap();
    assert_eq!(
        report.manifests_removed,
        vec![GcManifest {
            repository: repo("app/x"),
            digest: digest_of(&junk)
        }]
    );
    let after = root.files().await;
    assert!(!after.contains_key(&paths::blob_data(&digest_of(&junk))));
    assert!(after.contains_key(&paths::blob_data(&digest_of(&layer))));
    // Without the flag it must be read, and cannot be.
    let root = Root::inmemory();
    let junk = root.raw_manifest("app/x", OCI_MANIFEST, b"junk").await;
    let err = root.registry.garbage_collect(KEEP_ALL).await.unwrap_err();
    assert!(err.to_string().contains(digest_of(&junk).as_str()), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_manifest_blob_is_skipped_and_reported() {
    let root = Root::filesystem();
    let layer = root.blob("app/x", OCI_LAYER, b"layer").await;
    let config = root.blob("app/x", OCI_CONFIG, b"{}").await;
    let m = root
        .manifest("app/x", OCI_MANIFEST, &oci_image(&config, &[&layer], None))
        .await;
    root.tag("app/x", "v1", &m).await;
    root.driver
        .delete(&paths::blob_dir(&digest_of(&m)))
        .await
        .unwrap();
    for options in [KEEP_ALL, DELETE_UNTAGGED] {
        let report = root.registry.garbage_collect(options).await.unwrap();
        assert_eq!(
            report.dangling,
            vec![GcManifest {
                repository: repo("app/x"),
                digest: digest_of(&m)
            }]
        );
        assert!(report.manifests_removed.is_empty() && report.manifests_kept.is_empty());
        let after = root.files().await;
        assert!(after.contains_key(&paths::revision_link(&repo("app/x"), &digest_of(&m))));
        // Nothing marked its layer.
        assert!(!after.contains_key(&paths::blob_data(&digest_of(&layer))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_storage() {
    let root = Root::inmemory();
    let report = root
        .registry
        .garbage_collect(DELETE_UNTAGGED)
        .await
        .unwrap();
    assert_eq!(report, GcReport::default());
}

/// The progress hook sees every phase in order, each step counted, and
/// totals that match the report; a dry run stops after the listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reports_every_phase() {
    for options in [
        KEEP_ALL,
        DELETE_UNTAGGED,
        GcOptions {
            dry_run: true,
            delete_untagged: true,
            delay: Duration::ZERO,
        },
    ] {
        let root = Root::inmemory();
        signed_root(&root).await;
        let repositories = root
            .registry
            .garbage_collect(GcOptions {
                dry_run: true,
                delete_untagged: false,
                delay: Duration::ZERO,
            })
            .await
            .unwrap()
            .manifests_kept
            .iter()
            .map(|m| m.repository.clone())
            .collect::<BTreeSet<_>>()
            .len();
        let seen = std::sync::Mutex::new(Vec::new());
        let report = root
            .registry
            .garbage_collect_with_progress(options, &|p| seen.lock().unwrap().push(p))
            .await
            .unwrap();
        let seen = seen.into_inner().unwrap();

        let mark: Vec<_> = seen
            .iter()
            .take_while(|p| matches!(p, GcProgress::Mark { .. }))
            .collect();
        assert_eq!(mark.len(), repositories + 1, "{seen:?}");
        for (i, p) in mark.iter().enumerate() {
            let GcProgress::Mark {
                repositories: done,
                total,
                ..
            } = p
            else {
                unreachable!()
            };
            assert_eq!((*done, *total), (i, repositories));
        }
        assert_eq!(
            mark.last(),
            Some(&&GcProgress::Mark {
                repositories,
                total: repositories,
                manifests: report.manifests_kept.len()
            })
        );

        let rest = &seen[mark.len()..];
        let listing: Vec<_> = rest
            .iter()
            .take_while(|p| matches!(p, GcProgress::ListBlobs { .. }))
            .collect();
        let blobs = report.blobs_kept as usize + report.blobs_removed.len();
        let expected: Vec<GcProgress> = (0..=blobs)
            .map(|n| GcProgress::ListBlobs {
                blobs: n,
                done: false,
            })
            .chain([GcProgress::ListBlobs { blobs, done: true }])
            .collect();
        assert_eq!(listing.into_iter().copied().collect::<Vec<_>>(), expected);

        let sweep = &rest[expected.len()..];
        if options.dry_run {
            assert!(sweep.is_empty(), "{sweep:?}");
            continue;
        }
        let manifests = report.manifests_removed.len();
        let blobs = report.blobs_removed.len();
        let expected: Vec<GcProgress> = (0..=manifests)
            .map(|removed| GcProgress::SweepManifests {
                removed,
                total: manifests,
            })
            .chain((0..=blobs).map(|removed| GcProgress::SweepBlobs {
                removed,
                total: blobs,
            }))
            .collect();
        assert_eq!(sweep, expected);
        assert!(blobs > 0);
        assert_eq!(manifests > 0, options.delete_untagged);
    }
}
