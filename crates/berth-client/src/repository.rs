//! The registry as a [`Namespace`], and one repository of it.

use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{
    BlobStatter, BlobStore, Error, ManifestService, Namespace, Page, PageRequest, ReferrersService,
    Repository, Result, TagService,
};
use berth_digest::Digest;
use berth_manifest::{Descriptor, Manifest};
use berth_reference::{RepositoryName, Tag};

use crate::{Client, RemoteBlobs, RemoteManifests, RemoteReferrers, RemoteTags};

/// What every service of a repository shares.
#[derive(Debug)]
pub(crate) struct Repo {
    pub(crate) client: Client,
    pub(crate) name: RepositoryName,
}

/// One remote repository: a [`Repository`] whose services speak HTTP.
///
/// Cheap to make and to clone; nothing is sent until a service is used.
#[derive(Debug, Clone)]
pub struct RemoteRepository {
    name: RepositoryName,
    blobs: RemoteBlobs,
    manifests: RemoteManifests,
    tags: RemoteTags,
    referrers: RemoteReferrers,
}

impl RemoteRepository {
    pub(crate) fn new(client: Client, name: RepositoryName) -> RemoteRepository {
        let repo = Arc::new(Repo {
            client,
            name: name.clone(),
        });
        RemoteRepository {
            name,
            blobs: RemoteBlobs::new(repo.clone()),
            manifests: RemoteManifests::new(repo.clone()),
            tags: RemoteTags::new(repo.clone()),
            referrers: RemoteReferrers::new(repo),
        }
    }

    /// The blob store, with its streamed uploads.
    pub fn remote_blobs(&self) -> &RemoteBlobs {
        &self.blobs
    }

    /// The manifest service, with [`get_by_tag`](RemoteManifests::get_by_tag).
    pub fn remote_manifests(&self) -> &RemoteManifests {
        &self.manifests
    }

    /// The tag service.
    pub fn remote_tags(&self) -> &RemoteTags {
        &self.tags
    }

    /// The referrers service.
    pub fn remote_referrers(&self) -> &RemoteReferrers {
        &self.referrers
    }

    /// The manifest `tag` points to, in one `GET` (see
    /// [`RemoteManifests::get_by_tag`]).
    pub async fn manifest_by_tag(&self, tag: &Tag) -> Result<Manifest> {
        self.manifests.get_by_tag(tag).await
    }
}

impl Repository for RemoteRepository {
    fn name(&self) -> &RepositoryName {
        &self.name
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

/// The remote registry as a [`Namespace`].
///
/// - `repository` makes a [`RemoteRepository`] (nothing is sent).
/// - `catalog` is `GET /v2/_catalog` with `n` and `last`, following `Link`
///   headers until the page is full.
/// - `remove_repository` is [`Error::Unsupported`]: the API has no such
///   operation.
/// - `blob_statter` answers [`Error::Unsupported`]: the API stats blobs
///   only within a repository (use the repository's blobs).
#[derive(Debug, Clone)]
pub struct RemoteNamespace {
    client: Client,
}

impl RemoteNamespace {
    /// The namespace of `client`'s registry.
    pub fn new(client: Client) -> RemoteNamespace {
        RemoteNamespace { client }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A handle on the repository `name`, with its concrete type.
    pub fn remote_repository(&self, name: &RepositoryName) -> RemoteRepository {
        self.client.repository(name)
    }
}

#[async_trait]
impl Namespace for RemoteNamespace {
    fn repository(&self, name: &RepositoryName) -> Result<Arc<dyn Repository>> {
        Ok(Arc::new(self.client.repository(name)))
    }

    async fn catalog(&self, page: PageRequest) -> Result<Page<String>> {
        self.client.catalog(page).await
    }

    async fn remove_repository(&self, name: &RepositoryName) -> Result<()> {
        Err(Error::unsupported(format!(
            "removing repository {name}: the registry API has no such operation"
        )))
    }

    fn blob_statter(&self) -> Arc<dyn BlobStatter> {
        Arc::new(NoGlobalStatter)
    }
}

/// The registry API has no blob lookup outside a repository.
struct NoGlobalStatter;

#[async_trait]
impl BlobStatter for NoGlobalStatter {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        Err(Error::unsupported(format!(
            "looking up {digest} outside a repository: the registry API stats blobs per repository"
        )))
    }
}
