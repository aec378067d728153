//! The checks themselves: Distribution's storage driver, file, TCP and
//! HTTP checks, each a [`CheckFn`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use berth_driver::StorageDriver;

use crate::HealthError;

/// One check's outcome: the error says what is wrong.
pub type CheckResult = Result<(), String>;

/// A check to run: a function giving a fresh future each time.
pub type CheckFn = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = CheckResult> + Send>> + Send + Sync>;

/// Where the storage check writes (and removes) its probe.
pub const STORAGE_PROBE: &str = "/berth-health-probe";

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
            driver
                .put_content(STORAGE_PROBE, bytes::Bytes::from_static(b"ok"))
                .await
                .map_err(|e| e.to_string())?;
            match driver.delete(STORAGE_PROBE).await {
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
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {addr}: {e}")),
                Err(_) => Err(format!("connect {addr}: timed out after {timeout:?}")),
            }
        })
    })
}

/// Distribution's HTTP check: a `HEAD` of `uri` (with `headers`, redirects
/// followed) answers `status` within `timeout`.
///
/// # Errors
/// `uri` is not a URL, a header name or value is not valid in HTTP, or
/// the HTTP client could not be built.
pub fn http_check(
    uri: String,
    headers: Vec<(String, Vec<String>)>,
    status: u16,
    timeout: Duration,
) -> Result<CheckFn, HealthError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| HealthError::http(&uri, e))?;
    let mut header_map = reqwest::header::HeaderMap::new();
    for (name, values) in &headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| HealthError::http(&uri, format!("header {name}: {e}")))?;
        for value in values {
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| HealthError::http(&uri, format!("header {name}: {e}")))?;
            header_map.append(name.clone(), value);
        }
    }
    reqwest::Url::parse(&uri).map_err(|e| HealthError::http(&uri, e))?;
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
