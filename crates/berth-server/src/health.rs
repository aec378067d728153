//! `health:`: the configuration's checks, run by berth-health.

use std::sync::Arc;

use berth_config::Configuration;
use berth_health::{HealthChecks, HealthError};

/// Starts the checks of `health:` (Distribution's storage driver, file,
/// HTTP and TCP checks); the storage check uses `driver`.
pub(crate) fn start_health_checks(
    config: &Configuration,
    driver: Arc<dyn berth_driver::StorageDriver>,
) -> Result<Arc<HealthChecks>, HealthError> {
    HealthChecks::start(&config.health, driver)
}
