//! Errors of this crate.

use std::path::PathBuf;

use crate::record::{MAX_RECORD_LEN, MIN_RECORD_LEN};

/// Why a queue could not be opened, or a record not appended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options are not usable.
    #[error("spool: {0}")]
    Invalid(String),

    /// A payload too short or too long to be a record.
    #[error(
        "spool: a record of {len} bytes (records hold {MIN_RECORD_LEN} bytes to {MAX_RECORD_LEN} bytes)"
    )]
    RecordSize {
        /// The payload's length.
        len: u64,
    },

    /// The queue's directory is in use by another process (or another
    /// [`Spool`](crate::Spool) of this one).
    #[error("spool {} is locked by another process", path.display())]
    Locked {
        /// The queue's directory.
        path: PathBuf,
    },

    /// Reading or writing the queue failed.
    #[error("spool {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },

    /// The queue was closed.
    #[error("spool: the queue is closed")]
    Closed,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
