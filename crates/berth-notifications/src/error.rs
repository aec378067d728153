//! Errors of this crate.

use std::path::PathBuf;

/// Why the notifier could not start, or an event could not be queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not usable.
    #[error("notifications: {0}")]
    Invalid(String),

    /// The spool directory of an endpoint is in use by another process.
    #[error(
        "notifications spool {} is locked by another process (each berth process needs its own spool directory)",
        path.display()
    )]
    Locked {
        /// The endpoint's spool directory.
        path: PathBuf,
    },

    /// Reading or writing the spool failed.
    #[error("notifications spool {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },

    /// The notifier was shut down.
    #[error("notifications: the notifier is shut down")]
    Closed,
}

impl From<berth_spool::Error> for Error {
    fn from(e: berth_spool::Error) -> Error {
        match e {
            berth_spool::Error::Locked { path } => Error::Locked { path },
            berth_spool::Error::Io { path, source } => Error::Io { path, source },
            berth_spool::Error::Closed => Error::Closed,
            berth_spool::Error::Invalid(message) => Error::Invalid(message),
            other => Error::Invalid(other.to_string()),
        }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
