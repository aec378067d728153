//! The `storage.maintenance` section of a Distribution-style
//! configuration: what runs beside the requests (upload purging, and
//! berth's online garbage collection) and read-only mode; read with
//! berth-settings.

use std::time::Duration;

use berth_settings::{Reader, Section, SettingError};
use serde::Serialize;

/// `storage.maintenance.uploadpurging.age`'s default: one week.
pub const DEFAULT_UPLOAD_PURGING_AGE: Duration = Duration::from_secs(168 * 3600);
/// `storage.maintenance.uploadpurging.interval`'s default: a day.
pub const DEFAULT_UPLOAD_PURGING_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// `storage.maintenance.gc.interval`'s default: a day.
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(24 * 3600);
/// `storage.maintenance.gc.delay`'s default: an hour.
pub const DEFAULT_GC_DELAY: Duration = Duration::from_secs(3600);

/// `storage.maintenance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Maintenance {
    /// `uploadpurging`.
    pub uploadpurging: UploadPurging,
    /// `readonly`.
    pub readonly: ReadOnly,
    /// `gc` (berth's): garbage collection while serving.
    pub gc: Gc,
}

/// `storage.maintenance.gc`: garbage collection inside `berth serve`, and
/// the grace period every collection of this storage respects (also
/// `berth garbage-collect`'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gc {
    /// `enabled`: run collections on a schedule. Default false.
    pub enabled: bool,
    /// `interval`: between runs; the first comes one interval after
    /// start. Default 24h.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub interval: Duration,
    /// `delay`: the grace period. What a node uploaded, linked, mounted or
    /// found by `HEAD` within it stays, with what it needs. Default 1h.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub delay: Duration,
    /// `deleteuntagged`: also remove the manifests no tag reaches
    /// (children of a kept index and referrers of a kept manifest are
    /// reached). Default false.
    pub deleteuntagged: bool,
}

impl Default for Gc {
    fn default() -> Gc {
        Gc {
            enabled: false,
            interval: DEFAULT_GC_INTERVAL,
            delay: DEFAULT_GC_DELAY,
            deleteuntagged: false,
        }
    }
}

/// `storage.maintenance.uploadpurging`: removing abandoned uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadPurging {
    /// `enabled`: default true.
    pub enabled: bool,
    /// `age`: uploads older than this are removed. Default 168h.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub age: Duration,
    /// `interval`: how often to look. Default 24h.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub interval: Duration,
    /// `dryrun`: only log what would be removed. Default false.
    pub dryrun: bool,
}

impl Default for UploadPurging {
    fn default() -> UploadPurging {
        UploadPurging {
            enabled: true,
            age: DEFAULT_UPLOAD_PURGING_AGE,
            interval: DEFAULT_UPLOAD_PURGING_INTERVAL,
            dryrun: false,
        }
    }
}

/// `storage.maintenance.readonly`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadOnly {
    /// `enabled`: refuse every write (pushes, deletes). Default false.
    pub enabled: bool,
}

impl Maintenance {
    /// Reads the `storage.maintenance` section.
    pub fn read(ctx: &mut Reader<'_>, mut o: Section<'_>) -> Result<Maintenance, SettingError> {
        let mut m = Maintenance::default();
        let mut purge = o.child(ctx, "uploadpurging")?;
        if let Some(enabled) = purge.boolean(ctx, "enabled")? {
            m.uploadpurging.enabled = enabled;
        }
        if let Some(age) = purge.duration(ctx, "age")? {
            m.uploadpurging.age = age;
        }
        if let Some(interval) = purge.duration(ctx, "interval")? {
            m.uploadpurging.interval = interval;
        }
        m.uploadpurging.dryrun = purge.flag(ctx, "dryrun")?;
        purge.finish(ctx);
        let mut readonly = o.child(ctx, "readonly")?;
        m.readonly.enabled = readonly.flag(ctx, "enabled")?;
        readonly.finish(ctx);
        let mut gc = o.child(ctx, "gc")?;
        m.gc.enabled = gc.flag(ctx, "enabled")?;
        if let Some(interval) = gc.duration(ctx, "interval")? {
            m.gc.interval = interval;
        }
        if let Some(delay) = gc.duration(ctx, "delay")? {
            m.gc.delay = delay;
        }
        m.gc.deleteuntagged = gc.flag(ctx, "deleteuntagged")?;
        gc.finish(ctx);
        if m.gc.enabled && m.gc.interval.is_zero() {
            return Err(SettingError::Invalid {
                at: ctx.at("storage.maintenance.gc.interval"),
                value: "\"0s\"".to_owned(),
                expected: "a duration above zero while garbage collection is enabled".to_owned(),
            });
        }
        o.finish(ctx);
        Ok(m)
    }
}
