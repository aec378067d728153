//! The record format: payload length (u32 LE), CRC-32 (IEEE) of the
//! payload (u32 LE), payload; and the scan that checks a segment's records
//! one by one.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::Error;

/// Bytes before a record's payload: its length and its CRC-32.
pub const RECORD_HEADER_LEN: u64 = 8;
/// The largest payload accepted; anything claiming more is corruption.
pub const MAX_RECORD_LEN: u64 = 16 << 20;
/// The smallest payload accepted: a zeroed header is never a record.
pub const MIN_RECORD_LEN: u64 = 2;

/// One record, framed as the queue stores it (header and payload).
///
/// Framed once, it can be appended to several queues: cloning is cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    framed: Bytes,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

impl Record {
    /// Frames `payload`: [`MIN_RECORD_LEN`] to [`MAX_RECORD_LEN`] bytes,
    /// else [`Error::RecordSize`].
    pub fn new(payload: &[u8]) -> Result<Record, Error> {
        let len = payload.len() as u64;
        if !plausible_len(len) {
            return Err(Error::RecordSize { len });
        }
        Ok(Record {
            framed: frame(payload),
        })
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.framed[RECORD_HEADER_LEN as usize..]
    }

    /// The bytes written to disk: header and payload.
    pub fn as_bytes(&self) -> &[u8] {
        &self.framed
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        self.framed
    }
}

/// A record framed for the spool: header and payload.
pub(crate) fn frame(payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + RECORD_HEADER_LEN as usize);
    buf.put_u32_le(payload.len() as u32);
    buf.put_u32_le(crc32fast::hash(payload));
    buf.put_slice(payload);
    buf.freeze()
}

/// Whether a header's length can be a record's.
pub(crate) fn plausible_len(len: u64) -> bool {
    (MIN_RECORD_LEN..=MAX_RECORD_LEN).contains(&len)
}

/// A record header's payload length and CRC-32.
pub(crate) fn parse_header(header: &[u8; RECORD_HEADER_LEN as usize]) -> (u64, u32) {
    let len = u64::from(u32::from_le_bytes([
        header[0], header[1], header[2], header[3],
    ]));
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    (len, crc)
}

/// The outcome of scanning a segment's records.
pub(crate) struct Scan {
    /// End of the last record whose frame is sound (length plausible and
    /// within the file), whatever its checksum.
    pub(crate) valid_len: u64,
    /// End of the last record whose checksum is right.
    pub(crate) good_len: u64,
    /// Records and bytes from the start offset to `valid_len`.
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    /// The same, to `good_len`.
    pub(crate) good_records: u64,
    pub(crate) good_bytes: u64,
    /// Records before `good_len` whose checksum is wrong (skipped when
    /// read).
    pub(crate) bad_before_good: u64,
    pub(crate) bad: u64,
    /// Why scanning stopped before the end of the file, if it did.
    pub(crate) stopped: Option<String>,
    pub(crate) file_len: u64,
}

/// Checks the records of `file` from `start` to its end.
pub(crate) fn scan(file: &mut File, start: u64) -> io::Result<Scan> {
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
        let (len, crc) = parse_header(&header);
        if !plausible_len(len) {
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::segment::{SEGMENT_HEADER_LEN, create_segment, segment_name};

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

    #[test]
    fn records_hold_two_bytes_to_sixteen_mebibytes() {
        assert!(matches!(
            Record::new(b"{"),
            Err(Error::RecordSize { len: 1 })
        ));
        let record = Record::new(b"{}").unwrap();
        assert_eq!(record.payload(), b"{}");
        assert_eq!(record.as_bytes(), &frame(b"{}")[..]);
        let big = vec![0u8; MAX_RECORD_LEN as usize + 1];
        assert!(Record::new(&big).is_err());
    }
}
