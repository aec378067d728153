//! The client: HTTP, authentication, retries and error mapping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use berth_api::{ErrorBody, ErrorCode, ErrorEntry, Route, UrlBuilder};
use berth_core::{Error, Page, PageRequest, Result};
use berth_digest::Digest;
use berth_manifest::ManifestRegistry;
use berth_reference::RepositoryName;
use bytes::{Bytes, BytesMut};
use reqwest::header::{
    AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode, Url};
use serde::Deserialize;
use tokio::time::Instant;

use crate::challenge::{Challenge, parse_www_authenticate};
use crate::error::{BodyError, ClientError, UpstreamError};
use crate::options::{ClientOptions, RetryPolicy, Timeouts};
use crate::pagination;
use crate::{RemoteNamespace, RemoteRepository};

mod auth;
mod errors;

/// The largest error or token body read.
const SMALL_BODY_LIMIT: usize = 1024 * 1024;

/// A registry client: one connection pool, one set of credentials and one
/// token cache for a registry. Cheap to clone (a reference count).
///
/// Every operation fails with [`berth_core::Error`]: the registry's JSON
/// error codes map to the matching variants (`BLOB_UNKNOWN` →
/// `BlobUnknown`, `NAME_UNKNOWN` → `NameUnknown`, `UNAUTHORIZED` and
/// `DENIED` → `Denied`, `TOOMANYREQUESTS` → `TooManyRequests`, …);
/// connection failures, timeouts and `5xx` answers (after retries) are
/// `Unavailable`.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field(
                "username",
                &self.inner.credentials.as_ref().map(|c| &c.username),
            )
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    http: reqwest::Client,
    /// `scheme://host[:port]/[prefix/]`, always ending with `/`.
    base: Url,
    /// The URLs of the v2 endpoints under `base`.
    urls: UrlBuilder,
    /// `registry host:port`, for `Unavailable` errors.
    service: String,
    timeouts: Timeouts,
    retries: RetryPolicy,
    credentials: Option<Credentials>,
    auth: AuthState,
    /// The `Accept` list of manifest requests.
    pub(crate) accept: HeaderValue,
    pub(crate) manifests: ManifestRegistry,
}

struct Credentials {
    username: String,
    /// `Basic base64(user:password)`, marked sensitive.
    basic: HeaderValue,
}

/// What the client learnt about the registry's authentication, and its
/// tokens.
#[derive(Default)]
struct AuthState {
    /// The registry asked for Basic credentials: send them with every
    /// request.
    basic: AtomicBool,
    /// The registry asked for tokens from this realm.
    realm: Mutex<Option<Realm>>,
    /// Tokens by the scopes of the requests they are for.
    tokens: Mutex<HashMap<String, Token>>,
    /// One token request at a time, so that concurrent requests for one
    /// scope share one token.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Realm {
    url: Url,
    service: Option<String>,
}

#[derive(Clone)]
struct Token {
    /// `Bearer …`, marked sensitive.
    header: HeaderValue,
    valid_until: Instant,
}

/// A request body.
pub(crate) enum CallBody {
    Empty,
    Bytes(Bytes),
    /// A streamed body: sent once, so never retried.
    Stream(Option<reqwest::Body>),
}

impl CallBody {
    fn replayable(&self) -> bool {
        !matches!(self, CallBody::Stream(_))
    }
}

/// One request to the registry.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: CallBody,
    pub(crate) idempotent: bool,
    /// The response body is streamed: no whole-request timeout.
    pub(crate) streamed: bool,
    /// What the request is about (berth-api's route table), for its token
    /// scopes and for mapping its errors. The route of an upload carries
    /// the writer's id (its upload URL) as its id.
    pub(crate) route: Route<'a>,
    /// The token scopes, as Distribution asks for them.
    scopes: Vec<String>,
}

impl<'a> Call<'a> {
    /// A `method` request to `url`, which is about `route`.
    pub(crate) fn new(method: Method, url: Url, route: Route<'a>) -> Call<'a> {
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::DELETE);
        let scopes = route.token_scopes(method.as_str(), None);
        Call {
            method,
            url,
            headers: HeaderMap::new(),
            body: CallBody::Empty,
            idempotent,
            streamed: false,
            route,
            scopes,
        }
    }

    /// The request mounts a blob from the repository `from`: the token
    /// asks to pull from it too.
    pub(crate) fn mount_from(mut self, from: &str) -> Self {
        self.scopes = self.route.token_scopes(self.method.as_str(), Some(from));
        self
    }

    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub(crate) fn body(mut self, body: Bytes) -> Self {
        self.body = CallBody::Bytes(body);
        self
    }

    pub(crate) fn stream_body(mut self, body: reqwest::Body) -> Self {
        self.body = CallBody::Stream(Some(body));
        self
    }

    pub(crate) fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    pub(crate) fn streamed(mut self) -> Self {
        self.streamed = true;
        self
    }
}

impl Client {
    /// A client for the registry at `options.base_url`. Nothing is sent
    /// until the first request.
    pub fn new(options: ClientOptions) -> std::result::Result<Client, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidBaseUrl {
            url: options.base_url.clone(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(&options.base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(invalid(
                "credentials go in ClientOptions::username and password, not in the URL",
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(invalid("a base URL has no query or fragment"));
        }
        let Some(host) = base.host_str().map(str::to_owned) else {
            return Err(invalid("no host"));
        };
        let mut path = base.path().trim_end_matches('/').to_owned();
        if path.ends_with("/v2") || path == "/v2" {
            path.truncate(path.len() - 3);
        }
        path.push('/');
        base.set_path(&path);
        let service = match base.port() {
            Some(port) => format!("registry {host}:{port}"),
            None => format!("registry {host}"),
        };

        let user_agent =
            HeaderValue::from_str(&options.user_agent).map_err(|e| ClientError::InvalidOption {
                option: "user_agent",
                reason: e.to_string(),
            })?;
        let credentials = match (&options.username, &options.password) {
            (Some(username), password) => {
                let raw = format!("{username}:{}", password.as_deref().unwrap_or(""));
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                let mut basic =
                    HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|e| {
                        ClientError::InvalidOption {
                            option: "username",
                            reason: e.to_string(),
                        }
                    })?;
                basic.set_sensitive(true);
                Some(Credentials {
                    username: username.clone(),
                    basic,
                })
            }
            (None, Some(_)) => {
                return Err(ClientError::InvalidOption {
                    option: "password",
                    reason: "a password without a username".to_owned(),
                });
            }
            (None, None) => None,
        };
        if options.retries.max_attempts == 0 {
            return Err(ClientError::InvalidOption {
                option: "retries.max_attempts",
                reason: "at least 1 (the first attempt)".to_owned(),
            });
        }

        let http = reqwest::Client::builder()
            .user_agent(user_agent.clone())
            .connect_timeout(options.timeouts.connect)
            .read_timeout(options.timeouts.read)
            // Blob GETs are redirected to storage; Authorization is dropped
            // when the redirect leaves the host.
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .map_err(ClientError::Http)?;
        let manifests = ManifestRegistry::new();
        let accept = HeaderValue::from_str(&manifests.accept_header()).map_err(|e| {
            ClientError::InvalidOption {
                option: "accept",
                reason: e.to_string(),
            }
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                urls: UrlBuilder::new(base.as_str(), ""),
                base,
                service,
                timeouts: options.timeouts,
                retries: options.retries,
                credentials,
                auth: AuthState::default(),
                accept,
                manifests,
            }),
        })
    }

    /// The base URL requests go to (with a trailing `/`).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Checks that the registry speaks the v2 API and that the client may
    /// use it: `GET /v2/`, authenticating if asked to.
    pub async fn ping(&self) -> Result<()> {
        let url = self.inner.url(&Route::Base)?;
        self.inner
            .send(Call::new(Method::GET, url, Route::Base), &[StatusCode::OK])
            .await
            .map(drop)
    }

    /// A handle on the repository `name` (nothing is sent).
    pub fn repository(&self, name: &RepositoryName) -> RemoteRepository {
        RemoteRepository::new(self.clone(), name.clone())
    }

    /// The registry as a [`berth_core::Namespace`].
    pub fn namespace(&self) -> RemoteNamespace {
        RemoteNamespace::new(self.clone())
    }

    /// One page of the registry's catalog (`GET /v2/_catalog`), following
    /// `Link` headers until the page is full (see
    /// [`RemoteNamespace`](crate::RemoteNamespace)).
    pub async fn catalog(&self, page: PageRequest) -> Result<Page<String>> {
        let url = self.inner.url(&Route::Catalog)?;
        pagination::list(&self.inner, url, Route::Catalog, "repositories", page).await
    }
}

impl Inner {
    /// The URL of `route` under the base URL (`<base>v2/…`).
    pub(crate) fn url(&self, route: &Route<'_>) -> Result<Url> {
        let text = self.urls.route(route);
        Url::parse(&text).map_err(|e| Error::backend(format!("build the URL {text:?}"), e))
    }

    /// Resolves a `Location` or `Link` URL against the URL it came from.
    pub(crate) fn resolve(&self, from: &Url, location: &str) -> Result<Url> {
        from.join(location).map_err(|e| {
            Error::backend(
                format!("the registry's URL {location:?}"),
                BodyError(e.to_string()),
            )
        })
    }

    /// The base URL.
    pub(crate) fn base_url(&self) -> &Url {
        &self.base
    }

    /// `registry host:port`, for `Unavailable` errors.
    pub(crate) fn service_name(&self) -> String {
        self.service.clone()
    }

    pub(crate) fn unavailable(&self, source: impl Into<berth_core::BoxError>) -> Error {
        Error::unavailable(&self.service, source)
    }

    /// Sends `call`; answers the response when its status is one of
    /// `expect`, else the error it maps to.
    pub(crate) async fn send(&self, mut call: Call<'_>, expect: &[StatusCode]) -> Result<Response> {
        let response = self.execute(&mut call).await?;
        if expect.contains(&response.status()) {
            Ok(response)
        } else {
            Err(self.error_from(response, &call).await)
        }
    }

    /// Sends `call` with authentication and retries; answers the last
    /// response whatever its status.
    pub(crate) async fn execute(&self, call: &mut Call<'_>) -> Result<Response> {
        let key = call.scopes.join(" ");
        let mut attempt: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let authorization = self.authorization(&call.scopes, &key).await?;
            let request = self.build(call, authorization.clone())?;
            let result = self.http.execute(request).await;
            let may_retry =
                call.idempotent && call.body.replayable() && attempt < self.retries.max_attempts;
            let response = match result {
                Ok(response) => response,
                Err(err) => {
                    if may_retry && !err.is_builder() && !err.is_redirect() {
                        let wait = self.retries.backoff(attempt);
                        tracing::debug!(
                            method = %call.method, path = call.url.path(), attempt,
                            error = %err, wait_ms = wait.as_millis() as u64,
                            "registry request failed; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    tracing::debug!(method = %call.method, path = call.url.path(), error = %err, "registry request failed");
                    return Err(self.unavailable(err));
                }
            };
            let status = response.status();
            tracing::trace!(method = %call.method, path = call.url.path(), status = status.as_u16(), "registry answered");
            if status == StatusCode::UNAUTHORIZED
                && !reauthenticated
                && call.body.replayable()
                && self
                    .reauthenticate(response.headers(), &call.scopes, &key, authorization)
                    .await?
            {
                reauthenticated = true;
                // Authenticating is not a retry.
                attempt -= 1;
                continue;
            }
            if may_retry && retryable(status) {
                let wait = retry_after(response.headers())
                    .unwrap_or_else(|| self.retries.backoff(attempt));
                if wait <= self.retries.max_retry_after {
                    tracing::debug!(
                        method = %call.method, path = call.url.path(), attempt,
                        status = status.as_u16(), wait_ms = wait.as_millis() as u64,
                        "registry answered an error; retrying"
                    );
                    drop(response);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return Ok(response);
        }
    }

    fn build(
        &self,
        call: &mut Call<'_>,
        authorization: Option<HeaderValue>,
    ) -> Result<reqwest::Request> {
        let mut builder = self
            .http
            .request(call.method.clone(), call.url.clone())
            .headers(call.headers.clone());
        if let Some(authorization) = authorization {
            builder = builder.header(AUTHORIZATION, authorization);
        }
        if !call.streamed && matches!(call.body, CallBody::Empty | CallBody::Bytes(_)) {
            builder = builder.timeout(self.timeouts.request);
        }
        builder = match &mut call.body {
            CallBody::Empty => {
                if matches!(call.method, Method::POST | Method::PUT | Method::PATCH) {
                    builder.body(Bytes::new())
                } else {
                    builder
                }
            }
            CallBody::Bytes(bytes) => builder.body(bytes.clone()),
            CallBody::Stream(body) => match body.take() {
                Some(body) => builder.body(body),
                None => {
                    return Err(Error::backend(
                        "send a streamed body",
                        BodyError("the body was already sent".to_owned()),
                    ));
                }
            },
        };
        builder
            .build()
            .map_err(|e| Error::backend(format!("build {} {}", call.method, call.url.path()), e))
    }
}

/// Whether a status is worth retrying: 429 and 5xx but 501.
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = date - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

fn first_error(body: &[u8], status: StatusCode) -> (Option<String>, String) {
    #[derive(Deserialize)]
    struct OAuth {
        error: Option<String>,
        error_description: Option<String>,
    }
    if let Some(e) = ErrorBody::first(body) {
        return (Some(e.code).filter(|c| !c.is_empty()), e.message);
    }
    if let Ok(OAuth {
        error: Some(error),
        error_description,
    }) = serde_json::from_slice::<OAuth>(body)
    {
        return (Some(error), error_description.unwrap_or_default());
    }
    (
        None,
        status.canonical_reason().unwrap_or("error").to_owned(),
    )
}

/// A digest in an error's detail: `"sha256:…"` (Distribution) or
/// `{"digest":"sha256:…"}` (berth).
fn detail_digest(detail: Option<&serde_json::Value>) -> Option<Digest> {
    match detail? {
        serde_json::Value::String(s) => Digest::parse(s).ok(),
        serde_json::Value::Object(map) => map
            .get("digest")
            .and_then(|v| v.as_str())
            .and_then(|s| Digest::parse(s).ok()),
        _ => None,
    }
}

/// Reads a whole (small) body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(
    response: &mut Response,
    limit: usize,
) -> std::result::Result<Bytes, BoxedError> {
    if let Some(length) = header_u64(response.headers(), reqwest::header::CONTENT_LENGTH)
        && length > limit as u64
    {
        return Err(Box::new(BodyError(format!(
            "the body is {length} bytes, more than the {limit} allowed"
        ))));
    }
    let mut out = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > limit {
            return Err(Box::new(BodyError(format!(
                "the body is more than the {limit} bytes allowed"
            ))));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

pub(crate) type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A header's value parsed as a decimal `u64`.
pub(crate) fn header_u64(
    headers: &HeaderMap,
    name: impl reqwest::header::AsHeaderName,
) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A header's value as a string.
pub(crate) fn header_str(
    headers: &HeaderMap,
    name: impl reqwest::header::AsHeaderName,
) -> Option<&str> {
    headers.get(name)?.to_str().ok()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let text = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&text).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn scopes_as_distribution_asks() {
        let d = Digest::sha256(b"x");
        let url = || Url::parse("http://registry.test/v2/").unwrap();
        let scopes = |method: Method, route: Route<'_>| Call::new(method, url(), route).scopes;
        let blob = Route::Blob {
            name: "a/b",
            digest: d.as_str(),
        };
        assert_eq!(scopes(Method::HEAD, blob), ["repository:a/b:pull"]);
        assert_eq!(
            Call::new(Method::POST, url(), Route::UploadStart { name: "a" })
                .mount_from("b")
                .scopes,
            ["repository:a:pull,push", "repository:b:pull"]
        );
        let manifest = Route::Manifest {
            name: "a",
            reference: "latest",
        };
        assert_eq!(scopes(Method::DELETE, manifest), ["repository:a:delete"]);
        assert_eq!(scopes(Method::GET, Route::Catalog), ["registry:catalog:*"]);
        assert!(scopes(Method::GET, Route::Base).is_empty());
    }

    #[test]
    fn error_bodies() {
        let e = ErrorBody::first(br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#).unwrap();
        assert_eq!(e.code, "MANIFEST_BLOB_UNKNOWN");
        assert!(detail_digest(e.detail.as_ref()).is_some());
        assert!(ErrorBody::first(b"404 page not found").is_none());
        assert!(ErrorBody::first(br#"{"errors":[{"code":"X"}]}"#).is_some());
        assert_eq!(
            first_error(
                br#"{"error":"invalid_grant","error_description":"bad"}"#,
                StatusCode::UNAUTHORIZED
            ),
            (Some("invalid_grant".to_owned()), "bad".to_owned())
        );
    }
}
