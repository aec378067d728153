//! The listener: a namespace wrapper, one per request, whose repositories
//! emit an event after each successful operation.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use berth_core::{
    BlobContent, BlobDeleter, BlobIngester, BlobProvider, BlobStatter, BlobStore, BlobWriter,
    CreateOptions, Created, ManifestService, Namespace, Page, PageRequest, PutOptions,
    ReferrersService, Repository, Result, TagService,
};
use berth_digest::Digest;
use berth_manifest::{Descriptor, Manifest};
use berth_reference::{RepositoryName, Tag};
use bytes::Bytes;

use crate::event::{Action, ActorRecord, Event, RequestRecord};
use crate::notifier::Shared;

/// What the listener knows of the request it serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request, as put in each event's `request`.
    pub request: RequestRecord,
    /// Who made it, as put in each event's `actor`.
    pub actor: ActorRecord,
    /// `scheme://host[/prefix]` of this registry as the client sees it;
    /// `target.url` is this followed by `/v2/<name>/manifests/<digest>` or
    /// `/v2/<name>/blobs/<digest>`. Empty: no `url`.
    pub base_url: String,
}

/// The per-request listener shared by every wrapper it hands out.
pub(crate) struct RequestListener {
    shared: Arc<Shared>,
    ctx: RequestContext,
    /// Manifests this request resolved from a tag: (repository, digest,
    /// tag), so that a pull by tag carries `tag`.
    resolved_tags: Mutex<Vec<(RepositoryName, Digest, Tag)>>,
}

impl RequestListener {
    pub(crate) fn new(shared: Arc<Shared>, mut ctx: RequestContext) -> RequestListener {
        while ctx.base_url.ends_with('/') {
            ctx.base_url.pop();
        }
        RequestListener {
            shared,
            ctx,
            resolved_tags: Mutex::new(Vec::new()),
        }
    }

    fn is_head(&self) -> bool {
        self.ctx.request.method.eq_ignore_ascii_case("HEAD")
    }

    fn event(&self, action: Action, repository: &RepositoryName) -> Event {
        let mut event = Event::new(action);
        event.request = self.ctx.request.clone();
        event.actor = self.ctx.actor.clone();
        event.source = self.shared.source.clone();
        event.target.repository = repository.as_str().to_owned();
        event
    }

    fn url(&self, repository: &RepositoryName, kind: &str, digest: &Digest) -> String {
        if self.ctx.base_url.is_empty() {
            return String::new();
        }
        format!(
            "{}/v2/{}/{kind}/{}",
            self.ctx.base_url,
            repository.as_str(),
            digest.as_str()
        )
    }

    fn blob_event(
        &self,
        action: Action,
        repository: &RepositoryName,
        descriptor: &Descriptor,
    ) -> Event {
        let mut event = self.event(action, repository);
        event.target.media_type = descriptor.media_type.clone();
        event.target.digest = descriptor.digest.as_str().to_owned();
        event.target.size = descriptor.size;
        event.target.length = descriptor.size;
        event.target.url = self.url(repository, "blobs", &descriptor.digest);
        event
    }

    fn manifest_event(
        &self,
        action: Action,
        repository: &RepositoryName,
        manifest: &Manifest,
        tag: Option<&Tag>,
    ) -> Event {
        let mut event = self.event(action, repository);
        let size = i64::try_from(manifest.payload().len()).unwrap_or(i64::MAX);
        event.target.media_type = manifest.media_type().to_owned();
        event.target.digest = manifest.digest().as_str().to_owned();
        event.target.size = size;
        event.target.length = size;
        event.target.url = self.url(repository, "manifests", manifest.digest());
        if let Some(tag) = tag {
            event.target.tag = tag.as_str().to_owned();
        }
        if self.shared.include_references {
            event.target.references = manifest.references().cloned().collect();
        }
        event
    }

    /// Queues `event` durably for every endpoint that wants it. A failure
    /// is logged and counted; the operation it reports has happened, so
    /// the caller still succeeds.
    async fn emit(&self, event: Event) {
        if let Err(e) = self.shared.publish(&event).await {
            tracing::error!(
                error = %e,
                action = %event.action,
                repository = %event.target.repository,
                request_id = %event.request.id,
                "notifications: could not queue an event"
            );
        }
    }

    fn remember_tag(&self, repository: &RepositoryName, digest: &Digest, tag: &Tag) {
        let mut tags = self.resolved_tags.lock().unwrap_or_else(|e| e.into_inner());
        if !tags
            .iter()
            .any(|(r, d, t)| r == repository && d == digest && t == tag)
        {
            tags.push((repository.clone(), digest.clone(), tag.clone()));
        }
    }

    fn resolved_tag(&self, repository: &RepositoryName, digest: &Digest) -> Option<Tag> {
        let tags = self.resolved_tags.lock().unwrap_or_else(|e| e.into_inner());
        tags.iter()
            .find(|(r, d, _)| r == repository && d == digest)
            .map(|(_, _, t)| t.clone())
    }
}

/// The wrapped namespace.
pub(crate) struct ListenerNamespace {
    pub(crate) inner: Arc<dyn Namespace>,
    pub(crate) listener: Arc<RequestListener>,
}

#[async_trait]
impl Namespace for ListenerNamespace {
    fn repository(&self, name: &RepositoryName) -> Result<Arc<dyn Repository>> {
        let inner = self.inner.repository(name)?;
        Ok(Arc::new(ListenerRepository::new(
            inner,
            self.listener.clone(),
        )))
    }

    async fn catalog(&self, page: PageRequest) -> Result<Page<String>> {
        self.inner.catalog(page).await
    }

    async fn remove_repository(&self, name: &RepositoryName) -> Result<()> {
        self.inner.remove_repository(name).await?;
        let event = self.listener.event(Action::Delete, name);
        self.listener.emit(event).await;
        Ok(())
    }

    fn blob_statter(&self) -> Arc<dyn BlobStatter> {
        self.inner.blob_statter()
    }
}

/// One wrapped repository.
struct ListenerRepository {
    inner: Arc<dyn Repository>,
    blobs: ListenerBlobs,
    manifests: ListenerManifests,
    tags: ListenerTags,
}

impl ListenerRepository {
    fn new(inner: Arc<dyn Repository>, listener: Arc<RequestListener>) -> ListenerRepository {
        let part = || Part {
            repo: inner.clone(),
            listener: listener.clone(),
        };
        ListenerRepository {
            blobs: ListenerBlobs(part()),
            manifests: ListenerManifests(part()),
            tags: ListenerTags(part()),
            inner,
        }
    }
}

impl Repository for ListenerRepository {
    fn name(&self) -> &RepositoryName {
        self.inner.name()
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
        self.inner.referrers()
    }
}

/// What each service wrapper holds.
struct Part {
    repo: Arc<dyn Repository>,
    listener: Arc<RequestListener>,
}

impl Part {
    fn name(&self) -> &RepositoryName {
        self.repo.name()
    }
}

struct ListenerBlobs(Part);

impl ListenerBlobs {
    async fn pulled(&self, descriptor: &Descriptor) {
        let l = &self.0.listener;
        l.emit(l.blob_event(Action::Pull, self.0.name(), descriptor))
            .await;
    }
}

#[async_trait]
impl BlobStatter for ListenerBlobs {
    /// A `HEAD` of a blob is a pull for Distribution (it serves the blob
    /// without a body); the handler only stats for it.
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let descriptor = self.0.repo.blobs().stat(digest).await?;
        if self.0.listener.is_head() {
            self.pulled(&descriptor).await;
        }
        Ok(descriptor)
    }
}

#[async_trait]
impl BlobProvider for ListenerBlobs {
    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let blobs = self.0.repo.blobs();
        let content = blobs.get(digest).await?;
        // As Distribution: the descriptor for the event comes from a stat.
        match blobs.stat(digest).await {
            Ok(descriptor) => self.pulled(&descriptor).await,
            Err(e) => tracing::warn!(%digest, error = %e,
                "notifications: could not describe a pulled blob; no event"),
        }
        Ok(content)
    }

    async fn open(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobContent> {
        let content = self.0.repo.blobs().open(digest, range).await?;
        self.pulled(&content.descriptor).await;
        Ok(content)
    }

    async fn open_described(
        &self,
        descriptor: Descriptor,
        range: Option<Range<u64>>,
    ) -> Result<BlobContent> {
        let content = self
            .0
            .repo
            .blobs()
            .open_described(descriptor, range)
            .await?;
        self.pulled(&content.descriptor).await;
        Ok(content)
    }

    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>> {
        let blobs = self.0.repo.blobs();
        let descriptor = blobs.stat(digest).await?;
        let url = blobs.redirect_url_described(&descriptor).await?;
        if url.is_some() {
            self.pulled(&descriptor).await;
        }
        Ok(url)
    }

    async fn redirect_url_described(&self, descriptor: &Descriptor) -> Result<Option<String>> {
        let url = self
            .0
            .repo
            .blobs()
            .redirect_url_described(descriptor)
            .await?;
        if url.is_some() {
            self.pulled(descriptor).await;
        }
        Ok(url)
    }
}

#[async_trait]
impl BlobIngester for ListenerBlobs {
    async fn put(&self, media_type: &str, content: Bytes) -> Result<Descriptor> {
        let descriptor = self.0.repo.blobs().put(media_type, content).await?;
        let l = &self.0.listener;
        l.emit(l.blob_event(Action::Push, self.0.name(), &descriptor))
            .await;
        Ok(descriptor)
    }

    async fn create(&self, options: CreateOptions) -> Result<Created> {
        let from = options.mount_from.as_ref().map(|(from, _)| from.clone());
        match self.0.repo.blobs().create(options).await? {
            Created::Mounted(descriptor) => {
                let l = &self.0.listener;
                let mut event = l.blob_event(Action::Mount, self.0.name(), &descriptor);
                if let Some(from) = from {
                    event.target.from_repository = from.as_str().to_owned();
                }
                l.emit(event).await;
                Ok(Created::Mounted(descriptor))
            }
            Created::Upload(writer) => Ok(Created::Upload(Box::new(ListenerWriter {
                inner: writer,
                repository: self.0.name().clone(),
                listener: self.0.listener.clone(),
            }))),
        }
    }

    async fn resume(&self, id: &str) -> Result<Box<dyn BlobWriter>> {
        let writer = self.0.repo.blobs().resume(id).await?;
        Ok(Box::new(ListenerWriter {
            inner: writer,
            repository: self.0.name().clone(),
            listener: self.0.listener.clone(),
        }))
    }
}

#[async_trait]
impl BlobDeleter for ListenerBlobs {
    async fn delete(&self, digest: &Digest) -> Result<()> {
        self.0.repo.blobs().delete(digest).await?;
        let l = &self.0.listener;
        let mut event = l.event(Action::Delete, self.0.name());
        event.target.digest = digest.as_str().to_owned();
        l.emit(event).await;
        Ok(())
    }
}

/// An upload whose commit emits a push.
struct ListenerWriter {
    inner: Box<dyn BlobWriter>,
    repository: RepositoryName,
    listener: Arc<RequestListener>,
}

#[async_trait]
impl BlobWriter for ListenerWriter {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn started_at(&self) -> SystemTime {
        self.inner.started_at()
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.inner.write(chunk).await
    }

    async fn commit(self: Box<Self>, digest: &Digest, size: Option<u64>) -> Result<Descriptor> {
        let ListenerWriter {
            inner,
            repository,
            listener,
        } = *self;
        let descriptor = inner.commit(digest, size).await?;
        listener
            .emit(listener.blob_event(Action::Push, &repository, &descriptor))
            .await;
        Ok(descriptor)
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        self.inner.cancel().await
    }

    async fn close(self: Box<Self>) -> Result<()> {
        self.inner.close().await
    }
}

struct ListenerManifests(Part);

#[async_trait]
impl ManifestService for ListenerManifests {
    async fn exists(&self, digest: &Digest) -> Result<bool> {
        self.0.repo.manifests().exists(digest).await
    }

    async fn get(&self, digest: &Digest) -> Result<Manifest> {
        let manifest = self.0.repo.manifests().get(digest).await?;
        let l = &self.0.listener;
        let tag = l.resolved_tag(self.0.name(), digest);
        l.emit(l.manifest_event(Action::Pull, self.0.name(), &manifest, tag.as_ref()))
            .await;
        Ok(manifest)
    }

    async fn put(&self, manifest: &Manifest, options: PutOptions) -> Result<Digest> {
        let tag = options.tag.clone();
        let digest = self.0.repo.manifests().put(manifest, options).await?;
        let l = &self.0.listener;
        l.emit(l.manifest_event(Action::Push, self.0.name(), manifest, tag.as_ref()))
            .await;
        Ok(digest)
    }

    /// Deleting a manifest also removes the tags pointing to it; as in
    /// Distribution (whose handler untags them one by one), each gets a
    /// tag delete event after the manifest's.
    async fn delete(&self, digest: &Digest) -> Result<()> {
        let tags = match self.0.repo.tags().lookup(digest).await {
            Ok(tags) => tags,
            Err(e) => {
                tracing::debug!(%digest, error = %e, "notifications: no tags looked up for a manifest delete");
                Vec::new()
            }
        };
        self.0.repo.manifests().delete(digest).await?;
        let l = &self.0.listener;
        let mut event = l.event(Action::Delete, self.0.name());
        event.target.digest = digest.as_str().to_owned();
        l.emit(event).await;
        for tag in tags {
            let mut event = l.event(Action::Delete, self.0.name());
            event.target.tag = tag.as_str().to_owned();
            l.emit(event).await;
        }
        Ok(())
    }
}

struct ListenerTags(Part);

#[async_trait]
impl TagService for ListenerTags {
    async fn get(&self, tag: &Tag) -> Result<Descriptor> {
        let descriptor = self.0.repo.tags().get(tag).await?;
        self.0
            .listener
            .remember_tag(self.0.name(), &descriptor.digest, tag);
        Ok(descriptor)
    }

    async fn tag(&self, tag: &Tag, descriptor: &Descriptor) -> Result<()> {
        self.0.repo.tags().tag(tag, descriptor).await
    }

    async fn untag(&self, tag: &Tag) -> Result<()> {
        self.0.repo.tags().untag(tag).await?;
        let l = &self.0.listener;
        let mut event = l.event(Action::Delete, self.0.name());
        event.target.tag = tag.as_str().to_owned();
        l.emit(event).await;
        Ok(())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<String>> {
        self.0.repo.tags().list(page).await
    }

    async fn lookup(&self, digest: &Digest) -> Result<Vec<Tag>> {
        self.0.repo.tags().lookup(digest).await
    }
}
