//! What online garbage collection keeps in the storage, beside
//! Distribution's tree (under `/berth/gc`), so that every node and every
//! run agree without a database:
//!
//! - `touched/<start ms>-<length ms>/<alg>/<hex>`: empty markers, one per
//!   digest a node vouched for (uploaded, linked, mounted, found) in that
//!   time bucket;
//! - `runs/<run>/candidates`, `runs/<run>/pardoned`, `runs/<run>/done`: a
//!   run's announcement of what it means to remove, what it spared after
//!   announcing, and that it finished (one digest per line);
//! - `lease`: which run may remove anything, until when.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use berth_core::{Error, Result};
use berth_digest::Digest;
use berth_driver::{StorageDriver, Walk};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

const TOUCHED: &str = "/berth/gc/touched";
pub(crate) const RUNS: &str = "/berth/gc/runs";
const LEASE: &str = "/berth/gc/lease";

/// The files of a run's directory.
pub(crate) const CANDIDATES: &str = "candidates";
pub(crate) const PARDONED: &str = "pardoned";
pub(crate) const DONE: &str = "done";

/// How long a lease lasts without renewal: a run killed outright blocks
/// the next one at most this long.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(15);
/// How often a running collection renews its lease.
pub(crate) const LEASE_RENEW: Duration = Duration::from_secs(5);
/// A lease write slower than this does not count (another run may have
/// read the lease free and written its own in the meantime).
const LEASE_WRITE_BOUND: Duration = Duration::from_millis(500);
/// How long a run waits after writing its lease before reading it back:
/// longer than any competing writer may take (see `Lease::acquire`).
const LEASE_SETTLE: Duration = Duration::from_millis(1000);

/// The times every node and every run derive from the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// The grace period (`storage.maintenance.gc.delay`).
    pub(crate) delay: Duration,
    /// How often a node rewrites the marker of a digest it keeps
    /// vouching for, and the length of a marker bucket.
    pub(crate) refresh: Duration,
}

impl Timing {
    pub(crate) fn new(delay: Duration) -> Timing {
        let refresh = (delay / 8).clamp(Duration::from_millis(100), Duration::from_secs(300));
        Timing { delay, refresh }
    }

    /// How far back a run looks for markers: a marker may be up to
    /// `refresh` older than the touch it stands for.
    pub(crate) fn window(&self) -> Duration {
        self.delay + self.refresh
    }

    /// The bucket (start and length, in ms since the epoch) `at` falls in.
    pub(crate) fn bucket(&self, at: SystemTime) -> (u64, u64) {
        let len = u64::try_from(self.refresh.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let now = unix_ms(at);
        (now - now % len, len)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn storage(operation: &str, e: berth_driver::DriverError) -> Error {
    Error::backend(format!("garbage collection: {operation}"), e)
}

/// Writes the marker of `digest` in the bucket starting at `start`.
pub(crate) async fn write_marker(
    driver: &dyn StorageDriver,
    (start, len): (u64, u64),
    digest: &Digest,
) -> Result<()> {
    let path = format!(
        "{TOUCHED}/{start}-{len}/{}/{}",
        digest.algorithm(),
        digest.encoded()
    );
    driver
        .put_content(&path, Bytes::new())
        .await
        .map_err(|e| storage("write a marker", e))
}

/// The marker buckets: directory path, start and end (ms).
async fn buckets(driver: &dyn StorageDriver) -> Result<Vec<(String, u64, u64)>> {
    let entries = match driver.list(TOUCHED).await {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(storage("list the markers", e)),
    };
    Ok(entries
        .into_iter()
        .filter_map(|path| {
            let name = path.rsplit('/').next()?;
            let (start, len) = name.split_once('-')?;
            let (start, len) = (start.parse::<u64>().ok()?, len.parse::<u64>().ok()?);
            Some((path, start, start.saturating_add(len)))
        })
        .collect())
}

/// Every digest with a marker in a bucket that ends after `since`.
pub(crate) async fn touched_since(
    driver: &dyn StorageDriver,
    since: SystemTime,
) -> Result<HashSet<Digest>> {
    let since = unix_ms(since);
    let mut touched = HashSet::new();
    for (dir, _, end) in buckets(driver).await? {
        if end <= since {
            continue;
        }
        let result = driver
            .walk(&dir, &mut |info| {
                if !info.is_dir {
                    let mut parts = info.path.rsplit('/');
                    if let (Some(hex), Some(alg)) = (parts.next(), parts.next())
                        && let Ok(digest) = Digest::parse(&format!("{alg}:{hex}"))
                    {
                        touched.insert(digest);
                    }
                }
                Walk::Continue
            })
            .await;
        match result {
            Ok(()) => {}
            // Removed by a cleanup since it was listed: it was old.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(storage("read the markers", e)),
        }
    }
    Ok(touched)
}

/// Removes the marker buckets that ended before `before`.
pub(crate) async fn remove_buckets_before(
    driver: &dyn StorageDriver,
    before: SystemTime,
) -> Result<usize> {
    let before = unix_ms(before);
    let mut removed = 0;
    for (dir, _, end) in buckets(driver).await? {
        if end < before {
            match driver.delete(&dir).await {
                Ok(()) => removed += 1,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(storage("remove old markers", e)),
            }
        }
    }
    Ok(removed)
}

/// A new run's name: its start time (so names sort by age) and a random
/// suffix.
pub(crate) fn new_run_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", unix_ms(SystemTime::now()), &random[..12])
}

/// When a run started, from its name.
pub(crate) fn run_started_ms(run: &str) -> Option<u64> {
    run.split_once('-')?.0.parse().ok()
}

pub(crate) fn run_file(run: &str, file: &str) -> String {
    format!("{RUNS}/{run}/{file}")
}

/// Writes a list of digests, one per line.
pub(crate) async fn write_digests<'a>(
    driver: &dyn StorageDriver,
    path: &str,
    digests: impl Iterator<Item = &'a Digest>,
) -> Result<()> {
    let mut body = String::new();
    for digest in digests {
        body.push_str(digest.as_str());
        body.push('\n');
    }
    driver
        .put_content(path, Bytes::from(body))
        .await
        .map_err(|e| storage("write the run's record", e))
}

/// Reads a list of digests written by [`write_digests`].
pub(crate) async fn read_digests(
    driver: &dyn StorageDriver,
    path: &str,
) -> Result<Option<HashSet<Digest>>> {
    match driver.get_content(path).await {
        Ok(body) => Ok(Some(
            String::from_utf8_lossy(&body)
                .lines()
                .filter_map(|l| Digest::parse(l.trim()).ok())
                .collect(),
        )),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(storage("read a run's record", e)),
    }
}

/// The runs recorded in the storage, oldest first.
pub(crate) async fn runs(driver: &dyn StorageDriver) -> Result<Vec<String>> {
    let mut runs: Vec<String> = match driver.list(RUNS).await {
        Ok(entries) => entries
            .into_iter()
            .filter_map(|p| p.rsplit('/').next().map(str::to_owned))
            .collect(),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) => return Err(storage("list the runs", e)),
    };
    runs.sort();
    Ok(runs)
}

/// The files present in a run's directory.
pub(crate) async fn run_files(driver: &dyn StorageDriver, run: &str) -> Result<Vec<String>> {
    match driver.list(&format!("{RUNS}/{run}")).await {
        Ok(entries) => Ok(entries
            .into_iter()
            .filter_map(|p| p.rsplit('/').next().map(str::to_owned))
            .collect()),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(storage("read a run's record", e)),
    }
}

/// Removes a run's directory.
pub(crate) async fn remove_run(driver: &dyn StorageDriver, run: &str) -> Result<()> {
    match driver.delete(&format!("{RUNS}/{run}")).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(storage("remove an old run's record", e)),
    }
}

/// The lease: which run may remove things, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseRecord {
    /// The run holding it.
    pub(crate) run: String,
    /// The host it runs on, for the operator.
    pub(crate) host: String,
    /// Its process id.
    pub(crate) pid: u32,
    /// Until when it holds (ms since the epoch) unless renewed.
    pub(crate) expires: u64,
}

impl LeaseRecord {
    pub(crate) fn is_live(&self, now: SystemTime) -> bool {
        self.expires > unix_ms(now)
    }
}

/// Reads the lease; a missing or unreadable one is free.
pub(crate) async fn read_lease(driver: &dyn StorageDriver) -> Result<Option<LeaseRecord>> {
    match driver.get_content(LEASE).await {
        Ok(body) => Ok(serde_json::from_slice(&body).ok()),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(storage("read the lease", e)),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Why a run could not take the lease.
#[derive(Debug)]
pub(crate) enum LeaseRefused {
    /// Another run holds it.
    Held(LeaseRecord),
    /// The storage failed.
    Failed(Error),
}

/// Writes the lease for `run`, valid for [`LEASE_TTL`] from now; answers
/// whether the write was quick enough to count.
async fn write_lease(driver: &dyn StorageDriver, run: &str) -> Result<bool> {
    let started = std::time::Instant::now();
    let record = LeaseRecord {
        run: run.to_owned(),
        host: host_name(),
        pid: std::process::id(),
        expires: unix_ms(SystemTime::now() + LEASE_TTL),
    };
    let body = serde_json::to_vec(&record).map_err(|e| Error::backend("encode the lease", e))?;
    driver
        .put_content(LEASE, Bytes::from(body))
        .await
        .map_err(|e| storage("write the lease", e))?;
    Ok(started.elapsed() <= LEASE_WRITE_BOUND)
}

/// Takes the lease for `run`, without an atomic create (S3 has none):
/// read it; if free (missing, expired, or ours), write ours quickly;
/// wait longer than any writer may take; read it back. A competitor that
/// read it free before our write wrote within the bound, so after the
/// wait we see its record and yield; one that read it after sees ours.
pub(crate) async fn acquire_lease(
    driver: &dyn StorageDriver,
    run: &str,
) -> std::result::Result<(), LeaseRefused> {
    let current = read_lease(driver).await.map_err(LeaseRefused::Failed)?;
    if let Some(current) = current
        && current.run != run
        && current.is_live(SystemTime::now())
    {
        return Err(LeaseRefused::Held(current));
    }
    let quick = write_lease(driver, run)
        .await
        .map_err(LeaseRefused::Failed)?;
    tokio::time::sleep(LEASE_SETTLE).await;
    let after = read_lease(driver).await.map_err(LeaseRefused::Failed)?;
    match after {
        Some(after) if after.run == run && quick => Ok(()),
        Some(after) if after.run != run => Err(LeaseRefused::Held(after)),
        _ => Err(LeaseRefused::Failed(Error::unavailable(
            "garbage collection lease",
            "writing it took too long to be sure of it",
        ))),
    }
}

/// Renews `run`'s lease; fails if another run took it.
pub(crate) async fn renew_lease(driver: &dyn StorageDriver, run: &str) -> Result<()> {
    match read_lease(driver).await? {
        Some(current) if current.run == run => {}
        other => {
            return Err(Error::unavailable(
                "garbage collection lease",
                format!(
                    "another run holds it now ({})",
                    other.map_or_else(|| "free".to_owned(), |o| o.run)
                ),
            ));
        }
    }
    write_lease(driver, run).await.map(|_| ())
}

/// Gives the lease up, if `run` still holds it.
pub(crate) async fn release_lease(driver: &dyn StorageDriver, run: &str) -> Result<()> {
    if let Some(current) = read_lease(driver).await?
        && current.run == run
    {
        match driver.delete(LEASE).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(storage("release the lease", e)),
        }
    }
    Ok(())
}
