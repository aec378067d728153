//! `S3Driver`: the `StorageDriver` operations on S3.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RequestChecksumCalculation,
    ResponseChecksumValidation, RuntimeComponents,
};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectCannedAcl, ObjectIdentifier,
    ServerSideEncryption, StorageClass,
};
use berth_driver::{
    DriverError, FileInfo, FileWriter, ReadStream, Result, StorageDriver, WalkFn,
    is_valid_component, join, validate_path,
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::error::{S3Error, backend, code, is_missing};
use crate::params::{ChecksumMode, DEFAULT_REGION, ParameterError, S3Parameters};
use crate::walk::{Flow, Listed, Reorder, Visits};
use crate::writer::S3Writer;

/// The driver's name, in errors and logs.
pub const NAME: &str = "s3";

/// How long a [`redirect_url`](StorageDriver::redirect_url) stays valid.
pub const REDIRECT_EXPIRY: Duration = Duration::from_secs(20 * 60);

/// How many attempts the SDK makes at a request that fails with
/// throttling, a 5xx or a transient network error (standard retry mode,
/// exponential backoff with jitter).
pub const MAX_ATTEMPTS: u32 = 5;

/// The most keys one `DeleteObjects` request deletes (S3's limit).
const DELETE_BATCH: usize = 1000;
/// How many `DeleteObjects` or `AbortMultipartUpload` requests a delete
/// runs at once.
const DELETE_CONCURRENCY: usize = 4;

/// A storage driver on Amazon S3 or an S3-compatible store (Distribution's
/// `s3` driver, with the same bucket layout).
///
/// Storage path `/a/b` is the key `<rootdirectory>/a/b` (no leading `/`);
/// a directory is the key prefix `<rootdirectory>/a/`, there while a key
/// lies below it.
///
/// - `get_content` and `reader` are `GetObject`s (`reader` with a
///   `Range`), streamed as they arrive; `put_content` is one `PutObject`.
/// - Writers are multipart uploads in `chunksize` parts, resumable after a
///   restart; see [`S3Writer`](crate::S3Writer) and the crate docs.
/// - `list` is `ListObjectsV2` with delimiter `/`; `walk` one flat
///   `ListObjectsV2` over the prefix (1,000 keys a request, however deep
///   the tree), reordered into walk order on the fly.
/// - `move_to` is `CopyObject` (or a multipart copy above
///   `multipartcopythresholdsize`) then `DeleteObject`; `delete` is
///   `DeleteObjects` in batches of 1,000, and also aborts multipart
///   uploads left below a deleted directory.
/// - `redirect_url` is a presigned `GetObject` URL valid for
///   [`REDIRECT_EXPIRY`].
#[derive(Clone)]
pub struct S3Driver {
    inner: Arc<Inner>,
}

/// What every operation needs.
pub(crate) struct Inner {
    pub client: Client,
    pub bucket: String,
    /// `rootdirectory` as a key prefix: empty, or ending with `/`.
    pub prefix: String,
    pub chunk_size: usize,
    pub copy_chunk_size: u64,
    pub copy_concurrency: usize,
    pub copy_threshold: u64,
    pub sse: Option<ServerSideEncryption>,
    pub kms_key: Option<String>,
    pub storage_class: Option<StorageClass>,
    pub acl: Option<ObjectCannedAcl>,
}

impl fmt::Debug for S3Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Driver")
            .field("bucket", &self.inner.bucket)
            .field("prefix", &self.inner.prefix)
            .field("chunk_size", &self.inner.chunk_size)
            .finish_non_exhaustive()
    }
}

/// Applies the settings every new object gets (encryption, storage
/// class, ACL) to a `PutObject`, `CreateMultipartUpload` or `CopyObject`.
macro_rules! object_settings {
    ($builder:expr, $inner:expr) => {
        $builder
            .set_server_side_encryption($inner.sse.clone())
            .set_ssekms_key_id($inner.kms_key.clone())
            .set_storage_class($inner.storage_class.clone())
            .set_acl($inner.acl.clone())
    };
}
pub(crate) use object_settings;

mod client;
mod objects;

pub(crate) use client::system_time;
use client::*;
pub(crate) use objects::Upload;

#[async_trait]
impl StorageDriver for S3Driver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        validate_path(path)?;
        if path == "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        let inner = &self.inner;
        let out = inner
            .client
            .get_object()
            .bucket(&inner.bucket)
            .key(inner.key(path))
            .send()
            .await
            .map_err(|e| {
                if is_missing(&e) {
                    DriverError::not_found(NAME, path)
                } else {
                    backend("GetObject", path, &e)
                }
            })?;
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| DriverError::backend(NAME, "GetObject", path, e))?;
        Ok(data.into_bytes())
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        validate_path(path)?;
        if path == "/" {
            return Err(DriverError::InvalidPath {
                path: path.to_owned(),
                reason: "the root is a directory",
            });
        }
        let key = self.inner.key(path);
        self.inner.put("PutObject", path, &key, content).await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ReadStream> {
        validate_path(path)?;
        if path == "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        let inner = &self.inner;
        let key = inner.key(path);
        let mut request = inner.client.get_object().bucket(&inner.bucket).key(&key);
        if offset > 0 {
            request = request.range(format!("bytes={offset}-"));
        }
        match request.send().await {
            Ok(out) => {
                // A server that ignores the range answers 200 with all of
                // it: skip to the offset here.
                let mut skip = 0;
                if offset > 0 && out.content_range().is_none() {
                    let size = out.content_length().unwrap_or(0).max(0) as u64;
                    if offset > size {
                        return Err(DriverError::InvalidOffset {
                            driver: NAME,
                            path: path.to_owned(),
                            offset,
                        });
                    }
                    skip = offset;
                }
                Ok(body_stream(out.body, path, skip))
            }
            Err(e) if is_missing(&e) => Err(DriverError::not_found(NAME, path)),
            Err(e)
                if code(&e) == Some("InvalidRange")
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 416) =>
            {
                // At or past the end: the size tells which.
                match inner.head("GetObject", path, &key).await? {
                    None => Err(DriverError::not_found(NAME, path)),
                    Some((size, _)) if size == offset => {
                        Ok(Box::pin(futures_util::stream::empty()))
                    }
                    Some(_) => Err(DriverError::InvalidOffset {
                        driver: NAME,
                        path: path.to_owned(),
                        offset,
                    }),
                }
            }
            Err(e) => Err(backend("GetObject", path, &e)),
        }
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        validate_path(path)?;
        if path == "/" {
            return Err(if append {
                DriverError::not_found(NAME, path)
            } else {
                DriverError::InvalidPath {
                    path: path.to_owned(),
                    reason: "the root is a directory",
                }
            });
        }
        let writer = if append {
            S3Writer::resume(self.inner.clone(), path).await?
        } else {
            S3Writer::create(self.inner.clone(), path).await?
        };
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        validate_path(path)?;
        let inner = &self.inner;
        if path != "/"
            && let Some((size, modified)) = inner.head("HeadObject", path, &inner.key(path)).await?
        {
            return Ok(FileInfo {
                path: path.to_owned(),
                size,
                modified,
                is_dir: false,
            });
        }
        let out = inner
            .client
            .list_objects_v2()
            .bucket(&inner.bucket)
            .prefix(inner.dir_prefix(path))
            .max_keys(1)
            .send()
            .await
            .map_err(|e| backend("ListObjectsV2", path, &e))?;
        match out.contents().first() {
            Some(object) => Ok(FileInfo {
                path: path.to_owned(),
                size: 0,
                modified: system_time(object.last_modified()),
                is_dir: true,
            }),
            None if path == "/" => Ok(FileInfo {
                path: path.to_owned(),
                size: 0,
                modified: SystemTime::UNIX_EPOCH,
                is_dir: true,
            }),
            None => Err(DriverError::not_found(NAME, path)),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        validate_path(path)?;
        let inner = &self.inner;
        let prefix = inner.dir_prefix(path);
        let mut children = Vec::new();
        let mut anything = false;
        let mut token = None;
        loop {
            let out = inner
                .client
                .list_objects_v2()
                .bucket(&inner.bucket)
                .prefix(&prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| backend("ListObjectsV2", path, &e))?;
            let files = out.contents().iter().filter_map(|o| o.key());
            let dirs = out
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(|p| p.strip_suffix('/').unwrap_or(p));
            for key in files.chain(dirs) {
                anything = true;
                if let Some(name) = key.strip_prefix(prefix.as_str())
                    && is_valid_component(name)
                {
                    children.push(join(path, name));
                }
            }
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        if !anything && path != "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        children.sort_unstable();
        children.dedup();
        Ok(children)
    }

    async fn move_to(&self, source: &str, dest: &str) -> Result<()> {
        validate_path(source)?;
        validate_path(dest)?;
        if source == "/" {
            return Err(DriverError::not_found(NAME, source));
        }
        if dest == "/" {
            return Err(DriverError::InvalidPath {
                path: dest.to_owned(),
                reason: "the root is a directory",
            });
        }
        let inner = &self.inner;
        let from = inner.key(source);
        let Some((size, _)) = inner.head("move", source, &from).await? else {
            return Err(DriverError::not_found(NAME, source));
        };
        if source == dest {
            return Ok(());
        }
        inner.copy(source, &from, &inner.key(dest), size).await?;
        inner.delete_key("DeleteObject", source, &from).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        validate_path(path)?;
        let inner = &self.inner;
        let key = inner.key(path);
        let prefix = inner.dir_prefix(path);

        // The object itself, and the multipart uploads left below the
        // directory, looked up while the first page of keys is listed.
        let file = async {
            if path == "/" {
                Ok(None)
            } else {
                inner.head("delete", path, &key).await
            }
        };
        let uploads = inner.list_uploads(path, &prefix);
        let first_page = inner
            .client
            .list_objects_v2()
            .bucket(&inner.bucket)
            .prefix(&prefix)
            .send();
        let (file, uploads, first_page) = tokio::join!(file, uploads, first_page);
        let (file, uploads) = (file?, uploads?);
        let mut page = first_page.map_err(|e| backend("ListObjectsV2", path, &e))?;

        let mut found = file.is_some() || !uploads.is_empty();
        let mut batch: Vec<String> = Vec::new();
        if file.is_some() {
            batch.push(key.clone());
        }
        let mut batches = Vec::new();
        loop {
            for object in page.contents() {
                if let Some(k) = object.key() {
                    found = true;
                    batch.push(k.to_owned());
                    if batch.len() == DELETE_BATCH {
                        batches.push(std::mem::take(&mut batch));
                    }
                }
            }
            // Delete what is listed so far before listing on.
            if !batches.is_empty() {
                futures_util::stream::iter(batches.drain(..))
                    .map(|keys| inner.delete_batch(path, keys))
                    .buffer_unordered(DELETE_CONCURRENCY)
                    .try_collect::<Vec<()>>()
                    .await?;
            }
            let token = match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => next.to_owned(),
                _ => break,
            };
            page = inner
                .client
                .list_objects_v2()
                .bucket(&inner.bucket)
                .prefix(&prefix)
                .continuation_token(token)
                .send()
                .await
                .map_err(|e| backend("ListObjectsV2", path, &e))?;
        }
        inner.delete_batch(path, batch).await?;
        futures_util::stream::iter(uploads)
            .map(|u| async move { inner.abort(path, &u.key, &u.upload_id).await })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        if !found && path != "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        Ok(())
    }

    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        validate_path(path)?;
        if path == "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        let inner = &self.inner;
        let config = PresigningConfig::expires_in(REDIRECT_EXPIRY).map_err(|e| {
            DriverError::backend(
                NAME,
                "presign GetObject",
                path,
                S3Error::other(e.to_string()),
            )
        })?;
        let request = inner
            .client
            .get_object()
            .bucket(&inner.bucket)
            .key(inner.key(path))
            .presigned(config)
            .await
            .map_err(|e| backend("presign GetObject", path, &e))?;
        Ok(Some(request.uri().to_owned()))
    }

    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> Result<()> {
        validate_path(from)?;
        let inner = &self.inner;
        let prefix = inner.dir_prefix(from);
        let mut reorder = Reorder::default();
        let mut visits = Visits::new(from, visit);
        let mut anything = false;
        let mut token: Option<String> = None;
        let mut start_after: Option<String> = None;
        loop {
            let out = inner
                .client
                .list_objects_v2()
                .bucket(&inner.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .set_start_after(start_after.take())
                .send()
                .await
                .map_err(|e| backend("ListObjectsV2", from, &e))?;
            for object in out.contents() {
                let Some(rel) = object.key().and_then(|k| k.strip_prefix(prefix.as_str())) else {
                    continue;
                };
                anything = true;
                if rel.is_empty() || visits.skipped_dir(rel).is_some() {
                    reorder.passed(rel.to_owned());
                    continue;
                }
                reorder.push(Listed {
                    rel: rel.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    modified: system_time(object.last_modified()),
                });
            }
            while let Some(listed) = reorder.pop_ready() {
                match visits.visit(&listed) {
                    Flow::Continue => {}
                    Flow::Skipped(dir) => reorder.remove_within(&dir),
                    Flow::Stop => return Ok(()),
                }
            }
            let next = match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => next.to_owned(),
                _ => break,
            };
            // Inside a skipped directory: list on from past its end.
            match reorder.last().and_then(|last| visits.skipped_dir(last)) {
                Some(dir) => {
                    let past = format!("{dir}\u{10FFFF}");
                    start_after = Some(format!("{prefix}{past}"));
                    reorder.passed(past);
                }
                None => token = Some(next),
            }
        }
        while let Some(listed) = reorder.pop_any() {
            match visits.visit(&listed) {
                Flow::Continue => {}
                Flow::Skipped(dir) => reorder.remove_within(&dir),
                Flow::Stop => return Ok(()),
            }
        }
        if !anything && from != "/" {
            return Err(DriverError::not_found(NAME, from));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources() {
        assert_eq!(copy_source("b", "r/a-b/c.d_e"), "b/r/a-b/c.d_e");
        assert_eq!(copy_source("b", "r x/é"), "b/r%20x/%C3%A9");
    }
}
