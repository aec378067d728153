//! The resumable multipart writer.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::CompletedPart;
use berth_driver::{DriverError, FileWriter, Result};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::driver::{Inner, NAME, Upload, object_settings};
use crate::error::{S3Error, backend, is_missing};
use crate::params::MIN_CHUNK_SIZE;

/// What the object holding a writer's unflushed tail is called, beside
/// the target key: `<key>~tail`. `~` is not allowed in a path component,
/// so it never shows in `list`, `stat` or `walk`.
pub const TAIL_SUFFIX: &str = "~tail";

/// The most parts one multipart upload has (S3's limit).
pub const MAX_PARTS: usize = 10_000;

/// Metadata of the tail object: the upload it continues (empty: none
/// yet), how many parts of that upload precede it, and their total size.
const META_UPLOAD_ID: &str = "berth-upload-id";
const META_PARTS: &str = "berth-parts";
const META_PARTS_SIZE: &str = "berth-parts-size";

/// A part of the multipart upload.
#[derive(Debug, Clone)]
struct Part {
    number: i32,
    etag: String,
    size: u64,
}

/// The tail object, as read back on resume.
#[derive(Debug)]
struct Tail {
    data: Bytes,
    upload_id: Option<String>,
    parts: usize,
    parts_size: u64,
}

/// The writer of [`S3Driver`](crate::S3Driver): a multipart upload in
/// `chunksize` parts, resumable after a restart.
///
/// - `write` gathers bytes and uploads each full `chunksize` as the next
///   part (the multipart upload is created with the first part), one part
///   in flight while the next is gathered. Every part but the last is
///   exactly `chunksize`.
/// - `close` waits for the part in flight and stores what is gathered but
///   less than a part (the *tail*) as the object `<key>~tail`, whose
///   metadata names the upload and how many parts precede it. The upload
///   stays open.
/// - `writer(path, true)` reads the tail and goes on from the state the
///   last `close` recorded in it: the upload and parts it names
///   (`ListParts`) and its bytes; parts sent after that `close` are left
///   out (and overwritten). Without a tail: the newest in-progress upload
///   of the key (`ListMultipartUploads`) and its parts.
/// - `commit` uploads the tail as the last part and completes the upload
///   (parts by number and ETag only); content that never reached a part
///   is one `PutObject`. Then the tail object goes.
/// - `cancel` aborts the upload and deletes the tail object.
///
/// Nothing is visible at the path before `commit`: parts are not objects,
/// and the tail's name is not a valid path.
pub struct S3Writer {
    inner: Arc<Inner>,
    path: String,
    key: String,
    tail_key: String,
    upload_id: Option<String>,
    parts: Vec<Part>,
    parts_size: u64,
    in_flight: Option<JoinHandle<Result<Part>>>,
    buffer: BytesMut,
    size: u64,
    /// A tail object may exist and must go at commit or cancel.
    tail_may_exist: bool,
    /// Older uploads of the same key, aborted at commit or cancel.
    stale: Vec<Upload>,
    /// Written since created or resumed: `close` has something to store.
    dirty: bool,
    /// An earlier operation failed: what was written may have a hole.
    failed: Option<String>,
}

impl fmt::Debug for S3Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Writer")
            .field("path", &self.path)
            .field("upload_id", &self.upload_id)
            .field("parts", &self.parts.len())
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn missing_field(operation: &'static str, path: &str, what: &str) -> DriverError {
    DriverError::backend(
        NAME,
        operation,
        path,
        S3Error::other(format!("the response has no {what}")),
    )
}

async fn upload_part(
    inner: &Inner,
    path: &str,
    key: &str,
    upload_id: &str,
    number: i32,
    data: Bytes,
) -> Result<Part> {
    let size = data.len() as u64;
    let out = inner
        .client
        .upload_part()
        .bucket(&inner.bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .content_length(size as i64)
        .body(ByteStream::from(data))
        .send()
        .await
        .map_err(|e| backend("UploadPart", path, &e))?;
    let etag = out
        .e_tag()
        .ok_or_else(|| missing_field("UploadPart", path, "ETag"))?;
    Ok(Part {
        number,
        etag: etag.to_owned(),
        size,
    })
}

impl S3Writer {
    fn new(inner: Arc<Inner>, path: &str) -> S3Writer {
        let key = inner.key(path);
        S3Writer {
            tail_key: format!("{key}{TAIL_SUFFIX}"),
            key,
            inner,
            path: path.to_owned(),
            upload_id: None,
            parts: Vec::new(),
            parts_size: 0,
            in_flight: None,
            buffer: BytesMut::new(),
            size: 0,
            tail_may_exist: false,
            stale: Vec::new(),
            dirty: true,
            failed: None,
        }
    }

    /// A writer of new content at `path`: discards what earlier writers
    /// of the path left (their uploads and tail).
    pub(crate) async fn create(inner: Arc<Inner>, path: &str) -> Result<S3Writer> {
        let w = S3Writer::new(inner, path);
        let (uploads, deleted) = tokio::join!(
            w.inner.list_uploads(path, &w.key),
            w.inner.delete_key("DeleteObject", path, &w.tail_key)
        );
        deleted?;
        for upload in uploads?.iter().filter(|u| u.key == w.key) {
            w.inner.abort(path, &upload.key, &upload.upload_id).await?;
        }
        Ok(w)
    }

    /// The writer that continues the closed writer of `path`;
    /// `PathNotFound` when there is none.
    ///
    /// With a tail object (berth's writers store one at every `close`),
    /// the tail says where the writer stood at its last `close`: the
    /// upload, the parts before the tail, and the tail's bytes. That is
    /// where it goes on, whatever happened after that `close`: parts
    /// uploaded later (by a writer that failed, or a process that died
    /// before its next `close`) are left out, and overwritten as the
    /// writer goes on; other uploads of the key are aborted at commit.
    /// So a caller that recorded something at each `close` (the registry
    /// saves its hash state) finds the data exactly as it was then.
    ///
    /// Without a tail (an upload Distribution's driver left, or a writer
    /// that never closed), it goes on from the newest upload's parts that
    /// are numbered 1, 2, … without a hole and of at least the minimum
    /// part size.
    pub(crate) async fn resume(inner: Arc<Inner>, path: &str) -> Result<S3Writer> {
        let mut w = S3Writer::new(inner, path);
        let (uploads, tail) = tokio::join!(w.inner.list_uploads(path, &w.key), w.read_tail());
        let mut uploads: Vec<Upload> = uploads?.into_iter().filter(|u| u.key == w.key).collect();
        let (tail, tail_exists) = tail?;
        w.tail_may_exist = tail_exists;
        // The newest upload (ties: the last listed) comes last.
        uploads.sort_by_key(|u| u.initiated);
        match tail {
            Some(tail) => w.resume_at_tail(tail, uploads).await?,
            None => w.resume_from_parts(uploads).await?,
        }
        w.dirty = false;
        Ok(w)
    }

    /// Goes on from the state a tail object records.
    async fn resume_at_tail(&mut self, tail: Tail, uploads: Vec<Upload>) -> Result<()> {
        let Some(upload_id) = tail.upload_id else {
            // The content never reached a part: the tail is all of it.
            // An upload of the key (a first part whose writer failed) is
            // stale.
            if tail.parts != 0 {
                return Err(DriverError::not_found(NAME, &self.path));
            }
            self.stale = uploads;
            self.size = tail.data.len() as u64;
            self.buffer.extend_from_slice(&tail.data);
            return Ok(());
        };
        let (current, stale): (Vec<Upload>, Vec<Upload>) =
            uploads.into_iter().partition(|u| u.upload_id == upload_id);
        if current.is_empty() {
            // Completed or aborted since: nothing to go on with.
            return Err(DriverError::not_found(NAME, &self.path));
        }
        self.stale = stale;
        let listed = self.list_parts(&upload_id).await?;
        let parts: Vec<Part> = listed.into_iter().take(tail.parts).collect();
        let contiguous = parts
            .iter()
            .enumerate()
            .all(|(i, p)| p.number == i as i32 + 1);
        let parts_size: u64 = parts.iter().map(|p| p.size).sum();
        if parts.len() != tail.parts || !contiguous || parts_size != tail.parts_size {
            tracing::warn!(
                key = %self.key,
                upload = %upload_id,
                "s3: the upload's parts do not match its tail object; it cannot be resumed"
            );
            return Err(DriverError::not_found(NAME, &self.path));
        }
        self.upload_id = Some(upload_id);
        self.parts = parts;
        self.parts_size = parts_size;
        self.buffer.extend_from_slice(&tail.data);
        self.size = parts_size + tail.data.len() as u64;
        Ok(())
    }

    /// Goes on from the newest upload's parts, without a tail.
    async fn resume_from_parts(&mut self, mut uploads: Vec<Upload>) -> Result<()> {
        let Some(upload) = uploads.pop() else {
            return Err(DriverError::not_found(NAME, &self.path));
        };
        self.stale = uploads;
        // The parts that can go on: numbered 1, 2, … without a hole, each
        // at least the minimum part size (a smaller one was the last part
        // of a commit that did not complete).
        let listed = self.list_parts(&upload.upload_id).await?;
        let mut parts: Vec<Part> = Vec::new();
        for part in listed {
            if part.number != parts.len() as i32 + 1 || part.size < MIN_CHUNK_SIZE {
                break;
            }
            parts.push(part);
        }
        self.upload_id = Some(upload.upload_id);
        self.parts_size = parts.iter().map(|p| p.size).sum();
        self.parts = parts;
        self.size = self.parts_size;
        Ok(())
    }

    /// The tail object, if there is a readable one, and whether one
    /// exists at all.
    async fn read_tail(&self) -> Result<(Option<Tail>, bool)> {
        let out = match self
            .inner
            .client
            .get_object()
            .bucket(&self.inner.bucket)
            .key(&self.tail_key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok((None, false)),
            Err(e) => return Err(backend("GetObject", &self.path, &e)),
        };
        let meta: HashMap<String, String> = out.metadata().cloned().unwrap_or_default();
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| DriverError::backend(NAME, "GetObject", &self.path, e))?
            .into_bytes();
        let get = |name: &str| meta.get(name).map(String::as_str);
        let parsed = (|| {
            Some(Tail {
                upload_id: Some(get(META_UPLOAD_ID)?)
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned),
                parts: get(META_PARTS)?.parse().ok()?,
                parts_size: get(META_PARTS_SIZE)?.parse().ok()?,
                data,
            })
        })();
        if parsed.is_none() {
            tracing::warn!(key = %self.tail_key, "s3: ignoring a tail object without berth metadata");
        }
        Ok((parsed, true))
    }

    /// All parts of `upload_id`, by number.
    async fn list_parts(&self, upload_id: &str) -> Result<Vec<Part>> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .inner
                .client
                .list_parts()
                .bucket(&self.inner.bucket)
                .key(&self.key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| {
                    if is_missing(&e) {
                        DriverError::not_found(NAME, &self.path)
                    } else {
                        backend("ListParts", &self.path, &e)
                    }
                })?;
            for p in out.parts() {
                if let (Some(number), Some(etag)) = (p.part_number(), p.e_tag()) {
                    parts.push(Part {
                        number,
                        etag: etag.to_owned(),
                        size: p.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            match out.next_part_number_marker() {
                Some(next) if out.is_truncated() == Some(true) => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(DriverError::backend(
                NAME,
                "write",
                &self.path,
                S3Error::other(format!("the writer failed earlier: {why}")),
            )),
        }
    }

    /// Marks the writer failed when `result` is an error.
    fn poison<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.failed.get_or_insert_with(|| e.to_string());
        }
        result
    }

    /// Waits for the part in flight and records it.
    async fn finish_in_flight(&mut self) -> Result<()> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(());
        };
        let part = match handle.await {
            Ok(part) => part?,
            Err(e) => return Err(DriverError::backend(NAME, "UploadPart", &self.path, e)),
        };
        self.parts_size += part.size;
        self.parts.push(part);
        Ok(())
    }

    /// The upload id, creating the upload if there is none yet.
    async fn upload_id(&mut self) -> Result<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let out = object_settings!(self.inner.client.create_multipart_upload(), self.inner)
            .bucket(&self.inner.bucket)
            .key(&self.key)
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(|e| backend("CreateMultipartUpload", &self.path, &e))?;
        let id = out
            .upload_id()
            .ok_or_else(|| missing_field("CreateMultipartUpload", &self.path, "upload id"))?
            .to_owned();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    /// Starts uploading `data` as the next part, once the part in flight
    /// is done.
    async fn send_part(&mut self, data: Bytes) -> Result<()> {
        self.finish_in_flight().await?;
        if self.parts.len() >= MAX_PARTS {
            return Err(DriverError::backend(
                NAME,
                "UploadPart",
                &self.path,
                S3Error::other(format!(
                    "more than {MAX_PARTS} parts: the content is too large for chunksize {}",
                    self.inner.chunk_size
                )),
            ));
        }
        let upload_id = self.upload_id().await?;
        let number = self.parts.len() as i32 + 1;
        let (inner, path, key) = (self.inner.clone(), self.path.clone(), self.key.clone());
        self.in_flight = Some(tokio::spawn(async move {
            upload_part(&inner, &path, &key, &upload_id, number, data).await
        }));
        Ok(())
    }

    async fn write_inner(&mut self, mut data: Bytes) -> Result<()> {
        let chunk = self.inner.chunk_size;
        while !data.is_empty() {
            if self.buffer.is_empty() && data.len() >= chunk {
                // A whole part from the caller's bytes, without a copy.
                let part = data.split_to(chunk);
                self.send_part(part).await?;
                continue;
            }
            let room = chunk - self.buffer.len();
            if data.len() < room {
                self.buffer.extend_from_slice(&data);
                break;
            }
            self.buffer.extend_from_slice(&data.split_to(room));
            let part = self.buffer.split().freeze();
            self.send_part(part).await?;
        }
        Ok(())
    }

    async fn store_tail(&mut self) -> Result<()> {
        self.finish_in_flight().await?;
        if !self.dirty {
            return Ok(());
        }
        let length = self.buffer.len() as i64;
        let data = self.buffer.split().freeze();
        object_settings!(self.inner.client.put_object(), self.inner)
            .bucket(&self.inner.bucket)
            .key(&self.tail_key)
            .content_type("application/octet-stream")
            .content_length(length)
            .metadata(META_UPLOAD_ID, self.upload_id.clone().unwrap_or_default())
            .metadata(META_PARTS, self.parts.len().to_string())
            .metadata(META_PARTS_SIZE, self.parts_size.to_string())
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| backend("PutObject", &self.path, &e))?;
        Ok(())
    }

    async fn commit_inner(&mut self) -> Result<()> {
        self.finish_in_flight().await?;
        match self.upload_id.clone() {
            Some(upload_id) if !self.parts.is_empty() => {
                if !self.buffer.is_empty() {
                    let data = self.buffer.split().freeze();
                    let number = self.parts.len() as i32 + 1;
                    let part =
                        upload_part(&self.inner, &self.path, &self.key, &upload_id, number, data)
                            .await?;
                    self.parts.push(part);
                }
                let parts = self
                    .parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.number)
                            .e_tag(&p.etag)
                            .build()
                    })
                    .collect();
                self.inner
                    .complete(&self.path, &self.key, &upload_id, parts)
                    .await?;
            }
            unused => {
                let data = self.buffer.split().freeze();
                self.inner
                    .put("PutObject", &self.path, &self.key, data)
                    .await?;
                if let Some(upload_id) = unused {
                    self.inner.abort(&self.path, &self.key, &upload_id).await?;
                }
            }
        }
        self.clean_up().await
    }

    /// Removes the tail object and older uploads of the key.
    async fn clean_up(&mut self) -> Result<()> {
        if self.tail_may_exist {
            self.inner
                .delete_key("DeleteObject", &self.path, &self.tail_key)
                .await?;
        }
        for upload in std::mem::take(&mut self.stale) {
            self.inner
                .abort(&self.path, &upload.key, &upload.upload_id)
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl FileWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.check()?;
        if data.is_empty() {
            return Ok(());
        }
        self.size += data.len() as u64;
        self.dirty = true;
        let result = self.write_inner(data).await;
        self.poison(result)
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.check()?;
        let result = self.commit_inner().await;
        self.poison(result)
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        // Let a part in flight land first, so the abort removes it too.
        if let Some(handle) = self.in_flight.take() {
            let _ = handle.await;
        }
        if let Some(upload_id) = self.upload_id.take() {
            self.inner.abort(&self.path, &self.key, &upload_id).await?;
        }
        self.clean_up().await
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        // A failed writer may have lost a part: storing its tail would
        // make a hole, so what was stored before stays as it was.
        self.check()?;
        let result = self.store_tail().await;
        self.poison(result)
    }
}
