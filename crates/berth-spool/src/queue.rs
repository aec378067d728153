//! The queue: what its reader, its writer and its bound share, and the
//! public handle on it.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::sync::{Notify, mpsc, oneshot};

use crate::cursor::{CursorFile, Position};
use crate::error::Error;
use crate::lock::lock_dir;
use crate::options::SpoolOptions;
use crate::record::{RECORD_HEADER_LEN, Record, parse_header, plausible_len};
use crate::recover::recover;
use crate::segment::{SEGMENT_HEADER_LEN, Segment, remove_file, segment_name};
use crate::writer::{Append, Writer};

/// What reader, writer and dropper share, behind one mutex.
pub(crate) struct State {
    pub(crate) dir: PathBuf,
    /// Oldest first; the last is the one being appended to. Never empty.
    pub(crate) segments: VecDeque<Segment>,
    /// The first unacknowledged record.
    pub(crate) cursor: Position,
    /// Records from the cursor to the end.
    pub(crate) pending: u64,
    /// Their bytes, headers included.
    pub(crate) pending_bytes: u64,
    pub(crate) cursor_file: CursorFile,
    /// `pending` and `pending_bytes`, readable without the lock.
    pub(crate) gauges: Arc<Gauges>,
}

/// The queue's size, for metrics readers that must not wait for the lock
/// (held across `fdatasync`s).
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    pending: AtomicU64,
    bytes: AtomicU64,
}

impl State {
    /// Publishes `pending` and `pending_bytes` to the gauges.
    pub(crate) fn sync_gauges(&self) {
        self.gauges.pending.store(self.pending, Ordering::Relaxed);
        self.gauges
            .bytes
            .store(self.pending_bytes, Ordering::Relaxed);
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(segment_name(seq))
    }

    /// Moves the cursor over segments it has consumed and removes them.
    pub(crate) fn normalize(&mut self) {
        while self.segments.len() > 1 {
            let front = self.segments[0];
            let consumed = front.seq < self.cursor.segment
                || (front.seq == self.cursor.segment && self.cursor.offset >= front.len);
            if !consumed {
                break;
            }
            self.segments.pop_front();
            remove_file(&self.path(front.seq));
            if self.cursor.segment <= front.seq {
                self.cursor = Position {
                    segment: self.segments[0].seq,
                    offset: SEGMENT_HEADER_LEN,
                };
            }
        }
    }

    fn segment(&self, seq: u64) -> Option<Segment> {
        self.segments.iter().copied().find(|s| s.seq == seq)
    }

    /// The cursor and the valid length of its segment, if a record starts
    /// at the cursor.
    pub(crate) fn next(&mut self) -> Option<Head> {
        self.normalize();
        let segment = self.segment(self.cursor.segment)?;
        (self.cursor.offset < segment.len).then_some(Head {
            position: self.cursor,
            segment_len: segment.len,
        })
    }

    /// Makes the cursor durable.
    pub(crate) fn persist(&mut self) -> io::Result<()> {
        self.cursor_file.persist(self.cursor)
    }
}

/// Counters of one queue.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Records dropped unacknowledged: the oldest when the queue was
    /// full, and records skipped.
    pub(crate) dropped: AtomicU64,
    /// Group commits that failed to reach the disk.
    pub(crate) errors: AtomicU64,
}

/// The first unacknowledged record: where it starts, and how far its
/// segment holds durable records. From [`Spool::next`], for
/// [`Spool::read`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    position: Position,
    segment_len: u64,
}

impl Head {
    /// Where the record starts.
    pub fn position(&self) -> Position {
        self.position
    }

    /// The valid length of its segment.
    pub(crate) fn segment_len(&self) -> u64 {
        self.segment_len
    }
}

/// What reading a record gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadRecord {
    /// A valid record.
    Record {
        /// Its payload.
        payload: Vec<u8>,
        /// Where the next record starts.
        next: Position,
    },
    /// The bytes at the position are not a valid record.
    Corrupt {
        /// Why (for logs).
        reason: String,
        /// Where the following record starts when the length was
        /// plausible (only the checksum failed); `None` when the rest of
        /// the segment is lost.
        next: Option<Position>,
    },
}

/// The size and counters of a queue. Read without waiting for the queue's
/// lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records appended and not yet acknowledged or skipped (those of a
    /// previous run included).
    pub pending: u64,
    /// Their bytes, headers included: what [`SpoolOptions::max_bytes`]
    /// bounds.
    pub bytes: u64,
    /// Records dropped unacknowledged since open: the oldest, when the
    /// queue was full, and those skipped with [`Spool::skip`].
    pub dropped: u64,
    /// Group commits that failed to reach the disk since open (each
    /// failed every append in it).
    pub errors: u64,
}

/// An append on its way to the disk: resolves (as a future, or with
/// [`Commit::wait`]) once the record is durable.
#[derive(Debug)]
#[must_use = "an append is durable only once its commit resolves"]
pub struct Commit {
    receiver: oneshot::Receiver<io::Result<()>>,
    dir: PathBuf,
}

impl Commit {
    /// Blocks until the record is durable. Not to be called from an
    /// asynchronous context (await the commit there).
    pub fn wait(self) -> Result<(), Error> {
        let Commit { receiver, dir } = self;
        commit_result(&dir, receiver.blocking_recv())
    }
}

impl Future for Commit {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        Pin::new(&mut this.receiver)
            .poll(cx)
            .map(|answer| commit_result(&this.dir, answer))
    }
}

fn commit_result(
    dir: &Path,
    answer: Result<io::Result<()>, oneshot::error::RecvError>,
) -> Result<(), Error> {
    match answer {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::io(dir, e)),
        Err(_) => Err(Error::Closed),
    }
}

/// A durable queue of records in one directory.
///
/// Appends go through one writer thread, which takes every append waiting
/// at that moment, writes them with one `write` and one `fdatasync`, and
/// only then answers them (group commit). Records are read in order from
/// the cursor; acknowledging one moves the cursor past it. See the
/// [crate documentation](crate) for the files and an example.
///
/// The reading methods are blocking (file I/O, briefly a lock held across
/// `fdatasync`s): from asynchronous code, call them in
/// `spawn_blocking`.
pub struct Spool {
    dir: PathBuf,
    state: Mutex<State>,
    /// Signalled after every commit.
    pub(crate) appended: Notify,
    sender: Mutex<Option<mpsc::UnboundedSender<Append>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) counters: Counters,
    gauges: Arc<Gauges>,
    pub(crate) options: SpoolOptions,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish()
    }
}

impl Spool {
    /// Opens (creating or recovering) the queue in `dir`, and starts its
    /// writer thread. Blocking.
    ///
    /// Recovery reads the cursor, removes the segments before it, and
    /// checks every record after it: a torn or corrupt tail of the last
    /// segment is cut off (such records were never acknowledged to an
    /// appender), a record with a wrong checksum followed by valid ones is
    /// left for the reader to skip.
    ///
    /// Fails with [`Error::Locked`] when another process (or another
    /// `Spool`) holds the directory after 3 seconds of waiting, and with
    /// [`Error::Invalid`] when `options.max_bytes` is 0.
    pub fn open(dir: impl AsRef<Path>, options: SpoolOptions) -> Result<Arc<Spool>, Error> {
        let dir = dir.as_ref();
        if options.max_bytes == 0 {
            return Err(Error::Invalid("max_bytes must be positive".into()));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = lock_dir(dir)?;
        let (state, head) = recover(dir, &options.name)?;
        let head_seq = state.segments.back().map_or(1, |s| s.seq);
        let head_len = state.segments.back().map_or(SEGMENT_HEADER_LEN, |s| s.len);
        let (sender, receiver) = mpsc::unbounded_channel();
        let gauges = state.gauges.clone();
        let segment_target = options.segment_target();
        let spool = Arc::new(Spool {
            dir: dir.to_owned(),
            state: Mutex::new(state),
            appended: Notify::new(),
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(None),
            counters: Counters::default(),
            gauges,
            options,
        });
        let writer = Writer::new(&spool, head, head_seq, head_len, segment_target, lock);
        let thread = std::thread::Builder::new()
            .name("berth-spool".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| Error::io(dir, e))?;
        *lock_state(&spool.writer) = Some(thread);
        Ok(spool)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hands `record` to the writer; the [`Commit`] resolves once it is
    /// durable. Does not block. Fails with [`Error::Closed`] after
    /// [`close`](Spool::close).
    pub fn append(&self, record: &Record) -> Result<Commit, Error> {
        let (reply, receiver) = oneshot::channel();
        let sender = lock_state(&self.sender);
        let Some(sender) = sender.as_ref() else {
            return Err(Error::Closed);
        };
        sender
            .send(Append {
                frame: record.clone().into_bytes(),
                reply,
            })
            .map_err(|_| Error::Closed)?;
        Ok(Commit {
            receiver,
            dir: self.dir.clone(),
        })
    }

    /// Waits for the next group commit (one that happened since the last
    /// wait ended counts): what a reader that found the queue empty
    /// waits for.
    pub async fn appended(&self) {
        self.appended.notified().await;
    }

    /// The first unacknowledged record, if there is one. Removes consumed
    /// segments (blocking, briefly).
    pub fn next(&self) -> Option<Head> {
        self.state().next()
    }

    /// Whether `pos` is still the first unacknowledged record (it is not
    /// once the record was dropped because the queue was full).
    pub fn is_current(&self, pos: Position) -> bool {
        self.state().cursor == pos
    }

    /// The queue's size and counters.
    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            pending: self.gauges.pending.load(Ordering::Relaxed),
            bytes: self.gauges.bytes.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
        }
    }

    /// Reads the record at `head`. Blocking. An error is the file's (the
    /// record may have been dropped meanwhile: see
    /// [`is_current`](Spool::is_current)).
    pub fn read(&self, head: Head) -> io::Result<ReadRecord> {
        let Head {
            position: pos,
            segment_len,
        } = head;
        let path = self.dir.join(segment_name(pos.segment));
        let mut file = File::open(&path)?;
        file.seek(SeekFrom::Start(pos.offset))?;
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        if segment_len < pos.offset + RECORD_HEADER_LEN {
            return Ok(ReadRecord::Corrupt {
                reason: "truncated record header".into(),
                next: None,
            });
        }
        file.read_exact(&mut header)?;
        let (len, crc) = parse_header(&header);
        let end = pos.offset + RECORD_HEADER_LEN + len;
        if !plausible_len(len) || end > segment_len {
            return Ok(ReadRecord::Corrupt {
                reason: format!("invalid record length {len}"),
                next: None,
            });
        }
        let mut payload = vec![0u8; len as usize];
        file.read_exact(&mut payload)?;
        let next = Position {
            segment: pos.segment,
            offset: end,
        };
        if crc32fast::hash(&payload) != crc {
            return Ok(ReadRecord::Corrupt {
                reason: "checksum mismatch".into(),
                next: Some(next),
            });
        }
        Ok(ReadRecord::Record { payload, next })
    }

    /// Acknowledges the record at `pos` (ending at `next`): moves the
    /// cursor past it, written at once (it survives the process being
    /// killed) and synced at most every 100 ms (a power loss may bring
    /// back the records of the last 100 ms). Answers false when the record
    /// was dropped meanwhile (the cursor had moved on). Blocking.
    pub fn acknowledge(&self, pos: Position, next: Position) -> io::Result<bool> {
        let mut state = self.state();
        if state.cursor != pos {
            return Ok(false);
        }
        state.cursor = next;
        state.pending = state.pending.saturating_sub(1);
        state.pending_bytes = state
            .pending_bytes
            .saturating_sub(next.offset.saturating_sub(pos.offset));
        if state.pending == 0 {
            state.pending_bytes = 0;
        }
        state.sync_gauges();
        state.normalize();
        let cursor = state.cursor;
        state.cursor_file.persist_acknowledged(cursor)?;
        Ok(true)
    }

    /// Skips what cannot be used at `pos`: up to `next` when the record's
    /// extent is known, else the rest of its segment. Counted as dropped;
    /// the new cursor is synced. Blocking.
    pub fn skip(&self, pos: Position, next: Option<Position>) -> io::Result<()> {
        let mut state = self.state();
        if state.cursor != pos {
            return Ok(());
        }
        let end = match next {
            Some(next) => next,
            None => Position {
                segment: pos.segment,
                offset: state
                    .segment(pos.segment)
                    .map_or(pos.offset, |s| s.len.max(pos.offset)),
            },
        };
        state.cursor = end;
        state.pending = state.pending.saturating_sub(1);
        state.pending_bytes = state.pending_bytes.saturating_sub(end.offset - pos.offset);
        if state.pending == 0 {
            state.pending_bytes = 0;
        }
        state.sync_gauges();
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        state.normalize();
        state.persist()
    }

    /// Syncs the cursor, stops the writer after it has answered every
    /// append made so far, and releases the directory's lock. Later
    /// appends fail with [`Error::Closed`]. Blocking.
    pub fn close(&self) {
        if let Err(e) = self.state().cursor_file.sync() {
            tracing::warn!(queue = %self.options.name, error = %e,
                "spool: could not sync the queue's cursor");
        }
        drop(lock_state(&self.sender).take());
        let thread = lock_state(&self.writer).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

pub(crate) fn lock_state<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent enough state for
    // counters; never propagate poisoning into request paths.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
