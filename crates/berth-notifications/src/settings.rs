//! The `notifications:` section of a Distribution-style configuration:
//! this crate's settings, read with berth-settings, and the
//! [`NotificationsOptions`] they give.

use std::path::PathBuf;
use std::time::Duration;

use berth_settings::{Headers, Reader, Section, SettingError};
use serde::Serialize;
use serde_yaml::Value;

use crate::{EndpointOptions, EventsMediaType, NotificationsOptions, SourceRecord};

/// An endpoint's `timeout` default.
pub const DEFAULT_ENDPOINT_TIMEOUT: Duration = crate::DEFAULT_TIMEOUT;
/// An endpoint's `threshold` default.
pub const DEFAULT_ENDPOINT_THRESHOLD: u64 = crate::DEFAULT_THRESHOLD as u64;
/// An endpoint's `backoff` default.
pub const DEFAULT_ENDPOINT_BACKOFF: Duration = crate::DEFAULT_BACKOFF;
/// `notifications.spool.maxbytes` default: 256 MiB per endpoint.
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = crate::DEFAULT_MAX_QUEUE_BYTES;

/// `notifications:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Notifications {
    /// `events`.
    pub events: Events,
    /// `endpoints`: where events are posted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// `spool` (berth): the durable event queues.
    pub spool: Spool,
}

/// `notifications.spool` (berth): where events wait until delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spool {
    /// `directory`: on local disk, one subdirectory per endpoint. Not set:
    /// `<rootdirectory>/berth/notifications` with filesystem storage,
    /// else `/var/lib/berth/notifications`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// `maxbytes`: the bound of each endpoint's queue; when full, the
    /// oldest events are dropped. Default 256 MiB.
    pub maxbytes: u64,
}

impl Default for Spool {
    fn default() -> Spool {
        Spool {
            directory: None,
            maxbytes: DEFAULT_SPOOL_MAX_BYTES,
        }
    }
}

/// `notifications.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Events {
    /// `includereferences`: list a manifest's references in its events.
    /// Default false.
    pub includereferences: bool,
    /// `mediatype` (berth): the envelope's media type, `v2` (default,
    /// `application/vnd.docker.distribution.events.v2+json`) or `v1` for
    /// consumers written for Distribution 2.x.
    pub mediatype: String,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            includereferences: false,
            mediatype: "v2".to_owned(),
        }
    }
}

/// One of `notifications.endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// `name`: names the endpoint in logs and metrics.
    pub name: String,
    /// `disabled`: keep the entry but send nothing. Default false.
    pub disabled: bool,
    /// `url`: where events are POSTed; required unless disabled.
    pub url: String,
    /// `headers`: added to each request (an `Authorization` header's
    /// values are masked by a configuration dump (`Headers::mask`)).
    #[serde(skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
    /// `timeout`: per request. Default (and when 0) 1s.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub timeout: Duration,
    /// `threshold`: failures before backing off. Default (and when 0) 10.
    pub threshold: u64,
    /// `backoff`: wait after `threshold` failures. Default (and when 0) 1s.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub backoff: Duration,
    /// `ignoredmediatypes`: events about these media types are not sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignoredmediatypes: Vec<String>,
    /// `ignore`.
    pub ignore: Ignore,
}

/// An endpoint's `ignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ignore {
    /// `mediatypes`: events about these media types are not sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mediatypes: Vec<String>,
    /// `actions`: events with these actions (`pull`, `push`, `mount`,
    /// `delete`) are not sent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

impl Notifications {
    /// Reads the `notifications:` section.
    pub fn read(ctx: &mut Reader<'_>, mut o: Section<'_>) -> Result<Notifications, SettingError> {
        let mut events = o.child(ctx, "events")?;
        let includereferences = events.flag(ctx, "includereferences")?;
        let mediatype = match events.take("mediatype") {
            None => "v2".to_owned(),
            Some((p, v)) => match ctx.string(&p, v)?.to_ascii_lowercase().as_str() {
                "v2" | "application/vnd.docker.distribution.events.v2+json" => "v2".to_owned(),
                "v1" | "application/vnd.docker.distribution.events.v1+json" => "v1".to_owned(),
                _ => {
                    return Err(ctx.invalid(
                        &p,
                        v,
                        "v2 or v1 (application/vnd.docker.distribution.events.v2+json or v1+json)",
                    ));
                }
            },
        };
        events.finish(ctx);
        let endpoints = o.list(ctx, "endpoints", read_endpoint)?;
        let mut names = std::collections::BTreeSet::new();
        for (i, e) in endpoints.iter().enumerate() {
            if !names.insert(e.name.as_str()) {
                return Err(ctx.invalid(
                    &format!("notifications.endpoints[{i}].name"),
                    &Value::String(e.name.clone()),
                    "a name no other endpoint has (it names the endpoint's queue)",
                ));
            }
        }
        let mut spool = o.child(ctx, "spool")?;
        let spool_section = Spool {
            directory: spool.non_empty(ctx, "directory")?,
            maxbytes: match spool.take("maxbytes") {
                None => DEFAULT_SPOOL_MAX_BYTES,
                Some((p, v)) => match ctx.unsigned(&p, v)? {
                    0 => return Err(ctx.invalid(&p, v, "a number of bytes above 0")),
                    n => n,
                },
            },
        };
        spool.finish(ctx);
        o.finish(ctx);
        Ok(Notifications {
            events: Events {
                includereferences,
                mediatype,
            },
            endpoints,
            spool: spool_section,
        })
    }

    /// Whether any endpoint is enabled (else there is nothing to start).
    pub fn any_enabled(&self) -> bool {
        self.endpoints.iter().any(|e| !e.disabled)
    }

    /// The notifier's options: these settings, with the queues under
    /// `spool_dir` and `source` in every event.
    pub fn options(&self, spool_dir: PathBuf, source: SourceRecord) -> NotificationsOptions {
        NotificationsOptions {
            endpoints: self
                .endpoints
                .iter()
                .map(|e| EndpointOptions {
                    name: e.name.clone(),
                    disabled: e.disabled,
                    url: e.url.clone(),
                    headers: e.headers.0.clone(),
                    timeout: e.timeout,
                    threshold: u32::try_from(e.threshold).unwrap_or(u32::MAX),
                    backoff: e.backoff,
                    ignored_media_types: e
                        .ignoredmediatypes
                        .iter()
                        .chain(&e.ignore.mediatypes)
                        .cloned()
                        .collect(),
                    ignore_actions: e.ignore.actions.clone(),
                })
                .collect(),
            include_references: self.events.includereferences,
            spool_dir,
            max_queue_bytes: self.spool.maxbytes,
            media_type: EventsMediaType::parse(&self.events.mediatype).unwrap_or_default(),
            source,
        }
    }
}

/// One of `notifications.endpoints`.
fn read_endpoint(
    ctx: &mut Reader<'_>,
    path: &str,
    value: &Value,
) -> Result<Endpoint, SettingError> {
    let mut o = Section::new(ctx, path, value)?;
    let disabled = o.flag(ctx, "disabled")?;
    let url = o.non_empty(ctx, "url")?;
    let url = match url {
        Some(url) => url,
        None if disabled => String::new(),
        None => return Err(ctx.missing(&o.key_path("url"), "the URL events are posted to")),
    };
    let mut ignore = o.child(ctx, "ignore")?;
    let endpoint = Endpoint {
        name: o.string(ctx, "name")?.unwrap_or_default(),
        disabled,
        url,
        headers: o.headers(ctx, "headers")?,
        timeout: nonzero(o.duration(ctx, "timeout")?).unwrap_or(DEFAULT_ENDPOINT_TIMEOUT),
        threshold: o
            .unsigned(ctx, "threshold")?
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_ENDPOINT_THRESHOLD),
        backoff: nonzero(o.duration(ctx, "backoff")?).unwrap_or(DEFAULT_ENDPOINT_BACKOFF),
        ignoredmediatypes: o.strings(ctx, "ignoredmediatypes")?,
        ignore: Ignore {
            mediatypes: ignore.strings(ctx, "mediatypes")?,
            actions: ignore.strings(ctx, "actions")?,
        },
    };
    ignore.finish(ctx);
    o.finish(ctx);
    Ok(endpoint)
}

/// Distribution treats a zero duration here as not set.
fn nonzero(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}
