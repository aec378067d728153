//! `health:`: Distribution's storage driver, file, HTTP and TCP checks.

use std::sync::Arc;
use std::time::Duration;

use berth_config::Configuration;

/// Starts the checks of `health:` (Distribution's storage driver, file,
/// HTTP and TCP checks).
pub(crate) fn start_health_checks(
    config: &Configuration,
    health: &Arc<berth_handlers::HealthChecks>,
    driver: Arc<dyn berth_driver::StorageDriver>,
) -> Result<(), String> {
    let checks = &config.health;
    if checks.storagedriver.enabled {
        health.spawn(
            "storagedriver",
            checks.storagedriver.interval,
            checks.storagedriver.threshold,
            berth_handlers::storage_check(driver),
        );
    }
    for file in &checks.file {
        health.spawn(
            &format!("file:{}", file.file),
            file.interval,
            1,
            berth_handlers::file_check(file.file.clone()),
        );
    }
    for tcp in &checks.tcp {
        health.spawn(
            &format!("tcp:{}", tcp.addr),
            tcp.interval,
            tcp.threshold,
            berth_handlers::tcp_check(
                tcp.addr.clone(),
                tcp.timeout.unwrap_or(Duration::from_secs(5)),
            ),
        );
    }
    for http in &checks.http {
        // Distribution waits without a limit when `timeout` is unset;
        // berth gives up after the check's interval.
        let check = berth_handlers::http_check(
            http.uri.clone(),
            http.headers.0.clone(),
            http.statuscode,
            http.timeout.unwrap_or(http.interval),
        )?;
        health.spawn(
            &format!("http:{}", http.uri),
            http.interval,
            http.threshold,
            check,
        );
    }
    Ok(())
}
