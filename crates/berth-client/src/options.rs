//! What a [`Client`](crate::Client) is built from.

use std::fmt;
use std::time::Duration;

/// The `User-Agent` sent when none is configured.
pub const DEFAULT_USER_AGENT: &str = concat!("berth-client/", env!("CARGO_PKG_VERSION"));

/// How to reach a registry.
///
/// ```
/// use std::time::Duration;
/// use berth_client::ClientOptions;
///
/// let mut options = ClientOptions::new("https://registry-1.docker.io")
///     .credentials("alice", "s3cret");
/// options.timeouts.connect = Duration::from_secs(5);
/// options.retries.max_attempts = 3;
/// // The password never shows up in logs.
/// assert!(!format!("{options:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ClientOptions {
    /// The registry's base URL, `scheme://host[:port][/prefix]`; the API is
    /// under `<base_url>/v2/`.
    pub base_url: String,
    /// The user name for Basic authentication and for token requests.
    pub username: Option<String>,
    /// The password (or access token) that goes with `username`.
    pub password: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Connection, request and read timeouts.
    pub timeouts: Timeouts,
    /// Retries of idempotent requests.
    pub retries: RetryPolicy,
}

impl ClientOptions {
    /// Options for `base_url`, anonymous, with the default user agent,
    /// timeouts and retries.
    pub fn new(base_url: impl Into<String>) -> ClientOptions {
        ClientOptions {
            base_url: base_url.into(),
            username: None,
            password: None,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            timeouts: Timeouts::default(),
            retries: RetryPolicy::default(),
        }
    }

    /// Sets the credentials.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("user_agent", &self.user_agent)
            .field("timeouts", &self.timeouts)
            .field("retries", &self.retries)
            .finish()
    }
}

/// Timeouts of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection (TCP and TLS). Default 10 s.
    pub connect: Duration,
    /// A whole request whose body is read into memory (everything but blob
    /// streams and streamed uploads), from sending to the last byte of the
    /// answer. Default 60 s.
    pub request: Duration,
    /// The longest pause between two reads of a response, blob streams
    /// included. Default 60 s.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(60),
            read: Duration::from_secs(60),
        }
    }
}

/// Retries of idempotent requests (`GET`, `HEAD`, `DELETE`, `PUT` of a
/// manifest) after a connection error, a `429` or a `5xx` (but `501`).
/// `POST` and `PATCH`, and the `PUT` that commits an upload, are never
/// retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included; `1` disables retries.
    /// Default 4.
    pub max_attempts: u32,
    /// The pause before the first retry; each later one doubles it.
    /// Default 200 ms.
    pub initial_backoff: Duration,
    /// The longest pause between attempts. Default 10 s.
    pub max_backoff: Duration,
    /// The longest `Retry-After` (on `429` and `503`) honoured; a registry
    /// asking for a longer wait gets its error answered at once. Default
    /// 60 s.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The pause before retry number `retry` (1 for the first), with up to
    /// a quarter taken off at random so that clients do not retry in step.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        // 0..=25 % off.
        let off = base.mul_f64(fastrand::f64() / 4.0);
        base.saturating_sub(off)
    }
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(1),
        };
        let first = policy.backoff(1);
        assert!(first <= Duration::from_millis(100) && first >= Duration::from_millis(75));
        let second = policy.backoff(2);
        assert!(second <= Duration::from_millis(200) && second >= Duration::from_millis(150));
        for retry in 3..40 {
            assert!(policy.backoff(retry) <= Duration::from_millis(350));
        }
    }
}
