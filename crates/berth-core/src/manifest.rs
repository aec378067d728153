//! Manifests, tags and referrers of a repository.

use async_trait::async_trait;
use berth_digest::Digest;
use berth_manifest::{Descriptor, Manifest};
use berth_reference::Tag;

use crate::Result;

/// Options for [`ManifestService::put`].
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Point this tag at the manifest once it is stored.
    pub tag: Option<Tag>,
    /// The manifest is a copy of one another registry serves (a
    /// pull-through cache storing what it fetched): store it as it is,
    /// without checking that the blobs and manifests it references are
    /// here (they are fetched when asked for), and whatever its schema.
    /// Distribution's proxy does the same (`SkipLayerVerification`). A
    /// store that cannot skip the check (a remote registry) ignores it.
    pub mirror: bool,
}

/// Stores and serves the manifests of one repository.
///
/// # Contract
/// - `get` answers the manifest exactly as it was pushed: the same bytes,
///   the same media type, the same digest. An unknown digest is
///   `ManifestUnknown`.
/// - `put` verifies before storing that every blob the manifest references
///   is linked into the repository and every child manifest of an index is
///   present (`ManifestBlobUnknown` naming the first missing digest), then
///   stores the payload, links the revision, indexes its `subject` for
///   referrers and, with [`PutOptions::tag`], moves the tag. It answers the
///   manifest's digest. An invalid manifest is `ManifestInvalid` and
///   nothing is stored. With [`PutOptions::mirror`] the references are
///   not checked.
/// - `delete` removes the revision link and every tag pointing to it
///   (`ManifestUnknown` if absent; `Unsupported` when deletes are off).
#[async_trait]
pub trait ManifestService: Send + Sync {
    /// Whether a manifest with this digest is in the repository.
    async fn exists(&self, digest: &Digest) -> Result<bool>;
    /// The manifest with this digest.
    async fn get(&self, digest: &Digest) -> Result<Manifest>;
    /// Stores a manifest; answers its digest.
    async fn put(&self, manifest: &Manifest, options: PutOptions) -> Result<Digest>;
    /// Deletes the manifest and the tags pointing to it.
    async fn delete(&self, digest: &Digest) -> Result<()>;
}

/// A page request: entries after `last` (exclusive), at most `n` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Start after this entry (in lexicographic order).
    pub last: Option<String>,
    /// At most this many entries; `None` for the implementation's default
    /// (which may be everything).
    pub n: Option<usize>,
}

/// One page of a sorted listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The entries, sorted.
    pub items: Vec<T>,
    /// Whether entries follow the last one of this page.
    pub more: bool,
}

/// The tags of one repository.
///
/// # Contract
/// - `get` of an unknown tag is `ManifestUnknown` naming the tag.
/// - `tag` points the tag at the descriptor's manifest, replacing any
///   previous target.
/// - `untag` of an unknown tag is `ManifestUnknown`.
/// - `list` returns tags in lexicographic order, paginated; a repository
///   without tags gives an empty page, one that does not exist is
///   `NameUnknown`.
/// - `lookup` returns every tag currently pointing to `digest`, sorted.
#[async_trait]
pub trait TagService: Send + Sync {
    /// The descriptor the tag points to.
    async fn get(&self, tag: &Tag) -> Result<Descriptor>;
    /// Points `tag` at `descriptor`.
    async fn tag(&self, tag: &Tag, descriptor: &Descriptor) -> Result<()>;
    /// Removes the tag (not the manifest).
    async fn untag(&self, tag: &Tag) -> Result<()>;
    /// One page of the repository's tags.
    async fn list(&self, page: PageRequest) -> Result<Page<String>>;
    /// The tags pointing to `digest`.
    async fn lookup(&self, digest: &Digest) -> Result<Vec<Tag>>;
}

/// The OCI 1.1 referrers of manifests in one repository.
///
/// # Contract
/// `referrers` lists the descriptors (media type, digest, size,
/// `artifactType`, `annotations`) of every manifest in the repository whose
/// `subject` is `subject`, filtered by `artifact_type` when given, in a
/// stable order. A subject with no referrers — even one that does not
/// exist — gives an empty list. It must not walk the whole repository.
#[async_trait]
pub trait ReferrersService: Send + Sync {
    /// Descriptors of the manifests whose subject is `subject`.
    async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>>;
}
