//! `health:`: the configuration's checks, run by berth-health.

use std::sync::Arc;

use berth_config::Configuration;
use berth_health::{
    FileCheck, HealthChecks, HealthError, HealthOptions, HttpCheck, StorageDriverCheck, TcpCheck,
};

/// Starts the checks of `health:` (Distribution's storage driver, file,
/// HTTP and TCP checks); the storage check uses `driver`.
pub(crate) fn start_health_checks(
    config: &Configuration,
    driver: Arc<dyn berth_driver::StorageDriver>,
) -> Result<Arc<HealthChecks>, HealthError> {
    HealthChecks::start(&health_options(&config.health), driver)
}

/// The configuration's `health:` section as berth-health's options.
fn health_options(health: &berth_config::Health) -> HealthOptions {
    HealthOptions {
        storagedriver: StorageDriverCheck {
            enabled: health.storagedriver.enabled,
            interval: health.storagedriver.interval,
            threshold: health.storagedriver.threshold,
        },
        file: health
            .file
            .iter()
            .map(|file| FileCheck {
                file: file.file.clone(),
                interval: file.interval,
            })
            .collect(),
        http: health
            .http
            .iter()
            .map(|http| HttpCheck {
                uri: http.uri.clone(),
                headers: http.headers.0.clone(),
                statuscode: http.statuscode,
                timeout: http.timeout,
                interval: http.interval,
                threshold: http.threshold,
            })
            .collect(),
        tcp: health
            .tcp
            .iter()
            .map(|tcp| TcpCheck {
                addr: tcp.addr.clone(),
                timeout: tcp.timeout,
                interval: tcp.interval,
                threshold: tcp.threshold,
            })
            .collect(),
    }
}
