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

/// Appends `useragent` to every request's `User-Agent` (after signing:
/// SigV4 does not sign that header).
#[derive(Debug)]
struct UserAgentSuffix(String);

impl Intercept for UserAgentSuffix {
    fn name(&self) -> &'static str {
        "berth-s3-useragent"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        let agent = match headers.get("user-agent") {
            Some(current) => format!("{current} {}", self.0),
            None => self.0.clone(),
        };
        headers.insert("user-agent", agent);
        Ok(())
    }
}

/// The SDK's timeouts from `connecttimeout`, `readtimeout` and
/// `operationtimeout` (zero: none).
fn timeout_config(params: &S3Parameters) -> TimeoutConfig {
    // `None` disables a timeout.
    let some = |d: Duration| (!d.is_zero()).then_some(d);
    let mut builder = TimeoutConfig::builder();
    builder
        .set_connect_timeout(some(params.connecttimeout))
        .set_read_timeout(some(params.readtimeout))
        .set_operation_timeout(some(params.operationtimeout));
    builder.build()
}

fn checksum_calculation(mode: ChecksumMode) -> RequestChecksumCalculation {
    match mode {
        ChecksumMode::WhenRequired => RequestChecksumCalculation::WhenRequired,
        ChecksumMode::WhenSupported => RequestChecksumCalculation::WhenSupported,
    }
}

fn checksum_validation(mode: ChecksumMode) -> ResponseChecksumValidation {
    match mode {
        ChecksumMode::WhenRequired => ResponseChecksumValidation::WhenRequired,
        ChecksumMode::WhenSupported => ResponseChecksumValidation::WhenSupported,
    }
}

pub(crate) fn system_time(t: Option<&DateTime>) -> SystemTime {
    t.and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `bucket/key` for `x-amz-copy-source`, percent-encoded but for `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + key.len() + 1);
    for (i, part) in [bucket, key].into_iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for b in part.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Streams a response body as `Bytes`, skipping its first `skip` bytes.
fn body_stream(body: ByteStream, path: &str, skip: u64) -> ReadStream {
    struct State {
        body: ByteStream,
        path: String,
        skip: u64,
        done: bool,
    }
    let state = State {
        body,
        path: path.to_owned(),
        skip,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        while !s.done {
            match s.body.next().await {
                None => s.done = true,
                Some(Ok(mut chunk)) => {
                    if s.skip > 0 {
                        let n = usize::try_from(s.skip)
                            .unwrap_or(usize::MAX)
                            .min(chunk.len());
                        let _ = chunk.split_to(n);
                        s.skip -= n as u64;
                    }
                    if !chunk.is_empty() {
                        return Some((Ok(chunk), s));
                    }
                }
                Some(Err(e)) => {
                    s.done = true;
                    let e = DriverError::backend(NAME, "GetObject", &s.path, e);
                    return Some((Err(e), s));
                }
            }
        }
        None
    }))
}

impl S3Driver {
    /// A driver for `params`: checks them, then builds an S3 client (with
    /// the default AWS credential chain unless `accesskey`/`secretkey` are
    /// given). Nothing is sent to S3 until the first operation.
    pub async fn new(params: S3Parameters) -> std::result::Result<S3Driver, ParameterError> {
        params.validate()?;
        for key in &params.unknown {
            tracing::warn!(parameter = %key, "s3 storage parameter {key} is unknown; ignored");
        }
        let region = params
            .region
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200));
        let timeouts = timeout_config(&params);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone());
        if let (Some(access), Some(secret)) = (&params.accesskey, &params.secretkey) {
            loader = loader.credentials_provider(Credentials::new(
                access,
                secret,
                params.sessiontoken.clone().filter(|t| !t.is_empty()),
                None,
                "berth-s3-parameters",
            ));
        }
        let sdk = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&sdk)
            .retry_config(retry)
            .timeout_config(timeouts)
            .force_path_style(params.forcepathstyle)
            .use_dual_stack(params.usedualstack)
            .accelerate(params.accelerate)
            .request_checksum_calculation(checksum_calculation(params.checksumcalculation))
            .response_checksum_validation(checksum_validation(params.checksumvalidation));
        if let Some(url) = params.endpoint_url() {
            config = config.endpoint_url(url);
        }
        if let Some(agent) = params.useragent.clone().filter(|a| !a.is_empty()) {
            config = config.interceptor(UserAgentSuffix(agent));
        }
        let client = Client::from_conf(config.build());
        S3Driver::with_client(client, &params)
    }

    /// A driver on a client built elsewhere. The parameters about storage
    /// (`bucket`, `rootdirectory`, the sizes, encryption, storage class,
    /// ACL) apply; those about connecting (region, endpoint, credentials,
    /// checksums, user agent) are the client's business.
    pub fn with_client(
        client: Client,
        params: &S3Parameters,
    ) -> std::result::Result<S3Driver, ParameterError> {
        params.validate_storage()?;
        let sse = params.encrypt.then(|| {
            if params.keyid.as_deref().is_some_and(|k| !k.is_empty()) {
                ServerSideEncryption::AwsKms
            } else {
                ServerSideEncryption::Aes256
            }
        });
        let kms_key = match sse {
            Some(ServerSideEncryption::AwsKms) => params.keyid.clone(),
            _ => None,
        };
        let storage_class = (params.storageclass != "NONE")
            .then(|| StorageClass::from(params.storageclass.as_str()));
        // `private` is what S3 does without an ACL; not sending it keeps
        // buckets with ACLs disabled (the AWS default) working.
        let acl = (params.objectacl != "private")
            .then(|| ObjectCannedAcl::from(params.objectacl.as_str()));
        let too_big = |v: u64, name: &'static str| {
            usize::try_from(v).map_err(|_| ParameterError {
                parameter: name,
                message: format!("{v} is too large for this machine"),
                value: None,
                expected: None,
            })
        };
        Ok(S3Driver {
            inner: Arc::new(Inner {
                client,
                bucket: params.bucket.clone(),
                prefix: params.key_prefix(),
                chunk_size: too_big(params.chunksize, "chunksize")?,
                copy_chunk_size: params.multipartcopychunksize,
                copy_concurrency: too_big(
                    params.multipartcopymaxconcurrency,
                    "multipartcopymaxconcurrency",
                )?,
                copy_threshold: params.multipartcopythresholdsize,
                sse,
                kms_key,
                storage_class,
                acl,
            }),
        })
    }

    /// The S3 client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.bucket
    }

    /// The key of storage path `path` (which must be valid): `rootdirectory`
    /// and the path, without a leading `/`.
    pub fn key(&self, path: &str) -> String {
        self.inner.key(path)
    }

    /// The part size of writers (`chunksize`).
    pub fn chunk_size(&self) -> usize {
        self.inner.chunk_size
    }
}

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
    async fn delete_batch(&self, path: &str, keys: Vec<String>) -> Result<()> {
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
    async fn copy(&self, path: &str, source: &str, dest: &str, size: u64) -> Result<()> {
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
                self.client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(dest)
                    .upload_id(&upload_id)
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
