//! One endpoint: its filters, its queue and the task that delivers it.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use berth_spool::{Position, ReadRecord, Spool};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::Error;
use crate::event::{Event, EventsMediaType, envelope_json};
use crate::options::EndpointOptions;

/// The counters and gauges of one endpoint, for the metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStats {
    /// The endpoint's `name`.
    pub name: String,
    /// Its `url`.
    pub url: String,
    /// Events queued and not yet delivered.
    pub pending: u64,
    /// Events delivered (answered 2xx or 3xx) since start.
    pub delivered: u64,
    /// Delivery attempts that failed (another status, a timeout, a
    /// connection error) since start.
    pub failed: u64,
    /// Delivery attempts that were retries of an event already attempted.
    pub retries: u64,
    /// Events dropped undelivered since start: the oldest, when the queue
    /// was full, and records found unreadable.
    pub dropped: u64,
    /// Events that could not be written to this endpoint's queue (disk
    /// full, I/O error): lost.
    pub spool_errors: u64,
    /// The status of the last response, if any response came.
    pub last_status: Option<u16>,
    /// Bytes of queued records (headers included), the quantity bounded
    /// by `max_queue_bytes`.
    pub queue_bytes: u64,
}

/// An active (not disabled) endpoint.
pub(crate) struct Endpoint {
    pub(crate) name: String,
    url: String,
    pub(crate) spool: Arc<Spool>,
    ignored_media_types: HashSet<String>,
    ignored_actions: HashSet<String>,
    client: reqwest::Client,
    headers: HeaderMap,
    threshold: u32,
    backoff: Duration,
    media_type: EventsMediaType,
    delivered: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    /// 0 until a response came.
    last_status: AtomicU32,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Checks an endpoint's options and builds its HTTP client and headers.
pub(crate) fn prepare(
    options: &EndpointOptions,
    media_type: EventsMediaType,
) -> Result<(reqwest::Client, HeaderMap), Error> {
    let invalid = |what: String| Error::Invalid(format!("endpoint {:?}: {what}", options.name));
    let url = reqwest::Url::parse(&options.url)
        .map_err(|e| invalid(format!("url {:?}: {e}", options.url)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "url {:?}: the scheme must be http or https",
            options.url
        )));
    }
    let mut headers = HeaderMap::new();
    for (name, values) in &options.headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| invalid(format!("header name {name:?}: {e}")))?;
        for value in values {
            let value = HeaderValue::from_str(value)
                .map_err(|e| invalid(format!("header {name}: invalid value: {e}")))?;
            headers.append(header.clone(), value);
        }
    }
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(media_type.as_str()));
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("berth/", env!("CARGO_PKG_VERSION"))),
        );
    }
    let (timeout, _, _) = options.effective();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // As Go's client: follow up to 10 redirects; the final status
        // decides.
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| invalid(format!("HTTP client: {e}")))?;
    Ok((client, headers))
}

impl Endpoint {
    pub(crate) fn new(
        options: &EndpointOptions,
        spool: Arc<Spool>,
        client: reqwest::Client,
        headers: HeaderMap,
        media_type: EventsMediaType,
    ) -> Endpoint {
        let (_, threshold, backoff) = options.effective();
        Endpoint {
            name: options.name.clone(),
            url: options.url.clone(),
            spool,
            ignored_media_types: options.ignored_media_types.iter().cloned().collect(),
            ignored_actions: options.ignore_actions.iter().cloned().collect(),
            client,
            headers,
            threshold,
            backoff,
            media_type,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            last_status: AtomicU32::new(0),
        }
    }

    /// Whether this endpoint wants `event` (its filters let it through).
    pub(crate) fn accepts(&self, event: &Event) -> bool {
        !self.ignored_media_types.contains(&event.target.media_type)
            && !self.ignored_actions.contains(event.action.as_str())
    }

    pub(crate) fn stats(&self) -> EndpointStats {
        let spool = self.spool.stats();
        let last_status = self.last_status.load(Ordering::Relaxed);
        EndpointStats {
            name: self.name.clone(),
            url: self.url.clone(),
            pending: spool.pending,
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dropped: spool.dropped,
            spool_errors: spool.errors,
            last_status: u16::try_from(last_status).ok().filter(|s| *s != 0),
            queue_bytes: spool.bytes,
        }
    }

    /// Posts one envelope; answers the response status.
    async fn post(&self, body: Bytes) -> Result<u16, reqwest::Error> {
        let mut response = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        // Read (a bounded amount of) the body so the connection can be
        // reused; the status alone decides.
        let mut read = 0usize;
        while read < 64 << 10 {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        Ok(status)
    }

    /// Delivers the queue, in order, until shut down.
    pub(crate) async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut breaker = Breaker::default();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let spool = self.spool.clone();
            let next = tokio::task::spawn_blocking(move || spool.next())
                .await
                .unwrap_or_default();
            let Some(head) = next else {
                tokio::select! {
                    _ = self.spool.appended() => {}
                    changed = shutdown.changed() => if changed.is_err() {
                        return;
                    },
                }
                continue;
            };
            let pos = head.position();
            let spool = self.spool.clone();
            let read = tokio::task::spawn_blocking(move || spool.read(head)).await;
            let (payload, next) = match read {
                Ok(Ok(ReadRecord::Record { payload, next })) => (payload, next),
                Ok(Ok(ReadRecord::Corrupt { reason, next })) => {
                    tracing::warn!(endpoint = %self.name, segment = pos.segment, offset = pos.offset,
                        reason = %reason, whole_segment = next.is_none(),
                        "notifications: unreadable record in the queue; skipping it");
                    self.skip(pos, next).await;
                    continue;
                }
                Ok(Err(_)) if !self.is_current(pos).await => {
                    // Dropped (queue full) and removed while being read.
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::error!(endpoint = %self.name, error = %e,
                        "notifications: could not read the queue; retrying in a second");
                    if sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            };
            let event: Event = match serde_json::from_slice(&payload) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(endpoint = %self.name, error = %e,
                        "notifications: a queued record is not an event; skipping it");
                    self.skip(pos, Some(next)).await;
                    continue;
                }
            };
            drop(payload);
            let body = Bytes::from(envelope_json(std::slice::from_ref(&event), self.media_type));
            let mut attempts = 0u64;
            loop {
                if *shutdown.borrow() {
                    return;
                }
                if let Some(until) = breaker.backing_off(self.threshold, self.backoff) {
                    if !breaker.warned {
                        tracing::warn!(endpoint = %self.name, url = %self.url, failures = breaker.recent,
                            backoff = ?self.backoff, "notifications: endpoint encountered too many errors, backing off");
                        breaker.warned = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = shutdown.changed() => return,
                    }
                }
                if attempts > 0 && !self.is_current(pos).await {
                    // Dropped (queue full) while we were retrying.
                    break;
                }
                attempts += 1;
                if attempts > 1 {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                let result = tokio::select! {
                    result = self.post(body.clone()) => result,
                    _ = shutdown.changed() => return,
                };
                match result {
                    Ok(status) if (200..400).contains(&status) => {
                        self.last_status.store(u32::from(status), Ordering::Relaxed);
                        self.delivered.fetch_add(1, Ordering::Relaxed);
                        if breaker.recent > 0 {
                            tracing::info!(endpoint = %self.name, failures = breaker.recent,
                                "notifications: endpoint accepts events again");
                        }
                        breaker = Breaker::default();
                        tracing::debug!(endpoint = %self.name, id = %event.id, status, "notifications: event delivered");
                        self.complete(pos, next).await;
                        break;
                    }
                    Ok(status) => {
                        self.last_status.store(u32::from(status), Ordering::Relaxed);
                        self.failed.fetch_add(1, Ordering::Relaxed);
                        breaker.failure();
                        tracing::warn!(endpoint = %self.name, url = %self.url, id = %event.id, status,
                            "notifications: endpoint refused an event (response status not 2xx or 3xx); retrying");
                    }
                    Err(e) => {
                        self.failed.fetch_add(1, Ordering::Relaxed);
                        breaker.failure();
                        tracing::warn!(endpoint = %self.name, url = %self.url, id = %event.id,
                            error = %ErrorChain(&e), "notifications: error posting an event; retrying");
                    }
                }
            }
        }
    }

    async fn is_current(&self, pos: Position) -> bool {
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || spool.is_current(pos))
            .await
            .unwrap_or(false)
    }

    async fn complete(&self, pos: Position, next: Position) {
        let spool = self.spool.clone();
        match tokio::task::spawn_blocking(move || spool.acknowledge(pos, next)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(endpoint = %self.name, error = %e,
                    "notifications: could not save the queue's cursor; the event may be sent again after a restart");
            }
            Err(_) => {}
        }
    }

    async fn skip(&self, pos: Position, next: Option<Position>) {
        let spool = self.spool.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || spool.skip(pos, next)).await {
            tracing::error!(endpoint = %self.name, error = %e,
                "notifications: could not save the queue's cursor");
        }
    }
}

/// Distribution's breaker (go-events `Breaker`): after `threshold`
/// consecutive failures, each attempt waits until `backoff` after the last
/// failure; a success resets it.
#[derive(Debug, Default)]
struct Breaker {
    recent: u32,
    last: Option<Instant>,
    warned: bool,
}

impl Breaker {
    fn failure(&mut self) {
        self.recent = self.recent.saturating_add(1);
        self.last = Some(Instant::now());
    }

    fn backing_off(&mut self, threshold: u32, backoff: Duration) -> Option<Instant> {
        if self.recent < threshold {
            return None;
        }
        let until = self.last? + backoff;
        (until > Instant::now()).then_some(until)
    }
}

/// Sleeps; answers true if shut down meanwhile.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(duration) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

/// An error with its sources, `a: b: c`.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}
