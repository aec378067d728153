//! Durations in the configuration: parsed and written by `berth-duration`
//! (Go's `time.ParseDuration` form); serde helpers that write them so.

/// Serde helpers: durations serialize as Go duration strings.
pub(crate) mod ser {
    use std::time::Duration;

    use serde::Serializer;

    pub(crate) fn duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&berth_duration::GoDuration(*d))
    }

    pub(crate) fn option<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.collect_str(&berth_duration::GoDuration(*d)),
            None => s.serialize_none(),
        }
    }
}
