//! Manifests: stored as blobs, linked as revisions, checked on push.

use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{BlobDescriptorService, Error, ManifestService, PutOptions, Result, TagService};
use berth_digest::Digest;
use berth_manifest::Manifest;
use berth_reference::RepositoryName;

use crate::referrers::Referrers;
use crate::registry::Inner;
use crate::tags::Tags;
use crate::{paths, storage_error};

/// The manifests of one repository: [`ManifestService`] on storage.
pub struct Manifests {
    pub(crate) inner: Arc<Inner>,
    pub(crate) name: RepositoryName,
    /// Revision links (`_manifests/revisions/<alg>/<hex>/link`).
    pub(crate) revisions: Arc<dyn BlobDescriptorService>,
    /// Layer links: the blobs a manifest may reference.
    pub(crate) layers: Arc<dyn BlobDescriptorService>,
    pub(crate) tags: Tags,
    pub(crate) referrers: Referrers,
}

impl Manifests {
    /// Checks that every blob and child manifest `manifest` references is
    /// in this repository.
    async fn verify_references(&self, manifest: &Manifest) -> Result<()> {
        // Recorded first, so a collection running now keeps them (or they
        // are found gone here).
        let named: Vec<Digest> = manifest
            .blob_references()
            .filter(|b| !b.is_foreign())
            .chain(manifest.manifest_references())
            .map(|d| d.digest.clone())
            .collect();
        if let Some(digest) = self.inner.before_reference(&named).await? {
            return Err(Error::ManifestBlobUnknown { digest });
        }
        for blob in manifest.blob_references() {
            // A foreign layer is fetched from its URLs, not from here.
            if blob.is_foreign() {
                continue;
            }
            match self.layers.stat(&blob.digest).await {
                Ok(_) => {}
                Err(Error::BlobUnknown { .. }) => {
                    return Err(Error::ManifestBlobUnknown {
                        digest: blob.digest.clone(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        for child in manifest.manifest_references() {
            if !self.exists(&child.digest).await? {
                return Err(Error::ManifestBlobUnknown {
                    digest: child.digest.clone(),
                });
            }
        }
        Ok(())
    }
}

impl Manifests {
    /// The revision `digest`, vouched for by the garbage collection guard.
    async fn revision(&self, digest: &Digest) -> Result<berth_manifest::Descriptor> {
        let found = self.revisions.stat(digest).await?;
        self.inner
            .vouched(digest, found, || self.revisions.stat(digest))
            .await
    }
}

#[async_trait]
impl ManifestService for Manifests {
    async fn exists(&self, digest: &Digest) -> Result<bool> {
        match self.revision(digest).await {
            Ok(_) => Ok(true),
            Err(Error::BlobUnknown { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, digest: &Digest) -> Result<Manifest> {
        let unknown = || Error::ManifestUnknown {
            reference: digest.to_string(),
        };
        let descriptor = match self.revision(digest).await {
            Ok(d) => d,
            Err(Error::BlobUnknown { .. }) => return Err(unknown()),
            Err(e) => return Err(e),
        };
        let payload = match self
            .inner
            .driver
            .get_content(&paths::blob_data(&descriptor.digest))
            .await
        {
            Ok(payload) => payload,
            Err(e) if e.is_not_found() => return Err(unknown()),
            Err(e) => return Err(storage_error(e)),
        };
        // Stored content was accepted when it was pushed (perhaps by
        // Distribution, under its rules): parse it, don't judge it again.
        self.inner
            .options
            .manifests
            .parse_unvalidated(None, payload)
            .map_err(|e| {
                Error::backend(
                    format!("read manifest {digest} of {}", self.name.as_str()),
                    e,
                )
            })
    }

    async fn put(&self, manifest: &Manifest, options: PutOptions) -> Result<Digest> {
        // The manifest itself first: if a garbage collection is removing
        // it, that finishes before what it names is checked.
        self.inner.before_store(manifest.digest()).await?;
        if !options.mirror {
            if manifest.is_schema1() {
                return Err(Error::ManifestInvalid {
                    reason:
                        "Docker schema 1 manifests are no longer accepted; push schema 2 or OCI"
                            .into(),
                });
            }
            self.verify_references(manifest).await?;
        }
        let digest = manifest.digest().clone();
        self.inner
            .store_blob(&digest, manifest.payload().clone())
            .await?;
        let descriptor = manifest.descriptor();
        self.revisions.set_descriptor(&digest, &descriptor).await?;
        if let Some(subject) = manifest.subject() {
            self.referrers.index(&subject.digest, &descriptor).await?;
        }
        if let Some(tag) = &options.tag {
            self.tags.tag(tag, &descriptor).await?;
        }
        Ok(digest)
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        if !self.inner.options.delete_enabled {
            return Err(Error::unsupported("deletes are disabled"));
        }
        // Read it first: its subject tells which referrers entry to drop.
        let manifest = self.get(digest).await?;
        for tag in self.tags.lookup(digest).await? {
            match self.tags.untag(&tag).await {
                Ok(()) | Err(Error::ManifestUnknown { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(subject) = manifest.subject() {
            self.referrers.unindex(&subject.digest, digest).await?;
        }
        match self.revisions.clear(digest).await {
            Ok(()) => Ok(()),
            Err(Error::BlobUnknown { .. }) => Err(Error::ManifestUnknown {
                reference: digest.to_string(),
            }),
            Err(e) => Err(e),
        }
    }
}
