//! Blobs: the global content-addressed store and a repository's links.

use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use berth_core::{
    BlobContent, BlobDeleter, BlobDescriptorService, BlobIngester, BlobProvider, BlobStatter,
    BlobWriter, CreateOptions, Created, Error, Result,
};
use berth_digest::Digest;
use berth_driver::{DriverError, ReadStream, StorageDriver};
use berth_manifest::Descriptor;
use berth_reference::RepositoryName;
use bytes::Bytes;
use futures_core::Stream;

use crate::registry::Inner;
use crate::upload::Upload;
use crate::{paths, storage_error};

/// The media type of a blob whose type nobody recorded.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Converts a size from the driver to the descriptor's int64.
pub(crate) fn descriptor_size(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// The registry-wide blob statter: a blob exists when its data does.
pub(crate) struct GlobalBlobs {
    pub(crate) driver: Arc<dyn StorageDriver>,
}

#[async_trait]
impl BlobStatter for GlobalBlobs {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        match self.driver.stat(&paths::blob_data(digest)).await {
            Ok(info) if !info.is_dir => Ok(Descriptor::new(
                OCTET_STREAM,
                digest.clone(),
                descriptor_size(info.size),
            )),
            Ok(_) => Err(Error::BlobUnknown {
                digest: digest.clone(),
            }),
            Err(e) if e.is_not_found() => Err(Error::BlobUnknown {
                digest: digest.clone(),
            }),
            Err(e) => Err(storage_error(e)),
        }
    }
}

#[async_trait]
impl BlobDescriptorService for GlobalBlobs {
    /// The blob's data is its own record: nothing more to write.
    async fn set_descriptor(&self, _digest: &Digest, _descriptor: &Descriptor) -> Result<()> {
        Ok(())
    }

    /// Blobs leave the global store only through garbage collection.
    async fn clear(&self, _digest: &Digest) -> Result<()> {
        Ok(())
    }
}

/// Which link makes a blob part of a repository: a layer link for blobs,
/// a revision link for manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    /// `_layers/<alg>/<hex>/link`
    Layer,
    /// `_manifests/revisions/<alg>/<hex>/link`
    Revision,
}

impl LinkKind {
    pub(crate) fn path(self, name: &RepositoryName, digest: &Digest) -> String {
        match self {
            LinkKind::Layer => paths::layer_link(name, digest),
            LinkKind::Revision => paths::revision_link(name, digest),
        }
    }
}

/// A repository's view of blobs through its link files.
pub(crate) struct LinkedBlobs {
    pub(crate) driver: Arc<dyn StorageDriver>,
    /// The global statter links resolve through.
    pub(crate) global: Arc<dyn BlobDescriptorService>,
    pub(crate) name: RepositoryName,
    pub(crate) kind: LinkKind,
}

impl LinkedBlobs {
    /// The digest a link file names, or `None` when there is no link.
    pub(crate) async fn read_link(&self, digest: &Digest) -> Result<Option<Digest>> {
        let path = self.kind.path(&self.name, digest);
        match self.driver.get_content(&path).await {
            Ok(content) => match std::str::from_utf8(&content)
                .ok()
                .and_then(|s| Digest::parse(s.trim()).ok())
            {
                Some(target) => Ok(Some(target)),
                None => {
                    tracing::warn!(path, "ignoring a link file that does not hold a digest");
                    Ok(None)
                }
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }
}

#[async_trait]
impl BlobStatter for LinkedBlobs {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let Some(target) = self.read_link(digest).await? else {
            return Err(Error::BlobUnknown {
                digest: digest.clone(),
            });
        };
        let mut descriptor = self.global.stat(&target).await?;
        // A link names its own digest; report the one asked for.
        descriptor.digest = digest.clone();
        Ok(descriptor)
    }
}

#[async_trait]
impl BlobDescriptorService for LinkedBlobs {
    /// Writes the link.
    async fn set_descriptor(&self, digest: &Digest, _descriptor: &Descriptor) -> Result<()> {
        let path = self.kind.path(&self.name, digest);
        self.driver
            .put_content(&path, Bytes::copy_from_slice(digest.as_str().as_bytes()))
            .await
            .map_err(storage_error)
    }

    /// Removes the link (and its directory).
    async fn clear(&self, digest: &Digest) -> Result<()> {
        let path = self.kind.path(&self.name, digest);
        let dir = berth_driver::parent(&path).to_owned();
        match self.driver.delete(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Err(Error::BlobUnknown {
                digest: digest.clone(),
            }),
            Err(e) => Err(storage_error(e)),
        }
    }
}

/// The blobs of one repository: [`berth_core::BlobStore`] on storage.
pub struct RepositoryBlobs {
    pub(crate) inner: Arc<Inner>,
    pub(crate) name: RepositoryName,
    /// The repository's links, behind the descriptor cache when there is one.
    pub(crate) links: Arc<dyn BlobDescriptorService>,
}

impl RepositoryBlobs {
    /// The repository these blobs belong to.
    pub fn name(&self) -> &RepositoryName {
        &self.name
    }

    /// Links an existing blob (already in the global store) into this
    /// repository and records its descriptor.
    pub(crate) async fn link(&self, descriptor: &Descriptor) -> Result<()> {
        self.links
            .set_descriptor(&descriptor.digest, descriptor)
            .await
    }
}

#[async_trait]
impl BlobStatter for RepositoryBlobs {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let found = self.links.stat(digest).await?;
        self.inner
            .vouched(digest, found, || self.links.stat(digest))
            .await
    }
}

#[async_trait]
impl BlobProvider for RepositoryBlobs {
    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let descriptor = self.stat(digest).await?;
        match self
            .inner
            .driver
            .get_content(&paths::blob_data(&descriptor.digest))
            .await
        {
            Ok(content) => Ok(content),
            Err(e) if e.is_not_found() => Err(Error::BlobUnknown {
                digest: digest.clone(),
            }),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn open_described(
        &self,
        descriptor: Descriptor,
        range: Option<Range<u64>>,
    ) -> Result<BlobContent> {
        let digest = &descriptor.digest;
        let size = u64::try_from(descriptor.size).unwrap_or(0);
        let range = match range {
            Some(r) => r.start.min(size)..r.end.min(size).max(r.start.min(size)),
            None => 0..size,
        };
        let stream = match self
            .inner
            .driver
            .reader(&paths::blob_data(&descriptor.digest), range.start)
            .await
        {
            Ok(stream) => stream,
            Err(e) if e.is_not_found() => {
                return Err(Error::BlobUnknown {
                    digest: digest.clone(),
                });
            }
            Err(e) => return Err(storage_error(e)),
        };
        Ok(BlobContent {
            descriptor,
            body: Box::pin(Limited {
                inner: stream,
                remaining: range.end - range.start,
            }),
            range,
        })
    }

    async fn redirect_url_described(&self, descriptor: &Descriptor) -> Result<Option<String>> {
        if !self.inner.options.redirect {
            return Ok(None);
        }
        let path = paths::blob_data(&descriptor.digest);
        if let Some(base) = &self.inner.options.redirect_base_url {
            return Ok(Some(format!("{}{path}", base.trim_end_matches('/'))));
        }
        match self.inner.driver.redirect_url(&path).await {
            Ok(url) => Ok(url),
            Err(DriverError::Unsupported { .. }) => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }
}

#[async_trait]
impl BlobIngester for RepositoryBlobs {
    async fn put(&self, media_type: &str, content: Bytes) -> Result<Descriptor> {
        let digest = Digest::sha256(&content);
        let mut descriptor = self.inner.store_blob(&digest, content).await?;
        self.link(&descriptor).await?;
        descriptor.media_type = media_type.to_owned();
        Ok(descriptor)
    }

    async fn create(&self, options: CreateOptions) -> Result<Created> {
        if let Some((from, digest)) = options.mount_from {
            match self.inner.mount(&from, &digest).await {
                Ok(descriptor) => {
                    self.link(&descriptor).await?;
                    return Ok(Created::Mounted(Box::new(descriptor)));
                }
                // Not linked in the source: the client uploads instead.
                Err(Error::BlobUnknown { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let upload = Upload::create(self.clone_handle()).await?;
        Ok(Created::Upload(Box::new(upload)))
    }

    async fn resume(&self, id: &str) -> Result<Box<dyn BlobWriter>> {
        Ok(Box::new(Upload::resume(self.clone_handle(), id).await?))
    }
}

#[async_trait]
impl BlobDeleter for RepositoryBlobs {
    async fn delete(&self, digest: &Digest) -> Result<()> {
        if !self.inner.options.delete_enabled {
            return Err(Error::unsupported("deletes are disabled"));
        }
        self.links.stat(digest).await?;
        self.links.clear(digest).await
    }
}

impl RepositoryBlobs {
    pub(crate) fn clone_handle(&self) -> RepositoryBlobs {
        RepositoryBlobs {
            inner: self.inner.clone(),
            name: self.name.clone(),
            links: self.links.clone(),
        }
    }
}

/// Ends a driver stream after `remaining` bytes and converts its errors.
struct Limited {
    inner: ReadStream,
    remaining: u64,
}

impl Stream for Limited {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(mut chunk))) => {
                if chunk.len() as u64 > self.remaining {
                    chunk.truncate(self.remaining as usize);
                }
                self.remaining -= chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.remaining = 0;
                Poll::Ready(Some(Err(storage_error(e))))
            }
            Poll::Ready(None) => {
                // The content ended before the size its stat promised.
                let short = self.remaining;
                self.remaining = 0;
                Poll::Ready(Some(Err(Error::backend(
                    "read blob",
                    format!("content ended {short} bytes early"),
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
