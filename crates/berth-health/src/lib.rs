//! Health checks of the berth registry, as Distribution's `health:`
//! section configures them.
//!
//! Each check runs in the background on its own interval; a check counts
//! as failing after `threshold` consecutive failures (Distribution's
//! semantics), and passes again at its first success. [`HealthChecks`]
//! keeps every check's state; [`HealthChecks::failing`] is what the debug
//! server's `/debug/health` reports (200 `{}` when it is empty, else 503
//! with each failing check and its error).
//!
//! The checks: the storage driver ([`storage_check`]: it answers and
//! accepts a write), a file that must not exist ([`file_check`]: an
//! operator's maintenance switch), a TCP service that accepts connections
//! ([`tcp_check`]) and an HTTP service that answers a `HEAD` with the
//! expected status ([`http_check`]). [`HealthChecks::start`] starts those
//! a [`HealthOptions`] lists; [`HealthChecks::spawn`] runs any other
//! [`CheckFn`].
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use berth_driver::InMemoryDriver;
//! use berth_health::{FileCheck, HealthChecks, HealthOptions, StorageDriverCheck};
//!
//! # let dir = tempfile::tempdir()?;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let maintenance = dir.path().join("maintenance");
//! let options = HealthOptions {
//!     storagedriver: StorageDriverCheck { enabled: true, ..Default::default() },
//!     file: vec![FileCheck {
//!         file: maintenance.display().to_string(),
//!         interval: Duration::from_millis(100),
//!     }],
//!     ..Default::default()
//! };
//! let health = HealthChecks::start(&options, Arc::new(InMemoryDriver::new()))?;
//! tokio::time::sleep(Duration::from_millis(50)).await;
//! assert!(health.failing().is_empty());
//!
//! std::fs::write(&maintenance, "")?; // the operator takes the node out
//! tokio::time::sleep(Duration::from_millis(200)).await;
//! let failing = health.failing();
//! assert_eq!(failing.keys().collect::<Vec<_>>(), [&format!("file:{}", maintenance.display())]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod checks;
mod options;
mod settings;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use berth_driver::StorageDriver;

pub use checks::{
    CheckFn, CheckResult, STORAGE_PROBE, file_check, http_check, storage_check, tcp_check,
};
pub use options::{
    DEFAULT_INTERVAL, DEFAULT_TCP_TIMEOUT, FileCheck, HealthOptions, HttpCheck, StorageDriverCheck,
    TcpCheck,
};

/// A check that cannot be set up (today only HTTP checks can fail so).
#[derive(Debug, thiserror::Error)]
#[error("health.http {uri}: {message}")]
pub struct HealthError {
    uri: String,
    message: String,
}

impl HealthError {
    fn http(uri: &str, message: impl ToString) -> HealthError {
        HealthError {
            uri: uri.to_owned(),
            message: message.to_string(),
        }
    }

    /// The URI of the HTTP check.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

/// The shortest interval between two runs of a check.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Clone)]
struct Status {
    consecutive_failures: u64,
    last_error: Option<String>,
    threshold: u64,
}

/// The registry of health checks and their last outcomes.
#[derive(Debug, Default)]
pub struct HealthChecks {
    status: Mutex<BTreeMap<String, Status>>,
}

impl HealthChecks {
    /// No checks yet.
    pub fn new() -> Arc<HealthChecks> {
        Arc::new(HealthChecks::default())
    }

    /// Starts the checks `options` lists (on the current tokio runtime),
    /// named as Distribution names them: `storagedriver`, `file:<path>`,
    /// `http:<uri>`, `tcp:<addr>`. The storage check uses `driver`.
    ///
    /// # Errors
    /// An HTTP check cannot be set up ([`http_check`]); then no check is
    /// started.
    pub fn start(
        options: &HealthOptions,
        driver: Arc<dyn StorageDriver>,
    ) -> Result<Arc<HealthChecks>, HealthError> {
        let http = options
            .http
            .iter()
            .map(|http| {
                let check = http_check(
                    http.uri.clone(),
                    http.headers.0.clone(),
                    http.statuscode,
                    http.timeout.unwrap_or(http.interval),
                )?;
                Ok((http, check))
            })
            .collect::<Result<Vec<_>, HealthError>>()?;
        let health = HealthChecks::new();
        let storage = &options.storagedriver;
        if storage.enabled {
            health.spawn(
                "storagedriver",
                storage.interval,
                storage.threshold,
                storage_check(driver),
            );
        }
        for file in &options.file {
            health.spawn(
                &format!("file:{}", file.file),
                file.interval,
                1,
                file_check(file.file.clone()),
            );
        }
        for tcp in &options.tcp {
            health.spawn(
                &format!("tcp:{}", tcp.addr),
                tcp.interval,
                tcp.threshold,
                tcp_check(tcp.addr.clone(), tcp.timeout.unwrap_or(DEFAULT_TCP_TIMEOUT)),
            );
        }
        for (http, check) in http {
            health.spawn(
                &format!("http:{}", http.uri),
                http.interval,
                http.threshold,
                check,
            );
        }
        Ok(health)
    }

    /// Runs `check` now and then every `interval` (at least
    /// [`MIN_INTERVAL`]) on the current tokio runtime; it fails the
    /// health endpoint after `threshold` (at least 1) failures in a row.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(self: &Arc<Self>, name: &str, interval: Duration, threshold: u64, check: CheckFn) {
        let threshold = threshold.max(1);
        self.lock().insert(
            name.to_owned(),
            Status {
                threshold,
                ..Status::default()
            },
        );
        let checks = self.clone();
        let name = name.to_owned();
        let interval = interval.max(MIN_INTERVAL);
        tokio::spawn(async move {
            loop {
                let outcome = check().await;
                checks.record(&name, outcome);
                tokio::time::sleep(interval).await;
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Status>> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records one outcome of the check `name`.
    fn record(&self, name: &str, outcome: CheckResult) {
        let mut status = self.lock();
        let entry = status.entry(name.to_owned()).or_default();
        match outcome {
            Ok(()) => {
                entry.consecutive_failures = 0;
                entry.last_error = None;
            }
            Err(e) => {
                if entry.consecutive_failures == 0 || entry.last_error.as_deref() != Some(&e) {
                    tracing::warn!(check = name, error = %e, "health check failed");
                }
                entry.consecutive_failures += 1;
                entry.last_error = Some(e);
            }
        }
    }

    /// The failing checks and their errors.
    pub fn failing(&self) -> BTreeMap<String, String> {
        self.lock()
            .iter()
            .filter(|(_, s)| s.consecutive_failures >= s.threshold)
            .map(|(name, s)| (name.clone(), s.last_error.clone().unwrap_or_default()))
            .collect()
    }
}

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_fails_after_threshold_failures_in_a_row() {
        let health = HealthChecks::new();
        health.lock().insert(
            "tcp:db:5432".into(),
            Status {
                threshold: 2,
                ..Status::default()
            },
        );
        health.record("tcp:db:5432", Err("refused".into()));
        assert!(health.failing().is_empty());
        health.record("tcp:db:5432", Err("refused again".into()));
        assert_eq!(
            health.failing().get("tcp:db:5432").map(String::as_str),
            Some("refused again")
        );
        health.record("tcp:db:5432", Ok(()));
        assert!(health.failing().is_empty());
    }

    #[tokio::test]
    async fn storage_check_writes_and_removes_its_probe() {
        let driver = Arc::new(berth_driver::InMemoryDriver::new());
        assert_eq!(storage_check(driver.clone())().await, Ok(()));
        assert!(driver.stat(STORAGE_PROBE).await.is_err());
    }

    #[tokio::test]
    async fn tcp_and_http_checks_report_what_failed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        assert_eq!(
            tcp_check(addr.clone(), Duration::from_secs(1))().await,
            Ok(())
        );
        drop(listener);
        let refused = tcp_check(addr.clone(), Duration::from_secs(1))().await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.starts_with(&format!("connect {addr}: "))),
            "{refused:?}"
        );
        let http = http_check(
            format!("http://{addr}/"),
            Vec::new(),
            200,
            Duration::from_secs(1),
        )
        .unwrap()()
        .await;
        assert!(
            http.as_ref()
                .is_err_and(|e| e.starts_with(&format!("error while checking http://{addr}/"))),
            "{http:?}"
        );
    }

    #[test]
    fn bad_http_checks_are_refused_with_their_key() {
        let bad_header = vec![("bad header".to_owned(), vec!["x".to_owned()])];
        let err = match http_check("http://h/".into(), bad_header, 200, Duration::from_secs(1)) {
            Ok(_) => panic!("a header name with a space was accepted"),
            Err(e) => e,
        };
        assert!(
            err.to_string()
                .starts_with("health.http http://h/: header bad header: "),
            "{err}"
        );
        let err = match http_check("not a url".into(), Vec::new(), 200, Duration::from_secs(1)) {
            Ok(_) => panic!("a URI that is no URL was accepted"),
            Err(e) => e,
        };
        assert_eq!(err.uri(), "not a url");
    }
}
