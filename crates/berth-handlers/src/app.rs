//! Application state, routing, and the pieces every handler shares.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use berth_api::{ErrorCode, Route, Scope, UrlBuilder};
use berth_auth::{Access, AccessController, AuthError, Resource};
use berth_core::{Namespace, Repository};
use berth_digest::Digest;
use berth_manifest::ManifestRegistry;
use berth_reference::{RepositoryName, Tag};

use crate::error::{HandlerError, HandlerResult};
use crate::state::StateSigner;
use crate::{blobs, lists, manifests, uploads};

/// The header names every response carries, parsed once from berth-api's
/// (valid, as a test below checks) rather than on every request.
static API_VERSION: LazyLock<Option<HeaderName>> =
    LazyLock::new(|| HeaderName::try_from(berth_api::headers::API_VERSION).ok());
static REQUEST_ID: LazyLock<Option<HeaderName>> =
    LazyLock::new(|| HeaderName::try_from(berth_api::headers::REQUEST_ID).ok());

/// How the HTTP layer behaves (Distribution's `http.*` settings and a few
/// others).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http.host`: the externally visible base URL, if set.
    pub host: Option<String>,
    /// `http.prefix`: the path prefix before `/v2`.
    pub prefix: String,
    /// `http.relativeurls`: hand out paths instead of absolute URLs.
    pub relative_urls: bool,
    /// `http.secret`: signs upload URLs' state.
    pub secret: Vec<u8>,
    /// `maintenance.readonly.enabled`: refuse every write.
    pub read_only: bool,
    /// `catalog.maxentries`: the largest catalog page (default 1000).
    pub catalog_max_entries: usize,
    /// `http.headers`: extra headers on every response.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Whether to log one access line per request (off with
    /// `log.accesslog.disabled`).
    pub access_log: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            host: None,
            prefix: String::new(),
            relative_urls: false,
            secret: Vec::new(),
            read_only: false,
            catalog_max_entries: 1000,
            headers: BTreeMap::new(),
            access_log: true,
        }
    }
}

/// What every request handler shares.
pub struct AppState {
    /// The registry.
    pub namespace: Arc<dyn Namespace>,
    /// Request metrics, rendered by the debug server.
    pub metrics: Arc<crate::Metrics>,
    /// Parses and validates pushed manifests.
    pub manifests: ManifestRegistry,
    /// Settings.
    pub settings: Settings,
    /// Access control (`auth:`); `None`: every request is allowed.
    pub access: Option<Arc<dyn AccessController>>,
    /// Webhook events (`notifications:`); `None`: no events.
    pub notifier: Option<berth_notifications::Notifier>,
    pub(crate) signer: StateSigner,
    pub(crate) extra_headers: Vec<(HeaderName, HeaderValue)>,
}

impl AppState {
    /// Uses `metrics` (which may carry extra scrape sources).
    pub fn with_metrics(mut self, metrics: Arc<crate::Metrics>) -> AppState {
        self.metrics = metrics;
        self
    }

    /// Checks every request with `controller` (Distribution's `auth:`).
    pub fn with_access_controller(mut self, controller: Arc<dyn AccessController>) -> AppState {
        self.access = Some(controller);
        self
    }

    /// Emits events of what requests do through `notifier`.
    pub fn with_notifier(mut self, notifier: berth_notifications::Notifier) -> AppState {
        self.notifier = notifier.is_active().then_some(notifier);
        self
    }

    /// The state for `namespace`.
    pub fn new(
        namespace: Arc<dyn Namespace>,
        manifests: ManifestRegistry,
        settings: Settings,
    ) -> AppState {
        let extra_headers = settings
            .headers
            .iter()
            .flat_map(|(name, values)| values.iter().map(move |v| (name, v)))
            .filter_map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                let value = HeaderValue::from_str(value).ok()?;
                Some((name, value))
            })
            .collect();
        AppState {
            namespace,
            metrics: Arc::new(crate::Metrics::new()),
            manifests,
            access: None,
            notifier: None,
            signer: StateSigner::new(settings.secret.clone()),
            settings,
            extra_headers,
        }
    }
}

/// Registers the v2 API on an actix-web app or scope.
///
/// ```no_run
/// # use std::sync::Arc;
/// # fn demo(state: berth_handlers::AppState) {
/// use actix_web::{App, web};
/// let state = web::Data::new(state);
/// let app = App::new().configure(berth_handlers::configure(state));
/// # }
/// ```
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(usize::MAX))
            .default_service(web::to(dispatch));
    }
}

/// Every request comes here and is routed by [`Route::parse`], inside a
/// span carrying its request id, and ends with an access log line.
async fn dispatch(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = std::time::Instant::now();
    let request_id = req
        .headers()
        .get(berth_api::headers::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", id = %request_id, user = tracing::field::Empty);
    let parsed = Route::parse(strip_prefix(req.path(), &state.settings.prefix));
    let route_label = parsed.as_ref().map(Route::label).unwrap_or("unknown");
    let _upload = (route_label.starts_with("blob_upload")
        && !matches!(*req.method(), Method::GET | Method::HEAD))
    .then(|| state.metrics.upload_started());
    let bytes_in = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let result = {
        use tracing::Instrument;
        route(&req, &request_id, parsed, body, &state)
            .instrument(span.clone())
            .await
    };
    let mut response = match result {
        Ok(response) => response,
        Err(err) => {
            if err.error.status() >= 500 {
                span.in_scope(|| tracing::error!(code = %err.error.code, "{}", err.error.message));
            }
            actix_web::ResponseError::error_response(&err)
        }
    };
    let headers = response.headers_mut();
    if let Some(name) = &*API_VERSION {
        headers.insert(
            name.clone(),
            HeaderValue::from_static(berth_api::headers::API_VERSION_VALUE),
        );
    }
    if let (Some(name), Ok(value)) = (&*REQUEST_ID, HeaderValue::from_str(&request_id)) {
        headers.insert(name.clone(), value);
    }
    for (name, value) in &state.extra_headers {
        headers.insert(name.clone(), value.clone());
    }
    let bytes_out = match actix_web::body::MessageBody::size(response.body()) {
        actix_web::body::BodySize::Sized(n) => n,
        _ => 0,
    };
    state.metrics.observe(
        route_label,
        req.method().as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
        bytes_in,
        bytes_out,
    );
    if state.settings.access_log {
        let info = req.connection_info();
        span.in_scope(|| {
            tracing::info!(
                target: "berth::access",
                method = %req.method(),
                uri = %req.uri(),
                status = response.status().as_u16(),
                user = response
                    .extensions()
                    .get::<AuthenticatedUser>()
                    .map(|u| u.0.as_str())
                    .unwrap_or(""),
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                remote = info.realip_remote_addr().unwrap_or(""),
                user_agent = req
                    .headers()
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
                "access"
            )
        });
    }
    response
}

/// The request path without `http.prefix` (empty when it lacks it).
fn strip_prefix<'p>(path: &'p str, prefix: &str) -> &'p str {
    match prefix.trim_end_matches('/') {
        "" => path,
        prefix => path.strip_prefix(prefix).unwrap_or(""),
    }
}

async fn route(
    req: &HttpRequest,
    request_id: &str,
    route: Option<Route<'_>>,
    body: web::Payload,
    state: &AppState,
) -> HandlerResult {
    let Some(route) = route else {
        return Ok(HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("404 page not found\n"));
    };
    let method = req.method();
    let mut ctx = Ctx {
        req,
        request_id,
        state,
        user: None,
        mount_allowed: true,
    };
    if let Some(controller) = &state.access {
        match authorize(&mut ctx, controller.as_ref(), &route).await {
            Ok(()) => {}
            Err(Denial::Challenge(err)) => return Err(*err),
            Err(Denial::BadRequest) => return Ok(HttpResponse::BadRequest().finish()),
        }
    }
    let is_write = !matches!(*method, Method::GET | Method::HEAD);
    if is_write && state.settings.read_only && !matches!(route, Route::Base | Route::Catalog) {
        return Err(HandlerError::new(
            ErrorCode::Unsupported,
            "the registry is in read-only mode",
        ));
    }
    let mut response = dispatch_route(&ctx, route, body).await;
    if let (Some(user), Ok(response)) = (&ctx.user, &mut response) {
        response
            .extensions_mut()
            .insert(AuthenticatedUser(user.clone()));
    }
    response
}

/// The authenticated user of a response, for the access log.
struct AuthenticatedUser(String);

/// Why a request is not let through.
enum Denial {
    /// 401 with the controller's challenge.
    Challenge(Box<HandlerError>),
    /// The controller could not decide: a bare 400, as Distribution.
    BadRequest,
}

/// The accesses `route` needs with `method`: one per action of its
/// [`Route::scope`] (berth-api's table, which the client's token requests
/// use too), nothing but authentication for `/v2/`.
fn required_access(route: &Route<'_>, method: &Method) -> Vec<Access> {
    route
        .scope(method.as_str())
        .map(scope_access)
        .unwrap_or_default()
}

/// The controller's accesses of `scope`: one per action.
fn scope_access(scope: Scope<'_>) -> Vec<Access> {
    scope
        .actions
        .iter()
        .map(|action| Access::new(Resource::new(scope.resource_type, scope.name), *action))
        .collect()
}

/// Asks `controller` whether the request may do what `route` needs;
/// records the user on the context and the request span. A mount also
/// needs `pull` on its source; without it the mount is dropped and the
/// request is a plain upload.
async fn authorize(
    ctx: &mut Ctx<'_>,
    controller: &dyn AccessController,
    route: &Route<'_>,
) -> Result<(), Denial> {
    let req = ctx.req;
    let text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (host, remote) = {
        let info = req.connection_info();
        (
            info.host().to_owned(),
            info.realip_remote_addr().map(str::to_owned),
        )
    };
    let mut request = berth_auth::Request::new().with_host(&host);
    request.authorization = text(header::AUTHORIZATION.as_str());
    request.scheme = text(berth_api::headers::FORWARDED_PROTO);
    request.remote_addr = remote.as_deref();
    let access = required_access(route, req.method());
    let grant = match controller.authorize(&request, &access).await {
        Ok(grant) => grant,
        Err(AuthError::Challenge(challenge)) => {
            tracing::debug!(reason = challenge.message(), "authorization refused");
            let detail = if access.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::to_value(&access).unwrap_or_default()
            };
            let error = HandlerError::from(
                berth_api::ApiError::new(ErrorCode::Unauthorized).detail(detail),
            )
            .with_header(header::WWW_AUTHENTICATE, challenge.www_authenticate());
            return Err(Denial::Challenge(Box::new(error)));
        }
        Err(err) => {
            tracing::error!(error = %err, "error checking authorization");
            return Err(Denial::BadRequest);
        }
    };
    if let Some(user) = grant.user {
        tracing::Span::current().record("user", user.name.as_str());
        ctx.user = Some(user.name);
    }
    if let Route::UploadStart { .. } = route
        && let (Some(_), Some(from)) = (ctx.param("mount"), ctx.param("from"))
    {
        let source = scope_access(Scope::mount_source(&from));
        if controller.authorize(&request, &source).await.is_err() {
            tracing::info!(from = %from, "no pull access to the mount source; uploading instead");
            ctx.mount_allowed = false;
        }
    }
    Ok(())
}

async fn dispatch_route(ctx: &Ctx<'_>, route: Route<'_>, body: web::Payload) -> HandlerResult {
    let method = ctx.req.method();
    match (route, method.clone()) {
        (Route::Base, Method::GET | Method::HEAD) => Ok(HttpResponse::Ok()
            .content_type(berth_api::headers::JSON)
            .body("{}")),
        (Route::Catalog, Method::GET | Method::HEAD) => lists::catalog(ctx).await,
        (Route::Tags { name }, Method::GET | Method::HEAD) => {
            lists::tags(ctx, &ctx.repository(name)?).await
        }
        (Route::Referrers { name, digest }, Method::GET | Method::HEAD) => {
            lists::referrers(ctx, &ctx.repository(name)?, digest).await
        }
        (Route::Manifest { name, reference }, Method::GET | Method::HEAD) => {
            manifests::get(ctx, &ctx.repository(name)?, reference).await
        }
        (Route::Manifest { name, reference }, Method::PUT) => {
            manifests::put(ctx, &ctx.repository(name)?, reference, body).await
        }
        (Route::Manifest { name, reference }, Method::DELETE) => {
            manifests::delete(ctx, &ctx.repository(name)?, reference).await
        }
        (Route::Blob { name, digest }, Method::GET | Method::HEAD) => {
            blobs::get(ctx, &ctx.repository(name)?, digest).await
        }
        (Route::Blob { name, digest }, Method::DELETE) => {
            blobs::delete(ctx, &ctx.repository(name)?, digest).await
        }
        (Route::UploadStart { name }, Method::POST) => {
            uploads::start(ctx, &ctx.repository(name)?, body).await
        }
        (Route::Upload { name, id }, Method::GET | Method::HEAD) => {
            uploads::status(ctx, &ctx.repository(name)?, id).await
        }
        (Route::Upload { name, id }, Method::PATCH) => {
            uploads::patch(ctx, &ctx.repository(name)?, id, body).await
        }
        (Route::Upload { name, id }, Method::PUT) => {
            uploads::finish(ctx, &ctx.repository(name)?, id, body).await
        }
        (Route::Upload { name, id }, Method::DELETE) => {
            uploads::cancel(ctx, &ctx.repository(name)?, id).await
        }
        _ => Err(HandlerError::new(
            ErrorCode::Unsupported,
            format!("{method} is not supported on this endpoint"),
        )),
    }
}

/// One request's view of the application.
pub(crate) struct Ctx<'a> {
    pub(crate) req: &'a HttpRequest,
    /// The request's id (`X-Request-Id`).
    pub(crate) request_id: &'a str,
    pub(crate) state: &'a AppState,
    /// The authenticated user, if access control named one.
    pub(crate) user: Option<String>,
    /// Whether a mount may be tried (the source may be pulled).
    pub(crate) mount_allowed: bool,
}

impl Ctx<'_> {
    /// The named repository, or `NAME_INVALID` naming the rule it breaks.
    pub(crate) fn repository(&self, name: &str) -> Result<Arc<dyn Repository>, HandlerError> {
        let name = RepositoryName::parse(name)
            .map_err(|e| HandlerError::from(berth_core::Error::name_invalid(name, e)))?;
        match &self.state.notifier {
            None => Ok(self.state.namespace.repository(&name)?),
            Some(notifier) => Ok(notifier
                .wrap(self.state.namespace.clone(), self.event_context())
                .repository(&name)?),
        }
    }

    /// The request as notification events describe it.
    fn event_context(&self) -> berth_notifications::RequestContext {
        let base = self.urls().base();
        let info = self.req.connection_info();
        berth_notifications::RequestContext {
            request: berth_notifications::RequestRecord {
                id: self.request_id.to_owned(),
                // As Distribution: the forwarded client address if any.
                addr: info.realip_remote_addr().unwrap_or_default().to_owned(),
                host: info.host().to_owned(),
                method: self.req.method().as_str().to_owned(),
                user_agent: self
                    .header(header::USER_AGENT)
                    .unwrap_or_default()
                    .to_owned(),
            },
            actor: berth_notifications::ActorRecord {
                name: self.user.clone().unwrap_or_default(),
            },
            base_url: base.strip_suffix("/v2/").unwrap_or(&base).to_owned(),
        }
    }

    /// URLs for this request.
    pub(crate) fn urls(&self) -> UrlBuilder {
        let info = self.req.connection_info();
        let header = |name: &str| self.req.headers().get(name).and_then(|v| v.to_str().ok());
        UrlBuilder::for_request(
            self.state.settings.host.as_deref(),
            &self.state.settings.prefix,
            self.state.settings.relative_urls,
            info.scheme(),
            info.host(),
            header(berth_api::headers::FORWARDED_PROTO),
            header(berth_api::headers::FORWARDED_HOST),
        )
    }

    /// The query parameters, decoded.
    pub(crate) fn query(&self) -> berth_api::query::Query {
        berth_api::query::Query::parse(self.req.query_string())
    }

    /// The first value of query parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        self.query().get(name).map(str::to_owned)
    }

    /// A request header as text.
    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.req.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether this is a HEAD request.
    pub(crate) fn is_head(&self) -> bool {
        self.req.method() == Method::HEAD
    }
}

/// A HEAD response's body: nothing is sent, but the `Content-Length` is
/// the one a GET would have.
pub(crate) fn head_body(
    len: u64,
) -> actix_web::body::SizedStream<futures_util::stream::Empty<Result<bytes::Bytes, std::io::Error>>>
{
    actix_web::body::SizedStream::new(len, futures_util::stream::empty())
}

/// Parses a digest from the client, or `DIGEST_INVALID` saying why.
pub(crate) fn parse_digest(s: &str) -> Result<Digest, HandlerError> {
    Digest::parse(s).map_err(|e| HandlerError::from(berth_core::Error::digest_malformed(s, e)))
}

/// A digest to look up: a malformed one names nothing, so it is
/// `BLOB_UNKNOWN` (404), saying why, as for any blob that does not exist.
pub(crate) fn lookup_digest(s: &str) -> Result<Digest, HandlerError> {
    Digest::parse(s).map_err(|e| {
        HandlerError::new(
            ErrorCode::BlobUnknown,
            format!(
                "blob unknown to registry: {:?} is not a valid digest ({e})",
                berth_core::shorten(s)
            ),
        )
    })
}

/// Parses a tag from the client, or `TAG_INVALID` saying why.
pub(crate) fn parse_tag(s: &str) -> Result<Tag, HandlerError> {
    Tag::parse(s).map_err(|e| HandlerError::from(berth_core::Error::tag_invalid(s, e)))
}

/// `n` and `last` of a listing; `PAGINATION_NUMBER_INVALID` for a bad `n`
/// or one above `max`.
pub(crate) fn pagination(
    ctx: &Ctx<'_>,
    max: Option<usize>,
) -> Result<berth_core::PageRequest, HandlerError> {
    Ok(berth_api::query::page_request(&ctx.query(), max)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_as_distribution_requires_it() {
        let blob = Route::Blob {
            name: "a/b",
            digest: "sha256:abc",
        };
        assert_eq!(
            required_access(&blob, &Method::GET),
            [Access::repository("a/b", Access::PULL)]
        );
        assert_eq!(
            required_access(&Route::UploadStart { name: "a/b" }, &Method::POST),
            [
                Access::repository("a/b", Access::PULL),
                Access::repository("a/b", Access::PUSH)
            ]
        );
        assert_eq!(
            required_access(&blob, &Method::DELETE),
            [Access::repository("a/b", Access::DELETE)]
        );
        assert!(required_access(&blob, &Method::OPTIONS).is_empty());
        assert_eq!(
            required_access(&Route::Catalog, &Method::GET),
            [Access::catalog()]
        );
        assert!(required_access(&Route::Base, &Method::GET).is_empty());
        assert_eq!(
            scope_access(Scope::mount_source("c")),
            [Access::repository("c", Access::PULL)]
        );
    }

    #[test]
    fn api_header_names_are_header_names() {
        use berth_api::headers::*;
        for name in [
            API_VERSION,
            CONTENT_DIGEST,
            UPLOAD_UUID,
            OCI_SUBJECT,
            OCI_FILTERS_APPLIED,
            OCI_CHUNK_MIN_LENGTH,
            CONTENT_TYPE_OPTIONS,
            FORWARDED_PROTO,
            FORWARDED_HOST,
            REQUEST_ID,
        ] {
            let parsed = HeaderName::try_from(name).map(|n| n.as_str().to_owned());
            assert_eq!(parsed.ok(), Some(name.to_ascii_lowercase()), "{name}");
        }
    }
}
