//! Segment files: `<seq>.seg` (16 lower-case hex digits), a 16-byte header
//! (`BRTHEVQ1`, version 1 as a little-endian u32, 4 reserved bytes), then
//! records; and the directory operations around them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

const SEGMENT_MAGIC: &[u8; 8] = b"BRTHEVQ1";
const SEGMENT_VERSION: u32 = 1;
/// Bytes before the first record of a segment.
pub const SEGMENT_HEADER_LEN: u64 = 16;

/// One segment as the queue knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    pub(crate) seq: u64,
    /// Bytes of valid, durable content (header included).
    pub(crate) len: u64,
}

pub(crate) fn segment_name(seq: u64) -> String {
    format!("{seq:016x}.seg")
}

pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

pub(crate) fn segment_header() -> [u8; SEGMENT_HEADER_LEN as usize] {
    let mut h = [0u8; SEGMENT_HEADER_LEN as usize];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h
}

/// Creates a segment file with its header, durably.
pub(crate) fn create_segment(dir: &Path, seq: u64) -> io::Result<File> {
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

/// Makes the directory's entries (files created or removed) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
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

/// Removes a consumed segment; a failure is only logged.
pub(crate) fn remove_file(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "spool: could not remove a consumed queue segment");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::frame;

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
}
