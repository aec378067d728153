//! Blobs: stat, read, ingest through uploads, delete.

use std::ops::Range;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_reference::RepositoryName;
use bytes::Bytes;
use futures_core::Stream;

use crate::Result;

/// A stream of body bytes. Blobs are always streamed, never held whole.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;

/// Looks up a blob's descriptor (digest, size, media type).
///
/// # Contract
/// - `stat` of a digest the service does not know is
///   [`Error::BlobUnknown`](crate::Error::BlobUnknown). For a
///   repository-scoped statter that includes blobs that exist in the
///   registry but are not linked into this repository.
/// - The returned descriptor's `digest` is the canonical digest of the
///   content and its `size` the exact byte count.
#[async_trait]
pub trait BlobStatter: Send + Sync {
    /// The descriptor of the blob with this digest.
    async fn stat(&self, digest: &Digest) -> Result<Descriptor>;
}

/// A statter whose answers can be recorded and forgotten: a descriptor
/// cache, or the link store of a repository.
///
/// # Contract
/// - After `set_descriptor(d, desc)`, `stat(d)` answers `desc` until
///   `clear(d)` (a cache may forget earlier; it then answers `BlobUnknown`
///   and the caller falls back to storage).
/// - `clear` of an unknown digest is `BlobUnknown` for a store, and may
///   succeed for a cache.
#[async_trait]
pub trait BlobDescriptorService: BlobStatter {
    /// Records the descriptor of `digest`.
    async fn set_descriptor(&self, digest: &Digest, descriptor: &Descriptor) -> Result<()>;
    /// Forgets `digest`.
    async fn clear(&self, digest: &Digest) -> Result<()>;
}

/// A readable slice of a blob.
pub struct BlobContent {
    /// The whole blob's descriptor.
    pub descriptor: Descriptor,
    /// Which bytes of the blob `body` carries (half-open).
    pub range: Range<u64>,
    /// The bytes, in order.
    pub body: ByteStream,
}

impl std::fmt::Debug for BlobContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobContent")
            .field("descriptor", &self.descriptor)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Reads blobs.
///
/// # Contract
/// - Every method answers `BlobUnknown` for a blob `stat` would not find.
/// - `open` with `range: None` streams the whole blob; with a range,
///   exactly those bytes. The caller checks ranges against the blob's
///   size; an implementation clamps a range reaching past the end to the
///   end, and an empty range gives an empty body.
/// - `get` is for small blobs (manifests, configs): it reads the whole blob
///   into memory.
/// - `redirect_url` answers `Ok(None)` when redirects are not available
///   (disabled, or the backend has no URLs); the caller then streams.
#[async_trait]
pub trait BlobProvider: BlobStatter {
    /// The whole blob, in memory. Only for small blobs.
    async fn get(&self, digest: &Digest) -> Result<Bytes>;

    /// Streams the blob, or a range of it.
    async fn open(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobContent> {
        let descriptor = self.stat(digest).await?;
        self.open_described(descriptor, range).await
    }

    /// Streams a blob that [`stat`](BlobStatter::stat) just described,
    /// without looking it up again (a request that has stat'ed the blob
    /// already saves a storage round trip).
    async fn open_described(
        &self,
        descriptor: Descriptor,
        range: Option<Range<u64>>,
    ) -> Result<BlobContent>;

    /// A URL the client can fetch the blob from directly, if any.
    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>> {
        let descriptor = self.stat(digest).await?;
        self.redirect_url_described(&descriptor).await
    }

    /// [`redirect_url`](BlobProvider::redirect_url) of a blob that `stat`
    /// just described.
    async fn redirect_url_described(&self, descriptor: &Descriptor) -> Result<Option<String>> {
        let _ = descriptor;
        Ok(None)
    }
}

/// Options for [`BlobIngester::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Mount the blob from this repository instead of uploading it, if it
    /// is linked there.
    pub mount_from: Option<(RepositoryName, Digest)>,
}

/// What [`BlobIngester::create`] gives back.
pub enum Created {
    /// The blob was mounted from another repository: no upload needed.
    Mounted(Box<Descriptor>),
    /// A new upload to write to.
    Upload(Box<dyn BlobWriter>),
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Created::Mounted(d) => f.debug_tuple("Mounted").field(d).finish(),
            Created::Upload(w) => f.debug_tuple("Upload").field(&w.id()).finish(),
        }
    }
}

/// Adds blobs to a repository.
///
/// # Contract
/// - `put` stores small content in one step and links it; it answers the
///   canonical descriptor.
/// - `create` with `mount_from` links an existing blob of another
///   repository without copying bytes, answering [`Created::Mounted`],
///   when that blob is linked in the source repository; otherwise it falls
///   back to a new upload ([`Created::Upload`]), so the client can push.
/// - `resume` continues an upload by id from any process that shares the
///   storage; an unknown id is `BlobUploadUnknown`.
#[async_trait]
pub trait BlobIngester: Send + Sync {
    /// Stores `content` as a blob of `media_type` and links it.
    async fn put(&self, media_type: &str, content: Bytes) -> Result<Descriptor>;
    /// Starts an upload, or mounts (see [`CreateOptions`]).
    async fn create(&self, options: CreateOptions) -> Result<Created>;
    /// Continues the upload `id`.
    async fn resume(&self, id: &str) -> Result<Box<dyn BlobWriter>>;
}

/// Removes blobs from a repository.
///
/// # Contract
/// Deleting removes the repository's link only (the bytes go in garbage
/// collection). Deleting a blob that is not linked is `BlobUnknown`; when
/// deletes are disabled it is `Unsupported`.
#[async_trait]
pub trait BlobDeleter: Send + Sync {
    /// Unlinks the blob from the repository.
    async fn delete(&self, digest: &Digest) -> Result<()>;
}

/// All a repository does with blobs.
pub trait BlobStore: BlobProvider + BlobIngester + BlobDeleter {}

impl<T: BlobProvider + BlobIngester + BlobDeleter + ?Sized> BlobStore for T {}

/// An upload in progress.
///
/// # Contract
/// - `size` is the number of bytes received so far, across every process
///   that wrote to this upload.
/// - `write` appends at `size`. Progress (data and hash state) is durable
///   once `write` returns, so `resume` elsewhere continues from there
///   without re-reading the bytes.
/// - `commit` checks the content against `digest` (and `size`, when
///   given); on success the blob is in the registry and linked into the
///   repository, and the upload is gone. On a mismatch
///   (`DigestMismatch`, `SizeInvalid`) nothing is stored or linked and the
///   upload is removed.
/// - `cancel` removes everything of the upload.
/// - `close` keeps the upload for a later `resume`.
#[async_trait]
pub trait BlobWriter: Send {
    /// The upload's id.
    fn id(&self) -> &str;
    /// When the upload was started.
    fn started_at(&self) -> SystemTime;
    /// Bytes received so far.
    fn size(&self) -> u64;
    /// Appends `chunk`.
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Verifies and stores the blob, answering its canonical descriptor.
    async fn commit(self: Box<Self>, digest: &Digest, size: Option<u64>) -> Result<Descriptor>;
    /// Abandons the upload and removes its data.
    async fn cancel(self: Box<Self>) -> Result<()>;
    /// Keeps the upload for a later `resume`.
    async fn close(self: Box<Self>) -> Result<()>;
}
