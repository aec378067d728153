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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use berth_core::{Error, Result};
use berth_digest::Digest;
use berth_driver::{DriverError, StorageDriver, Walk};
use berth_manifest::{MAX_MANIFEST_SIZE, Manifest, ManifestRegistry};
use berth_reference::RepositoryName;
use futures_util::{StreamExt, TryStreamExt};

use crate::{Registry, paths};

pub(crate) mod guard;
mod mark;
mod metrics;
pub(crate) mod record;
mod sweep;
mod walk;

pub use metrics::GcMetrics;

use mark::*;
use sweep::*;
use walk::*;

/// How many storage operations run at once.
const CONCURRENCY: usize = 16;

/// What a garbage collection does (the `garbage-collect` flags, and the
/// grace period of `storage.maintenance.gc.delay`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// Only report what would be removed (`--dry-run`).
    pub dry_run: bool,
    /// Delete the manifests no tag points to, unless a kept index lists
    /// them or their `subject` is kept (`--delete-untagged`).
    pub delete_untagged: bool,
    /// The grace period: whatever a node uploaded, linked, mounted or
    /// found within it (and what that needs) stays. Zero keeps only what
    /// is touched while the run goes. Use the nodes' own
    /// `storage.maintenance.gc.delay`.
    pub delay: Duration,
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
    /// How many manifests and blobs nothing kept but that stayed because
    /// they (or a manifest needing them) were touched within the grace
    /// period; they are counted as kept.
    pub protected: usize,
}

/// A manifest that must go, with what points to it.
struct Doomed {
    manifest: GcManifest,
    /// Its entries in the tags' histories (`<tag>/index/<alg>/<hex>`).
    tag_entries: Vec<String>,
    /// Its entries in the referrers index (`<referrer alg>/<referrer hex>`
    /// directories).
    referrer_entries: Vec<String>,
    /// What it references (spared with it, if it is spared).
    references: Vec<Digest>,
    /// Its subject (it is spared with its subject).
    subject: Option<Digest>,
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
    /// It may run while registries serve the storage, on any number of
    /// nodes: one run at a time holds a lease in the storage, and what
    /// the nodes touched within [`delay`](GcOptions::delay) stays (see
    /// `docs/garbage-collection.md` for the contract). A run that finds
    /// the lease held fails with [`Error::Unavailable`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use berth_core::BlobIngester;
    /// use berth_driver::InMemoryDriver;
    /// use berth_reference::RepositoryName;
    /// use berth_storage::{GcOptions, Registry, StorageOptions};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let registry = Registry::new(Arc::new(InMemoryDriver::new()), StorageOptions::default());
    /// // A blob no manifest references.
    /// let repo = RepositoryName::parse("library/hello")?;
    /// let orphan = registry.blobs(&repo).put("application/octet-stream", "bytes".into()).await?;
    ///
    /// let options = GcOptions { dry_run: true, delete_untagged: true, ..GcOptions::default() };
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
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
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
        let started = std::time::Instant::now();
        let result = self.leased_collection(options, progress).await;
        self.inner().gc_metrics.record(&result, started.elapsed());
        result
    }

    /// Takes the lease (not for a dry run, which removes nothing), keeps
    /// it renewed while `collect` runs, and gives it up.
    async fn leased_collection(
        &self,
        options: GcOptions,
        progress: &(dyn Fn(GcProgress) + Send + Sync),
    ) -> Result<GcReport> {
        let run = record::new_run_id();
        if options.dry_run {
            return self.collect(&run, options, progress, None).await;
        }
        let driver = self.driver().clone();
        match record::acquire_lease(driver.as_ref(), &run).await {
            Ok(()) => {}
            Err(record::LeaseRefused::Held(holder)) => {
                return Err(Error::Unavailable {
                    service: "garbage collection".into(),
                    source: format!(
                        "another run holds the lease ({} on {}, pid {})",
                        holder.run, holder.host, holder.pid
                    )
                    .into(),
                });
            }
            Err(record::LeaseRefused::Failed(e)) => return Err(e),
        }
        let lease = Arc::new(LeaseState::new());
        let renewing = {
            let (lease, driver, run) = (lease.clone(), driver.clone(), run.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(record::LEASE_RENEW).await;
                    match record::renew_lease(driver.as_ref(), &run).await {
                        Ok(()) => lease.renewed(),
                        Err(e) => {
                            tracing::warn!(run, error = %e, "garbage collection: could not renew the lease");
                            if e.kind() == berth_core::ErrorKind::Unavailable {
                                lease.lost();
                                return;
                            }
                        }
                    }
                }
            })
        };
        let result = self.collect(&run, options, progress, Some(&lease)).await;
        renewing.abort();
        if let Err(e) = record::release_lease(driver.as_ref(), &run).await {
            tracing::warn!(run, error = %e, "garbage collection: could not release the lease");
        }
        result
    }

    /// One run: mark, spare what was touched within the grace period,
    /// announce, spare again, remove, say it is done.
    async fn collect(
        &self,
        run: &str,
        options: GcOptions,
        progress: &(dyn Fn(GcProgress) + Send + Sync),
        lease: Option<&LeaseState>,
    ) -> Result<GcReport> {
        let driver = self.driver().as_ref();
        let manifests = ManifestRegistry::new();
        let timing = record::Timing::new(options.delay);
        let began = SystemTime::now();
        let since = began - timing.window();
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
                removed.push(blob);
            }
        }
        drop(marked);

        // What was touched within the grace period stays, with what it
        // needs.
        let touched = record::touched_since(driver, since).await?;
        let spared = spare(&touched, &mut doomed, &mut removed, &mut report);
        report.protected = spared.len();
        tracing::info!(
            run,
            marked = report.marked,
            manifests = doomed.len(),
            blobs = removed.len(),
            protected = report.protected,
            dry_run = options.dry_run,
            "garbage collection: marked"
        );

        if !options.dry_run && doomed.is_empty() && removed.is_empty() {
            progress(GcProgress::SweepManifests {
                removed: 0,
                total: 0,
            });
            progress(GcProgress::SweepBlobs {
                removed: 0,
                total: 0,
            });
        } else if !options.dry_run {
            let check = || lease.map_or(Ok(()), LeaseState::check);
            check()?;
            // Announce; then spare what was touched before nodes could
            // read the announcement.
            let announced: HashSet<Digest> = doomed
                .iter()
                .map(|d| d.manifest.digest.clone())
                .chain(removed.iter().map(|b| b.digest.clone()))
                .collect();
            record::write_digests(
                driver,
                &record::run_file(run, record::CANDIDATES),
                announced.iter(),
            )
            .await?;
            let touched = record::touched_since(driver, since).await?;
            let spared = spare(&touched, &mut doomed, &mut removed, &mut report);
            report.protected += spared.len();
            record::write_digests(
                driver,
                &record::run_file(run, record::PARDONED),
                spared.iter().filter(|d| announced.contains(*d)),
            )
            .await?;
            tracing::info!(
                run,
                manifests = doomed.len(),
                blobs = removed.len(),
                spared = spared.len(),
                "garbage collection: announced the removals"
            );

            let (swept, total) = (AtomicUsize::new(0), doomed.len());
            progress(GcProgress::SweepManifests { removed: 0, total });
            futures_util::stream::iter(doomed.iter().map(Ok))
                .try_for_each_concurrent(CONCURRENCY, |d| async {
                    check()?;
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
                    check()?;
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
            // clears a shared (Redis) cache and this process's own; the
            // other nodes clear theirs when they read the run's record.
            let global = &self.inner().global;
            if let Some(cache) = &self.inner().options.cache
                && !cache.is_shared()
            {
                self.inner().cache_health.invalidated();
            }
            for blob in &removed {
                if let Err(e) = global.clear(&blob.digest).await {
                    tracing::warn!(digest = %blob.digest, error = %e, "could not clear a cached descriptor");
                }
            }
            record::write_digests(
                driver,
                &record::run_file(run, record::DONE),
                std::iter::empty(),
            )
            .await?;
            tidy_records(driver, run, began, timing).await;
        }

        report.bytes_freed = removed.iter().map(|b| b.size).sum();
        removed.sort();
        report.manifests_removed = doomed.iter().map(|d| d.manifest.clone()).collect();
        report.manifests_removed.sort();
        report.manifests_kept.sort();
        report.dangling.sort();
        report.blobs_removed = removed;
        Ok(report)
    }
}

/// Spares, among the manifests and blobs about to go, those `touched`
/// names and, recursively, what a spared manifest references and the
/// manifests whose subject it is; answers the digests spared.
fn spare(
    touched: &HashSet<Digest>,
    doomed: &mut Vec<Doomed>,
    removed: &mut Vec<GcBlob>,
    report: &mut GcReport,
) -> HashSet<Digest> {
    let mut by_digest: HashMap<&Digest, Vec<usize>> = HashMap::new();
    let mut by_subject: HashMap<&Digest, Vec<usize>> = HashMap::new();
    for (i, d) in doomed.iter().enumerate() {
        by_digest.entry(&d.manifest.digest).or_default().push(i);
        if let Some(subject) = &d.subject {
            by_subject.entry(subject).or_default().push(i);
        }
    }
    let blobs: HashSet<&Digest> = removed.iter().map(|b| &b.digest).collect();
    let mut work: Vec<&Digest> = touched
        .iter()
        .filter(|d| by_digest.contains_key(d) || blobs.contains(d))
        .collect();
    let mut spared: HashSet<Digest> = HashSet::new();
    while let Some(digest) = work.pop() {
        if spared.contains(digest) {
            continue;
        }
        spared.insert(digest.clone());
        for &i in by_digest.get(digest).into_iter().flatten() {
            work.extend(doomed[i].references.iter());
        }
        for &i in by_subject.get(digest).into_iter().flatten() {
            work.push(&doomed[i].manifest.digest);
        }
    }
    let mut kept_manifests = Vec::new();
    doomed.retain(|d| {
        let keep = !spared.contains(&d.manifest.digest);
        if !keep {
            kept_manifests.push(d.manifest.clone());
        }
        keep
    });
    report.manifests_kept.extend(kept_manifests);
    removed.retain(|b| {
        let keep = !spared.contains(&b.digest);
        if !keep {
            report.blobs_kept += 1;
            report.bytes_kept += b.size;
        }
        keep
    });
    spared
}

/// Removes the records no node needs any more: other runs older than the
/// retention, marker buckets long past every window.
async fn tidy_records(
    driver: &dyn StorageDriver,
    run: &str,
    began: SystemTime,
    timing: record::Timing,
) {
    let horizon = record::unix_ms(began)
        .saturating_sub(u64::try_from(guard::RUN_RETENTION.as_millis()).unwrap_or(u64::MAX));
    match record::runs(driver).await {
        Ok(runs) => {
            for old in runs {
                if old != run
                    && record::run_started_ms(&old).is_none_or(|t| t < horizon)
                    && let Err(e) = record::remove_run(driver, &old).await
                {
                    tracing::warn!(run = old, error = %e, "garbage collection: could not remove an old run's record");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "garbage collection: could not list old runs"),
    }
    let before = began - timing.window() * 2 - guard::RUN_RETENTION;
    if let Err(e) = record::remove_buckets_before(driver, before).await {
        tracing::warn!(error = %e, "garbage collection: could not remove old markers");
    }
}

/// The lease as the running collection knows it: renewed in the
/// background; removals stop once it may have lapsed.
pub(crate) struct LeaseState {
    origin: std::time::Instant,
    /// When it was last written, in ms since `origin`.
    renewed: AtomicU64,
    lost: AtomicBool,
}

impl LeaseState {
    fn new() -> LeaseState {
        LeaseState {
            origin: std::time::Instant::now(),
            renewed: AtomicU64::new(0),
            lost: AtomicBool::new(false),
        }
    }

    fn renewed(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.renewed.store(now, Ordering::Release);
    }

    fn lost(&self) {
        self.lost.store(true, Ordering::Release);
    }

    /// Fails once the lease may be someone else's: lost, or not renewed
    /// for two thirds of its life.
    fn check(&self) -> Result<()> {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        let age = now.saturating_sub(self.renewed.load(Ordering::Acquire));
        let limit = u64::try_from((record::LEASE_TTL * 2 / 3).as_millis()).unwrap_or(u64::MAX);
        if self.lost.load(Ordering::Acquire) || age > limit {
            return Err(Error::Unavailable {
                service: "garbage collection".into(),
                source: "the lease lapsed or was taken; this run stops removing".into(),
            });
        }
        Ok(())
    }
}
