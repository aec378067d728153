//! The parts a configuration names: storage driver, descriptor cache,
//! registry, access controller, notifier, pull-through namespace.

use std::path::PathBuf;
use std::sync::Arc;

use berth_cache::{
    BlobDescriptorCacheProvider, InMemoryBlobDescriptorCache, RedisBlobDescriptorCache,
};
use berth_config::{BlobDescriptorCache, Configuration, StorageDriver};
use berth_driver::{FilesystemDriver, InMemoryDriver};
use berth_driver_s3::S3Driver;
use berth_manifest::{ManifestRegistry, ValidationPolicy};
use berth_storage::{Protection, Registry, StorageOptions};

use crate::StartError;

/// The registry a configuration describes: driver, cache, validation;
/// with `metrics`, every storage operation is counted and timed into them
/// (berth-driver's [`InstrumentedDriver`](berth_driver::InstrumentedDriver)).
pub async fn build_registry(
    config: &Configuration,
    metrics: Option<&berth_driver::StorageMetrics>,
) -> Result<Registry, StartError> {
    let mut driver = build_driver(config).await?;
    if let Some(metrics) = metrics {
        driver = Arc::new(berth_driver::InstrumentedDriver::new(
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
            protection: Some(Protection {
                delay: config.storage.maintenance.gc.delay,
                writes: !config.storage.maintenance.readonly.enabled,
            }),
        },
    ))
}

async fn build_driver(
    config: &Configuration,
) -> Result<Arc<dyn berth_driver::StorageDriver>, StartError> {
    Ok(match &config.storage.driver {
        StorageDriver::Filesystem(fs) => {
            tracing::info!(rootdirectory = %fs.rootdirectory.display(), "storage: filesystem");
            Arc::new(FilesystemDriver::with_parameters(fs.clone()))
        }
        StorageDriver::InMemory => {
            tracing::warn!("storage: inmemory; nothing survives a restart");
            Arc::new(InMemoryDriver::new())
        }
        StorageDriver::S3(s3) => {
            tracing::info!(bucket = s3.bucket, "storage: s3");
            Arc::new(
                S3Driver::new((**s3).clone())
                    .await
                    .map_err(|e| format!("storage.s3: {e}"))?,
            )
        }
    })
}

pub(crate) fn build_cache(
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
            let options = redis.options()?;
            let addr = redis.addrs.first().map(String::as_str).unwrap_or_default();
            let cache =
                RedisBlobDescriptorCache::new(options).map_err(|e| format!("redis: {e}"))?;
            tracing::info!(addr, "blob descriptor cache: redis");
            Some(Arc::new(cache))
        }
    })
}

/// The base URL of Distribution's `redirect` storage middleware, if one is
/// configured and enabled.
pub(crate) fn redirect_middleware(config: &Configuration) -> Result<Option<String>, StartError> {
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

/// The namespace the handlers serve: local storage, or with
/// `proxy.remoteurl` a pull-through cache of that upstream over it (also
/// given back, to be shut down, its metrics registered in `metrics`).
pub(crate) async fn namespace(
    config: &Configuration,
    registry: Registry,
    metrics: &mut berth_metrics::MetricsRegistry,
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
    let options = proxy.client_options();
    let upstream = berth_client::Client::new(options)
        .map_err(|e| format!("proxy.remoteurl {}: {e}", proxy.remoteurl))?;
    let cache = berth_proxy::ProxyNamespace::start(registry, upstream, proxy.options()).await?;
    metrics.register(&cache);
    Ok((Arc::new(cache.clone()), Some(cache)))
}

/// Starts delivering `notifications:` to its enabled endpoints; `None`
/// when there are none.
pub(crate) async fn start_notifier(
    config: &Configuration,
    instance_id: &str,
) -> Result<Option<berth_notifications::Notifier>, StartError> {
    let n = &config.notifications;
    if !n.any_enabled() {
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
    let options = n.options(
        spool_dir.clone(),
        berth_notifications::SourceRecord {
            addr,
            instance_id: instance_id.to_owned(),
        },
    );
    let notifier = berth_notifications::Notifier::start(options)
        .await
        .map_err(|e| format!("notifications (spool {}): {e}", spool_dir.display()))?;
    tracing::info!(spool = %spool_dir.display(), "notifications on");
    Ok(Some(notifier))
}
