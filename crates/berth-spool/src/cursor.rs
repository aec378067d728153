//! The cursor: where the first unacknowledged record starts, kept in the
//! file `cursor` as two 32-byte slots written alternately: magic `BCUR`,
//! CRC-32 of bytes 8..32, generation (u64), segment (u64), offset (u64),
//! all little-endian. The valid slot with the highest generation wins, so
//! a torn write of one slot leaves the other.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

const CURSOR_MAGIC: &[u8; 4] = b"BCUR";
const CURSOR_SLOT_LEN: usize = 32;
/// The name of the cursor file in the queue's directory.
pub(crate) const CURSOR_FILE: &str = "cursor";
/// The longest an acknowledged record's cursor position stays unsynced.
const CURSOR_SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Where a record starts: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The segment's sequence number (its file is `<seq>.seg`, 16 hex
    /// digits).
    pub segment: u64,
    /// The byte offset of the record's header in the segment.
    pub offset: u64,
}

/// The open cursor file and what is known of its slots.
pub(crate) struct CursorFile {
    file: File,
    /// The generation of the last slot written.
    pub(crate) generation: u64,
    /// When the file was last `fdatasync`ed (`None`: it has unsynced
    /// writes older than any bound, or was never synced).
    synced_at: Option<Instant>,
}

impl CursorFile {
    /// Opens (creating) the cursor file of `dir`; answers it and the
    /// position it holds, with that slot's generation, if any.
    pub(crate) fn open(dir: &Path) -> io::Result<(CursorFile, Option<(u64, Position)>)> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(CURSOR_FILE))?;
        let saved = read_cursor(&mut file)?;
        let cursor = CursorFile {
            file,
            generation: saved.map_or(0, |(generation, _)| generation),
            synced_at: None,
        };
        Ok((cursor, saved))
    }

    /// Saves `pos` after an acknowledgement: written at once (so it
    /// survives the process being killed), `fdatasync`ed at most every
    /// [`CURSOR_SYNC_INTERVAL`]. A power loss can thus bring back the
    /// records acknowledged in the last interval: read twice, as
    /// at-least-once allows. Syncing after every acknowledgement would
    /// bound reading to the disk's sync rate.
    pub(crate) fn persist_acknowledged(&mut self, pos: Position) -> io::Result<()> {
        self.write(pos)?;
        match self.synced_at {
            Some(at) if at.elapsed() < CURSOR_SYNC_INTERVAL => Ok(()),
            _ => self.sync(),
        }
    }

    /// `fdatasync`s the cursor file.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.synced_at = Some(Instant::now());
        Ok(())
    }

    /// Makes `pos` the durable cursor.
    pub(crate) fn persist(&mut self, pos: Position) -> io::Result<()> {
        self.write(pos)?;
        self.sync()
    }

    /// Writes `pos` to the next slot (not synced).
    fn write(&mut self, pos: Position) -> io::Result<()> {
        self.generation += 1;
        let mut slot = [0u8; CURSOR_SLOT_LEN];
        slot[..4].copy_from_slice(CURSOR_MAGIC);
        slot[8..16].copy_from_slice(&self.generation.to_le_bytes());
        slot[16..24].copy_from_slice(&pos.segment.to_le_bytes());
        slot[24..32].copy_from_slice(&pos.offset.to_le_bytes());
        let crc = crc32fast::hash(&slot[8..]);
        slot[4..8].copy_from_slice(&crc.to_le_bytes());
        let at = (self.generation % 2) * CURSOR_SLOT_LEN as u64;
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(&slot)
    }
}

/// Reads the cursor file: the valid slot with the highest generation.
pub(crate) fn read_cursor(file: &mut File) -> io::Result<Option<(u64, Position)>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::SEGMENT_HEADER_LEN;

    #[test]
    fn cursor_slots_alternate_and_survive_a_torn_write() {
        let dir = tempfile::tempdir().unwrap();
        let (mut cursor, saved) = CursorFile::open(dir.path()).unwrap();
        assert_eq!(saved, None);
        let mut pos = Position {
            segment: 1,
            offset: SEGMENT_HEADER_LEN,
        };
        for offset in [100, 200, 300] {
            pos.offset = offset;
            cursor.persist(pos).unwrap();
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
}
