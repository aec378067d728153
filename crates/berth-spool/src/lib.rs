//! A durable append-only queue of byte records on local disk, for what
//! must survive `kill -9`: checksummed records in segment files,
//! group-committed appends, a crash-safe cursor, recovery at open.
//!
//! ```
//! use berth_spool::{ReadRecord, Record, Spool, SpoolOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let spool = Spool::open(dir.path(), SpoolOptions::new(64 << 20).name("example"))?;
//!
//! // An append is durable once its commit resolves (await it in async
//! // code; `wait` blocks).
//! spool.append(&Record::new(b"first")?)?.wait()?;
//! spool.append(&Record::new(b"second")?)?.wait()?;
//! assert_eq!(spool.stats().pending, 2);
//!
//! // Read from the cursor in order, acknowledging each record once it is
//! // handled (until then it is read again after a restart).
//! let mut read = Vec::new();
//! while let Some(head) = spool.next() {
//!     match spool.read(head)? {
//!         ReadRecord::Record { payload, next } => {
//!             read.push(payload);
//!             spool.acknowledge(head.position(), next)?;
//!         }
//!         ReadRecord::Corrupt { next, .. } => spool.skip(head.position(), next)?,
//!     }
//! }
//! assert_eq!(read, [b"first".to_vec(), b"second".to_vec()]);
//! spool.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Guarantees
//!
//! - [`Spool::append`] answers (its [`Commit`] resolves) only once the
//!   record is on disk (`fdatasync`). Appends waiting together are
//!   written with one `write` and one `fdatasync` by the queue's writer
//!   thread (group commit).
//! - Records are read in append order, from the cursor. A record
//!   acknowledged is not read again after a crash of the process; after a
//!   power loss, those acknowledged in the last 100 ms may be (at least
//!   once).
//! - The queue is bounded ([`SpoolOptions::max_bytes`]): an append that
//!   passes the bound drops the oldest unacknowledged records (never the
//!   newest), counted in [`SpoolStats::dropped`]. Appends are never
//!   refused or slowed by a full queue.
//! - [`Spool::open`] recovers whatever a crash left: a torn or corrupt
//!   tail of the last segment is cut off (such records were never
//!   acknowledged to an appender); a record with a wrong checksum before
//!   valid ones is reported by [`Spool::read`] as
//!   [`ReadRecord::Corrupt`], to [`skip`](Spool::skip).
//! - One process at a time: the directory is locked (`flock`) while open.
//!
//! # Files
//!
//! In the queue's directory:
//!
//! - `LOCK`: held with `flock(LOCK_EX)` while a process owns the queue.
//! - `<seq>.seg` (16 lower-case hex digits): a 16-byte header (`BRTHEVQ1`,
//!   version 1 as a little-endian u32, 4 reserved bytes) then records:
//!   payload length (u32 LE), CRC-32 (IEEE) of the payload (u32 LE), the
//!   payload ([`MIN_RECORD_LEN`] to [`MAX_RECORD_LEN`] bytes). A new
//!   segment is started when the last reaches an eighth of the bound (64
//!   KiB to 64 MiB); a segment is removed once all its records are
//!   acknowledged or dropped.
//! - `cursor`: two 32-byte slots, written alternately: magic `BCUR`,
//!   CRC-32 of bytes 8..32, generation (u64), segment (u64), offset (u64),
//!   all little-endian. The valid slot with the highest generation says
//!   where the first unacknowledged record starts. It is written after
//!   each acknowledgement, synced at most every 100 ms (and on close).

#![deny(missing_docs)]
#![deny(unsafe_code)] // but for flock(2) in `lock`: `File::try_lock` needs Rust 1.89

mod cursor;
mod error;
mod lock;
mod options;
mod queue;
mod record;
mod recover;
mod segment;
mod writer;

pub use cursor::Position;
pub use error::Error;
pub use options::{DEFAULT_MAX_BYTES, SpoolOptions};
pub use queue::{Commit, Head, ReadRecord, Spool, SpoolStats};
pub use record::{MAX_RECORD_LEN, MIN_RECORD_LEN, RECORD_HEADER_LEN, Record};
pub use segment::SEGMENT_HEADER_LEN;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
