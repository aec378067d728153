//! Durations in the configuration: serde helpers that write them in Go's
//! form (berth-settings' [`ser`](berth_settings::ser)).

pub(crate) use berth_settings::ser;
