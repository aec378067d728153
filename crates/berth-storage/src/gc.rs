//! Garbage collection: mark every blob a kept manifest needs, sweep the
//! rest, with the result of Distribution 2.8's `registry garbage-collect`
//! on the same root (where Distribution is right; see
//! `docs/garbage-collection.md` for where berth keeps more).
//!
//! Mark, per repository (a directory of `repositories/` holding
//! `_manifests`):
//! - every revision link whose manifest blob exists is a manifest of the
//!   repository (a link whose blob is missing is skipped, as Distribution
//!   does, and reported as dangling);
//! - every manifest is kept, or with `delete_untagged` only the tagged ones
//!   and, recursively, the child manifests of kept indexes and the
//!   manifests whose `subject` is kept (referrers); the others are deleted;
//! - a kept manifest marks its own digest and every digest it references
//!   (config and layers, or an index's entries); it must be readable, else
//!   the whole collection fails before anything is removed.
//!
//! Sweep (not in a dry run): each deleted manifest loses its revision
//! directory, its entry in every tag's history and its entries in berth's
//! referrers index; then every blob whose digest is not marked is removed.
//! Layer links are left alone, as Distribution leaves them.
//!
//! [`Registry::garbage_collect_with_progress`] reports how far each phase
//! has got ([`GcProgress`]) as it goes.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_core::{Error, Result};
use berth_digest::Digest;
use berth_driver::{DriverError, StorageDriver, Walk};
use berth_manifest::{MAX_MANIFEST_SIZE, Manifest, ManifestRegistry};
use berth_reference::RepositoryName;
use futures_util::{StreamExt, TryStreamExt};

use crate::{Registry, paths};

/// How many storage operations run at once.
const CONCURRENCY: usize = 16;

/// What a garbage collection does (the `garbage-collect` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// Only report what would be removed (`--dry-run`).
    pub dry_run: bool,
    /// Delete the manifests no tag points to, unless a kept index lists
    /// them or their `subject` is kept (`--delete-untagged`).
    pub delete_untagged: bool,
}

/// How far a garbage collection has got, as
/// [`Registry::garbage_collect_with_progress`] reports it: the mark, the
/// listing of the blob store, then (not in a dry run) the sweep of
/// manifests and of blobs, in that order.
///
/// Each phase is reported when it starts, then after each step; it is
/// complete when its count reaches its total (for the listing, whose total
/// is not known in advance, when `done` is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcProgress {
    /// Marking: `repositories` of `total` repositories are marked, and
    /// `manifests` manifests were kept in them.
    Mark {
        /// Repositories marked so far.
        repositories: usize,
        /// Repositories in the storage.
        total: usize,
        /// Manifests kept so far.
        manifests: usize,
    },
    /// Listing the global blob store: `blobs` blobs found so far.
    ListBlobs {
        /// Blobs found so far.
        blobs: usize,
        /// Whether the listing is complete.
        done: bool,
    },
    /// Removing the manifests the mark did not keep: `removed` of `total`.
    SweepManifests {
        /// Manifests removed so far.
        removed: usize,
        /// Manifests to remove.
        total: usize,
    },
    /// Removing the blobs nothing marked: `removed` of `total`.
    SweepBlobs {
        /// Blobs removed so far.
        removed: usize,
        /// Blobs to remove.
        total: usize,
    },
}

/// A manifest of a repository, as a report lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GcManifest {
    /// The repository.
    pub repository: RepositoryName,
    /// The manifest's digest.
    pub digest: Digest,
}

impl fmt::Display for GcManifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository.as_str(), self.digest)
    }
}

/// A blob of the global store, as a report lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GcBlob {
    /// The blob's digest.
    pub digest: Digest,
    /// Its size in bytes (stat'ed before it was removed).
    pub size: u64,
}

/// What a garbage collection did, or in a dry run would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Whether this was a dry run (nothing was removed).
    pub dry_run: bool,
    /// Manifests kept, sorted by repository and digest.
    pub manifests_kept: Vec<GcManifest>,
    /// Manifests removed (or that a real run would remove), sorted.
    pub manifests_removed: Vec<GcManifest>,
    /// Revision links skipped because their manifest blob is missing:
    /// neither kept nor removed, and nothing they reference is marked
    /// (Distribution skips them too).
    pub dangling: Vec<GcManifest>,
    /// How many distinct digests were marked (some may have no blob).
    pub marked: usize,
    /// How many blobs are kept.
    pub blobs_kept: u64,
    /// Their total size in bytes.
    pub bytes_kept: u64,
    /// Blobs removed (or that a real run would remove), sorted by digest.
    pub blobs_removed: Vec<GcBlob>,
    /// The total size of `blobs_removed`.
    pub bytes_freed: u64,
}

/// A manifest that must go, with what points to it.
struct Doomed {
    manifest: GcManifest,
    /// The tag directories of its repository (each may hold it in its
    /// history).
    tag_dirs: Vec<String>,
    /// Its entries in the referrers index (`<referrer alg>/<referrer hex>`
    /// directories).
    referrer_entries: Vec<String>,
}

/// A revision of a repository, read.
enum Revision {
    /// The manifest blob is missing.
    Dangling,
    /// Parsed: what marking needs of it.
    Parsed(Links),
    /// Present but not a manifest berth can read.
    Unreadable(String),
}

/// The digests a manifest points to (kept instead of the manifest, so a
/// repository's worth of them fits in memory).
struct Links {
    /// Everything it references: config and layers, or index entries.
    references: Vec<Digest>,
    /// The index entries that are manifests.
    children: Vec<Digest>,
    /// Its `subject`.
    subject: Option<Digest>,
}

impl Links {
    fn of(m: &Manifest) -> Links {
        Links {
            references: m.references().map(|d| d.digest.clone()).collect(),
            children: m.manifest_references().map(|d| d.digest.clone()).collect(),
            subject: m.subject().map(|d| d.digest.clone()),
        }
    }
}

impl Registry {
    /// Removes the blobs no manifest needs, and with
    /// [`delete_untagged`](GcOptions::delete_untagged) the manifests no
    /// tag needs, in every repository; with [`dry_run`](GcOptions::dry_run)
    /// only reports what it would remove.
    ///
    /// Nothing is removed unless the whole mark succeeds: a kept manifest
    /// that cannot be read (not a manifest, or a storage error) fails the
    /// collection with an error naming the repository and digest.
    ///
    /// It must not run while anything writes to the same storage: a blob
    /// pushed during the collection, not yet referenced by a manifest, is
    /// removed.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use berth_core::BlobIngester;
    /// use berth_driver::InMemoryDriver;
    /// use berth_reference::RepositoryName;
    /// use berth_storage::{GcOptions, Registry, StorageOptions};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let registry = Registry::new(Arc::new(InMemoryDriver::new()), StorageOptions::default());
    /// // A blob no manifest references.
    /// let repo = RepositoryName::parse("library/hello")?;
    /// let orphan = registry.blobs(&repo).put("application/octet-stream", "bytes".into()).await?;
    ///
    /// let options = GcOptions { dry_run: true, delete_untagged: true };
    /// let report = registry.garbage_collect(options).await?;
    /// assert_eq!(report.blobs_removed[0].digest, orphan.digest);
    /// assert_eq!(report.bytes_freed, 5);
    ///
    /// // The dry run announced exactly what the real run does.
    /// let options = GcOptions { dry_run: false, ..options };
    /// assert_eq!(registry.garbage_collect(options).await?.blobs_removed, report.blobs_removed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn garbage_collect(&self, options: GcOptions) -> Result<GcReport> {
        self.garbage_collect_with_progress(options, &|_| {}).await
    }

    /// [`garbage_collect`](Registry::garbage_collect), calling `progress`
    /// as each phase starts and after each step of it (each repository
    /// marked, blob found, manifest or blob removed); see [`GcProgress`].
    ///
    /// `progress` runs on the collection's task, between storage
    /// operations: it should return quickly (count, or redraw at most now
    /// and then).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use berth_core::BlobIngester;
    /// use berth_driver::InMemoryDriver;
    /// use berth_reference::RepositoryName;
    /// use berth_storage::{GcOptions, GcProgress, Registry, StorageOptions};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let registry = Registry::new(Arc::new(InMemoryDriver::new()), StorageOptions::default());
    /// let repo = RepositoryName::parse("library/hello")?;
    /// registry.blobs(&repo).put("application/octet-stream", "bytes".into()).await?;
    ///
    /// let seen = Mutex::new(Vec::new());
    /// let report = registry
    ///     .garbage_collect_with_progress(GcOptions::default(), &|p| seen.lock().unwrap().push(p))
    ///     .await?;
    /// assert_eq!(report.blobs_removed.len(), 1);
    /// let seen = seen.into_inner().unwrap();
    /// assert_eq!(
    ///     seen.last(),
    ///     Some(&GcProgress::SweepBlobs { removed: 1, total: 1 })
    /// );
    /// assert!(seen.contains(&GcProgress::ListBlobs { blobs: 1, done: true }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn garbage_collect_with_progress(
        &self,
        options: GcOptions,
        progress: &(dyn Fn(GcProgress) + Send + Sync),
    ) -> Result<GcReport> {
        let driver = self.driver().as_ref();
        let manifests = ManifestRegistry::new();
        let mut report = GcReport {
            dry_run: options.dry_run,
            ..GcReport::default()
        };
        let mut marked: HashSet<Digest> = HashSet::new();
        let mut doomed: Vec<Doomed> = Vec::new();

        let names = repositories(driver).await?;
        let total = names.len();
        progress(GcProgress::Mark {
            repositories: 0,
            total,
            manifests: 0,
        });
        for (done, name) in names.iter().enumerate() {
            mark_repository(
                driver,
                &manifests,
                name,
                options,
                &mut marked,
                &mut report,
                &mut doomed,
            )
            .await?;
            progress(GcProgress::Mark {
                repositories: done + 1,
                total,
                manifests: report.manifests_kept.len(),
            });
        }
        report.marked = marked.len();

        let blobs = blobs(driver, progress).await?;
        let mut removed = Vec::new();
        for blob in blobs {
            if marked.contains(&blob.digest) {
                report.blobs_kept += 1;
                report.bytes_kept += blob.size;
            } else {
                report.bytes_freed += blob.size;
                removed.push(blob);
            }
        }
        removed.sort();
        report.manifests_removed = doomed.iter().map(|d| d.manifest.clone()).collect();
        report.manifests_removed.sort();
        report.manifests_kept.sort();
        report.dangling.sort();
        tracing::info!(
            marked = report.marked,
            manifests_removed = report.manifests_removed.len(),
            blobs_removed = removed.len(),
            bytes_freed = report.bytes_freed,
            dry_run = options.dry_run,
            "garbage collection: marked"
        );

        if !options.dry_run {
            let (swept, total) = (AtomicUsize::new(0), doomed.len());
            progress(GcProgress::SweepManifests { removed: 0, total });
            futures_util::stream::iter(doomed.iter().map(Ok))
                .try_for_each_concurrent(CONCURRENCY, |d| async {
                    remove_manifest(driver, d).await?;
                    let count = swept.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(GcProgress::SweepManifests {
                        removed: count,
                        total,
                    });
                    Ok::<_, Error>(())
                })
                .await?;
            let (swept, total) = (AtomicUsize::new(0), removed.len());
            progress(GcProgress::SweepBlobs { removed: 0, total });
            futures_util::stream::iter(removed.iter().map(Ok))
                .try_for_each_concurrent(CONCURRENCY, |blob| async {
                    remove_blob(driver, blob).await?;
                    let count = swept.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(GcProgress::SweepBlobs {
                        removed: count,
                        total,
                    });
                    Ok::<_, Error>(())
                })
                .await?;
            // A descriptor cache must not outlive the blob: a stale entry
            // makes clients skip a re-push whose pull then fails. This
            // reaches a shared (Redis) cache; a registry's in-memory cache
            // is its own, which is why GC runs with the registry stopped.
            let global = &self.inner().global;
            for blob in &removed {
                if let Err(e) = global.clear(&blob.digest).await {
                    tracing::warn!(digest = %blob.digest, error = %e, "could not clear a cached descriptor");
                }
            }
        }
        report.blobs_removed = removed;
        Ok(report)
    }
}

/// Marks what one repository keeps; records what it loses.
async fn mark_repository(
    driver: &dyn StorageDriver,
    manifests: &ManifestRegistry,
    name: &RepositoryName,
    options: GcOptions,
    marked: &mut HashSet<Digest>,
    report: &mut GcReport,
    doomed: &mut Vec<Doomed>,
) -> Result<()> {
    let digests = revision_digests(driver, name).await?;
    let revisions: HashMap<Digest, Revision> = futures_util::stream::iter(digests)
        .map(|digest| async move {
            let revision = read_revision(driver, manifests, &digest).await?;
            Ok::<_, Error>((digest, revision))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;

    let entry = |digest: &Digest| GcManifest {
        repository: name.clone(),
        digest: digest.clone(),
    };
    let mut present: Vec<&Digest> = Vec::new();
    for (digest, revision) in &revisions {
        if matches!(revision, Revision::Dangling) {
            tracing::warn!(
                repository = name.as_str(),
                %digest,
                "garbage collection: skipping a revision whose manifest blob is missing"
            );
            report.dangling.push(entry(digest));
        } else {
            present.push(digest);
        }
    }

    let mut tag_dirs = Vec::new();
    let kept: HashSet<&Digest> = if options.delete_untagged {
        let tags = tags(driver, name).await?;
        let roots = present
            .iter()
            .copied()
            .filter(|d| tags.targets.contains(*d));
        tag_dirs = tags.dirs;
        keep_closure(&revisions, roots)
    } else {
        present.iter().copied().collect()
    };

    for digest in &present {
        if !kept.contains(*digest) {
            continue;
        }
        let manifest = match revisions.get(*digest) {
            Some(Revision::Parsed(m)) => m,
            Some(Revision::Unreadable(reason)) => {
                return Err(Error::backend(
                    format!(
                        "garbage collection: reading manifest {digest} of repository {}",
                        name.as_str()
                    ),
                    reason.clone(),
                ));
            }
            Some(Revision::Dangling) | None => continue,
        };
        marked.insert((*digest).clone());
        marked.extend(manifest.references.iter().cloned());
        report.manifests_kept.push(entry(digest));
    }

    let lost: Vec<&Digest> = present.into_iter().filter(|d| !kept.contains(*d)).collect();
    if lost.is_empty() {
        return Ok(());
    }
    let mut entries = referrer_entries(driver, name).await?;
    for digest in lost {
        tracing::info!(
            repository = name.as_str(),
            %digest,
            dry_run = options.dry_run,
            "garbage collection: manifest eligible for deletion"
        );
        doomed.push(Doomed {
            manifest: entry(digest),
            tag_dirs: tag_dirs.clone(),
            referrer_entries: entries.remove(digest).unwrap_or_default(),
        });
    }
    Ok(())
}

/// The manifests kept from `roots`: the roots, the child manifests of kept
/// indexes and the manifests whose subject is kept, recursively, among the
/// repository's present revisions.
fn keep_closure<'a>(
    revisions: &'a HashMap<Digest, Revision>,
    roots: impl Iterator<Item = &'a Digest>,
) -> HashSet<&'a Digest> {
    let mut referrers: HashMap<&Digest, Vec<&Digest>> = HashMap::new();
    for (digest, revision) in revisions {
        if let Revision::Parsed(m) = revision
            && let Some(subject) = &m.subject
        {
            referrers.entry(subject).or_default().push(digest);
        }
    }
    let is_present = |d: &Digest| {
        matches!(
            revisions.get(d),
            Some(Revision::Parsed(_) | Revision::Unreadable(_))
        )
    };
    let mut kept: HashSet<&Digest> = HashSet::new();
    let mut work: Vec<&Digest> = roots.collect();
    while let Some(digest) = work.pop() {
        if !kept.insert(digest) {
            continue;
        }
        if let Some(Revision::Parsed(m)) = revisions.get(digest) {
            for child in &m.children {
                if let Some((child, _)) = revisions.get_key_value(child)
                    && is_present(child)
                {
                    work.push(child);
                }
            }
        }
        if let Some(found) = referrers.get(digest) {
            work.extend(found.iter().copied());
        }
    }
    kept
}

/// Reads the manifest a revision link names.
async fn read_revision(
    driver: &dyn StorageDriver,
    manifests: &ManifestRegistry,
    digest: &Digest,
) -> Result<Revision> {
    let path = paths::blob_data(digest);
    let info = match driver.stat(&path).await {
        Ok(info) if !info.is_dir => info,
        Ok(_) => return Ok(Revision::Dangling),
        Err(e) if e.is_not_found() => return Ok(Revision::Dangling),
        Err(e) => return Err(driver_error("stat", e)),
    };
    if info.size > MAX_MANIFEST_SIZE as u64 {
        return Ok(Revision::Unreadable(format!(
            "the manifest blob is {} bytes, more than the {MAX_MANIFEST_SIZE} a manifest may have",
            info.size
        )));
    }
    let content = match driver.get_content(&path).await {
        Ok(content) => content,
        Err(e) if e.is_not_found() => return Ok(Revision::Dangling),
        Err(e) => return Err(driver_error("read", e)),
    };
    Ok(match manifests.parse_unvalidated(None, content) {
        Ok(m) => Revision::Parsed(Links::of(&m)),
        Err(e) => Revision::Unreadable(e.to_string()),
    })
}

/// The digests named by a repository's revision links, sorted.
///
/// As Distribution: every file named `link` below `_manifests/revisions`,
/// holding a digest whose own revision link is that file (a link filed
/// under another digest is not a revision of that digest).
async fn revision_digests(
    driver: &dyn StorageDriver,
    name: &RepositoryName,
) -> Result<Vec<Digest>> {
    let root = format!("{}/revisions", paths::manifests_dir(name));
    let mut links = Vec::new();
    walk(driver, &root, |info| {
        if !info.is_dir && info.path.ends_with("/link") {
            links.push(info.path.clone());
        }
        Walk::Continue
    })
    .await?;
    let mut digests: Vec<Digest> = futures_util::stream::iter(links)
        .map(|path| async move {
            let digest = match read_link(driver, &path).await? {
                Some(digest) => digest,
                None => return Ok(None),
            };
            if paths::revision_link(name, &digest) != path {
                tracing::warn!(
                    path,
                    %digest,
                    "garbage collection: ignoring a revision link filed under another digest"
                );
                return Ok(None);
            }
            Ok::<_, Error>(Some(digest))
        })
        .buffer_unordered(CONCURRENCY)
        .try_filter_map(|d| async move { Ok(d) })
        .try_collect()
        .await?;
    digests.sort();
    digests.dedup();
    Ok(digests)
}

/// A repository's tags: where they point and their directories.
struct Tags {
    targets: HashSet<Digest>,
    dirs: Vec<String>,
}

/// Reads every tag's `current/link`. A repository without a tags directory
/// has no tags (Distribution 2.8.2 fails the whole collection there).
async fn tags(driver: &dyn StorageDriver, name: &RepositoryName) -> Result<Tags> {
    let dirs = match driver.list(&paths::tags_dir(name)).await {
        Ok(dirs) => dirs,
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(driver_error("list", e)),
    };
    let targets: Vec<Option<Digest>> = futures_util::stream::iter(dirs.iter())
        .map(|dir| async move { read_link(driver, &format!("{dir}/current/link")).await })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Tags {
        targets: targets.into_iter().flatten().collect(),
        dirs,
    })
}

/// The entries of berth's referrers index in a repository, by referrer:
/// the `<referrer alg>/<referrer hex>` directories holding a `descriptor`.
async fn referrer_entries(
    driver: &dyn StorageDriver,
    name: &RepositoryName,
) -> Result<HashMap<Digest, Vec<String>>> {
    let root = referrers_dir(name);
    let mut entries: HashMap<Digest, Vec<String>> = HashMap::new();
    walk(driver, &root, |info| {
        if info.is_dir || !info.path.ends_with("/descriptor") {
            return Walk::Continue;
        }
        let rest = info.path.strip_prefix(&root).unwrap_or_default();
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        if let [_, _, alg, hex, "descriptor"] = parts.as_slice()
            && let Ok(referrer) = Digest::parse(&format!("{alg}:{hex}"))
        {
            let dir = berth_driver::parent(&info.path).to_owned();
            entries.entry(referrer).or_default().push(dir);
        }
        Walk::Continue
    })
    .await?;
    Ok(entries)
}

/// Removes a manifest from its repository: its tag history entries, its
/// referrers index entries, then its revision.
async fn remove_manifest(driver: &dyn StorageDriver, doomed: &Doomed) -> Result<()> {
    let GcManifest { repository, digest } = &doomed.manifest;
    for dir in &doomed.tag_dirs {
        let entry = format!("{dir}/index/{}/{}", digest.algorithm(), digest.encoded());
        delete(driver, &entry).await?;
    }
    for entry in &doomed.referrer_entries {
        delete(driver, entry).await?;
    }
    let revision = paths::revision_link(repository, digest);
    delete(driver, berth_driver::parent(&revision)).await?;
    tracing::info!(
        repository = repository.as_str(),
        %digest,
        "garbage collection: removed manifest"
    );
    Ok(())
}

/// Removes a blob from the global store.
async fn remove_blob(driver: &dyn StorageDriver, blob: &GcBlob) -> Result<()> {
    delete(driver, &paths::blob_dir(&blob.digest)).await?;
    tracing::info!(digest = %blob.digest, size = blob.size, "garbage collection: removed blob");
    Ok(())
}

/// Deletes `path`; already gone is fine.
async fn delete(driver: &dyn StorageDriver, path: &str) -> Result<()> {
    match driver.delete(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(driver_error("delete", e)),
    }
}

/// Every repository: the paths below `repositories/` that hold a
/// `_manifests` directory (other `_`-prefixed directories are skipped, as
/// Distribution's catalog does), sorted.
async fn repositories(driver: &dyn StorageDriver) -> Result<Vec<RepositoryName>> {
    let root = paths::repositories_root();
    let mut found = Vec::new();
    walk(driver, &root, |info| {
        if !info.is_dir {
            return Walk::Continue;
        }
        let base = info.path.rsplit('/').next().unwrap_or_default();
        if base == "_manifests" {
            if let Some(name) = info
                .path
                .strip_suffix("/_manifests")
                .and_then(|p| p.strip_prefix(&root))
            {
                found.push(name.trim_start_matches('/').to_owned());
            }
            Walk::SkipDir
        } else if base.starts_with('_') {
            Walk::SkipDir
        } else {
            Walk::Continue
        }
    })
    .await?;
    let mut names = found
        .into_iter()
        .map(|name| {
            RepositoryName::parse(&name).map_err(|e| {
                Error::backend(
                    format!("garbage collection: the repository directory {name:?}"),
                    e.to_string(),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    names.sort();
    names.dedup();
    Ok(names)
}

/// Every blob of the global store with its size: the files
/// `blobs/<alg>/<2 hex>/<hex>/data`. Any other file named `data` there
/// fails the collection, as in Distribution. Reports each blob found to
/// `progress`.
async fn blobs(
    driver: &dyn StorageDriver,
    progress: &(dyn Fn(GcProgress) + Send + Sync),
) -> Result<Vec<GcBlob>> {
    let root = paths::blobs_root();
    let mut found = Vec::new();
    let mut bad = None;
    progress(GcProgress::ListBlobs {
        blobs: 0,
        done: false,
    });
    walk(driver, &root, |info| {
        if info.is_dir || !info.path.ends_with("/data") {
            return Walk::Continue;
        }
        let rest = info.path.strip_prefix(&root).unwrap_or_default();
        let digest = match rest
            .trim_start_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            [alg, prefix, hex, "data"] if hex.get(..2) == Some(*prefix) => {
                Digest::parse(&format!("{alg}:{hex}")).ok()
            }
            _ => None,
        };
        match digest {
            Some(digest) => {
                found.push(GcBlob {
                    digest,
                    size: info.size,
                });
                progress(GcProgress::ListBlobs {
                    blobs: found.len(),
                    done: false,
                });
                Walk::Continue
            }
            None => {
                bad = Some(info.path.clone());
                Walk::Stop
            }
        }
    })
    .await?;
    if let Some(path) = bad {
        return Err(Error::backend(
            "garbage collection: enumerating blobs",
            format!("{path} is not the data of a blob"),
        ));
    }
    progress(GcProgress::ListBlobs {
        blobs: found.len(),
        done: true,
    });
    Ok(found)
}

/// Walks `from`; a missing `from` is empty.
async fn walk(
    driver: &dyn StorageDriver,
    from: &str,
    mut visit: impl FnMut(&berth_driver::FileInfo) -> Walk + Send,
) -> Result<()> {
    match driver.walk(from, &mut visit).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(driver_error("walk", e)),
    }
}

/// The digest a link file holds; `None` when there is no file. A link that
/// does not hold a digest fails the collection, as in Distribution.
async fn read_link(driver: &dyn StorageDriver, path: &str) -> Result<Option<Digest>> {
    match driver.get_content(path).await {
        Ok(content) => std::str::from_utf8(&content)
            .ok()
            .and_then(|s| Digest::parse(s.trim()).ok())
            .map(Some)
            .ok_or_else(|| {
                Error::backend(
                    format!("garbage collection: reading the link {path}"),
                    "it does not hold a digest",
                )
            }),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(driver_error("read", e)),
    }
}

/// berth's referrers index of a repository.
fn referrers_dir(name: &RepositoryName) -> String {
    format!("{}/_referrers", paths::repository(name))
}

fn driver_error(operation: &str, e: DriverError) -> Error {
    Error::backend(format!("garbage collection: {operation}"), e)
}
