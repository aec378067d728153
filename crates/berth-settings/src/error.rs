//! What can be wrong with a setting.

use std::fmt;

/// Where a bad value sits: its key path in the configuration
/// (`storage.delete.enabled`, `notifications.endpoints[0].url`) and, when
/// a `REGISTRY_*` environment variable set it, that variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The full key path, dot-separated, with list indices in brackets.
    pub key: String,
    /// The environment variable that set the value (or a section holding
    /// it), if one did.
    pub env: Option<String>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.env {
            Some(var) => write!(f, "{} (set by {var})", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// A setting that cannot be used. Each message names the key (and the
/// environment variable, if one set it), the bad value and what is
/// allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// A required key is missing.
    #[error("{at}: missing: expected {expected}")]
    Missing {
        /// The missing key.
        at: Location,
        /// What it should hold.
        expected: String,
    },
    /// A value of the wrong type or out of range.
    #[error("{at}: {value} is not valid: expected {expected}")]
    Invalid {
        /// The key.
        at: Location,
        /// The bad value, as written (strings quoted).
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// A section that takes one of several kinds (one access controller,
    /// one storage driver) names more than one.
    #[error("{section}: more than one {what} configured ({}): expected exactly one of {expected}", chosen.join(", "))]
    SeveralKinds {
        /// The section (`auth`).
        section: String,
        /// What it chooses (`access controller`).
        what: String,
        /// The kinds named, in the file's order.
        chosen: Vec<String>,
        /// The kinds there are (`htpasswd, silly, token`).
        expected: String,
    },
    /// A section names a kind there is not.
    #[error("{at}: unknown {what} {name:?}: expected one of {expected}")]
    UnknownKind {
        /// The kind's key.
        at: Location,
        /// What it chooses (`access controller`).
        what: String,
        /// The kind named.
        name: String,
        /// The kinds there are.
        expected: String,
    },
    /// A value that needs another key which is not set.
    #[error("{at}: {value} needs {needs}")]
    Requires {
        /// The key.
        at: Location,
        /// Its value, as written.
        value: String,
        /// What else must be configured.
        needs: String,
    },
}
