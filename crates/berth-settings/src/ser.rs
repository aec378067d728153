//! Serde helpers for settings types: durations written in Go's form
//! (`1m30s`), as Distribution's configuration writes them.

use std::time::Duration;

use serde::Serializer;

/// Writes a duration as a Go duration string.
pub fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&berth_duration::GoDuration(*d))
}

/// Writes an optional duration as a Go duration string, or none.
pub fn option<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&berth_duration::GoDuration(*d)),
        None => s.serialize_none(),
    }
}
