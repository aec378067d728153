//! Entry points for the fuzz targets (`fuzz/` at the workspace root):
//! the durable queue's recovery, driven as the delivery loop drives it.
//! Not a stable API: enabled by the `fuzzing` feature only.

use std::path::Path;

use bytes::Bytes;

use crate::spool::{ReadRecord, Spool, frame};

/// A record read back from a spool: its segment, its offset in the
/// segment, and its payload.
pub type Drained = (u64, u64, Vec<u8>);

/// Opens the queue in `dir`, recovering whatever files are there; reads
/// every record as the delivery loop would (a corrupt one is skipped, as
/// delivery skips it), then appends `append` (when given) and reads on
/// until the queue is empty, and closes it. Answers every record read, in
/// order, or what failed. At most `limit` records are read.
pub fn drain(dir: &Path, append: Option<&[u8]>, limit: usize) -> Result<Vec<Drained>, String> {
    let spool = Spool::open(dir, 1 << 20, "fuzz").map_err(|e| e.to_string())?;
    let mut records = Vec::new();
    let result = read_all(&spool, &mut records, limit).and_then(|()| match append {
        None => Ok(()),
        Some(payload) => {
            let receiver = spool.submit(frame(payload)).map_err(|e| e.to_string())?;
            receiver
                .blocking_recv()
                .map_err(|_| "the writer went away".to_owned())?
                .map_err(|e| e.to_string())?;
            read_all(&spool, &mut records, limit)
        }
    });
    spool.close();
    result.map(|()| records)
}

fn read_all(spool: &Spool, records: &mut Vec<Drained>, limit: usize) -> Result<(), String> {
    while records.len() < limit {
        let Some((pos, segment_len)) = spool.next() else {
            return Ok(());
        };
        match spool.read(pos, segment_len).map_err(|e| e.to_string())? {
            ReadRecord::Record { payload, next } => {
                if !spool.complete(pos, next).map_err(|e| e.to_string())? {
                    return Err("a record read was no longer current".into());
                }
                records.push((pos.segment, pos.offset, payload));
            }
            ReadRecord::Corrupt { next, .. } => {
                spool.skip(pos, next).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// The bytes of one record as the spool frames it (length, CRC-32,
/// payload), for building inputs.
pub fn framed(payload: &[u8]) -> Bytes {
    frame(payload)
}
