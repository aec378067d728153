//! The crate's error types.

use std::io;
use std::path::PathBuf;

use crate::Challenge;

/// Why [`authorize`](crate::AccessController::authorize) did not grant.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not authorized: answer `401` with the OCI error code `UNAUTHORIZED`
    /// (the requested accesses as its detail) and
    /// [`Challenge::www_authenticate`] as the `WWW-Authenticate` header.
    #[error("unauthorized: {0}")]
    Challenge(Challenge),
    /// The controller could not decide (its htpasswd file cannot be read,
    /// a blocking task failed). Distribution answers a bare
    /// `400 Bad Request` with no body, so nothing about the cause leaks,
    /// and logs the error. The message names no secret.
    #[error("access controller failure: {0}")]
    Internal(String),
}

impl AuthError {
    /// The challenge, if this is one.
    pub fn challenge(&self) -> Option<&Challenge> {
        match self {
            AuthError::Challenge(c) => Some(c),
            AuthError::Internal(_) => None,
        }
    }
}

impl From<Challenge> for AuthError {
    fn from(challenge: Challenge) -> Self {
        AuthError::Challenge(challenge)
    }
}

/// An access controller cannot be built from its options. Each variant
/// names the option by its configuration key (`auth.token.rootcertbundle`)
/// and, for files, the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required option is missing or empty.
    #[error("{option} must be set")]
    Missing {
        /// The option's configuration key.
        option: &'static str,
    },
    /// An option's value cannot be used.
    #[error("{option}: {reason}")]
    Invalid {
        /// The option's configuration key.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// The file an option names cannot be read, created or is not a file.
    #[error("{option}: {}: {source}", path.display())]
    Io {
        /// The option's configuration key.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file an option names was read but its content is not valid.
    #[error("{option}: {}: {reason}", path.display())]
    File {
        /// The option's configuration key.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or entry; never a secret.
        reason: String,
    },
}
