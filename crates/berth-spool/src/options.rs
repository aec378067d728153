//! The queue's settings.

use serde::{Deserialize, Serialize};

/// The default bound of a queue: 256 MiB of records.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// How a queue is opened.
///
/// ```
/// let options: berth_spool::SpoolOptions =
///     serde_json::from_str(r#"{"max_bytes": 1048576, "name": "hook"}"#)?;
/// assert_eq!(options, berth_spool::SpoolOptions::new(1 << 20).name("hook"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolOptions {
    /// The bound on the bytes of unacknowledged records (headers
    /// included). An append that passes it drops the oldest records until
    /// the queue fits again, keeping at least the newest. Must be
    /// positive. A segment file is started each time the last one reaches
    /// an eighth of this (at least 64 KiB, at most 64 MiB).
    pub max_bytes: u64,
    /// What the queue is called in logs (the `queue` field).
    pub name: String,
}

impl Default for SpoolOptions {
    fn default() -> SpoolOptions {
        SpoolOptions::new(DEFAULT_MAX_BYTES)
    }
}

impl SpoolOptions {
    /// Options with the bound `max_bytes` and no name.
    pub fn new(max_bytes: u64) -> SpoolOptions {
        SpoolOptions {
            max_bytes,
            name: String::new(),
        }
    }

    /// Sets the name the queue has in logs.
    pub fn name(mut self, name: impl Into<String>) -> SpoolOptions {
        self.name = name.into();
        self
    }

    /// The size at which appends move to a new segment.
    pub(crate) fn segment_target(&self) -> u64 {
        (self.max_bytes / 8).clamp(64 << 10, 64 << 20)
    }
}
