//! The pull-through cache as a [`Namespace`], and one repository of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use berth_client::{Client, ClientOptions, RemoteRepository};
use berth_core::{
    BlobDeleter, BlobStatter, BlobStore, Error, ManifestService, Namespace, Page, PageRequest,
    PutOptions, ReferrersService, Repository, Result, TagService,
};
use berth_digest::Digest;
use berth_manifest::{Descriptor, Manifest};
use berth_reference::RepositoryName;
use berth_storage::{Registry, StorageOptions, StorageRepository, paths};
use bytes::Bytes;

use crate::blobs::{Fill, ProxyBlobs, StatFuture};
use crate::manifests::{ProxyManifests, ProxyReferrers, ProxyTags};
use crate::scheduler::{EntryKind, Expire, STATE_PATH, ScheduledEntry, Scheduler};
use crate::{DEFAULT_SAVE_INTERVAL, DEFAULT_TTL, ProxyError, ProxyMetrics};

/// How a [`ProxyNamespace`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyOptions {
    /// How long fetched content is kept (`proxy.ttl`); `None` keeps it
    /// for ever and runs no scheduler. Default [`DEFAULT_TTL`] (168h).
    pub ttl: Option<Duration>,
    /// Where the schedule is kept on the storage driver. Default
    /// [`STATE_PATH`], Distribution's.
    pub state_path: String,
    /// How often a changed schedule is written, at most. Default
    /// [`DEFAULT_SAVE_INTERVAL`].
    pub save_interval: Duration,
}

impl Default for ProxyOptions {
    fn default() -> ProxyOptions {
        ProxyOptions {
            ttl: Some(DEFAULT_TTL),
            state_path: STATE_PATH.to_owned(),
            save_interval: DEFAULT_SAVE_INTERVAL,
        }
    }
}

impl ProxyOptions {
    /// Options with Distribution's meaning of `proxy.ttl`: not set is
    /// 168h, zero disables expiry.
    pub fn with_config_ttl(ttl: Option<Duration>) -> ProxyOptions {
        ProxyOptions {
            ttl: match ttl {
                None => Some(DEFAULT_TTL),
                Some(t) if t.is_zero() => None,
                Some(t) => Some(t),
            },
            ..ProxyOptions::default()
        }
    }
}

/// The client options the proxy uses for its upstream: `remote_url` with
/// the credentials (when `username` is set), a 5 s connect timeout and 3
/// attempts per request (a pull waits on them).
pub fn client_options(
    remote_url: &str,
    username: Option<&str>,
    password: Option<&str>,
) -> ClientOptions {
    let mut options = ClientOptions::new(remote_url);
    if let Some(username) = username {
        options = options.credentials(username, password.unwrap_or(""));
    }
    options.user_agent = concat!("berth-proxy/", env!("CARGO_PKG_VERSION")).to_owned();
    options.timeouts.connect = Duration::from_secs(5);
    options.retries.max_attempts = 3;
    options
}

/// The key of in-flight work on one blob of one repository.
pub(crate) type BlobKey = (RepositoryName, Digest);

/// What every repository handle of one proxy shares.
pub(crate) struct Shared {
    /// Local storage, as configured.
    pub(crate) local: Registry,
    pub(crate) remote: Client,
    pub(crate) metrics: Arc<ProxyMetrics>,
    pub(crate) scheduler: Option<Scheduler>,
    pub(crate) ttl: Option<Duration>,
    /// Blob fetches under way.
    pub(crate) fills: Mutex<HashMap<BlobKey, Arc<Fill>>>,
    /// Upstream blob stats under way.
    pub(crate) stats: Mutex<HashMap<BlobKey, StatFuture>>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Schedules the removal of fetched content.
    pub(crate) fn schedule(&self, kind: EntryKind, name: &RepositoryName, digest: &Digest) {
        if let (Some(scheduler), Some(ttl)) = (&self.scheduler, self.ttl) {
            scheduler.schedule(kind, name, digest, ttl);
        }
    }

    /// Stores a manifest fetched from the upstream through the local
    /// manifest store (payload, revision link, referrers index), without
    /// checking that the blobs it references are here: they are fetched
    /// when asked for, as Distribution's proxy does with
    /// `SkipLayerVerification`.
    pub(crate) async fn store_manifest(
        &self,
        name: &RepositoryName,
        manifest: &Manifest,
    ) -> Result<()> {
        let options = PutOptions {
            mirror: true,
            ..PutOptions::default()
        };
        self.local
            .repository(name)
            .manifests()
            .put(manifest, options)
            .await
            .map(|_| ())
    }

    /// Links a blob that is already in the registry (cached for another
    /// repository) into `name`.
    pub(crate) async fn link_blob(&self, name: &RepositoryName, digest: &Digest) -> Result<()> {
        self.local
            .driver()
            .put_content(
                &paths::layer_link(name, digest),
                Bytes::copy_from_slice(digest.as_str().as_bytes()),
            )
            .await
            .map_err(|e| Error::backend(format!("link blob {digest}"), e))
    }
}

/// An error of the upstream, said to be the upstream's.
pub(crate) fn upstream_error(err: Error) -> Error {
    match err {
        Error::Unavailable { service, source } => Error::Unavailable {
            service: format!("upstream {service}"),
            source,
        },
        Error::Denied { reason } => Error::Denied {
            reason: format!("the upstream registry refused: {reason}"),
        },
        Error::Backend { operation, source } => Error::Backend {
            operation: format!("upstream {operation}"),
            source,
        },
        other => other,
    }
}

/// A copy of a shared error, for each of the requests that waited on it.
pub(crate) fn replay(err: &Error) -> Error {
    match err {
        Error::BlobUnknown { digest } => Error::BlobUnknown {
            digest: digest.clone(),
        },
        Error::ManifestUnknown { reference } => Error::ManifestUnknown {
            reference: reference.clone(),
        },
        Error::NameUnknown { name } => Error::NameUnknown { name: name.clone() },
        Error::DigestMismatch { given, computed } => Error::DigestMismatch {
            given: given.clone(),
            computed: computed.clone(),
        },
        Error::SizeInvalid { expected, actual } => Error::SizeInvalid {
            expected: *expected,
            actual: *actual,
        },
        Error::Denied { reason } => Error::Denied {
            reason: reason.clone(),
        },
        Error::TooManyRequests { reason } => Error::TooManyRequests {
            reason: reason.clone(),
        },
        Error::Unsupported { operation } => Error::Unsupported {
            operation: operation.clone(),
        },
        Error::Unavailable { service, source } => Error::Unavailable {
            service: service.clone(),
            source: source.to_string().into(),
        },
        Error::Backend { operation, source } => Error::Backend {
            operation: operation.clone(),
            source: source.to_string().into(),
        },
        other => Error::backend("proxy", other.to_string()),
    }
}

/// The error of a push or delete in proxy mode.
pub(crate) fn read_only(what: &str) -> Error {
    Error::unsupported(format!(
        "{what}: this registry is a pull-through cache; push to the upstream instead"
    ))
}

/// A pull-through cache: a [`Namespace`] that serves what local storage
/// has and fetches the rest from an upstream registry, storing it.
///
/// See the [crate documentation](crate) for what each operation does.
/// Cheap to clone.
#[derive(Clone)]
pub struct ProxyNamespace {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ProxyNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyNamespace")
            .field("upstream", &self.shared.remote.base_url())
            .field("ttl", &self.shared.ttl)
            .finish_non_exhaustive()
    }
}

impl ProxyNamespace {
    /// A pull-through cache of `remote` on `local`; with a TTL, reads the
    /// schedule and starts the scheduler (so it must be called within a
    /// tokio runtime). Nothing is sent to the upstream yet.
    ///
    /// # Errors
    /// The scheduler state cannot be read.
    pub async fn start(
        local: Registry,
        remote: Client,
        options: ProxyOptions,
    ) -> std::result::Result<ProxyNamespace, ProxyError> {
        let metrics = Arc::new(ProxyMetrics::default());
        let scheduler = match options.ttl {
            Some(_) => {
                // The scheduler removes what it scheduled even when
                // deletes are off for clients.
                let admin = Registry::new(
                    local.driver().clone(),
                    StorageOptions {
                        delete_enabled: true,
                        // It only removes: nothing it reads needs
                        // protecting from garbage collection.
                        protection: None,
                        ..local.options().clone()
                    },
                );
                let expirer = Arc::new(Expirer {
                    admin,
                    metrics: metrics.clone(),
                });
                Some(
                    Scheduler::start(
                        local.driver().clone(),
                        options.state_path.clone(),
                        expirer,
                        options.save_interval,
                    )
                    .await
                    .map_err(|source| ProxyError::State {
                        path: options.state_path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        tracing::info!(
            upstream = remote.base_url(),
            ttl = ?options.ttl,
            "proxy: pull-through cache on"
        );
        Ok(ProxyNamespace {
            shared: Arc::new(Shared {
                local,
                remote,
                metrics,
                scheduler,
                ttl: options.ttl,
                fills: Mutex::new(HashMap::new()),
                stats: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<ProxyMetrics> {
        &self.shared.metrics
    }

    /// The TTL scheduler, when content expires.
    pub fn scheduler(&self) -> Option<&Scheduler> {
        self.shared.scheduler.as_ref()
    }

    /// Local storage.
    pub fn local(&self) -> &Registry {
        &self.shared.local
    }

    /// The upstream's client.
    pub fn upstream(&self) -> &Client {
        &self.shared.remote
    }

    /// How many blob fetches are under way.
    pub fn fetches_in_flight(&self) -> usize {
        lock(&self.shared.fills).len()
    }

    /// Stops the scheduler and writes its state (fetches under way go on
    /// until they end).
    ///
    /// # Errors
    /// The scheduler state could not be written.
    pub async fn shutdown(&self) -> Result<()> {
        match &self.shared.scheduler {
            Some(scheduler) => scheduler.stop().await,
            None => Ok(()),
        }
    }

    /// The repository `name`, as its concrete type.
    pub fn proxy_repository(&self, name: &RepositoryName) -> ProxyRepository {
        let ctx = Arc::new(RepoCtx {
            name: name.clone(),
            shared: self.shared.clone(),
            local: self.shared.local.repository(name),
            remote: self.shared.remote.repository(name),
        });
        ProxyRepository {
            blobs: ProxyBlobs::new(ctx.clone()),
            manifests: ProxyManifests::new(ctx.clone()),
            tags: ProxyTags::new(ctx.clone()),
            referrers: ProxyReferrers::new(ctx.clone()),
            ctx,
        }
    }
}

/// What the services of one proxied repository share.
pub(crate) struct RepoCtx {
    pub(crate) name: RepositoryName,
    pub(crate) shared: Arc<Shared>,
    pub(crate) local: StorageRepository,
    pub(crate) remote: RemoteRepository,
}

/// One repository of a [`ProxyNamespace`].
pub struct ProxyRepository {
    ctx: Arc<RepoCtx>,
    blobs: ProxyBlobs,
    manifests: ProxyManifests,
    tags: ProxyTags,
    referrers: ProxyReferrers,
}

impl Repository for ProxyRepository {
    fn name(&self) -> &RepositoryName {
        &self.ctx.name
    }

    fn blobs(&self) -> &dyn BlobStore {
        &self.blobs
    }

    fn manifests(&self) -> &dyn ManifestService {
        &self.manifests
    }

    fn tags(&self) -> &dyn TagService {
        &self.tags
    }

    fn referrers(&self) -> &dyn ReferrersService {
        &self.referrers
    }
}

#[async_trait]
impl Namespace for ProxyNamespace {
    fn repository(&self, name: &RepositoryName) -> Result<Arc<dyn Repository>> {
        Ok(Arc::new(self.proxy_repository(name)))
    }

    /// What is cached locally (as Distribution's proxy lists).
    async fn catalog(&self, page: PageRequest) -> Result<Page<String>> {
        Namespace::catalog(&self.shared.local, page).await
    }

    async fn remove_repository(&self, name: &RepositoryName) -> Result<()> {
        Err(read_only(&format!("removing repository {name}")))
    }

    fn blob_statter(&self) -> Arc<dyn BlobStatter> {
        self.shared.local.blob_statter()
    }
}

/// Removes expired content from local storage.
struct Expirer {
    /// Local storage with deletes on.
    admin: Registry,
    metrics: Arc<ProxyMetrics>,
}

#[async_trait]
impl Expire for Expirer {
    async fn expire(&self, entry: &ScheduledEntry) -> Result<()> {
        let (name, digest) = (&entry.repository, &entry.digest);
        let driver = self.admin.driver();
        match entry.kind {
            EntryKind::Blob => {
                match self.admin.blobs(name).delete(digest).await {
                    Ok(()) => {}
                    // A link whose data is gone already: remove it alone.
                    Err(Error::BlobUnknown { .. }) => {
                        let link = paths::layer_link(name, digest);
                        match driver.delete(berth_driver::parent(&link)).await {
                            Ok(()) => {}
                            Err(e) if e.is_not_found() => {}
                            Err(e) => {
                                return Err(Error::backend(format!("unlink blob {digest}"), e));
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
                // As Distribution: the data goes too (a repository that
                // still links it fetches it again when asked).
                match driver.delete(&paths::blob_dir(digest)).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(Error::backend(format!("remove blob {digest}"), e)),
                }
                if let Some(cache) = &self.admin.options().cache
                    && let Err(e) = cache.clear(digest).await
                {
                    tracing::warn!(%digest, error = %e, "proxy: could not clear a cached descriptor");
                }
            }
            EntryKind::Manifest => {
                match self.admin.repository(name).manifests().delete(digest).await {
                    Ok(()) => {}
                    // Its payload is gone: remove the revision link alone.
                    Err(Error::ManifestUnknown { .. }) => {
                        let link = paths::revision_link(name, digest);
                        match driver.delete(berth_driver::parent(&link)).await {
                            Ok(()) => {}
                            Err(e) if e.is_not_found() => {}
                            Err(e) => {
                                return Err(Error::backend(format!("unlink manifest {digest}"), e));
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.metrics.expired(entry.kind);
        Ok(())
    }
}

/// A descriptor's size as a byte count.
pub(crate) fn size_of(descriptor: &Descriptor) -> u64 {
    u64::try_from(descriptor.size).unwrap_or(0)
}
