//! Driver errors.

/// A boxed backend error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of driver operations.
pub type Result<T, E = DriverError> = std::result::Result<T, E>;

/// What a storage driver operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// Nothing is stored at the path.
    #[error("{driver}: path not found: {path}")]
    PathNotFound {
        /// The driver's name.
        driver: &'static str,
        /// The path asked for.
        path: String,
    },

    /// The path breaks the storage path rules (see [`validate_path`](crate::validate_path)).
    #[error("invalid storage path {path:?}: {reason}")]
    InvalidPath {
        /// The path (shortened).
        path: String,
        /// The rule it breaks.
        reason: &'static str,
    },

    /// A read or write offset past what is stored.
    #[error("{driver}: invalid offset {offset} for {path}")]
    InvalidOffset {
        /// The driver's name.
        driver: &'static str,
        /// The path.
        path: String,
        /// The offset asked for.
        offset: u64,
    },

    /// The driver cannot do this.
    #[error("{driver}: unsupported operation: {operation}")]
    Unsupported {
        /// The driver's name.
        driver: &'static str,
        /// The operation.
        operation: &'static str,
    },

    /// The backend failed.
    #[error("{driver}: {operation} {path}: {source}")]
    Backend {
        /// The driver's name.
        driver: &'static str,
        /// The operation (`get_content`, `move`, `PutObject`, …).
        operation: &'static str,
        /// The path or key it was working on.
        path: String,
        /// The backend's error.
        source: BoxError,
    },
}

impl DriverError {
    /// Whether this is [`DriverError::PathNotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, DriverError::PathNotFound { .. })
    }

    /// A [`DriverError::PathNotFound`].
    pub fn not_found(driver: &'static str, path: &str) -> DriverError {
        DriverError::PathNotFound {
            driver,
            path: path.to_owned(),
        }
    }

    /// A [`DriverError::Backend`].
    pub fn backend(
        driver: &'static str,
        operation: &'static str,
        path: &str,
        source: impl Into<BoxError>,
    ) -> DriverError {
        DriverError::Backend {
            driver,
            operation,
            path: path.to_owned(),
            source: source.into(),
        }
    }
}

/// Shortens a path for an error message.
pub(crate) fn shorten(s: &str) -> String {
    const QUOTE: usize = 200;
    match s.char_indices().nth(QUOTE) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}
