//! Blob uploads: create, append, resume anywhere, commit, cancel.
//!
//! An upload lives under `_uploads/<id>/` in its repository: the data
//! written through a driver writer (invisible until the commit), the start
//! time, and the digester state after each request, under
//! `hashstates/sha256/<offset>`, in the byte format Distribution uses. Any
//! process sharing the storage resumes an upload from those files without
//! re-reading the data already received.

use std::time::SystemTime;

use async_trait::async_trait;
use berth_core::{BlobWriter, Error, Result};
use berth_digest::{Algorithm, Digest, Digester};
use berth_driver::FileWriter;
use berth_manifest::Descriptor;
use bytes::Bytes;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::blobs::{OCTET_STREAM, RepositoryBlobs, descriptor_size};
use crate::{paths, storage_error};

/// The algorithm uploads hash with as the bytes arrive.
const UPLOAD_ALGORITHM: Algorithm = Algorithm::Sha256;

/// An upload in progress: a [`BlobWriter`] on storage.
pub struct Upload {
    blobs: RepositoryBlobs,
    id: String,
    started_at: SystemTime,
    writer: Box<dyn FileWriter>,
    digester: Digester,
    /// The offset of the hash state this upload was resumed from, which
    /// the next saved state replaces.
    saved_offset: Option<u64>,
    /// An earlier commit moved the data into the blob store and failed
    /// after that: committing again only links the blob.
    moved: bool,
    /// An earlier commit got as far as committing the data (or moving
    /// it): nothing more can be appended, only the commit repeated.
    sealed: bool,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("repository", &self.blobs.name.as_str())
            .field("id", &self.id)
            .field("size", &self.writer.size())
            .finish()
    }
}

/// Whether `id` can be an upload id: the hyphenated lowercase UUIDs berth
/// hands out, or anything of that alphabet another server handed out.
pub fn is_valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'a'..=b'f' | b'A'..=b'F' | b'-'))
}

fn format_started_at(at: SystemTime) -> String {
    let at = OffsetDateTime::from(at);
    // Whole seconds, as Go's time.RFC3339 writes them.
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&Rfc3339).unwrap_or_default()
}

/// Reads a `startedat` file: RFC 3339, with or without fractions or an
/// offset (Distribution writes whatever Go's `time.RFC3339` gives).
pub(crate) fn parse_started_at(content: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(content).ok()?.trim();
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(SystemTime::from)
}

impl Upload {
    /// Starts an upload in the repository of `blobs`.
    pub(crate) async fn create(blobs: RepositoryBlobs) -> Result<Upload> {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let started_at = SystemTime::now();
        let driver = &blobs.inner.driver;
        driver
            .put_content(
                &paths::upload_started_at(&blobs.name, &id),
                Bytes::from(format_started_at(started_at)),
            )
            .await
            .map_err(storage_error)?;
        let writer = driver
            .writer(&paths::upload_data(&blobs.name, &id), false)
            .await
            .map_err(storage_error)?;
        Ok(Upload {
            blobs,
            id,
            started_at,
            writer,
            digester: Digester::new(UPLOAD_ALGORITHM),
            saved_offset: None,
            moved: false,
            sealed: false,
        })
    }

    /// Continues upload `id` from its saved state.
    pub(crate) async fn resume(blobs: RepositoryBlobs, id: &str) -> Result<Upload> {
        let unknown = || Error::BlobUploadUnknown { id: id.to_owned() };
        if !is_valid_upload_id(id) {
            return Err(unknown());
        }
        let driver = &blobs.inner.driver;
        let started_at = match driver
            .get_content(&paths::upload_started_at(&blobs.name, id))
            .await
        {
            Ok(content) => parse_started_at(&content).unwrap_or(SystemTime::UNIX_EPOCH),
            Err(e) if e.is_not_found() => return Err(unknown()),
            Err(e) => return Err(storage_error(e)),
        };
        let offsets = hash_state_offsets(&blobs, id).await?;
        let data = paths::upload_data(&blobs.name, id);
        let fresh_or_unknown = || async {
            if offsets.iter().all(|o| *o == 0) {
                // Nothing was ever written: start the data afresh.
                driver.writer(&data, false).await.map_err(storage_error)
            } else {
                Err(unknown())
            }
        };
        // A commit that failed part-way can be run again: it may have
        // left the data committed at the upload's path (its answer lost,
        // or the move into the blob store failed), or moved into the blob
        // store already (the link failed): then the newest hash state
        // says what it was.
        let (mut committed, mut moved) = (false, false);
        let writer: Box<dyn FileWriter> = match driver.writer(&data, true).await {
            Ok(writer) => writer,
            Err(e) if e.is_not_found() => match driver.stat(&data).await {
                Ok(info) if !info.is_dir => {
                    committed = true;
                    Box::new(Committed(info.size))
                }
                Err(e) if !e.is_not_found() => return Err(storage_error(e)),
                _ => match offsets.iter().copied().max() {
                    Some(offset) if offset > 0 => {
                        moved = true;
                        Box::new(Committed(offset))
                    }
                    _ => fresh_or_unknown().await?,
                },
            },
            Err(e) => return Err(storage_error(e)),
        };
        // The state saved for exactly the size the data has. A state for
        // another size is left by a request that failed: saved before a
        // close that did not happen, or the one a close replaced. Committed
        // data can be read: the newest state below its size will do, and
        // the rest is hashed from storage.
        let size = writer.size();
        let offset = offsets
            .iter()
            .copied()
            .filter(|o| *o == size || (committed && *o < size))
            .max();
        let mut digester = match offset {
            Some(offset) => {
                let state = driver
                    .get_content(&paths::upload_hash_state(
                        &blobs.name,
                        id,
                        UPLOAD_ALGORITHM,
                        offset,
                    ))
                    .await
                    .map_err(storage_error)?;
                Digester::restore_as(UPLOAD_ALGORITHM, &state).map_err(|e| {
                    Error::BlobUploadInvalid {
                        reason: format!("upload {id} has a corrupt hash state: {e}"),
                    }
                })?
            }
            None => Digester::new(UPLOAD_ALGORITHM),
        };
        if committed && digester.offset() < size {
            use futures_util::StreamExt;
            let mut stream = driver
                .reader(&data, digester.offset())
                .await
                .map_err(storage_error)?;
            while let Some(chunk) = stream.next().await {
                digester.update(&chunk.map_err(storage_error)?);
            }
        }
        if digester.offset() != size {
            // The data moved on past every saved state (a process died
            // between writing and saving, or a driver kept bytes written
            // after the last close): the bytes in between cannot be
            // hashed without reading back uncommitted data, so the client
            // must start over. Nothing of it is visible anywhere.
            return Err(Error::BlobUploadInvalid {
                reason: format!(
                    "upload {id} was interrupted ({size} bytes stored, {} hashed); start a new upload",
                    digester.offset()
                ),
            });
        }
        Ok(Upload {
            blobs,
            id: id.to_owned(),
            started_at,
            writer,
            digester,
            saved_offset: offset.filter(|o| *o == size),
            moved,
            sealed: committed || moved,
        })
    }

    /// Saves the digester state for the bytes hashed so far, unless it is
    /// saved already. The state this upload was resumed from stays until
    /// [`drop_old_hash_state`](Self::drop_old_hash_state).
    async fn save_hash_state(&mut self) -> Result<()> {
        let offset = self.digester.offset();
        if self.saved_offset == Some(offset) {
            return Ok(());
        }
        let path = paths::upload_hash_state(&self.blobs.name, &self.id, UPLOAD_ALGORITHM, offset);
        self.blobs
            .inner
            .driver
            .put_content(&path, Bytes::from(self.digester.save_state()))
            .await
            .map_err(storage_error)
    }

    /// Removes the state this upload was resumed from, now that a newer
    /// one describes its data.
    async fn drop_old_hash_state(&mut self) {
        let offset = self.digester.offset();
        if let Some(old) = self.saved_offset.replace(offset)
            && old != offset
        {
            let old = paths::upload_hash_state(&self.blobs.name, &self.id, UPLOAD_ALGORITHM, old);
            if let Err(e) = self.blobs.inner.driver.delete(&old).await
                && !e.is_not_found()
            {
                tracing::warn!(path = old, error = %e, "could not remove an old hash state");
            }
        }
    }

    /// Removes every file of the upload (`&mut`: the writer inside is not `Sync`).
    async fn remove(&mut self) -> Result<()> {
        match self
            .blobs
            .inner
            .driver
            .delete(&paths::upload_dir(&self.blobs.name, &self.id))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// The digest of the data under `algorithm`, from the running state for
    /// sha256 and by reading the committed data back for the others.
    async fn digest_of_data(&mut self, algorithm: Algorithm) -> Result<Digest> {
        if algorithm == UPLOAD_ALGORITHM {
            return Ok(self.digester.current());
        }
        use futures_util::StreamExt;
        let mut digester = Digester::new(algorithm);
        let mut stream = self
            .blobs
            .inner
            .driver
            .reader(&paths::upload_data(&self.blobs.name, &self.id), 0)
            .await
            .map_err(storage_error)?;
        while let Some(chunk) = stream.next().await {
            digester.update(&chunk.map_err(storage_error)?);
        }
        Ok(digester.finish())
    }
}

/// The offsets an upload has saved hash states for.
async fn hash_state_offsets(blobs: &RepositoryBlobs, id: &str) -> Result<Vec<u64>> {
    let dir = paths::upload_hash_states(&blobs.name, id, UPLOAD_ALGORITHM);
    let entries = match blobs.inner.driver.list(&dir).await {
        Ok(entries) => entries,
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(storage_error(e)),
    };
    Ok(entries
        .iter()
        .filter_map(|p| p.rsplit('/').next()?.parse::<u64>().ok())
        .collect())
}

#[async_trait]
impl BlobWriter for Upload {
    fn id(&self) -> &str {
        &self.id
    }

    fn started_at(&self) -> SystemTime {
        self.started_at
    }

    fn size(&self) -> u64 {
        self.writer.size()
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.sealed {
            return Err(Error::BlobUploadInvalid {
                reason: format!(
                    "upload {} was committed by an earlier request that failed after that; \
                     repeat its PUT without a body",
                    self.id
                ),
            });
        }
        // Hash only what the driver accepted, so state and data agree.
        self.writer
            .write(chunk.clone())
            .await
            .map_err(storage_error)?;
        self.digester.update(&chunk);
        Ok(())
    }

    async fn commit(mut self: Box<Self>, digest: &Digest, size: Option<u64>) -> Result<Descriptor> {
        let actual_size = self.writer.size();
        if let Some(expected) = size
            && expected != actual_size
        {
            self.cancel_quietly().await;
            return Err(Error::SizeInvalid {
                expected,
                actual: actual_size,
            });
        }
        let inner = self.blobs.inner.clone();
        let name = self.blobs.name.clone();
        let data = paths::upload_data(&name, &self.id);
        // Make the data readable at the upload's path (not yet a blob).
        let writer = std::mem::replace(&mut self.writer, Box::new(Committed(actual_size)));
        writer.commit().await.map_err(storage_error)?;
        if self.moved && digest.algorithm() != UPLOAD_ALGORITHM {
            // The data is gone from here: only the saved state's digest
            // can be checked.
            self.cancel_quietly().await;
            return Err(Error::BlobUploadUnknown {
                id: self.id.clone(),
            });
        }

        let computed = match self.digest_of_data(digest.algorithm()).await {
            Ok(computed) => computed,
            Err(e) => {
                self.cancel_quietly().await;
                return Err(e);
            }
        };
        if &computed != digest {
            self.cancel_quietly().await;
            return Err(Error::DigestMismatch {
                given: digest.clone(),
                computed,
            });
        }

        let blob = paths::blob_data(digest);
        inner.before_store(digest).await?;
        match inner.global.stat(digest).await {
            // Already in the registry (another upload won, or an earlier
            // commit of this one moved it there): keep that one.
            Ok(_) => {}
            // Moved by an earlier commit, and gone since.
            Err(Error::BlobUnknown { .. }) if self.moved => {
                self.cancel_quietly().await;
                return Err(Error::BlobUploadUnknown {
                    id: self.id.clone(),
                });
            }
            Err(Error::BlobUnknown { .. }) if actual_size == 0 => {
                inner
                    .driver
                    .put_content(&blob, Bytes::new())
                    .await
                    .map_err(storage_error)?;
            }
            Err(Error::BlobUnknown { .. }) => {
                inner
                    .driver
                    .move_to(&data, &blob)
                    .await
                    .map_err(storage_error)?;
            }
            Err(e) => return Err(e),
        }
        let descriptor =
            Descriptor::new(OCTET_STREAM, digest.clone(), descriptor_size(actual_size));
        inner.global.set_descriptor(digest, &descriptor).await?;
        self.blobs.link(&descriptor).await?;
        self.remove().await?;
        Ok(descriptor)
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        let writer = std::mem::replace(&mut self.writer, Box::new(Committed(0)));
        writer.cancel().await.map_err(storage_error)?;
        self.remove().await
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        let writer = std::mem::replace(&mut self.writer, Box::new(Committed(0)));
        let size = writer.size();
        // The state for the size the data will have is saved first: a
        // close whose answer is lost may have happened, and the resume
        // then needs the state for the new size; if it did not happen,
        // the state for the old size is still there. (After a failed
        // write the sizes differ and the close fails: nothing is saved.)
        if self.digester.offset() == size {
            self.save_hash_state().await?;
        }
        writer.close().await.map_err(storage_error)?;
        self.writer = Box::new(Committed(size));
        self.drop_old_hash_state().await;
        Ok(())
    }
}

impl Upload {
    /// Cancels after a failed commit; errors are logged, not returned.
    async fn cancel_quietly(&mut self) {
        let writer = std::mem::replace(&mut self.writer, Box::new(Committed(0)));
        if let Err(e) = writer.cancel().await {
            tracing::warn!(upload = self.id, error = %e, "could not cancel the upload's writer");
        }
        if let Err(e) = self.remove().await {
            tracing::warn!(upload = self.id, error = %e, "could not remove the upload");
        }
    }
}

/// Stands in for the driver writer once it has been committed or closed,
/// remembering only its size.
struct Committed(u64);

#[async_trait]
impl FileWriter for Committed {
    async fn write(&mut self, _data: Bytes) -> berth_driver::Result<()> {
        Err(berth_driver::DriverError::Unsupported {
            driver: "upload",
            operation: "write after commit or close",
        })
    }

    fn size(&self) -> u64 {
        self.0
    }

    async fn commit(self: Box<Self>) -> berth_driver::Result<()> {
        Ok(())
    }

    async fn cancel(self: Box<Self>) -> berth_driver::Result<()> {
        Ok(())
    }

    async fn close(self: Box<Self>) -> berth_driver::Result<()> {
        Ok(())
    }
}
