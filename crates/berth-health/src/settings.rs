//! The `health:` section of a Distribution-style configuration, read with
//! berth-settings into [`HealthOptions`].

use std::time::Duration;

use berth_settings::{Reader, Section, SettingError};
use serde_yaml::Value;

use crate::{DEFAULT_INTERVAL, FileCheck, HealthOptions, HttpCheck, StorageDriverCheck, TcpCheck};

impl HealthOptions {
    /// Reads the `health:` section (an interval of 0 or none is
    /// [`DEFAULT_INTERVAL`]).
    pub fn read(ctx: &mut Reader<'_>, mut o: Section<'_>) -> Result<HealthOptions, SettingError> {
        let mut sd = o.child(ctx, "storagedriver")?;
        let storagedriver = StorageDriverCheck {
            enabled: sd.flag(ctx, "enabled")?,
            interval: interval(ctx, &mut sd)?,
            threshold: sd.unsigned(ctx, "threshold")?.unwrap_or(0),
        };
        sd.finish(ctx);
        let file = o.list(ctx, "file", |ctx, path, value: &Value| {
            let mut c = Section::new(ctx, path, value)?;
            let check = FileCheck {
                file: c.required(ctx, "file", "the path of the file to check")?,
                interval: interval(ctx, &mut c)?,
            };
            c.finish(ctx);
            Ok(check)
        })?;
        let http = o.list(ctx, "http", |ctx, path, value: &Value| {
            let mut c = Section::new(ctx, path, value)?;
            let uri = c.required(ctx, "uri", "the URL to check")?;
            let statuscode = match c.take("statuscode") {
                Some((p, v)) => match ctx.unsigned(&p, v)? {
                    n @ 100..=599 => n as u16,
                    _ => return Err(ctx.invalid(&p, v, "an HTTP status code (100 to 599)")),
                },
                None => 200,
            };
            let check = HttpCheck {
                uri,
                headers: c.headers(ctx, "headers")?,
                statuscode,
                timeout: c.duration(ctx, "timeout")?,
                interval: interval(ctx, &mut c)?,
                threshold: c.unsigned(ctx, "threshold")?.unwrap_or(0),
            };
            c.finish(ctx);
            Ok(check)
        })?;
        let tcp = o.list(ctx, "tcp", |ctx, path, value: &Value| {
            let mut c = Section::new(ctx, path, value)?;
            let check = TcpCheck {
                addr: c.required(ctx, "addr", "the host:port to check")?,
                timeout: c.duration(ctx, "timeout")?,
                interval: interval(ctx, &mut c)?,
                threshold: c.unsigned(ctx, "threshold")?.unwrap_or(0),
            };
            c.finish(ctx);
            Ok(check)
        })?;
        o.finish(ctx);
        Ok(HealthOptions {
            storagedriver,
            file,
            http,
            tcp,
        })
    }
}

fn interval(ctx: &Reader<'_>, o: &mut Section<'_>) -> Result<Duration, SettingError> {
    Ok(o.duration(ctx, "interval")?
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_INTERVAL))
}
