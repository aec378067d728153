//! From a configuration to a running server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use berth_cache::{
    BlobDescriptorCacheProvider, InMemoryBlobDescriptorCache, RedisBlobDescriptorCache,
    RedisOptions,
};
use berth_config::{
    BlobDescriptorCache, Configuration, Listen, LogFormatter, LogLevel, StorageDriver,
};
use berth_driver::{FilesystemDriver, FilesystemParameters, InMemoryDriver};
use berth_driver_s3::{S3Driver, S3Parameters};
use berth_handlers::{AppState, Settings};
use berth_manifest::{ManifestRegistry, ValidationPolicy};
use berth_storage::{Registry, StorageOptions};

/// A failure to start, said plainly.
pub type StartError = Box<dyn std::error::Error>;

/// Loads the configuration (the file, or the embedded default), builds the
/// registry and serves it until stopped.
pub fn serve(path: Option<PathBuf>) -> Result<(), StartError> {
    // As Distribution: the path may also come from the environment.
    let path = path.or_else(|| {
        std::env::var_os("REGISTRY_CONFIGURATION_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    });
    let loaded = match &path {
        Some(path) => Configuration::load_with_process_env(path)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => Configuration::embedded_with_env(berth_config::process_env())?,
    };
    init_logging(&loaded.config);
    loaded.log_warnings();
    if loaded
        .unsupported
        .iter()
        .any(|u| u.starts_with("http.tls.letsencrypt"))
    {
        return Err("http.tls.letsencrypt (ACME) is not supported; set http.tls.certificate and http.tls.key".into());
    }
    let config = loaded.config;
    match &path {
        Some(path) => tracing::info!(config = %path.display(), "configuration loaded"),
        None => tracing::info!("no configuration file given: running the embedded default"),
    }

    let runtime = actix_web::rt::System::new();
    runtime.block_on(run(config))
}

fn init_logging(config: &Configuration) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match config.log.level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal, never in files or journals.
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    // JSON (and Logstash, which Distribution also writes as one JSON object
    // a line): each line carries the request span's fields, its id among
    // them. Requests actix-http cannot parse (a client's TLS probe) are
    // debug lines, not errors.
    let _ = match config.log.formatter {
        LogFormatter::Text => registry
            .with(berth_handlers::ClientErrorsAtDebug::new(layer))
            .try_init(),
        LogFormatter::Json | LogFormatter::Logstash => registry
            .with(berth_handlers::ClientErrorsAtDebug::new(
                layer
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .flatten_event(true),
            ))
            .try_init(),
    };
}

/// The registry a configuration describes: driver, cache, validation;
/// with `metrics`, every storage operation is counted and timed.
pub async fn build_registry(
    config: &Configuration,
    metrics: Option<&Arc<berth_handlers::Metrics>>,
) -> Result<Registry, StartError> {
    let mut driver = build_driver(config).await?;
    if let Some(metrics) = metrics {
        driver = Arc::new(berth_handlers::InstrumentedDriver::new(
            driver,
            metrics.clone(),
        ));
    }
    let cache = build_cache(config)?;
    let validation = &config.validation;
    let policy = if validation.disabled {
        ValidationPolicy::allow_any_url()
    } else {
        ValidationPolicy::from_patterns(
            &validation.manifests.urls.allow,
            &validation.manifests.urls.deny,
        )
        .map_err(|e| format!("validation.manifests.urls: {e}"))?
    };
    Ok(Registry::new(
        driver,
        StorageOptions {
            delete_enabled: config.storage.delete.enabled,
            redirect: !config.storage.redirect.disable,
            cache,
            manifests: ManifestRegistry::new().with_policy(policy),
            redirect_base_url: redirect_middleware(config)?,
        },
    ))
}

async fn run(config: Configuration) -> Result<(), StartError> {
    let metrics = Arc::new(berth_handlers::Metrics::new());
    let registry = build_registry(&config, Some(&metrics)).await?;
    let manifests = registry.options().manifests.clone();

    // Tell maintenance tools (garbage-collect) that a writable registry
    // serves this storage; a read-only one does not block them.
    let instance_id = uuid::Uuid::new_v4().to_string();
    let announced = !config.storage.maintenance.readonly.enabled;
    if announced {
        spawn_heartbeat(registry.clone(), instance_id.clone());
    }
    let purging = &config.storage.maintenance.uploadpurging;
    if purging.enabled && !config.storage.maintenance.readonly.enabled {
        spawn_upload_purging(
            registry.clone(),
            purging.age,
            purging.interval,
            purging.dryrun,
        );
    }

    let secret = match config.http.secret.as_deref().filter(|s| !s.is_empty()) {
        Some(secret) => secret.as_bytes().to_vec(),
        None => {
            tracing::warn!(
                "http.secret is not set: using a random one; uploads cannot move to another replica, nor survive a restart"
            );
            uuid::Uuid::new_v4().to_string().into_bytes()
        }
    };
    let settings = Settings {
        host: config.http.host.clone(),
        prefix: config.http.prefix.clone().unwrap_or_default(),
        relative_urls: config.http.relativeurls,
        secret,
        read_only: config.storage.maintenance.readonly.enabled,
        catalog_max_entries: usize::try_from(config.catalog.maxentries).unwrap_or(usize::MAX),
        headers: config
            .http
            .headers
            .0
            .iter()
            .map(|(name, values)| (name.clone(), values.clone()))
            .collect(),
        access_log: !config.log.accesslog.disabled,
    };
    let registry_for_exit = registry.clone();
    spawn_idle_trim(metrics.clone());
    metrics.add_source(Arc::new(CacheCounters(registry.cache_health().clone())));
    let health = berth_handlers::HealthChecks::new();
    start_health_checks(&config, &health, registry.driver().clone())?;
    let notifier = start_notifier(&config, &instance_id).await?;
    if let Some(notifier) = &notifier {
        metrics.add_source(Arc::new(EndpointCounters(notifier.clone())));
    }
    let (namespace, proxy) = namespace(&config, registry, &metrics).await?;
    let state = web::Data::new({
        let state = AppState::new(namespace, manifests, settings).with_metrics(metrics.clone());
        let state = match &config.auth {
            Some(auth) => state.with_access_controller(access_controller(auth)?),
            None => state,
        };
        match &notifier {
            Some(notifier) => state.with_notifier(notifier.clone()),
            None => state,
        }
    });
    let server =
        HttpServer::new(move || App::new().configure(berth_handlers::configure(state.clone())));
    let server = match config.http.listen()? {
        Listen::Tcp(addr) => match &config.http.tls {
            Some(tls) => {
                let tls = crate::tls::server_config(tls)?;
                tracing::info!(addr, "listening (TLS)");
                server
                    .bind_rustls_0_23(&addr, tls)
                    .map_err(|e| format!("http.addr {addr}: {e}"))?
            }
            None => {
                tracing::info!(addr, "listening");
                server
                    .bind(&addr)
                    .map_err(|e| format!("http.addr {addr}: {e}"))?
            }
        },
        Listen::Unix(_) if config.http.tls.is_some() => {
            return Err("http.tls on a unix socket (http.net: unix) is not supported".into());
        }
        Listen::Unix(path) => {
            tracing::info!(socket = %path.display(), "listening");
            server
                .bind_uds(&path)
                .map_err(|e| format!("http.addr {}: {e}", path.display()))?
        }
    };
    let server = match config.http.draintimeout {
        Some(drain) => server.shutdown_timeout(drain.as_secs().max(1)),
        None => server,
    };
    if let Some(debug) = config.http.debug.as_ref().filter(|d| !d.addr.is_empty()) {
        let path = debug
            .prometheus
            .enabled
            .then(|| debug.prometheus.path.clone());
        let addr = listen_addr(&debug.addr);
        let debug_server = HttpServer::new(move || {
            App::new().configure(berth_handlers::configure_debug(
                health.clone(),
                metrics.clone(),
                path.clone(),
            ))
        })
        .workers(1)
        .bind(&addr)
        .map_err(|e| format!("http.debug.addr {addr}: {e}"))?;
        tracing::info!(addr, "debug server listening");
        actix_web::rt::spawn(debug_server.run());
    }
    let served = server.run().await;
    if let Some(notifier) = &notifier {
        // Events not yet delivered stay in the spool for the next start.
        notifier.shutdown().await;
    }
    if let Some(proxy) = &proxy
        && let Err(e) = proxy.shutdown().await
    {
        tracing::warn!(error = %e, "could not save the proxy's expiry schedule");
    }
    if announced && let Err(e) = registry_for_exit.withdraw_instance(&instance_id).await {
        tracing::warn!(error = %e, "could not remove this instance's entry from the storage");
    }
    served?;
    Ok(())
}

async fn build_driver(
    config: &Configuration,
) -> Result<Arc<dyn berth_driver::StorageDriver>, StartError> {
    Ok(match &config.storage.driver {
        StorageDriver::Filesystem(fs) => {
            let mut params = FilesystemParameters::new(&fs.rootdirectory);
            params.maxthreads = usize::try_from(fs.maxthreads).unwrap_or(usize::MAX);
            tracing::info!(rootdirectory = %fs.rootdirectory, "storage: filesystem");
            Arc::new(FilesystemDriver::with_parameters(params))
        }
        StorageDriver::InMemory => {
            tracing::warn!("storage: inmemory; nothing survives a restart");
            Arc::new(InMemoryDriver::new())
        }
        StorageDriver::S3(s3) => {
            let params: S3Parameters =
                serde_yaml::from_value(serde_yaml::Value::Mapping(s3.to_mapping()))
                    .map_err(|e| format!("storage.s3: {e}"))?;
            tracing::info!(bucket = params.bucket, "storage: s3");
            Arc::new(
                S3Driver::new(params)
                    .await
                    .map_err(|e| format!("storage.s3: {e}"))?,
            )
        }
    })
}

fn build_cache(
    config: &Configuration,
) -> Result<Option<Arc<dyn BlobDescriptorCacheProvider>>, StartError> {
    let size = config.storage.cache.blobdescriptorsize;
    Ok(match config.storage.cache.blobdescriptor {
        BlobDescriptorCache::None => None,
        BlobDescriptorCache::InMemory => Some(Arc::new(InMemoryBlobDescriptorCache::new(size))),
        BlobDescriptorCache::Redis => {
            let redis = config
                .redis
                .as_ref()
                .ok_or("storage.cache.blobdescriptor is redis, but there is no redis section")?;
            let addr = redis
                .addrs
                .first()
                .ok_or("redis.addr is required for the redis descriptor cache")?;
            let db = i64::try_from(redis.db)
                .map_err(|_| format!("redis.db {} is too large", redis.db))?;
            let mut options = RedisOptions::addr(addr).db(db);
            if let Some(password) = &redis.password {
                options = options.password(password);
            }
            if let Some(username) = &redis.username {
                options = options.username(username);
            }
            if let Some(t) = redis.dialtimeout {
                options = options.dial_timeout(t);
            }
            if let Some(t) = redis.readtimeout {
                options = options.read_timeout(t);
            }
            if let Some(t) = redis.writetimeout {
                options = options.write_timeout(t);
            }
            let cache =
                RedisBlobDescriptorCache::new(options).map_err(|e| format!("redis: {e}"))?;
            tracing::info!(addr, "blob descriptor cache: redis");
            Some(Arc::new(cache))
        }
    })
}

/// Removes uploads older than `age` every `interval`, as Distribution's
/// maintenance loop does (the first run comes after a short random wait, so
/// replicas do not all purge at once).
fn spawn_upload_purging(registry: Registry, age: Duration, interval: Duration, dry_run: bool) {
    // Up to a minute (or one interval, if shorter) of random delay.
    let window = interval.min(Duration::from_secs(60)).as_millis().max(1) as u64;
    let random = u64::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    let jitter = Duration::from_millis(random % window);
    actix_web::rt::spawn(async move {
        tokio::time::sleep(jitter).await;
        loop {
            match registry.purge_uploads(age, dry_run).await {
                Ok(report) => tracing::info!(
                    purged = report.purged.len(),
                    kept = report.kept,
                    errors = report.errors.len(),
                    dry_run,
                    "upload purging done"
                ),
                Err(e) => tracing::warn!(error = %e, "upload purging failed"),
            }
            tokio::time::sleep(interval.max(Duration::from_secs(1))).await;
        }
    });
}

/// `:5001` (Go's form: every interface) as a bindable address.
fn listen_addr(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_owned(),
    }
}

/// The namespace the handlers serve: local storage, or with
/// `proxy.remoteurl` a pull-through cache of that upstream over it (also
/// given back, to be shut down).
async fn namespace(
    config: &Configuration,
    registry: Registry,
    metrics: &Arc<berth_handlers::Metrics>,
) -> Result<
    (
        Arc<dyn berth_core::Namespace>,
        Option<berth_proxy::ProxyNamespace>,
    ),
    StartError,
> {
    let Some(proxy) = &config.proxy else {
        return Ok((Arc::new(registry), None));
    };
    let options = berth_proxy::client_options(
        &proxy.remoteurl,
        proxy.username.as_deref(),
        proxy.password.as_deref(),
    );
    let upstream = berth_client::Client::new(options)
        .map_err(|e| format!("proxy.remoteurl {}: {e}", proxy.remoteurl))?;
    let cache = berth_proxy::ProxyNamespace::start(
        registry,
        upstream,
        berth_proxy::ProxyOptions::with_config_ttl(proxy.ttl),
    )
    .await?;
    metrics.add_source(Arc::new(ProxyCounters(cache.clone())));
    Ok((Arc::new(cache.clone()), Some(cache)))
}

/// The pull-through cache's counters for `/metrics`.
struct ProxyCounters(berth_proxy::ProxyNamespace);

impl berth_handlers::ScrapeSource for ProxyCounters {
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        let s = self.0.metrics().snapshot();
        vec![
            (
                "proxy_upstream_requests",
                "Requests sent to the upstream registry",
                s.upstream_requests,
            ),
            (
                "proxy_upstream_errors",
                "Upstream requests that failed (unreachable, 5xx, denied, a body that did not verify)",
                s.upstream_errors,
            ),
            (
                "proxy_blob_fetches",
                "Whole-blob fetches from the upstream started",
                s.blob_fetches,
            ),
            (
                "proxy_shared_fetches",
                "Blob reads that joined a fetch already under way",
                s.shared_fetches,
            ),
        ]
    }

    fn samples(&self) -> Vec<berth_handlers::Sample> {
        let s = self.0.metrics().snapshot();
        let sample = |name, help, gauge, kind: Option<&str>, value| berth_handlers::Sample {
            name,
            help,
            gauge,
            labels: kind
                .map(|k| vec![("kind", k.to_owned())])
                .unwrap_or_default(),
            value,
        };
        let hits = "Reads served from the cache (local storage)";
        let misses = "Reads that went to the upstream registry";
        let bytes = "Bytes received from the upstream registry";
        let expired = "Cached content removed by the TTL scheduler";
        let (blob, manifest) = (Some("blob"), Some("manifest"));
        vec![
            sample("proxy_hits", hits, false, blob, s.blob_hits),
            sample("proxy_hits", hits, false, manifest, s.manifest_hits),
            sample("proxy_misses", misses, false, blob, s.blob_misses),
            sample("proxy_misses", misses, false, manifest, s.manifest_misses),
            sample(
                "proxy_upstream_bytes",
                bytes,
                false,
                blob,
                s.blob_bytes_from_upstream,
            ),
            sample(
                "proxy_upstream_bytes",
                bytes,
                false,
                manifest,
                s.manifest_bytes_from_upstream,
            ),
            sample("proxy_expired", expired, false, blob, s.expired_blobs),
            sample(
                "proxy_expired",
                expired,
                false,
                manifest,
                s.expired_manifests,
            ),
            sample(
                "proxy_scheduled",
                "Cached blobs and manifests scheduled for removal",
                true,
                None,
                self.0.scheduler().map_or(0, |s| s.len() as u64),
            ),
            sample(
                "proxy_fetches_in_flight",
                "Blob fetches from the upstream under way",
                true,
                None,
                self.0.fetches_in_flight() as u64,
            ),
        ]
    }
}

/// The descriptor cache's counters, read when metrics are scraped.
struct CacheCounters(Arc<berth_cache::CacheHealth>);

impl berth_handlers::ScrapeSource for CacheCounters {
    fn counters(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            ("cache_hits", "Blob descriptor cache hits", self.0.hits()),
            (
                "cache_misses",
                "Blob descriptor cache misses",
                self.0.misses(),
            ),
            (
                "cache_errors",
                "Blob descriptor cache errors (served from storage)",
                self.0.errors(),
            ),
        ]
    }
}

/// Starts delivering `notifications:` to its enabled endpoints; `None`
/// when there are none.
async fn start_notifier(
    config: &Configuration,
    instance_id: &str,
) -> Result<Option<berth_notifications::Notifier>, StartError> {
    let n = &config.notifications;
    if n.endpoints.iter().all(|e| e.disabled) {
        return Ok(None);
    }
    let spool_dir = match (&n.spool.directory, &config.storage.driver) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, berth_config::StorageDriver::Filesystem(fs)) => {
            PathBuf::from(&fs.rootdirectory).join("berth/notifications")
        }
        (None, _) => PathBuf::from("/var/lib/berth/notifications"),
    };
    // As Distribution: this host's name with the port of http.addr.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let addr = match (hostname.is_empty(), config.http.addr.rsplit_once(':')) {
        (false, Some((_, port))) => format!("{hostname}:{port}"),
        _ => config.http.addr.clone(),
    };
    let options = berth_notifications::NotificationsOptions {
        endpoints: n
            .endpoints
            .iter()
            .map(|e| berth_notifications::EndpointOptions {
                name: e.name.clone(),
                disabled: e.disabled,
                url: e.url.clone(),
                headers: e.headers.0.clone(),
                timeout: e.timeout,
                threshold: u32::try_from(e.threshold).unwrap_or(u32::MAX),
                backoff: e.backoff,
                ignored_media_types: e
                    .ignoredmediatypes
                    .iter()
                    .chain(&e.ignore.mediatypes)
                    .cloned()
                    .collect(),
                ignore_actions: e.ignore.actions.clone(),
            })
            .collect(),
        include_references: n.events.includereferences,
        spool_dir: spool_dir.clone(),
        max_queue_bytes: n.spool.maxbytes,
        media_type: berth_notifications::EventsMediaType::parse(&n.events.mediatype)
            .unwrap_or_default(),
        source: berth_notifications::SourceRecord {
            addr,
            instance_id: instance_id.to_owned(),
        },
    };
    let notifier = berth_notifications::Notifier::start(options)
        .await
        .map_err(|e| format!("notifications (spool {}): {e}", spool_dir.display()))?;
    tracing::info!(spool = %spool_dir.display(), "notifications on");
    Ok(Some(notifier))
}

/// Per-endpoint notification counters for `/metrics`.
struct EndpointCounters(berth_notifications::Notifier);

impl berth_handlers::ScrapeSource for EndpointCounters {
    fn samples(&self) -> Vec<berth_handlers::Sample> {
        let mut out = Vec::new();
        for stats in self.0.stats() {
            let sample = |name, help, gauge, value| berth_handlers::Sample {
                name,
                help,
                gauge,
                labels: vec![("endpoint", stats.name.clone())],
                value,
            };
            out.extend([
                sample(
                    "notifications_pending",
                    "Events queued for an endpoint, not yet delivered",
                    true,
                    stats.pending,
                ),
                sample(
                    "notifications_queue_bytes",
                    "Bytes of an endpoint's queue on disk",
                    true,
                    stats.queue_bytes,
                ),
                sample(
                    "notifications_delivered",
                    "Events an endpoint accepted (2xx or 3xx)",
                    false,
                    stats.delivered,
                ),
                sample(
                    "notifications_failed",
                    "Delivery attempts that failed",
                    false,
                    stats.failed,
                ),
                sample(
                    "notifications_retries",
                    "Delivery attempts that repeated an earlier one",
                    false,
                    stats.retries,
                ),
                sample(
                    "notifications_dropped",
                    "Events dropped (queue full, or unreadable records)",
                    false,
                    stats.dropped,
                ),
                sample(
                    "notifications_spool_errors",
                    "Errors writing or reading an endpoint's queue",
                    false,
                    stats.spool_errors,
                ),
                sample(
                    "notifications_last_status",
                    "The HTTP status of the last delivery attempt (0: none, or no response)",
                    true,
                    u64::from(stats.last_status.unwrap_or(0)),
                ),
            ]);
        }
        out
    }
}

/// The access controller of `auth:`.
fn access_controller(
    auth: &berth_config::Auth,
) -> Result<Arc<dyn berth_auth::AccessController>, StartError> {
    use berth_config::Auth;
    let controller = match auth {
        Auth::Htpasswd(h) => berth_auth::htpasswd(berth_auth::HtpasswdOptions {
            realm: h.realm.clone(),
            path: PathBuf::from(&h.path),
        })?,
        Auth::Silly(s) => {
            tracing::warn!("auth.silly lets any Authorization header in: for tests only");
            berth_auth::silly(berth_auth::SillyOptions {
                realm: s.realm.clone(),
                service: s.service.clone(),
            })?
        }
        Auth::Token(t) => berth_auth::token(berth_auth::TokenOptions {
            realm: t.realm.clone(),
            service: t.service.clone(),
            issuer: t.issuer.clone(),
            rootcertbundle: t.rootcertbundle.as_ref().map(PathBuf::from),
            jwks: t.jwks.as_ref().map(PathBuf::from),
            autoredirect: t.autoredirect,
            autoredirectpath: t.autoredirectpath.clone(),
            signingalgorithms: t.signingalgorithms.clone(),
        })?,
    };
    tracing::info!(controller = auth.name(), "access control on");
    Ok(controller)
}

/// Starts the checks of `health:` (Distribution's storage driver, file,
/// HTTP and TCP checks).
fn start_health_checks(
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

/// Gives every thread glibc's one main malloc arena (unless
/// `MALLOC_ARENA_MAX` says otherwise). By default glibc hands threads up
/// to eight arenas per core; each keeps the top of its heap (megabytes,
/// after 1 MiB body chunks) mapped, and `malloc_trim` cannot hand that
/// part back, so a registry that served a burst from many blocking threads
/// sat at several times its idle size (65 MB against 15 MB after the
/// benchmark's load). The main arena's top is returned by the idle trim;
/// the per-thread caches in front of the arena keep the small allocations
/// off its lock, and the benchmark's throughput did not move. Called
/// before any thread starts.
pub(crate) fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: a plain tuning call, made before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Hands memory freed after a burst of requests back to the system once
/// the server goes idle: glibc keeps freed heap pages mapped, so a
/// registry that served a load would sit at its peak RSS for ever. Trims
/// after 3 s without a request, and again after 12 s, once the blocking
/// pool's idle threads (kept 10 s after their last task) have ended and
/// freed their caches.
fn spawn_idle_trim(metrics: Arc<berth_handlers::Metrics>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    actix_web::rt::spawn(async move {
        const TRIM_AFTER: [u32; 2] = [3, 12];
        // Seconds without a request (checked every second).
        let (mut seen, mut quiet) = (metrics.requests_served(), u32::MAX);
        loop {
            actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            let now = metrics.requests_served();
            if now != seen {
                (seen, quiet) = (now, 0);
                continue;
            }
            quiet = quiet.saturating_add(1);
            if TRIM_AFTER.contains(&quiet) {
                // SAFETY: malloc_trim only walks glibc's own arenas; it
                // takes their locks and may be called from any thread.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = metrics;
}

/// Announces this process in the storage and refreshes the entry until the
/// process ends (see `berth_storage::Instance`).
fn spawn_heartbeat(registry: Registry, id: String) {
    actix_web::rt::spawn(async move {
        loop {
            if let Err(e) = registry.announce_instance(&id).await {
                tracing::warn!(error = %e, "could not announce this instance in the storage");
            }
            tokio::time::sleep(berth_storage::HEARTBEAT_INTERVAL).await;
        }
    });
}

/// The base URL of Distribution's `redirect` storage middleware, if one is
/// configured and enabled.
fn redirect_middleware(config: &Configuration) -> Result<Option<String>, StartError> {
    let Some((index, entry)) = config
        .middleware
        .storage
        .iter()
        .enumerate()
        .find(|(_, m)| m.name == "redirect" && !m.disabled)
    else {
        return Ok(None);
    };
    let key = format!("middleware.storage[{index}].options.baseurl");
    let base = entry
        .options
        .get("baseurl")
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("{key}: the redirect middleware needs a base URL"))?;
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!("{key}: {base:?} is not an http or https URL").into());
    }
    Ok(Some(base.to_owned()))
}
