//! The OCI 1.1 referrers index: berth's one addition to the layout.
//!
//! ```text
//! <repository>/_referrers/<subject alg>/<subject hex>/<referrer alg>/<referrer hex>/descriptor
//! ```
//!
//! Each `descriptor` file holds the JSON descriptor of a manifest whose
//! `subject` is the subject digest (media type, digest, size,
//! `artifactType`, annotations), written when the manifest is pushed and
//! removed when it is deleted. Listing the referrers of a subject reads one
//! directory, never the whole repository. Distribution skips directories
//! whose names start with `_`, so it ignores this one.

use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{BlobDescriptorService, Error, ReferrersService, Result};
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_reference::RepositoryName;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::registry::Inner;
use crate::{paths, storage_error};

/// How many index entries are read at once.
const READ_CONCURRENCY: usize = 16;

/// The directory of one subject's referrers.
pub(crate) fn subject_dir(name: &RepositoryName, subject: &Digest) -> String {
    format!(
        "{}/_referrers/{}/{}",
        paths::repository(name),
        subject.algorithm(),
        subject.encoded()
    )
}

/// The index entry of one referrer of `subject`.
pub(crate) fn entry(name: &RepositoryName, subject: &Digest, referrer: &Digest) -> String {
    format!(
        "{}/{}/{}/descriptor",
        subject_dir(name, subject),
        referrer.algorithm(),
        referrer.encoded()
    )
}

/// The referrers of one repository: [`ReferrersService`] on storage.
#[derive(Clone)]
pub struct Referrers {
    pub(crate) inner: Arc<Inner>,
    pub(crate) name: RepositoryName,
    /// Revision links: an entry counts only while its manifest exists (a
    /// Distribution garbage collection may have removed it).
    pub(crate) revisions: Arc<dyn BlobDescriptorService>,
}

impl Referrers {
    /// Records `referrer` as a referrer of `subject`.
    pub(crate) async fn index(&self, subject: &Digest, referrer: &Descriptor) -> Result<()> {
        let json = serde_json::to_vec(&index_descriptor(referrer))
            .map_err(|e| Error::backend("encode a referrers index entry", e))?;
        self.inner
            .driver
            .put_content(
                &entry(&self.name, subject, &referrer.digest),
                Bytes::from(json),
            )
            .await
            .map_err(storage_error)
    }

    /// Forgets `referrer` as a referrer of `subject`.
    pub(crate) async fn unindex(&self, subject: &Digest, referrer: &Digest) -> Result<()> {
        let path = entry(&self.name, subject, referrer);
        match self.inner.driver.delete(berth_driver::parent(&path)).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// The entry at `path`, if it is readable and its manifest exists.
    async fn read_entry(&self, path: String) -> Result<Option<Descriptor>> {
        let content = match self.inner.driver.get_content(&path).await {
            Ok(content) => content,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(storage_error(e)),
        };
        let descriptor: Descriptor = match serde_json::from_slice(&content) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(path, error = %e, "skipping an unreadable referrers index entry");
                return Ok(None);
            }
        };
        match self.revisions.stat(&descriptor.digest).await {
            Ok(_) => Ok(Some(descriptor)),
            Err(Error::BlobUnknown { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The fields a referrers list carries.
fn index_descriptor(d: &Descriptor) -> Descriptor {
    let mut out = Descriptor::new(d.media_type.clone(), d.digest.clone(), d.size);
    out.artifact_type = d.artifact_type.clone();
    out.annotations = d.annotations.clone();
    out
}

#[async_trait]
impl ReferrersService for Referrers {
    async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let driver = &self.inner.driver;
        let algorithms = match driver.list(&subject_dir(&self.name, subject)).await {
            Ok(dirs) => dirs,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(storage_error(e)),
        };
        let mut entries = Vec::new();
        for dir in algorithms {
            match driver.list(&dir).await {
                Ok(referrers) => {
                    entries.extend(referrers.into_iter().map(|r| format!("{r}/descriptor")))
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(storage_error(e)),
            }
        }
        let mut found: Vec<Descriptor> = futures_util::stream::iter(entries)
            .map(|path| self.read_entry(path))
            .buffer_unordered(READ_CONCURRENCY)
            .try_filter_map(|d| async move { Ok(d) })
            .try_collect()
            .await?;
        if let Some(wanted) = artifact_type {
            found.retain(|d| d.artifact_type.as_deref() == Some(wanted));
        }
        found.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(found)
    }
}
