//! The debug server: `/debug/health` and the Prometheus metrics.
//!
//! Health checks run in the background, each on its own interval; a check
//! counts as failing after `threshold` consecutive failures (Distribution's
//! semantics). `/debug/health` answers 200 `{}` when every check passes,
//! else 503 with a JSON object mapping each failing check to its error.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use berth_driver::StorageDriver;

use crate::Metrics;

/// One check's outcome.
pub type CheckResult = Result<(), String>;

/// A check to run: a function giving a fresh future each time.
pub type CheckFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = CheckResult> + Send>> + Send + Sync>;

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

    /// Runs `check` now and then every `interval` on the current actix
    /// runtime; it fails the health endpoint after `threshold` (at least 1)
    /// failures in a row.
    pub fn spawn(self: &Arc<Self>, name: &str, interval: Duration, threshold: u64, check: CheckFn) {
        let threshold = threshold.max(1);
        if let Ok(mut status) = self.status.lock() {
            status.insert(
                name.to_owned(),
                Status {
                    threshold,
                    ..Status::default()
                },
            );
        }
        let checks = self.clone();
        let name = name.to_owned();
        let interval = interval.max(Duration::from_millis(100));
        actix_web::rt::spawn(async move {
            loop {
                let outcome = check().await;
                checks.record(&name, outcome);
                actix_web::rt::time::sleep(interval).await;
            }
        });
    }

    fn record(&self, name: &str, outcome: CheckResult) {
        let Ok(mut status) = self.status.lock() else {
            return;
        };
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
        let Ok(status) = self.status.lock() else {
            return BTreeMap::new();
        };
        status
            .iter()
            .filter(|(_, s)| s.consecutive_failures >= s.threshold)
            .map(|(name, s)| (name.clone(), s.last_error.clone().unwrap_or_default()))
            .collect()
    }
}

/// The storage driver check: the driver answers a `stat` of its root
/// (not-found is fine: an empty store), and accepts a small write and its
/// removal, so a read-only or full store is reported too.
pub fn storage_check(driver: Arc<dyn StorageDriver>) -> CheckFn {
    Arc::new(move || {
        let driver = driver.clone();
        Box::pin(async move {
            match driver.stat("/").await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.to_string()),
            }
            let probe = "/berth-health-probe";
            driver
                .put_content(probe, bytes::Bytes::from_static(b"ok"))
                .await
                .map_err(|e| e.to_string())?;
            match driver.delete(probe).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    })
}

/// Distribution's file check: failing while the file exists.
pub fn file_check(path: String) -> CheckFn {
    Arc::new(move || {
        let path = path.clone();
        Box::pin(async move {
            match std::fs::metadata(&path) {
                Ok(_) => Err(format!("file {path} exists")),
                Err(_) => Ok(()),
            }
        })
    })
}

/// Distribution's TCP check: a connection to `addr` opens within `timeout`.
pub fn tcp_check(addr: String, timeout: Duration) -> CheckFn {
    Arc::new(move || {
        let addr = addr.clone();
        Box::pin(async move {
            match actix_web::rt::time::timeout(
                timeout,
                actix_web::rt::net::TcpStream::connect(&addr),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
                Err(_) => Err(format!("connect {addr}: timed out after {timeout:?}")),
            }
        })
    })
}

/// Distribution's HTTP check: a `HEAD` of `uri` (with `headers`, redirects
/// followed) answers `status` within `timeout`.
pub fn http_check(
    uri: String,
    headers: Vec<(String, Vec<String>)>,
    status: u16,
    timeout: Duration,
) -> Result<CheckFn, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("health.http {uri}: {e}"))?;
    let mut header_map = reqwest::header::HeaderMap::new();
    for (name, values) in &headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| format!("health.http {uri}: header {name}: {e}"))?;
        for value in values {
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| format!("health.http {uri}: header {name}: {e}"))?;
            header_map.append(name.clone(), value);
        }
    }
    reqwest::Url::parse(&uri).map_err(|e| format!("health.http {uri}: {e}"))?;
    Ok(Arc::new(move || {
        let request = client.head(&uri).headers(header_map.clone());
        let uri = uri.clone();
        Box::pin(async move {
            match request.send().await {
                Ok(response) if response.status().as_u16() == status => Ok(()),
                Ok(response) => Err(format!(
                    "{uri}: downstream service returned unexpected status: {}",
                    response.status().as_u16()
                )),
                Err(e) if e.is_timeout() => Err(format!("{uri}: timed out after {timeout:?}")),
                Err(e) => Err(format!("error while checking {uri}: {e}")),
            }
        })
    }))
}

/// Registers `/debug/health` and, if given, the metrics path.
pub fn configure_debug(
    health: Arc<HealthChecks>,
    metrics: Arc<Metrics>,
    metrics_path: Option<String>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let checks = health.clone();
        cfg.route(
            "/debug/health",
            web::get().to(move || {
                let failing = checks.failing();
                async move {
                    let body = serde_json::to_vec(&failing).unwrap_or_default();
                    let mut response = if failing.is_empty() {
                        HttpResponse::Ok()
                    } else {
                        HttpResponse::ServiceUnavailable()
                    };
                    response.content_type(berth_api::headers::JSON).body(body)
                }
            }),
        );
        if let Some(path) = metrics_path {
            cfg.route(
                &path,
                web::get().to(move || {
                    let text = metrics.render();
                    async move {
                        HttpResponse::Ok()
                            .content_type(
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            )
                            .body(text)
                    }
                }),
            );
        }
    }
}
