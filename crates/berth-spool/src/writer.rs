//! The writer thread of a queue: group commits, segment rotation, and the
//! bound (dropping the oldest records when the queue is full).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::cursor::Position;
use crate::queue::{Spool, State};
use crate::record::{RECORD_HEADER_LEN, plausible_len};
use crate::segment::{SEGMENT_HEADER_LEN, Segment, create_segment, segment_name};

/// Appends written together at most (beyond one record).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// At most one "queue full" warning per this interval.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// An append waiting for the writer.
pub(crate) struct Append {
    pub(crate) frame: Bytes,
    pub(crate) reply: oneshot::Sender<io::Result<()>>,
}

/// The thread that appends to one queue.
pub(crate) struct Writer {
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
    /// A writer appending to `head` (segment `head_seq`, `head_len` valid
    /// bytes), holding the directory's `lock` while it runs.
    pub(crate) fn new(
        spool: &Arc<Spool>,
        head: File,
        head_seq: u64,
        head_len: u64,
        segment_target: u64,
        lock: File,
    ) -> Writer {
        Writer {
            spool: Arc::downgrade(spool),
            dir: spool.dir().to_owned(),
            head,
            head_seq,
            head_len,
            segment_target,
            drop_reader: None,
            last_drop_warning: None,
            unreported_drops: 0,
            _lock: lock,
        }
    }

    /// Commits appends until every sender is gone.
    pub(crate) fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Append>) {
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
                tracing::error!(queue = %spool.options.name, error = %e,
                    "spool: could not write records to the queue; they are lost");
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
                tracing::warn!(queue = %spool.options.name, error = %e,
                    "spool: could not save the queue's cursor after dropping records");
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
                    queue = %spool.options.name,
                    dropped = self.unreported_drops,
                    total_dropped = spool.counters.dropped.load(Ordering::Relaxed),
                    max_bytes = spool.options.max_bytes,
                    "spool: queue full, dropped the oldest unacknowledged records"
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
        while state.pending_bytes > spool.options.max_bytes && state.pending > 1 {
            state.normalize();
            let Some(next) = state.next() else {
                break;
            };
            let (pos, segment_len) = (next.position(), next.segment_len());
            let record_len = match self.record_len_at(pos, segment_len) {
                Ok(Some(len)) => len,
                Ok(None) => segment_len - pos.offset,
                Err(e) => {
                    tracing::warn!(queue = %spool.options.name, error = %e,
                        "spool: could not read the queue to drop old records");
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
        if !plausible_len(len) || pos.offset + framed > segment_len {
            return Ok(None);
        }
        Ok(Some(framed))
    }
}
