//! Manifests, tags and referrers of a proxied repository.

use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{
    Error, ErrorKind, ManifestService, Page, PageRequest, PutOptions, ReferrersService, Repository,
    Result, TagService,
};
use berth_digest::Digest;
use berth_manifest::{Descriptor, Manifest};
use berth_reference::Tag;

use crate::namespace::{RepoCtx, read_only, upstream_error};
use crate::scheduler::EntryKind;

/// Whether an upstream failure should be answered rather than what local
/// storage says (the upstream could not be asked: local storage not
/// having something then says nothing about the upstream).
fn upstream_failed_to_answer(err: &Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::Unavailable
            | ErrorKind::Unknown
            | ErrorKind::Denied
            | ErrorKind::TooManyRequests
    )
}

/// The manifests of one proxied repository: by digest, local first, else
/// fetched (verified) from the upstream and stored.
pub(crate) struct ProxyManifests {
    ctx: Arc<RepoCtx>,
}

impl ProxyManifests {
    pub(crate) fn new(ctx: Arc<RepoCtx>) -> ProxyManifests {
        ProxyManifests { ctx }
    }
}

#[async_trait]
impl ManifestService for ProxyManifests {
    async fn exists(&self, digest: &Digest) -> Result<bool> {
        if self.ctx.local.manifests().exists(digest).await? {
            return Ok(true);
        }
        let metrics = &self.ctx.shared.metrics;
        metrics.upstream_request();
        self.ctx
            .remote
            .remote_manifests()
            .exists(digest)
            .await
            .map_err(|e| {
                metrics.upstream_failed(&e);
                upstream_error(e)
            })
    }

    async fn get(&self, digest: &Digest) -> Result<Manifest> {
        let shared = &self.ctx.shared;
        match self.ctx.local.manifests().get(digest).await {
            Ok(manifest) => {
                shared.metrics.manifest_hit();
                return Ok(manifest);
            }
            Err(e) if e.kind() == ErrorKind::ManifestUnknown => {}
            Err(e) => return Err(e),
        }
        shared.metrics.upstream_request();
        // The client checks the bytes against the digest asked for.
        let manifest = self
            .ctx
            .remote
            .remote_manifests()
            .get(digest)
            .await
            .map_err(|e| {
                shared.metrics.upstream_failed(&e);
                upstream_error(e)
            })?;
        shared.metrics.manifest_miss(manifest.size() as u64);
        let name = &self.ctx.name;
        match shared.store_manifest(name, &manifest).await {
            Ok(()) => shared.schedule(EntryKind::Manifest, name, digest),
            // The client gets its manifest all the same.
            Err(e) => {
                tracing::warn!(repository = name.as_str(), %digest, error = %e, "proxy: could not store a fetched manifest");
            }
        }
        Ok(manifest)
    }

    async fn put(&self, _manifest: &Manifest, _options: PutOptions) -> Result<Digest> {
        Err(read_only("pushing a manifest"))
    }

    async fn delete(&self, _digest: &Digest) -> Result<()> {
        Err(read_only("deleting a manifest"))
    }
}

/// The tags of one proxied repository: the upstream's, recorded locally
/// for when the upstream cannot be reached.
pub(crate) struct ProxyTags {
    ctx: Arc<RepoCtx>,
}

impl ProxyTags {
    pub(crate) fn new(ctx: Arc<RepoCtx>) -> ProxyTags {
        ProxyTags { ctx }
    }
}

#[async_trait]
impl TagService for ProxyTags {
    /// The upstream's current descriptor (a `HEAD`), the local tag moved
    /// to it; when the upstream does not answer, the local tag.
    async fn get(&self, tag: &Tag) -> Result<Descriptor> {
        let shared = &self.ctx.shared;
        let name = self.ctx.name.as_str();
        shared.metrics.upstream_request();
        let upstream = match self.ctx.remote.remote_tags().get(tag).await {
            Ok(descriptor) => {
                let local = self.ctx.local.tags();
                let current = local.get(tag).await.ok().map(|d| d.digest);
                if current.as_ref() != Some(&descriptor.digest) {
                    match local.tag(tag, &descriptor).await {
                        Ok(()) => {
                            tracing::debug!(repository = name, tag = tag.as_str(), digest = %descriptor.digest, "proxy: tag recorded");
                        }
                        Err(e) => {
                            tracing::warn!(repository = name, tag = tag.as_str(), error = %e, "proxy: could not record a tag");
                        }
                    }
                }
                return Ok(descriptor);
            }
            Err(e) => e,
        };
        shared.metrics.upstream_failed(&upstream);
        if !upstream.is_not_found() {
            tracing::warn!(repository = name, tag = tag.as_str(), error = %upstream, "proxy: the upstream did not answer for a tag; trying the cache");
        }
        // As Distribution: whatever the upstream said, a tag cached here
        // is served.
        match self.ctx.local.tags().get(tag).await {
            Ok(descriptor) => Ok(descriptor),
            Err(_) if upstream_failed_to_answer(&upstream) => Err(upstream_error(upstream)),
            Err(e) => Err(e),
        }
    }

    async fn tag(&self, _tag: &Tag, _descriptor: &Descriptor) -> Result<()> {
        Err(read_only("tagging"))
    }

    async fn untag(&self, _tag: &Tag) -> Result<()> {
        Err(read_only("deleting a tag"))
    }

    /// The upstream's list; the local one when the upstream does not
    /// answer.
    async fn list(&self, page: PageRequest) -> Result<Page<String>> {
        let shared = &self.ctx.shared;
        shared.metrics.upstream_request();
        let upstream = match self.ctx.remote.remote_tags().list(page.clone()).await {
            Ok(list) => return Ok(list),
            Err(e) => e,
        };
        shared.metrics.upstream_failed(&upstream);
        match self.ctx.local.tags().list(page).await {
            Ok(list) => Ok(list),
            Err(_) if upstream_failed_to_answer(&upstream) => Err(upstream_error(upstream)),
            Err(e) => Err(e),
        }
    }

    async fn lookup(&self, digest: &Digest) -> Result<Vec<Tag>> {
        self.ctx.local.tags().lookup(digest).await
    }
}

/// The referrers of one proxied repository: the upstream's; the local
/// index when the upstream does not answer.
pub(crate) struct ProxyReferrers {
    ctx: Arc<RepoCtx>,
}

impl ProxyReferrers {
    pub(crate) fn new(ctx: Arc<RepoCtx>) -> ProxyReferrers {
        ProxyReferrers { ctx }
    }
}

#[async_trait]
impl ReferrersService for ProxyReferrers {
    async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let shared = &self.ctx.shared;
        shared.metrics.upstream_request();
        match self
            .ctx
            .remote
            .remote_referrers()
            .referrers(subject, artifact_type)
            .await
        {
            Ok(list) => Ok(list),
            Err(e) => {
                shared.metrics.upstream_failed(&e);
                tracing::warn!(repository = self.ctx.name.as_str(), %subject, error = %e, "proxy: the upstream did not list referrers; answering from the cache");
                self.ctx
                    .local
                    .referrers()
                    .referrers(subject, artifact_type)
                    .await
            }
        }
    }
}
