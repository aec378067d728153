//! The checks to run, as Distribution's `health:` section lists them.

use std::time::Duration;

use berth_settings::Headers;
use serde::Serialize;

/// Distribution's default interval of a check (10 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// How long a TCP check waits for its connection when no timeout is set.
pub const DEFAULT_TCP_TIMEOUT: Duration = Duration::from_secs(5);

/// `health:`: the checks whose failures make the registry unhealthy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthOptions {
    /// `storagedriver`: the storage driver answers and accepts writes.
    pub storagedriver: StorageDriverCheck,
    /// `file`: unhealthy while a file exists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file: Vec<FileCheck>,
    /// `http`: unhealthy while a URL does not answer with a status.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpCheck>,
    /// `tcp`: unhealthy while an address does not accept connections.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpCheck>,
}

/// `health.storagedriver`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageDriverCheck {
    /// `enabled`: check the storage driver. Default false.
    pub enabled: bool,
    /// `interval`: between two checks. Default [`DEFAULT_INTERVAL`].
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub interval: Duration,
    /// `threshold`: failures in a row before unhealthy; 0 counts as one.
    pub threshold: u64,
}

impl Default for StorageDriverCheck {
    fn default() -> StorageDriverCheck {
        StorageDriverCheck {
            enabled: false,
            interval: DEFAULT_INTERVAL,
            threshold: 0,
        }
    }
}

/// One of `health.file`: unhealthy while the file exists (one failure is
/// enough).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCheck {
    /// `file`: the path.
    pub file: String,
    /// `interval`: between two checks.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub interval: Duration,
}

/// One of `health.http`: a `HEAD` of the URI must answer the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpCheck {
    /// `uri`: the URL.
    pub uri: String,
    /// `headers`: sent with the request, each name with its values.
    #[serde(skip_serializing_if = "Headers::is_empty")]
    pub headers: Headers,
    /// `statuscode`: the status expected (Distribution's default: 200).
    pub statuscode: u16,
    /// `timeout`: for the whole request. Distribution waits without a
    /// limit when it is not set; berth gives up after the `interval`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub timeout: Option<Duration>,
    /// `interval`: between two checks.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub interval: Duration,
    /// `threshold`: failures in a row before unhealthy; 0 counts as one.
    pub threshold: u64,
}

/// One of `health.tcp`: the address must accept a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TcpCheck {
    /// `addr`: `host:port`.
    pub addr: String,
    /// `timeout`: to connect; not set: [`DEFAULT_TCP_TIMEOUT`].
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub timeout: Option<Duration>,
    /// `interval`: between two checks.
    #[serde(serialize_with = "berth_settings::ser::duration")]
    pub interval: Duration,
    /// `threshold`: failures in a row before unhealthy; 0 counts as one.
    pub threshold: u64,
}
