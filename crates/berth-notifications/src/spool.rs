//! The durable queue of one endpoint: append-only segment files of
//! checksummed records, and a cursor saying where delivery stands.
//!
//! Layout of an endpoint's directory (see docs/notifications.md):
//!
//! - `LOCK`: held with `flock(LOCK_EX)` while a process owns the queue.
//! - `<seq>.seg` (16 lower-case hex digits): a 16-byte header (`BRTHEVQ1`,
//!   version 1 as a little-endian u32, 4 reserved bytes) then records:
//!   payload length (u32 LE), CRC-32 (IEEE) of the payload (u32 LE), the
//!   payload (one event as compact JSON).
//! - `cursor`: two 32-byte slots, written alternately: magic `BCUR`, CRC-32
//!   of bytes 8..32, generation (u64), segment (u64), offset (u64), all
//!   little-endian. The valid slot with the highest generation says where
//!   the first undelivered record starts.
//!
//! Appends go through one writer thread per queue, which takes every append
//! waiting at that moment, writes them with one `write` and one
//! `fdatasync`, and only then answers them (group commit). The cursor is
//! written after each delivery, before the next one starts, and synced at
//! most every 100 ms (and on close): a killed process loses nothing, a
//! power loss re-delivers at most the last 100 ms of deliveries.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::error::Error;

const SEGMENT_MAGIC: &[u8; 8] = b"BRTHEVQ1";
const SEGMENT_VERSION: u32 = 1;
/// Bytes before the first record of a segment.
pub(crate) const SEGMENT_HEADER_LEN: u64 = 16;
/// Bytes before a record's payload.
pub(crate) const RECORD_HEADER_LEN: u64 = 8;
/// The largest payload accepted; anything claiming more is corruption.
pub(crate) const MAX_RECORD_LEN: u64 = 16 << 20;
/// The smallest payload (`{}`): a zeroed header is never a record.
const MIN_RECORD_LEN: u64 = 2;
const CURSOR_MAGIC: &[u8; 4] = b"BCUR";
const CURSOR_SLOT_LEN: usize = 32;
/// Appends written together at most (beyond one record).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// The longest a delivered event's cursor position stays unsynced.
const CURSOR_SYNC_INTERVAL: Duration = Duration::from_millis(100);
/// How long `open` waits for another process to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(3);
/// At most one "queue full" warning per this interval.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Where a record starts: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub(crate) segment: u64,
    pub(crate) offset: u64,
}

/// A record framed for the spool: header and payload.
pub(crate) fn frame(payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + RECORD_HEADER_LEN as usize);
    buf.put_u32_le(payload.len() as u32);
    buf.put_u32_le(crc32fast::hash(payload));
    buf.put_slice(payload);
    buf.freeze()
}

fn segment_name(seq: u64) -> String {
    format!("{seq:016x}.seg")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

fn remove_file(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "notifications: could not remove a delivered queue segment");
    }
}

/// One segment as the queue knows it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    /// Bytes of valid, durable content (header included).
    len: u64,
}

/// What reader, writer and dropper share, behind one mutex.
struct State {
    dir: PathBuf,
    /// Oldest first; the last is the one being appended to. Never empty.
    segments: VecDeque<Segment>,
    /// The first undelivered record.
    cursor: Position,
    /// Records from the cursor to the end.
    pending: u64,
    /// Their bytes, headers included.
    pending_bytes: u64,
    generation: u64,
    cursor_file: File,
    /// When the cursor file was last `fdatasync`ed (`None`: it has unsynced
    /// writes older than any bound, or was never synced).
    synced_at: Option<Instant>,
    /// `pending` and `pending_bytes`, readable without the lock.
    gauges: Arc<Gauges>,
}

/// The queue's size, for metrics readers that must not wait for the lock
/// (held across `fdatasync`s).
#[derive(Debug, Default)]
struct Gauges {
    pending: AtomicU64,
    bytes: AtomicU64,
}

impl State {
    /// Publishes `pending` and `pending_bytes` to the gauges.
    fn sync_gauges(&self) {
        self.gauges.pending.store(self.pending, Ordering::Relaxed);
        self.gauges
            .bytes
            .store(self.pending_bytes, Ordering::Relaxed);
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(segment_name(seq))
    }

    /// Moves the cursor over segments it has consumed and removes them.
    fn normalize(&mut self) {
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

    /// The cursor's segment and whether a record starts at the cursor.
    fn next(&mut self) -> Option<(Position, u64)> {
        self.normalize();
        let segment = self.segment(self.cursor.segment)?;
        (self.cursor.offset < segment.len).then_some((self.cursor, segment.len))
    }

    /// Saves the cursor after a delivery: written at once (so it survives
    /// the process being killed), `fdatasync`ed at most every
    /// [`CURSOR_SYNC_INTERVAL`]. A power loss can thus bring back the
    /// events delivered in the last interval: delivered twice, with the
    /// same ids, as at-least-once allows. Syncing after every delivery
    /// would bound delivery to the disk's sync rate.
    fn persist_delivered(&mut self) -> io::Result<()> {
        self.write_cursor()?;
        match self.synced_at {
            Some(at) if at.elapsed() < CURSOR_SYNC_INTERVAL => Ok(()),
            _ => self.sync_cursor(),
        }
    }

    /// `fdatasync`s the cursor file.
    fn sync_cursor(&mut self) -> io::Result<()> {
        self.cursor_file.sync_data()?;
        self.synced_at = Some(Instant::now());
        Ok(())
    }

    /// Makes the cursor durable.
    fn persist(&mut self) -> io::Result<()> {
        self.write_cursor()?;
        self.sync_cursor()
    }

    /// Writes the cursor to its next slot (not synced).
    fn write_cursor(&mut self) -> io::Result<()> {
        self.generation += 1;
        let mut slot = [0u8; CURSOR_SLOT_LEN];
        slot[..4].copy_from_slice(CURSOR_MAGIC);
        slot[8..16].copy_from_slice(&self.generation.to_le_bytes());
        slot[16..24].copy_from_slice(&self.cursor.segment.to_le_bytes());
        slot[24..32].copy_from_slice(&self.cursor.offset.to_le_bytes());
        let crc = crc32fast::hash(&slot[8..]);
        slot[4..8].copy_from_slice(&crc.to_le_bytes());
        let at = (self.generation % 2) * CURSOR_SLOT_LEN as u64;
        self.cursor_file.seek(SeekFrom::Start(at))?;
        self.cursor_file.write_all(&slot)
    }
}

/// Reads the cursor file: the valid slot with the highest generation.
fn read_cursor(file: &mut File) -> io::Result<Option<(u64, Position)>> {
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.take(2 * CURSOR_SLOT_LEN as u64)
        .read_to_end(&mut buf)?;
    let mut best: Option<(u64, Position)> = None;
    for slot in buf.chunks_exact(CURSOR_SLOT_LEN) {
        if &slot[..4] != CURSOR_MAGIC {
            continue;
        }
        let crc = u32::from_le_bytes([slot[4], slot[5], slot[6], slot[7]]);
        if crc != crc32fast::hash(&slot[8..]) {
            continue;
        }
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&slot[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let (generation, segment, offset) = (word(8), word(16), word(24));
        if best.is_none_or(|(g, _)| generation > g) {
            best = Some((generation, Position { segment, offset }));
        }
    }
    Ok(best)
}

/// An append waiting for the writer.
struct Append {
    frame: Bytes,
    reply: oneshot::Sender<io::Result<()>>,
}

/// Counters of one queue.
#[derive(Debug, Default)]
pub(crate) struct SpoolCounters {
    /// Records dropped undelivered: the oldest when the queue was full,
    /// and records that could not be read back.
    pub(crate) dropped: AtomicU64,
    /// Appends that failed to reach the disk.
    pub(crate) errors: AtomicU64,
}

/// What reading a record gave.
pub(crate) enum ReadRecord {
    /// A valid record and where the next one starts.
    Record { payload: Vec<u8>, next: Position },
    /// The bytes at the position are not a valid record; `next` is where
    /// the following record starts when the length was plausible (only
    /// the checksum failed), `None` when the rest of the segment is lost.
    Corrupt {
        reason: String,
        next: Option<Position>,
    },
}

/// One endpoint's durable queue.
pub(crate) struct Spool {
    dir: PathBuf,
    state: Mutex<State>,
    /// Signalled after every commit.
    pub(crate) appended: Notify,
    sender: Mutex<Option<mpsc::UnboundedSender<Append>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub(crate) counters: SpoolCounters,
    gauges: Arc<Gauges>,
    max_bytes: u64,
    label: String,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("dir", &self.dir).finish()
    }
}

impl Spool {
    /// Opens (creating or recovering) the queue in `dir`, and starts its
    /// writer thread. Blocking.
    pub(crate) fn open(dir: &Path, max_bytes: u64, label: &str) -> Result<Arc<Spool>, Error> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = lock_dir(dir)?;
        let segment_target = (max_bytes / 8).clamp(64 << 10, 64 << 20);
        let (state, head) = recover(dir, label)?;
        let head_seq = state.segments.back().map_or(1, |s| s.seq);
        let head_len = state.segments.back().map_or(SEGMENT_HEADER_LEN, |s| s.len);
        let (sender, receiver) = mpsc::unbounded_channel();
        let gauges = state.gauges.clone();
        let spool = Arc::new(Spool {
            dir: dir.to_owned(),
            state: Mutex::new(state),
            appended: Notify::new(),
            sender: Mutex::new(Some(sender)),
            writer: Mutex::new(None),
            counters: SpoolCounters::default(),
            gauges,
            max_bytes,
            label: label.to_owned(),
        });
        let writer = Writer {
            spool: Arc::downgrade(&spool),
            dir: dir.to_owned(),
            head,
            head_seq,
            head_len,
            segment_target,
            drop_reader: None,
            last_drop_warning: None,
            unreported_drops: 0,
            _lock: lock,
        };
        let thread = std::thread::Builder::new()
            .name("berth-events".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| Error::io(dir, e))?;
        *lock_state(&spool.writer) = Some(thread);
        Ok(spool)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// Hands a framed record to the writer; the receiver answers once it
    /// is durable.
    pub(crate) fn submit(&self, frame: Bytes) -> Result<oneshot::Receiver<io::Result<()>>, Error> {
        let (reply, receiver) = oneshot::channel();
        let sender = lock_state(&self.sender);
        let Some(sender) = sender.as_ref() else {
            return Err(Error::Closed);
        };
        sender
            .send(Append { frame, reply })
            .map_err(|_| Error::Closed)?;
        Ok(receiver)
    }

    /// The first undelivered record's position and the valid length of
    /// its segment, if there is one. Removes consumed segments (blocking,
    /// briefly).
    pub(crate) fn next(&self) -> Option<(Position, u64)> {
        self.state().next()
    }

    /// Whether `pos` is still the first undelivered record (it is not once
    /// the record was dropped because the queue was full).
    pub(crate) fn is_current(&self, pos: Position) -> bool {
        self.state().cursor == pos
    }

    /// Records pending and their bytes.
    pub(crate) fn pending(&self) -> (u64, u64) {
        (
            self.gauges.pending.load(Ordering::Relaxed),
            self.gauges.bytes.load(Ordering::Relaxed),
        )
    }

    /// Reads the record at `pos`, within a segment of `segment_len` valid
    /// bytes. Blocking.
    pub(crate) fn read(&self, pos: Position, segment_len: u64) -> io::Result<ReadRecord> {
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
        let len = u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let end = pos.offset + RECORD_HEADER_LEN + len;
        if !(MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len) || end > segment_len {
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

    /// Marks the record at `pos` (ending at `next`) delivered, making the
    /// new cursor durable. Answers false when the record was dropped
    /// meanwhile (the cursor had moved on). Blocking.
    pub(crate) fn complete(&self, pos: Position, next: Position) -> io::Result<bool> {
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
        state.persist_delivered()?;
        Ok(true)
    }

    /// Skips what cannot be read at `pos`: up to `next` when the record's
    /// extent is known, else the rest of its segment. Counted as dropped.
    /// Blocking.
    pub(crate) fn skip(&self, pos: Position, next: Option<Position>) -> io::Result<()> {
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

    /// Stops the writer after it has answered every append submitted so
    /// far, and releases the directory's lock. Blocking.
    pub(crate) fn close(&self) {
        if let Err(e) = self.state().sync_cursor() {
            tracing::warn!(endpoint = %self.label, error = %e,
                "notifications: could not sync the queue's cursor");
        }
        drop(lock_state(&self.sender).take());
        let thread = lock_state(&self.writer).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn lock_state<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent enough state for
    // counters; never propagate poisoning into request paths.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes the directory's lock, waiting a little for a previous owner that
/// is shutting down.
fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match try_lock(&file) {
            Ok(true) => return Ok(file),
            Ok(false) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(false) => {
                return Err(Error::Locked {
                    path: dir.to_owned(),
                });
            }
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock(2) on the descriptor `file` owns, which stays open for
    // the duration of the call; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<bool> {
    Ok(true)
}

/// Creates a segment file with its header, durably.
fn create_segment(dir: &Path, seq: u64) -> io::Result<File> {
    let path = dir.join(segment_name(seq));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    file.write_all(&segment_header())?;
    file.sync_data()?;
    sync_dir(dir)?;
    Ok(file)
}

/// The outcome of scanning a segment's records.
struct Scan {
    /// End of the last record whose frame is sound (length plausible and
    /// within the file), whatever its checksum.
    valid_len: u64,
    /// End of the last record whose checksum is right.
    good_len: u64,
    /// Records and bytes from the start offset to `valid_len`.
    records: u64,
    bytes: u64,
    /// The same, to `good_len`.
    good_records: u64,
    good_bytes: u64,
    /// Records before `good_len` whose checksum is wrong (skipped when
    /// read).
    bad_before_good: u64,
    bad: u64,
    /// Why scanning stopped before the end of the file, if it did.
    stopped: Option<String>,
    file_len: u64,
}

fn scan(file: &mut File, start: u64) -> io::Result<Scan> {
    let file_len = file.metadata()?.len();
    let mut scan = Scan {
        valid_len: start,
        good_len: start,
        records: 0,
        bytes: 0,
        good_records: 0,
        good_bytes: 0,
        bad_before_good: 0,
        bad: 0,
        stopped: None,
        file_len,
    };
    if start >= file_len {
        return Ok(scan);
    }
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let mut payload = Vec::new();
    let mut at = start;
    while at < file_len {
        if file_len - at < RECORD_HEADER_LEN {
            scan.stopped = Some("torn record header".into());
            break;
        }
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        reader.read_exact(&mut header)?;
        let len = u64::from(u32::from_le_bytes([
            header[0], header[1], header[2], header[3],
        ]));
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if !(MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len) {
            scan.stopped = Some(format!("invalid record length {len}"));
            break;
        }
        if at + RECORD_HEADER_LEN + len > file_len {
            scan.stopped = Some("torn record".into());
            break;
        }
        payload.resize(len as usize, 0);
        reader.read_exact(&mut payload)?;
        at += RECORD_HEADER_LEN + len;
        scan.valid_len = at;
        scan.records += 1;
        scan.bytes += RECORD_HEADER_LEN + len;
        if crc32fast::hash(&payload) == crc {
            scan.good_len = at;
            scan.good_records = scan.records;
            scan.good_bytes = scan.bytes;
            scan.bad_before_good = scan.bad;
        } else {
            scan.bad += 1;
        }
    }
    Ok(scan)
}

/// Rebuilds the queue's state from its directory: the cursor, the
/// segments after it (checked record by record), a torn tail cut off.
fn recover(dir: &Path, label: &str) -> Result<(State, File), Error> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |e| Error::io(path, e)
    };
    let mut seqs: Vec<u64> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_segment_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();

    let cursor_path = dir.join("cursor");
    let mut cursor_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&cursor_path)
        .map_err(io_err(&cursor_path))?;
    let saved = read_cursor(&mut cursor_file).map_err(io_err(&cursor_path))?;
    let (generation, mut cursor) = match saved {
        Some((generation, pos)) => (generation, pos),
        None => (
            0,
            Position {
                segment: seqs.first().copied().unwrap_or(1),
                offset: SEGMENT_HEADER_LEN,
            },
        ),
    };

    // Segments before the cursor's were delivered: a crash came between
    // moving the cursor and removing them.
    seqs.retain(|&seq| {
        if seq < cursor.segment {
            remove_file(&dir.join(segment_name(seq)));
            false
        } else {
            true
        }
    });
    match seqs.first() {
        None => {
            // Everything was delivered (or nothing ever queued): start a
            // new segment after the cursor's.
            let seq = if saved.is_some() {
                cursor.segment + 1
            } else {
                cursor.segment.max(1)
            };
            seqs.push(seq);
            create_segment(dir, seq).map_err(io_err(dir))?;
            cursor = Position {
                segment: seq,
                offset: SEGMENT_HEADER_LEN,
            };
        }
        Some(&first) if first > cursor.segment => {
            cursor = Position {
                segment: first,
                offset: SEGMENT_HEADER_LEN,
            };
        }
        Some(_) => {}
    }
    cursor.offset = cursor.offset.max(SEGMENT_HEADER_LEN);

    let mut segments = VecDeque::with_capacity(seqs.len());
    let mut pending = 0;
    let mut pending_bytes = 0;
    let last = seqs.last().copied();
    let mut head: Option<File> = None;
    for seq in seqs {
        let path = dir.join(segment_name(seq));
        let is_last = Some(seq) == last;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut header = [0u8; SEGMENT_HEADER_LEN as usize];
        let header_ok = file.read_exact(&mut header).is_ok() && header == segment_header();
        if !header_ok {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if is_last {
                // Created but not written when the process died.
                if len > 0 {
                    tracing::warn!(endpoint = label, path = %path.display(), bytes = len,
                        "notifications: queue segment has no valid header; starting it afresh");
                }
                file.set_len(0).map_err(io_err(&path))?;
                file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
                file.write_all(&segment_header()).map_err(io_err(&path))?;
                file.sync_data().map_err(io_err(&path))?;
                if cursor.segment == seq {
                    cursor.offset = SEGMENT_HEADER_LEN;
                }
                segments.push_back(Segment {
                    seq,
                    len: SEGMENT_HEADER_LEN,
                });
                head = Some(file);
            } else {
                tracing::warn!(endpoint = label, path = %path.display(), bytes = len,
                    "notifications: queue segment has no valid header; its events are lost");
                remove_file(&path);
                if cursor.segment == seq {
                    cursor = Position {
                        segment: seq + 1,
                        offset: SEGMENT_HEADER_LEN,
                    };
                }
            }
            continue;
        }
        let start = if seq == cursor.segment {
            cursor.offset
        } else {
            SEGMENT_HEADER_LEN
        };
        let found = scan(&mut file, start).map_err(io_err(&path))?;
        if start > found.file_len {
            tracing::warn!(endpoint = label, path = %path.display(),
                "notifications: the queue's cursor points past the end of its segment; skipping the segment");
        }
        let (len, records, bytes, skipped) = if is_last && found.good_len < found.file_len {
            // A torn or corrupt tail: what the last write left half done
            // (never acknowledged) or damaged since. Cut it off so appends
            // go on after the last good record.
            tracing::warn!(endpoint = label, path = %path.display(), offset = found.good_len,
                bytes = found.file_len - found.good_len,
                reason = found.stopped.as_deref().unwrap_or("checksum mismatch"),
                "notifications: discarded a torn or corrupt record at the end of the queue");
            file.set_len(found.good_len).map_err(io_err(&path))?;
            file.sync_data().map_err(io_err(&path))?;
            (
                found.good_len,
                found.good_records,
                found.good_bytes,
                found.bad_before_good,
            )
        } else {
            if let Some(reason) = &found.stopped {
                tracing::warn!(endpoint = label, path = %path.display(), offset = found.valid_len,
                    bytes = found.file_len - found.valid_len, reason = %reason,
                    "notifications: corrupt record in the queue; the rest of this segment is skipped");
            }
            (found.valid_len, found.records, found.bytes, found.bad)
        };
        if skipped > 0 {
            tracing::warn!(endpoint = label, path = %path.display(), records = skipped,
                "notifications: records with a wrong checksum in the queue will be skipped");
        }
        let len = len.max(SEGMENT_HEADER_LEN);
        pending += records;
        pending_bytes += bytes;
        segments.push_back(Segment { seq, len });
        if is_last {
            head = Some(file);
        }
    }
    let head = match head {
        Some(head) => head,
        None => {
            // The last segment was unusable and removed: start a new one.
            let seq = segments.back().map_or(cursor.segment, |s| s.seq + 1).max(1);
            let file = create_segment(dir, seq).map_err(io_err(dir))?;
            segments.push_back(Segment {
                seq,
                len: SEGMENT_HEADER_LEN,
            });
            file
        }
    };
    // Removals, and the cursor file when it is new, must survive a crash.
    sync_dir(dir).map_err(io_err(dir))?;
    if !segments.iter().any(|s| s.seq == cursor.segment) {
        let first = segments[0];
        if first.seq > cursor.segment {
            cursor = Position {
                segment: first.seq,
                offset: SEGMENT_HEADER_LEN,
            };
        }
    }
    let mut state = State {
        dir: dir.to_owned(),
        segments,
        cursor,
        pending,
        pending_bytes,
        generation,
        cursor_file,
        synced_at: None,
        gauges: Arc::new(Gauges::default()),
    };
    state.sync_gauges();
    state.normalize();
    if saved != Some((generation, state.cursor)) {
        state.persist().map_err(io_err(&cursor_path))?;
    }
    if pending > 0 {
        tracing::info!(
            endpoint = label,
            pending,
            bytes = pending_bytes,
            "notifications: undelivered events from the last run will be sent first"
        );
    }
    Ok((state, head))
}

/// The thread that appends to one queue.
struct Writer {
    spool: Weak<Spool>,
    dir: PathBuf,
    head: File,
    head_seq: u64,
    head_len: u64,
    segment_target: u64,
    /// A read handle on the segment the dropper reads headers from.
    drop_reader: Option<(u64, File)>,
    last_drop_warning: Option<Instant>,
    unreported_drops: u64,
    _lock: File,
}

impl Writer {
    fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Append>) {
        let mut batch: Vec<Append> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(first) = receiver.blocking_recv() {
            let mut bytes = first.frame.len();
            batch.push(first);
            while bytes < MAX_BATCH_BYTES {
                match receiver.try_recv() {
                    Ok(append) => {
                        bytes += append.frame.len();
                        batch.push(append);
                    }
                    Err(_) => break,
                }
            }
            let Some(spool) = self.spool.upgrade() else {
                for append in batch.drain(..) {
                    let _ = append
                        .reply
                        .send(Err(io::Error::other("the queue is closed")));
                }
                break;
            };
            buf.clear();
            for append in &batch {
                buf.extend_from_slice(&append.frame);
            }
            let result = self.commit(&spool, &buf, batch.len() as u64);
            for append in batch.drain(..) {
                let reply = match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                let _ = append.reply.send(reply);
            }
            if let Err(e) = result {
                spool.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(endpoint = %spool.label, error = %e,
                    "notifications: could not write events to the queue; they are lost");
            }
            spool.appended.notify_one();
            if buf.capacity() > 2 * MAX_BATCH_BYTES {
                buf = Vec::new();
            }
        }
    }

    /// Writes `buf` (`records` framed records) durably, then updates the
    /// shared state and enforces the bound.
    fn commit(&mut self, spool: &Spool, buf: &[u8], records: u64) -> io::Result<()> {
        if self.head_len >= self.segment_target && self.head_len > SEGMENT_HEADER_LEN {
            self.rotate(spool)?;
        }
        let write = (|| {
            self.head.seek(SeekFrom::Start(self.head_len))?;
            self.head.write_all(buf)?;
            self.head.sync_data()
        })();
        if let Err(e) = write {
            // Leave no partial record behind for the next append to follow.
            let _ = self.head.set_len(self.head_len);
            return Err(e);
        }
        self.head_len += buf.len() as u64;
        let mut state = spool.state();
        if let Some(head) = state.segments.back_mut() {
            head.len = self.head_len;
        }
        state.pending += records;
        state.pending_bytes += buf.len() as u64;
        let dropped = self.enforce_bound(spool, &mut state);
        state.sync_gauges();
        if dropped > 0 {
            if let Err(e) = state.persist() {
                tracing::warn!(endpoint = %spool.label, error = %e,
                    "notifications: could not save the queue's cursor after dropping events");
            }
            drop(state);
            spool.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
            self.unreported_drops += dropped;
            let now = Instant::now();
            if self
                .last_drop_warning
                .is_none_or(|t| now.duration_since(t) >= DROP_WARN_INTERVAL)
            {
                tracing::warn!(
                    endpoint = %spool.label,
                    dropped = self.unreported_drops,
                    total_dropped = spool.counters.dropped.load(Ordering::Relaxed),
                    max_queue_bytes = spool.max_bytes,
                    "notifications: queue full, dropped the oldest undelivered events"
                );
                self.unreported_drops = 0;
                self.last_drop_warning = Some(now);
            }
        }
        Ok(())
    }

    /// Starts a new segment.
    fn rotate(&mut self, spool: &Spool) -> io::Result<()> {
        let seq = self.head_seq + 1;
        let file = create_segment(&self.dir, seq)?;
        spool.state().segments.push_back(Segment {
            seq,
            len: SEGMENT_HEADER_LEN,
        });
        self.head = file;
        self.head_seq = seq;
        self.head_len = SEGMENT_HEADER_LEN;
        Ok(())
    }

    /// Drops the oldest records while the queue is over its bound (keeping
    /// at least the newest). Answers how many were dropped.
    fn enforce_bound(&mut self, spool: &Spool, state: &mut State) -> u64 {
        let mut dropped = 0;
        while state.pending_bytes > spool.max_bytes && state.pending > 1 {
            state.normalize();
            let Some((pos, segment_len)) = state.next() else {
                break;
            };
            let record_len = match self.record_len_at(pos, segment_len) {
                Ok(Some(len)) => len,
                Ok(None) => segment_len - pos.offset,
                Err(e) => {
                    tracing::warn!(endpoint = %spool.label, error = %e,
                        "notifications: could not read the queue to drop old events");
                    break;
                }
            };
            state.cursor.offset = pos.offset + record_len;
            state.pending -= 1;
            state.pending_bytes = state.pending_bytes.saturating_sub(record_len);
            dropped += 1;
        }
        if dropped > 0 {
            state.normalize();
        }
        dropped
    }

    /// The framed length of the record at `pos`, or `None` when the bytes
    /// there are not a record (the rest of the segment is then dropped).
    fn record_len_at(&mut self, pos: Position, segment_len: u64) -> io::Result<Option<u64>> {
        if self
            .drop_reader
            .as_ref()
            .is_none_or(|(seq, _)| *seq != pos.segment)
        {
            let file = File::open(self.dir.join(segment_name(pos.segment)))?;
            self.drop_reader = Some((pos.segment, file));
        }
        let Some((_, file)) = self.drop_reader.as_mut() else {
            return Ok(None);
        };
        if segment_len < pos.offset + RECORD_HEADER_LEN {
            return Ok(None);
        }
        let mut header = [0u8; 4];
        file.seek(SeekFrom::Start(pos.offset))?;
        file.read_exact(&mut header)?;
        let len = u64::from(u32::from_le_bytes(header));
        let framed = RECORD_HEADER_LEN + len;
        if !(MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len) || pos.offset + framed > segment_len {
            return Ok(None);
        }
        Ok(Some(framed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_in(dir: &Path) -> State {
        let cursor_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("cursor"))
            .unwrap();
        State {
            dir: dir.to_owned(),
            segments: VecDeque::from([Segment {
                seq: 1,
                len: SEGMENT_HEADER_LEN,
            }]),
            cursor: Position {
                segment: 1,
                offset: SEGMENT_HEADER_LEN,
            },
            pending: 0,
            pending_bytes: 0,
            generation: 0,
            cursor_file,
            synced_at: None,
            gauges: Arc::default(),
        }
    }

    #[test]
    fn cursor_slots_alternate_and_survive_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = state_in(dir.path());
        for offset in [100, 200, 300] {
            state.cursor.offset = offset;
            state.persist().unwrap();
        }
        let mut file = File::open(dir.path().join("cursor")).unwrap();
        let (generation, pos) = read_cursor(&mut file).unwrap().unwrap();
        assert_eq!((generation, pos.offset), (3, 300));

        // Generation 3 went to slot 1; tear it: slot 0 (generation 2) wins.
        let mut raw = OpenOptions::new()
            .write(true)
            .open(dir.path().join("cursor"))
            .unwrap();
        raw.seek(SeekFrom::Start(CURSOR_SLOT_LEN as u64 + 20))
            .unwrap();
        raw.write_all(&[0xff; 4]).unwrap();
        let (generation, pos) = read_cursor(&mut file).unwrap().unwrap();
        assert_eq!((generation, pos.offset), (2, 200));
    }

    #[test]
    fn frames_and_segment_names() {
        let framed = frame(b"{\"a\":1}");
        assert_eq!(&framed[..4], &7u32.to_le_bytes());
        assert_eq!(&framed[4..8], &crc32fast::hash(b"{\"a\":1}").to_le_bytes());
        assert_eq!(segment_name(26), "000000000000001a.seg");
        assert_eq!(parse_segment_name("000000000000001a.seg"), Some(26));
        assert_eq!(parse_segment_name("1a.seg"), None);
        assert_eq!(parse_segment_name("000000000000001a.tmp"), None);
    }

    #[test]
    fn scan_stops_at_a_torn_record_and_skips_bad_checksums() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(segment_name(1));
        let mut file = create_segment(dir.path(), 1).unwrap();
        let good = frame(b"{\"n\":1}");
        let mut bad = frame(b"{\"n\":2}").to_vec();
        bad[9] ^= 1;
        file.write_all(&good).unwrap();
        file.write_all(&bad).unwrap();
        file.write_all(&good).unwrap();
        file.write_all(&good[..10]).unwrap();
        drop(file);
        let mut file = File::open(&path).unwrap();
        let found = scan(&mut file, SEGMENT_HEADER_LEN).unwrap();
        let record = good.len() as u64;
        assert_eq!(found.records, 3);
        assert_eq!(found.bad, 1);
        assert_eq!(found.good_records, 3);
        assert_eq!(found.bad_before_good, 1);
        assert_eq!(found.good_len, SEGMENT_HEADER_LEN + 3 * record);
        assert_eq!(found.stopped.as_deref(), Some("torn record"));
    }
}
