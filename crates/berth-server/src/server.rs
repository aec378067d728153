//! The HTTP servers: the registry's and the debug one.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use berth_config::{Configuration, Listen};
use berth_handlers::{AppState, Settings};

use crate::StartError;
use crate::build::{build_registry, namespace, start_notifier};
use crate::health::start_health_checks;
use crate::maintenance::{spawn_collections, spawn_idle_trim, spawn_upload_purging};

pub(crate) async fn run(config: Configuration) -> Result<(), StartError> {
    // Every library reports its own metrics; they are composed here, in
    // the order /metrics lists them (collectors' after the others).
    let http_metrics = Arc::new(berth_handlers::Metrics::new());
    let storage_metrics = berth_driver::StorageMetrics::new();
    let mut metrics = berth_metrics::MetricsRegistry::new();
    metrics.register(&http_metrics).register(&storage_metrics);
    let registry = build_registry(&config, Some(&storage_metrics)).await?;
    let manifests = registry.options().manifests.clone();

    let instance_id = uuid::Uuid::new_v4().to_string();
    // Hear of garbage collections (this node's or another's) and, when
    // enabled and writable, run them on a schedule.
    spawn_collections(
        registry.clone(),
        &config.storage.maintenance.gc,
        config.storage.maintenance.readonly.enabled,
    );
    metrics.register(registry.gc_metrics());
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
    spawn_idle_trim(http_metrics.clone());
    metrics.register(registry.cache_health());
    let health = start_health_checks(&config, registry.driver().clone())?;
    let notifier = start_notifier(&config, &instance_id).await?;
    if let Some(notifier) = &notifier {
        metrics.register(notifier);
    }
    let (namespace, proxy) = namespace(&config, registry, &mut metrics).await?;
    let metrics = Arc::new(metrics);
    let state = web::Data::new({
        let state =
            AppState::new(namespace, manifests, settings).with_metrics(http_metrics.clone());
        let state = match &config.auth {
            Some(auth) => {
                tracing::info!(controller = auth.name(), "access control on");
                state.with_access_controller(auth.controller()?)
            }
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
        let addr = debug.listen()?;
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
    served?;
    Ok(())
}
