//! The serving side of online garbage collection: before a node vouches
//! for a digest (a blob found by `HEAD`, mounted, committed, or named by
//! a manifest being pushed) it makes sure a collection can see that, and
//! that no collection is removing the digest.
//!
//! The rule (its argument is in `docs/garbage-collection.md`): a node
//! vouches for `d` only after
//! 1. a marker of `d` exists, written by this node at most one
//!    refresh period ago ([`Timing::refresh`]), and
//! 2. it has read the runs' records, that read beginning after that
//!    marker was written, and found `d` neither announced for removal
//!    by a run still going (unless that run spared it) nor pending.
//!
//! A run announces its candidates, then reads the markers again and
//! spares every candidate marked since: so either the node's marker was
//! written before the announcement, and the run sees it and spares `d`,
//! or the node's read came after the announcement and it answers that
//! `d` is gone. The node reads the records again only when it wrote a
//! marker since its last read, so a digest used over and over costs a
//! map look-up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use berth_cache::{BlobDescriptorCacheProvider, CacheHealth};
use berth_core::{Error, Result};
use berth_digest::Digest;
use berth_driver::StorageDriver;
use futures_util::StreamExt;

use super::record::{self, Timing};

/// How long a request waits for a run to say whether it spares a
/// digest it announced (the run reads the markers once in between), and
/// for a run removing a digest being uploaded again to finish.
const WAIT_FOR_RUN: Duration = Duration::from_secs(600);
/// How often a waiting request looks again.
const POLL: Duration = Duration::from_millis(25);
/// How long finished runs' records stay for nodes to read.
pub(crate) const RUN_RETENTION: Duration = Duration::from_secs(600);

/// What a node may say about a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// No run removes it: look it up as usual. `fresh` when the guard
    /// wrote a marker or read the records for it, so a look-up made
    /// before must be made again.
    Safe {
        /// Whether an earlier look-up is stale.
        fresh: bool,
    },
    /// A run is removing it: answer that it is unknown.
    Gone,
}

/// When this node last wrote a digest's marker.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// The start of the bucket written, in ms.
    bucket: u64,
    /// When the write completed.
    written: SystemTime,
}

/// One run as a node last read it.
#[derive(Debug, Clone)]
struct RunView {
    candidates: Arc<HashSet<Digest>>,
    pardoned: Option<Arc<HashSet<Digest>>>,
    /// Done, abandoned (its lease lapsed) or removed.
    finished: bool,
}

/// The runs' records as last read.
#[derive(Debug, Clone)]
struct View {
    /// When the read began.
    read_started: SystemTime,
    runs: BTreeMap<String, RunView>,
    /// Whether some run in it is still going.
    active: bool,
}

/// A node's guard; one per registry.
pub(crate) struct Guard {
    driver: Arc<dyn StorageDriver>,
    timing: Timing,
    /// Whether this node writes markers (not when it is read-only).
    writes: bool,
    marks: Mutex<HashMap<Digest, Mark, foldhash::fast::RandomState>>,
    view: RwLock<Arc<View>>,
    /// One read of the records at a time; others wait for it.
    reading: tokio::sync::Mutex<()>,
    cache: Option<Arc<dyn BlobDescriptorCacheProvider>>,
    health: Arc<CacheHealth>,
}

impl Guard {
    pub(crate) fn new(
        driver: Arc<dyn StorageDriver>,
        delay: Duration,
        writes: bool,
        cache: Option<Arc<dyn BlobDescriptorCacheProvider>>,
        health: Arc<CacheHealth>,
    ) -> Guard {
        Guard {
            driver,
            timing: Timing::new(delay),
            writes,
            marks: Mutex::new(HashMap::default()),
            view: RwLock::new(Arc::new(View {
                read_started: SystemTime::UNIX_EPOCH,
                runs: BTreeMap::new(),
                active: false,
            })),
            reading: tokio::sync::Mutex::new(()),
            cache,
            health,
        }
    }

    /// The grace period this node protects for.
    pub(crate) fn delay(&self) -> Duration {
        self.timing.delay
    }

    fn current(&self) -> Arc<View> {
        self.view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The verdict on `digest`; see the module's rule.
    pub(crate) async fn touch(&self, digest: &Digest) -> Result<Verdict> {
        if let Some(verdict) = self.at_once(digest) {
            return Ok(verdict);
        }
        Ok(self.touch_all(std::slice::from_ref(digest)).await?[0])
    }

    /// The verdict when it needs no storage operation (the common case: a
    /// digest this node marked lately, no run going), without allocating.
    fn at_once(&self, digest: &Digest) -> Option<Verdict> {
        let written = if self.writes {
            let floor = record::unix_ms(SystemTime::now()).saturating_sub(ms(self.timing.refresh));
            let marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
            let mark = marks.get(digest)?;
            if mark.bucket < floor {
                return None;
            }
            mark.written
        } else {
            SystemTime::UNIX_EPOCH
        };
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        (!view.active && view.read_started >= written).then_some(Verdict::Safe { fresh: false })
    }

    /// The verdicts on several digests, markers written together.
    pub(crate) async fn touch_all(&self, digests: &[Digest]) -> Result<Vec<Verdict>> {
        let now = SystemTime::now();
        let mut need = Vec::new();
        let mut latest = SystemTime::UNIX_EPOCH;
        if self.writes {
            let floor = record::unix_ms(now).saturating_sub(ms(self.timing.refresh));
            let marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
            for digest in digests {
                match marks.get(digest) {
                    Some(mark) if mark.bucket >= floor => latest = latest.max(mark.written),
                    _ => need.push(digest),
                }
            }
        }
        let mut fresh = false;
        if !need.is_empty() {
            let bucket = self.timing.bucket(now);
            let driver = self.driver.as_ref();
            for chunk in need.chunks(16) {
                let mut writes = futures_util::stream::FuturesUnordered::new();
                for &digest in chunk {
                    writes.push(record::write_marker(driver, bucket, digest));
                }
                while let Some(written) = writes.next().await {
                    written?;
                }
            }
            let written = SystemTime::now();
            let mut marks = self.marks.lock().unwrap_or_else(PoisonError::into_inner);
            for digest in need {
                marks.insert(
                    digest.clone(),
                    Mark {
                        bucket: bucket.0,
                        written,
                    },
                );
            }
            latest = written;
            fresh = true;
        }
        let mut view = self.current();
        if view.read_started < latest {
            view = self.view_after(latest).await?;
            fresh = true;
        }
        if !view.active && !fresh {
            return Ok(vec![Verdict::Safe { fresh: false }; digests.len()]);
        }
        let deadline = std::time::Instant::now() + WAIT_FOR_RUN;
        loop {
            let mut pending = false;
            let verdicts: Vec<Verdict> = digests
                .iter()
                .map(|d| match judge(&view, d) {
                    Judged::Safe => Verdict::Safe { fresh },
                    Judged::Gone => Verdict::Gone,
                    Judged::Pending => {
                        pending = true;
                        Verdict::Gone
                    }
                })
                .collect();
            if !pending {
                return Ok(verdicts);
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::unavailable(
                    "garbage collection",
                    "a run announced this content and has not said whether it keeps it",
                ));
            }
            tokio::time::sleep(POLL).await;
            view = self.view_after(SystemTime::now()).await?;
            fresh = true;
        }
    }

    /// Waits until no run still going is removing `digest` (before it is
    /// stored again).
    pub(crate) async fn wait_until_removed(&self, digest: &Digest) -> Result<()> {
        let deadline = std::time::Instant::now() + WAIT_FOR_RUN;
        loop {
            let view = self.view_after(SystemTime::now()).await?;
            if matches!(judge(&view, digest), Judged::Safe) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::unavailable(
                    "garbage collection",
                    "a run is still removing this content",
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// A view whose read began at or after `after`, reading the records
    /// if needed (one read at a time; a read already under way that
    /// began late enough serves every waiter).
    async fn view_after(&self, after: SystemTime) -> Result<Arc<View>> {
        loop {
            let view = self.current();
            if view.read_started >= after {
                return Ok(view);
            }
            let _reading = self.reading.lock().await;
            let view = self.current();
            if view.read_started >= after {
                return Ok(view);
            }
            self.refresh().await?;
        }
    }

    /// Reads the runs' records (the background loop calls this
    /// periodically), clearing this node's caches of what runs announce
    /// or removed.
    pub(crate) async fn refresh(&self) -> Result<()> {
        let started = SystemTime::now();
        let old = self.current();
        let driver = self.driver.as_ref();
        let names = record::runs(driver).await?;
        let mut runs = BTreeMap::new();
        let mut lease = None;
        let mut lease_read = false;
        for name in &names {
            let previous = old.runs.get(name);
            if let Some(previous) = previous
                && previous.finished
            {
                runs.insert(name.clone(), previous.clone());
                continue;
            }
            let files = record::run_files(driver, name).await?;
            let has = |f: &str| files.iter().any(|x| x == f);
            if !has(record::CANDIDATES) {
                continue;
            }
            let candidates = match previous {
                Some(p) => p.candidates.clone(),
                None => {
                    match record::read_digests(driver, &record::run_file(name, record::CANDIDATES))
                        .await?
                    {
                        Some(c) => {
                            let c = Arc::new(c);
                            self.evict(c.iter());
                            c
                        }
                        None => continue,
                    }
                }
            };
            let pardoned = match previous.and_then(|p| p.pardoned.clone()) {
                Some(p) => Some(p),
                None if has(record::PARDONED) => {
                    record::read_digests(driver, &record::run_file(name, record::PARDONED))
                        .await?
                        .map(Arc::new)
                }
                None => None,
            };
            let mut finished = has(record::DONE);
            if !finished {
                if !lease_read {
                    lease = record::read_lease(driver).await?;
                    lease_read = true;
                }
                // A run whose lease lapsed, or went to another run, was
                // abandoned: it removes nothing more.
                finished = !lease
                    .as_ref()
                    .is_some_and(|l| &l.run == name && l.is_live(SystemTime::now()));
            }
            if finished {
                self.evict(candidates.iter());
            }
            runs.insert(
                name.clone(),
                RunView {
                    candidates,
                    pardoned,
                    finished,
                },
            );
        }
        // Runs removed since the last read finished long ago, but a node
        // that saw one going must clear its caches once it is over.
        for (name, run) in &old.runs {
            if !run.finished && !runs.contains_key(name) {
                self.evict(run.candidates.iter());
            }
        }
        // A node that has not read the records for longer than they are
        // kept may have missed a run entirely.
        if old.read_started != SystemTime::UNIX_EPOCH
            && started.duration_since(old.read_started).unwrap_or_default() > RUN_RETENTION / 2
            && let Some(cache) = &self.cache
            && !cache.is_shared()
        {
            self.health.invalidated();
            cache.clear_all();
        }
        let active = runs.values().any(|r| !r.finished);
        *self.view.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(View {
            read_started: started,
            runs,
            active,
        });
        Ok(())
    }

    /// Clears `digests` from this node's own descriptor cache (a shared
    /// cache is cleared by the run).
    fn evict<'a>(&self, digests: impl Iterator<Item = &'a Digest>) {
        let Some(cache) = &self.cache else { return };
        if cache.is_shared() {
            return;
        }
        self.health.invalidated();
        for digest in digests {
            // The in-memory cache's clear does not fail.
            let _ = futures_util::FutureExt::now_or_never(cache.clear(digest));
        }
    }

    /// Forgets marks older than a refresh period; removes marker buckets
    /// long past every window (in case no run does).
    pub(crate) async fn tidy(&self) -> Result<()> {
        let floor = record::unix_ms(SystemTime::now()).saturating_sub(ms(self.timing.refresh));
        self.marks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, m| m.bucket >= floor);
        if self.writes {
            let before = SystemTime::now() - self.timing.window() * 2 - RUN_RETENTION;
            record::remove_buckets_before(self.driver.as_ref(), before).await?;
        }
        Ok(())
    }

    /// How often the background loop reads the records.
    pub(crate) fn watch_period(&self) -> Duration {
        (self.timing.delay / 4).clamp(Duration::from_millis(250), Duration::from_secs(10))
    }
}

enum Judged {
    Safe,
    Gone,
    Pending,
}

/// What `view` says of `digest`.
fn judge(view: &View, digest: &Digest) -> Judged {
    for run in view.runs.values() {
        if run.finished || !run.candidates.contains(digest) {
            continue;
        }
        return match &run.pardoned {
            Some(p) if p.contains(digest) => continue,
            Some(_) => Judged::Gone,
            None => Judged::Pending,
        };
    }
    Judged::Safe
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
