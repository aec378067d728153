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

mod mark;
mod sweep;
mod walk;

use mark::*;
use sweep::*;
use walk::*;

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
