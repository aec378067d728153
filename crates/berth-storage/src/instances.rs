//! Which berth processes are serving a storage: so that maintenance (garbage
//! collection) can refuse to run under a live registry.
//!
//! A serving process writes `/berth/instances/<id>` (outside Distribution's
//! `/docker/registry/v2` tree) and refreshes it every
//! [`HEARTBEAT_INTERVAL`]; it removes it when it stops. An entry whose
//! heartbeat is older than [`STALE_AFTER`] is a process that died without
//! saying so, and is ignored.

use std::time::{Duration, SystemTime};

use berth_core::Result;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Registry, storage_error};

/// How often a serving process refreshes its entry.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// How old a heartbeat may be before its process is presumed gone.
pub const STALE_AFTER: Duration = Duration::from_secs(90);

const DIR: &str = "/berth/instances";

/// What a serving process says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// A random id, also the entry's name.
    pub id: String,
    /// The host name, for the operator.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// Last heartbeat, seconds since the Unix epoch.
    pub heartbeat: u64,
}

impl Instance {
    /// How long ago its last heartbeat was.
    pub fn age(&self) -> Duration {
        let now = unix_now();
        Duration::from_secs(now.saturating_sub(self.heartbeat))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

impl Registry {
    /// Announces (or refreshes) this process as serving the storage;
    /// answers the instance written.
    pub async fn announce_instance(&self, id: &str) -> Result<Instance> {
        let instance = Instance {
            id: id.to_owned(),
            host: host_name(),
            pid: std::process::id(),
            heartbeat: unix_now(),
        };
        let body = serde_json::to_vec(&instance)
            .map_err(|e| berth_core::Error::backend("encode the instance entry", e))?;
        self.driver()
            .put_content(&format!("{DIR}/{id}"), Bytes::from(body))
            .await
            .map_err(storage_error)?;
        Ok(instance)
    }

    /// Removes this process's entry (when it stops serving).
    pub async fn withdraw_instance(&self, id: &str) -> Result<()> {
        match self.driver().delete(&format!("{DIR}/{id}")).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// The processes serving the storage now (heartbeat within
    /// [`STALE_AFTER`]).
    pub async fn live_instances(&self) -> Result<Vec<Instance>> {
        let entries = match self.driver().list(DIR).await {
            Ok(entries) => entries,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(storage_error(e)),
        };
        let mut live = Vec::new();
        for entry in entries {
            let content = match self.driver().get_content(&entry).await {
                Ok(content) => content,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(storage_error(e)),
            };
            if let Ok(instance) = serde_json::from_slice::<Instance>(&content)
                && instance.age() <= STALE_AFTER
            {
                live.push(instance);
            }
        }
        Ok(live)
    }
}
