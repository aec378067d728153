//! Plain configuration structs (berth-config maps its YAML onto these).

use std::path::PathBuf;
use std::time::Duration;

use crate::event::{EventsMediaType, SourceRecord};

/// Distribution's default endpoint `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Distribution's default endpoint `threshold`.
pub const DEFAULT_THRESHOLD: u32 = 10;
/// Distribution's default endpoint `backoff`.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// The default bound of each endpoint's queue on disk: 256 MiB (some
/// 300,000 events).
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 256 << 20;

/// The `notifications` section.
#[derive(Debug, Clone)]
pub struct NotificationsOptions {
    /// `notifications.endpoints`.
    pub endpoints: Vec<EndpointOptions>,
    /// `notifications.events.includereferences`: manifest events carry
    /// the manifest's references.
    pub include_references: bool,
    /// Where the durable queues live: one subdirectory per endpoint. Must
    /// be on a local disk and used by one berth process only (a lock file
    /// enforces it).
    pub spool_dir: PathBuf,
    /// The bound of each endpoint's queue, in bytes of queued records.
    /// When an event would exceed it, the oldest queued events are dropped
    /// (counted in [`EndpointStats::dropped`](crate::EndpointStats::dropped)
    /// and logged).
    pub max_queue_bytes: u64,
    /// The envelope's media type (and JSON form).
    pub media_type: EventsMediaType,
    /// This registry instance, put in every event's `source`.
    pub source: SourceRecord,
}

impl NotificationsOptions {
    /// No endpoints, references off, the v2 media type, queues bounded to
    /// [`DEFAULT_MAX_QUEUE_BYTES`] under `spool_dir`, and an empty source.
    pub fn new(spool_dir: impl Into<PathBuf>) -> NotificationsOptions {
        NotificationsOptions {
            endpoints: Vec::new(),
            include_references: false,
            spool_dir: spool_dir.into(),
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            media_type: EventsMediaType::V2,
            source: SourceRecord::default(),
        }
    }

    /// Adds an endpoint.
    pub fn endpoint(mut self, endpoint: EndpointOptions) -> NotificationsOptions {
        self.endpoints.push(endpoint);
        self
    }
}

/// One entry of `notifications.endpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointOptions {
    /// `name`: identifies the endpoint in logs, metrics and the spool
    /// directory. Unique.
    pub name: String,
    /// `disabled`: the endpoint gets no events (and its queue, if any,
    /// stays on disk untouched).
    pub disabled: bool,
    /// `url`: where events are `POST`ed (`http` or `https`).
    pub url: String,
    /// `headers`: sent with every request, each value of a name in order.
    pub headers: Vec<(String, Vec<String>)>,
    /// `timeout` of one request, connect to last byte of the response
    /// (zero: [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// `threshold`: consecutive failures after which each retry waits
    /// `backoff` (zero: [`DEFAULT_THRESHOLD`]).
    pub threshold: u32,
    /// `backoff` (zero: [`DEFAULT_BACKOFF`]).
    pub backoff: Duration,
    /// `ignoredmediatypes` and `ignore.mediatypes` together: events whose
    /// target has one of these media types are not sent to this endpoint.
    pub ignored_media_types: Vec<String>,
    /// `ignore.actions`: events with one of these actions (`push`, `pull`,
    /// `mount`, `delete`) are not sent to this endpoint.
    pub ignore_actions: Vec<String>,
}

impl EndpointOptions {
    /// An enabled endpoint posting to `url`, with Distribution's defaults.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> EndpointOptions {
        EndpointOptions {
            name: name.into(),
            disabled: false,
            url: url.into(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            threshold: DEFAULT_THRESHOLD,
            backoff: DEFAULT_BACKOFF,
            ignored_media_types: Vec::new(),
            ignore_actions: Vec::new(),
        }
    }

    /// The timeout, threshold and backoff with zeros replaced by
    /// Distribution's defaults.
    pub(crate) fn effective(&self) -> (Duration, u32, Duration) {
        let timeout = if self.timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            self.timeout
        };
        let threshold = if self.threshold == 0 {
            DEFAULT_THRESHOLD
        } else {
            self.threshold
        };
        let backoff = if self.backoff.is_zero() {
            DEFAULT_BACKOFF
        } else {
            self.backoff
        };
        (timeout, threshold, backoff)
    }
}
