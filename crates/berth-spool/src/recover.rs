//! Recovery: rebuilding a queue's state from its directory after a clean
//! stop or a crash.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use crate::cursor::{CURSOR_FILE, CursorFile, Position};
use crate::error::Error;
use crate::queue::{Gauges, State};
use crate::record::scan;
use crate::segment::{
    SEGMENT_HEADER_LEN, Segment, create_segment, parse_segment_name, remove_file, segment_header,
    segment_name, sync_dir,
};

/// Rebuilds the queue's state from its directory: the cursor, the
/// segments after it (checked record by record), a torn tail cut off.
/// Answers the state and the last segment, open for appending.
pub(crate) fn recover(dir: &Path, name: &str) -> Result<(State, File), Error> {
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

    let cursor_path = dir.join(CURSOR_FILE);
    let (cursor_file, saved) = CursorFile::open(dir).map_err(io_err(&cursor_path))?;
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

    // Segments before the cursor's were consumed: a crash came between
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
            // Everything was consumed (or nothing ever appended): start a
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
                    tracing::warn!(queue = name, path = %path.display(), bytes = len,
                        "spool: queue segment has no valid header; starting it afresh");
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
                tracing::warn!(queue = name, path = %path.display(), bytes = len,
                    "spool: queue segment has no valid header; its records are lost");
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
            tracing::warn!(queue = name, path = %path.display(),
                "spool: the queue's cursor points past the end of its segment; skipping the segment");
        }
        let (len, records, bytes, skipped) = if is_last && found.good_len < found.file_len {
            // A torn or corrupt tail: what the last write left half done
            // (never acknowledged) or damaged since. Cut it off so appends
            // go on after the last good record.
            tracing::warn!(queue = name, path = %path.display(), offset = found.good_len,
                bytes = found.file_len - found.good_len,
                reason = found.stopped.as_deref().unwrap_or("checksum mismatch"),
                "spool: discarded a torn or corrupt record at the end of the queue");
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
                tracing::warn!(queue = name, path = %path.display(), offset = found.valid_len,
                    bytes = found.file_len - found.valid_len, reason = %reason,
                    "spool: corrupt record in the queue; the rest of this segment is skipped");
            }
            (found.valid_len, found.records, found.bytes, found.bad)
        };
        if skipped > 0 {
            tracing::warn!(queue = name, path = %path.display(), records = skipped,
                "spool: records with a wrong checksum in the queue will be skipped");
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
        cursor_file,
        gauges: Arc::new(Gauges::default()),
    };
    state.sync_gauges();
    state.normalize();
    if saved != Some((generation, state.cursor)) {
        state.persist().map_err(io_err(&cursor_path))?;
    }
    if pending > 0 {
        tracing::info!(
            queue = name,
            pending,
            bytes = pending_bytes,
            "spool: records left unacknowledged by the last run come first"
        );
    }
    Ok((state, head))
}
