//! The object operations the driver is made of: keys, heads, ranged
//! reads, puts, listings, copies, multipart uploads, batched deletes.

use super::*;

/// An in-progress multipart upload.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub key: String,
    pub upload_id: String,
    pub initiated: SystemTime,
}

impl Inner {
    /// The key of a valid path (`/` gives the prefix itself).
    pub fn key(&self, path: &str) -> String {
        format!("{}{}", self.prefix, path.trim_start_matches('/'))
    }

    /// The prefix of the keys below directory `path`.
    pub fn dir_prefix(&self, path: &str) -> String {
        if path == "/" {
            self.prefix.clone()
        } else {
            format!("{}{}/", self.prefix, &path[1..])
        }
    }

    /// `HeadObject`: the size and time of the object, `None` if missing.
    pub async fn head(
        &self,
        operation: &'static str,
        path: &str,
        key: &str,
    ) -> Result<Option<(u64, SystemTime)>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some((
                out.content_length().unwrap_or(0).max(0) as u64,
                system_time(out.last_modified()),
            ))),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(backend(operation, path, &e)),
        }
    }

    /// `PutObject` of `content` at `key`, with the object settings.
    pub async fn put(
        &self,
        operation: &'static str,
        path: &str,
        key: &str,
        content: Bytes,
    ) -> Result<()> {
        let length = content.len() as i64;
        object_settings!(self.client.put_object(), self)
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .content_length(length)
            .body(ByteStream::from(content))
            .send()
            .await
            .map_err(|e| backend(operation, path, &e))?;
        Ok(())
    }

    /// `DeleteObject` (which succeeds whether or not the key exists).
    pub async fn delete_key(&self, operation: &'static str, path: &str, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| backend(operation, path, &e))?;
        Ok(())
    }

    /// Deletes up to 1,000 keys: one `DeleteObject`, or `DeleteObjects`.
    pub(super) async fn delete_batch(&self, path: &str, keys: Vec<String>) -> Result<()> {
        match keys.len() {
            0 => return Ok(()),
            1 => return self.delete_key("DeleteObject", path, &keys[0]).await,
            _ => {}
        }
        let build = |e: aws_sdk_s3::error::BuildError| {
            DriverError::backend(NAME, "DeleteObjects", path, S3Error::other(e.to_string()))
        };
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(build)?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(build)?;
        let out = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| backend("DeleteObjects", path, &e))?;
        if let Some(failed) = out.errors().first() {
            let message = format!(
                "{} of {} keys not deleted; first: {} {}: {}",
                out.errors().len(),
                keys.len(),
                failed.key().unwrap_or("?"),
                failed.code().unwrap_or("?"),
                failed.message().unwrap_or("")
            );
            return Err(DriverError::backend(
                NAME,
                "DeleteObjects",
                path,
                S3Error::other(message),
            ));
        }
        Ok(())
    }

    /// The in-progress multipart uploads of keys beginning with `prefix`.
    pub async fn list_uploads(&self, path: &str, prefix: &str) -> Result<Vec<Upload>> {
        let mut uploads = Vec::new();
        let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
        loop {
            let out = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| backend("ListMultipartUploads", path, &e))?;
            for u in out.uploads() {
                if let (Some(key), Some(id)) = (u.key(), u.upload_id()) {
                    uploads.push(Upload {
                        key: key.to_owned(),
                        upload_id: id.to_owned(),
                        initiated: system_time(u.initiated()),
                    });
                }
            }
            if out.is_truncated() != Some(true) {
                break;
            }
            key_marker = out.next_key_marker().map(str::to_owned);
            id_marker = out.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        }
        Ok(uploads)
    }

    /// Completes multipart upload `upload_id` of `key` with `parts` (in
    /// part-number order).
    pub async fn complete(
        &self,
        path: &str,
        key: &str,
        upload_id: &str,
        parts: Vec<CompletedPart>,
    ) -> Result<()> {
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| backend("CompleteMultipartUpload", path, &e))
    }

    /// `AbortMultipartUpload` (an upload already gone is fine).
    pub async fn abort(&self, path: &str, key: &str, upload_id: &str) -> Result<()> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(backend("AbortMultipartUpload", path, &e)),
        }
    }

    /// Copies `source` (of `size` bytes) to `dest`: one `CopyObject`, or a
    /// multipart copy above the threshold.
    pub(super) async fn copy(&self, path: &str, source: &str, dest: &str, size: u64) -> Result<()> {
        let from = copy_source(&self.bucket, source);
        if size <= self.copy_threshold {
            object_settings!(self.client.copy_object(), self)
                .bucket(&self.bucket)
                .key(dest)
                .copy_source(from)
                .send()
                .await
                .map_err(|e| backend("CopyObject", path, &e))?;
            return Ok(());
        }
        let upload = object_settings!(self.client.create_multipart_upload(), self)
            .bucket(&self.bucket)
            .key(dest)
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(|e| backend("CreateMultipartUpload", path, &e))?;
        let Some(upload_id) = upload.upload_id().map(str::to_owned) else {
            return Err(DriverError::backend(
                NAME,
                "CreateMultipartUpload",
                path,
                S3Error::other("the response has no upload id"),
            ));
        };
        let chunk = self.copy_chunk_size;
        let ranges = (0..size.div_ceil(chunk)).map(|i| {
            let start = i * chunk;
            let end = (start + chunk).min(size) - 1;
            (i as i32 + 1, start, end)
        });
        let copies = futures_util::stream::iter(ranges)
            .map(|(number, start, end)| {
                let request = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(dest)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .copy_source(from.clone())
                    .copy_source_range(format!("bytes={start}-{end}"));
                async move {
                    let out = request
                        .send()
                        .await
                        .map_err(|e| backend("UploadPartCopy", path, &e))?;
                    let etag = out
                        .copy_part_result()
                        .and_then(|r| r.e_tag())
                        .ok_or_else(|| {
                            DriverError::backend(
                                NAME,
                                "UploadPartCopy",
                                path,
                                S3Error::other("the response has no ETag"),
                            )
                        })?;
                    Ok::<_, DriverError>(
                        CompletedPart::builder()
                            .part_number(number)
                            .e_tag(etag)
                            .build(),
                    )
                }
            })
            .buffer_unordered(self.copy_concurrency)
            .try_collect::<Vec<_>>()
            .await;
        let result = match copies {
            Ok(mut parts) => {
                parts.sort_by_key(|p| p.part_number());
                self.complete(path, dest, &upload_id, parts).await
            }
            Err(e) => Err(e),
        };
        if result.is_err()
            && let Err(e) = self.abort(path, dest, &upload_id).await
        {
            tracing::warn!(error = %e, "s3: cannot abort a failed multipart copy");
        }
        result
    }
}
