//! The TTL scheduler: removes proxied content once its time is up, and
//! keeps its schedule on the storage driver so that it survives restarts.
//!
//! The state file is Distribution's `scheduler-state.json`, at the root of
//! the storage driver ([`STATE_PATH`]), in Distribution's format, so
//! either server can take over the other's schedule:
//!
//! ```json
//! {
//!   "library/alpine@sha256:4bcf…": {
//!     "Key": "library/alpine@sha256:4bcf…",
//!     "ExpiryData": "2026-03-01T10:00:00.123456789Z",
//!     "EntryType": 0
//!   }
//! }
//! ```
//!
//! `EntryType` is `0` for a blob and `1` for a manifest; `ExpiryData` is
//! an RFC 3339 time (Go's `time.Time` in JSON).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use berth_core::{Error, Result};
use berth_digest::Digest;
use berth_driver::StorageDriver;
use berth_reference::RepositoryName;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;

/// Where the schedule is kept, relative to the storage driver's root (as
/// Distribution keeps it).
pub const STATE_PATH: &str = "/scheduler-state.json";

/// How often a changed schedule is written, at most.
pub const DEFAULT_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// How long after a failed removal it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// How many times a removal is tried before the entry is dropped.
const MAX_ATTEMPTS: u32 = 5;

/// The longest the scheduler sleeps without looking at the clock again
/// (so that a wall-clock jump is noticed).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// What a schedule entry removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A blob: its link in the repository, and its data (`EntryType` 0).
    Blob,
    /// A manifest: its revision link and the tags pointing to it
    /// (`EntryType` 1).
    Manifest,
}

impl EntryKind {
    fn code(self) -> i64 {
        match self {
            EntryKind::Blob => 0,
            EntryKind::Manifest => 1,
        }
    }

    fn from_code(code: i64) -> Option<EntryKind> {
        match code {
            0 => Some(EntryKind::Blob),
            1 => Some(EntryKind::Manifest),
            _ => None,
        }
    }
}

/// One piece of content due for removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledEntry {
    /// The repository it was cached in.
    pub repository: RepositoryName,
    /// Its digest.
    pub digest: Digest,
    /// Blob or manifest.
    pub kind: EntryKind,
    /// When it is removed.
    pub expiry: SystemTime,
}

impl ScheduledEntry {
    /// The entry's key in the state file: `<repository>@<digest>`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.repository.as_str(), self.digest)
    }
}

/// Removes what an entry names; called by the [`Scheduler`] when the
/// entry's time is up.
#[async_trait]
pub trait Expire: Send + Sync {
    /// Removes the entry's content. Content that is already gone is not
    /// an error.
    async fn expire(&self, entry: &ScheduledEntry) -> Result<()>;
}

/// An entry as the state file holds it (Distribution's field names).
#[derive(Debug, Serialize, Deserialize)]
struct StoredEntry {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "ExpiryData")]
    expiry: String,
    #[serde(rename = "EntryType")]
    entry_type: i64,
}

#[derive(Default)]
struct State {
    entries: HashMap<String, ScheduledEntry>,
    /// The entries by expiry, for the next one due.
    queue: BTreeSet<(SystemTime, String)>,
    /// Failed removals per key.
    attempts: HashMap<String, u32>,
    /// The schedule changed since it was last written.
    dirty: bool,
    stopped: bool,
}

impl State {
    fn insert(&mut self, entry: ScheduledEntry) {
        let key = entry.key();
        if let Some(old) = self.entries.get(&key) {
            self.queue.remove(&(old.expiry, key.clone()));
        }
        self.queue.insert((entry.expiry, key.clone()));
        self.entries.insert(key, entry);
        self.dirty = true;
    }

    /// Takes every entry due at `now`.
    fn take_due(&mut self, now: SystemTime) -> Vec<ScheduledEntry> {
        let mut due = Vec::new();
        while let Some((expiry, _)) = self.queue.first() {
            if *expiry > now {
                break;
            }
            if let Some((_, key)) = self.queue.pop_first()
                && let Some(entry) = self.entries.remove(&key)
            {
                due.push(entry);
                self.dirty = true;
            }
        }
        due
    }
}

struct Inner {
    driver: Arc<dyn StorageDriver>,
    path: String,
    save_interval: Duration,
    state: Mutex<State>,
    wake: Notify,
    /// Serializes writes of the state file.
    writing: tokio::sync::Mutex<()>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the schedule half
        // changed in a way that matters more than losing it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn save(&self) -> Result<()> {
        let _writing = self.writing.lock().await;
        let json = {
            let mut state = self.state();
            if !state.dirty {
                return Ok(());
            }
            state.dirty = false;
            encode(state.entries.values())
        };
        let written = match json {
            Ok(json) => self
                .driver
                .put_content(&self.path, Bytes::from(json))
                .await
                .map_err(|e| Error::backend(format!("write {}", self.path), e)),
            Err(e) => Err(e),
        };
        if written.is_err() {
            self.state().dirty = true;
        }
        written
    }
}

/// Removes cached content when its time-to-live runs out.
///
/// Entries are added as content is fetched from the upstream; a task
/// (started by [`Scheduler::start`]) sleeps until the next entry is due,
/// hands it to the [`Expire`] implementation and forgets it. A removal
/// that fails is tried again a minute later, up to five times. The
/// schedule is written to the driver at most every `save_interval` while
/// it changes, and by [`Scheduler::stop`]; at start it is read back, and
/// entries that came due while the registry was down are removed at once.
///
/// Cheap to clone; clones share the schedule.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("path", &self.inner.path)
            .field("entries", &self.len())
            .finish()
    }
}

impl Scheduler {
    /// Reads the schedule at `path` on `driver` (none yet is an empty
    /// schedule) and starts the task that removes due entries with
    /// `expire`. Must be called within a tokio runtime.
    ///
    /// # Errors
    /// The state file cannot be read, or is not a schedule.
    pub async fn start(
        driver: Arc<dyn StorageDriver>,
        path: impl Into<String>,
        expire: Arc<dyn Expire>,
        save_interval: Duration,
    ) -> Result<Scheduler> {
        let path = path.into();
        let mut state = State::default();
        match driver.get_content(&path).await {
            Ok(content) => {
                for entry in
                    decode(&content).map_err(|e| Error::backend(format!("read {path}"), e))?
                {
                    state.insert(entry);
                }
                state.dirty = false;
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(Error::backend(format!("read {path}"), e)),
        }
        tracing::info!(
            path,
            entries = state.entries.len(),
            "proxy: TTL scheduler started"
        );
        let inner = Arc::new(Inner {
            driver,
            path,
            save_interval: save_interval.max(Duration::from_millis(10)),
            state: Mutex::new(state),
            wake: Notify::new(),
            writing: tokio::sync::Mutex::new(()),
        });
        tokio::spawn(run(inner.clone(), expire));
        Ok(Scheduler { inner })
    }

    /// Schedules the removal of `digest` of `repository` after `ttl`,
    /// replacing an earlier entry for the same content.
    pub fn schedule(
        &self,
        kind: EntryKind,
        repository: &RepositoryName,
        digest: &Digest,
        ttl: Duration,
    ) {
        let expiry = SystemTime::now()
            .checked_add(ttl)
            .unwrap_or(SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799));
        self.insert(ScheduledEntry {
            repository: repository.clone(),
            digest: digest.clone(),
            kind,
            expiry,
        });
    }

    /// Adds (or replaces) an entry as it is.
    pub fn insert(&self, entry: ScheduledEntry) {
        {
            let mut state = self.inner.state();
            state.attempts.remove(&entry.key());
            state.insert(entry);
        }
        self.inner.wake.notify_one();
    }

    /// The number of entries scheduled.
    pub fn len(&self) -> usize {
        self.inner.state().entries.len()
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, soonest first.
    pub fn entries(&self) -> Vec<ScheduledEntry> {
        let state = self.inner.state();
        state
            .queue
            .iter()
            .filter_map(|(_, key)| state.entries.get(key).cloned())
            .collect()
    }

    /// Writes the schedule now, if it changed since it was last written.
    ///
    /// # Errors
    /// The driver could not write it (it is tried again later).
    pub async fn save(&self) -> Result<()> {
        self.inner.save().await
    }

    /// Stops removing entries and writes the schedule.
    ///
    /// # Errors
    /// The schedule could not be written.
    pub async fn stop(&self) -> Result<()> {
        self.inner.state().stopped = true;
        self.inner.wake.notify_one();
        self.inner.save().await
    }
}

async fn run(inner: Arc<Inner>, expire: Arc<dyn Expire>) {
    let mut last_save = tokio::time::Instant::now();
    loop {
        let due = {
            let mut state = inner.state();
            if state.stopped {
                return;
            }
            state.take_due(SystemTime::now())
        };
        for entry in due {
            let key = entry.key();
            match expire.expire(&entry).await {
                Ok(()) => {
                    inner.state().attempts.remove(&key);
                    tracing::info!(key, kind = ?entry.kind, "proxy: expired cached content removed");
                }
                Err(e) => {
                    let mut state = inner.state();
                    let attempts = state.attempts.entry(key.clone()).or_insert(0);
                    *attempts += 1;
                    if *attempts >= MAX_ATTEMPTS {
                        state.attempts.remove(&key);
                        tracing::error!(key, error = %e, "proxy: could not remove expired content; giving up");
                    } else {
                        tracing::warn!(key, error = %e, "proxy: could not remove expired content; trying again later");
                        let retry = ScheduledEntry {
                            expiry: SystemTime::now() + RETRY_AFTER,
                            ..entry
                        };
                        state.insert(retry);
                    }
                }
            }
        }
        let (next, dirty) = {
            let state = inner.state();
            (state.queue.first().map(|(t, _)| *t), state.dirty)
        };
        if dirty && last_save.elapsed() >= inner.save_interval {
            if let Err(e) = inner.save().await {
                tracing::warn!(path = inner.path, error = %e, "proxy: could not write the scheduler state");
            }
            last_save = tokio::time::Instant::now();
        }
        let mut wait = MAX_SLEEP;
        if let Some(next) = next {
            wait = wait.min(
                next.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO),
            );
        }
        if inner.state().dirty {
            wait = wait.min(inner.save_interval.saturating_sub(last_save.elapsed()));
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = inner.wake.notified() => {}
        }
    }
}

fn format_time(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "9999-12-31T23:59:59Z".to_owned())
}

fn encode<'a>(entries: impl Iterator<Item = &'a ScheduledEntry>) -> Result<Vec<u8>> {
    let map: BTreeMap<String, StoredEntry> = entries
        .map(|e| {
            let key = e.key();
            (
                key.clone(),
                StoredEntry {
                    key,
                    expiry: format_time(e.expiry),
                    entry_type: e.kind.code(),
                },
            )
        })
        .collect();
    serde_json::to_vec(&map).map_err(|e| Error::backend("encode the scheduler state", e))
}

/// Reads a state file; entries it cannot understand are logged and
/// skipped.
fn decode(content: &[u8]) -> std::result::Result<Vec<ScheduledEntry>, serde_json::Error> {
    // Distribution writes `null` for an empty map it never filled.
    let map: Option<BTreeMap<String, StoredEntry>> = serde_json::from_slice(content)?;
    let mut entries = Vec::new();
    for (key, stored) in map.unwrap_or_default() {
        match parse_entry(&stored) {
            Some(entry) => entries.push(entry),
            None => tracing::warn!(
                key,
                stored.expiry,
                stored.entry_type,
                "proxy: skipping a scheduler entry that cannot be read"
            ),
        }
    }
    Ok(entries)
}

fn parse_entry(stored: &StoredEntry) -> Option<ScheduledEntry> {
    let (name, digest) = stored.key.rsplit_once('@')?;
    let repository = RepositoryName::parse(name).ok()?;
    let digest = Digest::parse(digest).ok()?;
    let kind = EntryKind::from_code(stored.entry_type)?;
    let expiry = SystemTime::from(OffsetDateTime::parse(&stored.expiry, &Rfc3339).ok()?);
    Some(ScheduledEntry {
        repository,
        digest,
        kind,
        expiry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_distributions_state_file() {
        // As Distribution 2.8 writes it (Go's RFC 3339 with nanoseconds and
        // a zone offset).
        let hex = "4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1";
        let json = format!(
            r#"{{"library/alpine@sha256:{hex}":{{"Key":"library/alpine@sha256:{hex}","ExpiryData":"2026-03-01T11:00:00.123456789+01:00","EntryType":0}},
                "library/alpine@sha256:{hex}x":{{"Key":"bad","ExpiryData":"x","EntryType":0}},
                "app@sha256:{hex}":{{"Key":"app@sha256:{hex}","ExpiryData":"2026-03-01T10:00:00Z","EntryType":1}}}}"#
        );
        let entries = decode(json.as_bytes()).unwrap();
        assert_eq!(entries.len(), 2);
        let blob = &entries[1];
        assert_eq!(blob.repository.as_str(), "library/alpine");
        assert_eq!(blob.kind, EntryKind::Blob);
        let expected = SystemTime::UNIX_EPOCH + Duration::new(1_772_359_200, 123_456_789);
        assert_eq!(blob.expiry, expected);
        assert_eq!(entries[0].kind, EntryKind::Manifest);
        assert!(decode(b"null").unwrap().is_empty());
        assert!(decode(b"{}").unwrap().is_empty());
        assert!(decode(b"[1]").is_err());
    }

    #[test]
    fn writes_distributions_format() {
        let entry = ScheduledEntry {
            repository: RepositoryName::parse("team/app").unwrap(),
            digest: Digest::sha256(b"x"),
            kind: EntryKind::Manifest,
            expiry: SystemTime::UNIX_EPOCH + Duration::new(1_772_359_200, 5_000),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&encode([&entry].into_iter()).unwrap()).unwrap();
        let key = format!("team/app@{}", Digest::sha256(b"x"));
        assert_eq!(json[&key]["Key"], key.as_str());
        assert_eq!(json[&key]["EntryType"], 1);
        assert_eq!(json[&key]["ExpiryData"], "2026-03-01T10:00:00.000005Z");
        let back = decode(json.to_string().as_bytes()).unwrap();
        assert_eq!(back, [entry]);
    }

    #[test]
    fn queue_orders_by_expiry_and_replaces() {
        let mut state = State::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let entry = |name: &str, secs: u64| ScheduledEntry {
            repository: RepositoryName::parse(name).unwrap(),
            digest: Digest::sha256(b"d"),
            kind: EntryKind::Blob,
            expiry: t0 + Duration::from_secs(secs),
        };
        state.insert(entry("a", 10));
        state.insert(entry("b", 5));
        state.insert(entry("a", 1)); // replaces a's entry
        assert_eq!(state.entries.len(), 2);
        assert_eq!(state.queue.len(), 2);
        let due = state.take_due(t0 + Duration::from_secs(2));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].repository.as_str(), "a");
        assert!(state.take_due(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(state.take_due(t0 + Duration::from_secs(60)).len(), 1);
        assert!(state.entries.is_empty());
    }
}
