//! The registry as a whole, and one repository of it.

use std::sync::Arc;

use async_trait::async_trait;
use berth_reference::RepositoryName;

use crate::{
    BlobStatter, BlobStore, ManifestService, Page, PageRequest, ReferrersService, Result,
    TagService,
};

/// One repository: its blobs, manifests, tags and referrers.
///
/// A `Repository` is a cheap handle; obtaining one does not create
/// anything in storage (a repository exists once something is pushed).
pub trait Repository: Send + Sync {
    /// The repository's name.
    fn name(&self) -> &RepositoryName;
    /// Its blobs (layers, configs, and manifest payloads).
    fn blobs(&self) -> &dyn BlobStore;
    /// Its manifests.
    fn manifests(&self) -> &dyn ManifestService;
    /// Its tags.
    fn tags(&self) -> &dyn TagService;
    /// Its referrers index.
    fn referrers(&self) -> &dyn ReferrersService;
}

/// The registry: repositories by name, the catalog, and the global blob
/// statter.
///
/// # Contract
/// - `repository` validates nothing beyond the type of its argument and
///   touches no storage; errors surface on use.
/// - `catalog` lists repository names in lexicographic order, paginated,
///   and stops reading storage once the page is full. A repository that
///   has only uploads (no layers, no manifests) is not listed.
/// - `remove_repository` deletes all of a repository's links, tags and
///   uploads (`NameUnknown` if there is nothing; `Unsupported` when
///   deletes are off). Blob bytes stay until garbage collection.
/// - `blob_statter` answers for every blob in the registry, regardless of
///   repository links.
#[async_trait]
pub trait Namespace: Send + Sync {
    /// A handle on the named repository.
    fn repository(&self, name: &RepositoryName) -> Result<Arc<dyn Repository>>;
    /// One page of repository names.
    async fn catalog(&self, page: PageRequest) -> Result<Page<String>>;
    /// Removes a repository.
    async fn remove_repository(&self, name: &RepositoryName) -> Result<()>;
    /// Stats blobs across the whole registry.
    fn blob_statter(&self) -> Arc<dyn BlobStatter>;
}
