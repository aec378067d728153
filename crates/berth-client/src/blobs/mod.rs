//! Blobs over HTTP: stat, read (whole, ranged, verified), upload (one
//! request, chunks, or a stream), mount, delete.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use base64::Engine as _;
use berth_api::Route;
use berth_api::headers::{CONTENT_DIGEST, UPLOAD_UUID};
use berth_api::ranges::{ChunkRange, ContentRange, range_request};
use berth_core::{
    BlobContent, BlobDeleter, BlobIngester, BlobProvider, BlobStatter, BlobWriter, ByteStream,
    CreateOptions, Created, Error, ErrorKind, Result,
};
use berth_digest::{Algorithm, Digest, Digester};
use berth_manifest::Descriptor;
use berth_reference::RepositoryName;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode, Url};

use crate::client::{Call, Inner, header_str, header_u64};
use crate::error::BodyError;
use crate::repository::Repo;
use crate::verify::{Expect, body_stream};

mod upload;

pub use upload::RemoteBlobWriter;

/// The media type the registry API gives every blob.
const OCTET_STREAM: &str = "application/octet-stream";

/// The blobs of one remote repository: a [`berth_core::BlobStore`].
///
/// - `stat` is `HEAD /v2/<name>/blobs/<digest>`; `open` one `GET`, with
///   `Range` for a range; the body is checked as it streams (length, and
///   for a whole blob the digest), so a short or wrong body ends the
///   stream with an error, never a clean end. `redirect_url` is `None`.
/// - `put` is `POST` then a monolithic `PUT ?digest=`; `create` starts an
///   upload (or mounts, with [`CreateOptions::mount_from`]: `201` is
///   [`Created::Mounted`], `202` an upload); the writer sends each
///   `write` as one `PATCH` with `Content-Range`, `commit` is `PUT
///   ?digest=`, `cancel` is `DELETE`.
/// - An upload's [`id`](BlobWriter::id) is its upload URL as the registry
///   last gave it, which [`resume`](BlobIngester::resume) takes back (a
///   bare upload UUID works with registries that do not sign their upload
///   URLs; Distribution does).
/// - [`upload`](RemoteBlobs::upload) and
///   [`upload_chunked`](RemoteBlobs::upload_chunked) push a stream.
#[derive(Debug, Clone)]
pub struct RemoteBlobs {
    repo: Arc<Repo>,
}

impl RemoteBlobs {
    pub(crate) fn new(repo: Arc<Repo>) -> RemoteBlobs {
        RemoteBlobs { repo }
    }

    fn inner(&self) -> &Inner {
        &self.repo.client.inner
    }

    fn name(&self) -> &str {
        self.repo.name.as_str()
    }

    /// The route of the blob `digest`.
    fn blob<'a>(&'a self, digest: &'a Digest) -> Route<'a> {
        Route::Blob {
            name: self.name(),
            digest: digest.as_str(),
        }
    }

    /// The route of the upload `id` (a bare id or an upload URL).
    fn upload_route<'a>(&'a self, id: &'a str) -> Route<'a> {
        Route::Upload {
            name: self.name(),
            id,
        }
    }

    /// Pushes `body` in one streamed `PUT` (after the `POST` that opens the
    /// upload), hashing it on the way: if the stream fails, or its bytes do
    /// not have `digest` (or `size`, when given), the request is aborted
    /// before its end so the registry stores nothing, and the upload is
    /// cancelled.
    pub async fn upload(
        &self,
        body: ByteStream,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Descriptor> {
        let writer = self.start(None).await?.into_upload()?;
        let failure: Arc<Mutex<Option<Error>>> = Arc::default();
        let sent = Arc::new(AtomicU64::new(0));
        let checked = checked_stream(body, digest.clone(), size, failure.clone(), sent.clone());
        let mut url = writer.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let mut call = Call::new(Method::PUT, url, self.upload_route(&writer.id))
            .header(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))
            .stream_body(reqwest::Body::wrap_stream(checked))
            .idempotent(false)
            .streamed();
        if let Some(size) = size {
            call = call.header(CONTENT_LENGTH, HeaderValue::from(size));
        }
        let result = self
            .inner()
            .send(call, &[StatusCode::CREATED, StatusCode::NO_CONTENT])
            .await;
        let local = failure.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (result, local) {
            (Ok(response), None) => Ok(committed(
                &response,
                digest,
                sent.load(Ordering::Relaxed),
                &writer,
            )),
            (Ok(_), Some(err)) => {
                // The registry took what it got; the local check failed
                // only at the very end. Never report success.
                tracing::warn!(digest = %digest, error = %err, "streamed upload failed its local check after the registry answered");
                Err(err)
            }
            (Err(err), local) => {
                let _ = writer.cancel().await;
                Err(local.unwrap_or(err))
            }
        }
    }

    /// Pushes `body` through an upload in `PATCH`es of `chunk_size` bytes
    /// (the last one shorter), then commits it as `digest`. At most one
    /// chunk is held in memory. On any failure the upload is cancelled.
    pub async fn upload_chunked(
        &self,
        mut body: ByteStream,
        digest: &Digest,
        chunk_size: usize,
    ) -> Result<Descriptor> {
        let chunk_size = chunk_size.max(1);
        let mut writer = self.start(None).await?.into_upload()?;
        let mut buffer = BytesMut::new();
        let result: Result<()> = async {
            while let Some(item) = body.next().await {
                let mut bytes = item?;
                if buffer.is_empty() {
                    // Whole chunks straight from the stream, without a copy.
                    while bytes.len() >= chunk_size {
                        writer.write(bytes.split_to(chunk_size)).await?;
                    }
                }
                buffer.extend_from_slice(&bytes);
                while buffer.len() >= chunk_size {
                    writer.write(buffer.split_to(chunk_size).freeze()).await?;
                }
            }
            if !buffer.is_empty() {
                writer.write(buffer.split().freeze()).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => writer.commit(digest, None).await,
            Err(err) => {
                let _ = writer.cancel().await;
                Err(err)
            }
        }
    }

    /// `POST /v2/<name>/blobs/uploads/` (with `mount` and `from`).
    async fn start(&self, mount: Option<(&RepositoryName, &Digest)>) -> Result<Started> {
        let route = Route::UploadStart { name: self.name() };
        let mut url = self.inner().url(&route)?;
        if let Some((from, digest)) = mount {
            url.query_pairs_mut()
                .append_pair("mount", digest.as_str())
                .append_pair("from", from.as_str());
        }
        let mut call = Call::new(Method::POST, url, route);
        if let Some((from, _)) = mount {
            call = call.mount_from(from.as_str());
        }
        let response = self
            .inner()
            .send(call, &[StatusCode::CREATED, StatusCode::ACCEPTED])
            .await?;
        if response.status() == StatusCode::CREATED {
            if let Some((_, digest)) = mount {
                return Ok(Started::Mounted(digest.clone()));
            }
            return Err(Error::backend(
                format!("POST /v2/{}/blobs/uploads/", self.name()),
                BodyError("the registry answered 201 to a POST that was not a mount".to_owned()),
            ));
        }
        let location = header_str(response.headers(), LOCATION).ok_or_else(|| {
            Error::backend(
                format!("POST /v2/{}/blobs/uploads/", self.name()),
                BodyError("the registry answered 202 without a Location".to_owned()),
            )
        })?;
        let location = self.inner().resolve(response.url(), location)?;
        let uuid = header_str(response.headers(), UPLOAD_UUID).map(str::to_owned);
        Ok(Started::Upload(Box::new(RemoteBlobWriter::new(
            self.clone(),
            location,
            uuid,
            SystemTime::now(),
            0,
            Some(Digester::new(Algorithm::CANONICAL)),
        ))))
    }

    /// One `GET`, ranged or not; `known` saves looking the size up.
    async fn fetch(
        &self,
        digest: &Digest,
        known: Option<Descriptor>,
        range: Option<Range<u64>>,
    ) -> Result<BlobContent> {
        // A range known to be empty, or past the end, reads nothing.
        let range = match (&known, range) {
            (Some(d), Some(r)) => {
                let size = size_of(d);
                Some(r.start.min(size)..r.end.min(size))
            }
            (_, r) => r,
        };
        if let Some(r) = &range
            && r.start >= r.end
        {
            let descriptor = match known {
                Some(d) => d,
                None => self.stat(digest).await?,
            };
            let at = r.start.min(size_of(&descriptor));
            return Ok(empty_content(descriptor, at));
        }
        let route = self.blob(digest);
        let url = self.inner().url(&route)?;
        let mut call = Call::new(Method::GET, url, route).streamed();
        if let Some(r) = &range {
            let value = range_request(r);
            call = call.header(
                RANGE,
                HeaderValue::from_str(&value)
                    .map_err(|e| Error::backend("build a Range header", e))?,
            );
        }
        let response = self
            .inner()
            .send(
                call,
                &[
                    StatusCode::OK,
                    StatusCode::PARTIAL_CONTENT,
                    StatusCode::RANGE_NOT_SATISFIABLE,
                ],
            )
            .await?;
        let service = self.inner().service_name();
        match response.status() {
            StatusCode::RANGE_NOT_SATISFIABLE => {
                // Only a range starting at or past the end gets here.
                let descriptor = match known {
                    Some(d) => d,
                    None => self.stat(digest).await?,
                };
                let at = range.map_or(0, |r| r.start).min(size_of(&descriptor));
                Ok(empty_content(descriptor, at))
            }
            StatusCode::PARTIAL_CONTENT => {
                let Some(ContentRange {
                    first,
                    last,
                    size: total,
                }) = header_str(response.headers(), CONTENT_RANGE).and_then(ContentRange::parse)
                else {
                    return Err(bad_answer(
                        self.name(),
                        digest,
                        "a 206 without a valid Content-Range",
                    ));
                };
                let asked = range.clone().unwrap_or(0..u64::MAX);
                if first != asked.start || last >= asked.end {
                    return Err(bad_answer(
                        self.name(),
                        digest,
                        "a 206 for another range than asked",
                    ));
                }
                let descriptor = match (known, total) {
                    (Some(d), _) => d,
                    (None, Some(total)) => descriptor(&response, digest, total),
                    (None, None) => self.stat(digest).await?,
                };
                let size = size_of(&descriptor);
                let whole = first == 0 && last + 1 == size;
                let body = body_stream(
                    response,
                    Expect {
                        length: Some(last + 1 - first),
                        digest: whole.then(|| digest.verifier()),
                        skip: 0,
                        take: None,
                        service,
                    },
                );
                Ok(BlobContent {
                    descriptor,
                    range: first..last + 1,
                    body,
                })
            }
            _ => {
                let length = header_u64(response.headers(), CONTENT_LENGTH);
                let descriptor = match (known, length) {
                    (Some(d), _) => d,
                    (None, Some(length)) => descriptor(&response, digest, length),
                    (None, None) => self.stat(digest).await?,
                };
                let size = size_of(&descriptor);
                if let Some(length) = length
                    && length != size
                {
                    return Err(Error::unavailable(
                        service,
                        BodyError(format!(
                            "the registry sends {length} bytes for {digest}, whose size is {size}"
                        )),
                    ));
                }
                // A registry that ignored Range sends the whole blob: pass
                // on the range only (and stop reading after it).
                let wanted = range.map_or(0..size, |r| r.start.min(size)..r.end.min(size));
                let whole = wanted.start == 0 && wanted.end == size;
                let body = body_stream(
                    response,
                    Expect {
                        length: Some(size),
                        digest: whole.then(|| digest.verifier()),
                        skip: wanted.start,
                        take: (!whole).then(|| wanted.end - wanted.start),
                        service,
                    },
                );
                Ok(BlobContent {
                    descriptor,
                    range: wanted,
                    body,
                })
            }
        }
    }
}

enum Started {
    Mounted(Digest),
    Upload(Box<RemoteBlobWriter>),
}

impl Started {
    fn into_upload(self) -> Result<Box<RemoteBlobWriter>> {
        match self {
            Started::Upload(w) => Ok(w),
            Started::Mounted(_) => Err(Error::backend(
                "start an upload",
                BodyError("the registry mounted instead".to_owned()),
            )),
        }
    }
}

fn size_of(descriptor: &Descriptor) -> u64 {
    u64::try_from(descriptor.size).unwrap_or(0)
}

fn empty_content(descriptor: Descriptor, at: u64) -> BlobContent {
    BlobContent {
        descriptor,
        range: at..at,
        body: Box::pin(futures_util::stream::empty()),
    }
}

fn bad_answer(name: &str, digest: &Digest, what: &str) -> Error {
    Error::backend(
        format!("GET /v2/{name}/blobs/{digest}"),
        BodyError(format!("the registry answered {what}")),
    )
}

/// A blob's descriptor from a response's headers and its size.
fn descriptor(response: &Response, digest: &Digest, size: u64) -> Descriptor {
    let media_type = header_str(response.headers(), CONTENT_TYPE)
        .and_then(berth_manifest::media_type::essence)
        .unwrap_or(OCTET_STREAM);
    Descriptor::new(
        media_type,
        digest.clone(),
        i64::try_from(size).unwrap_or(i64::MAX),
    )
}

/// The descriptor of a committed upload.
fn committed(
    response: &Response,
    digest: &Digest,
    size: u64,
    writer: &RemoteBlobWriter,
) -> Descriptor {
    if let Some(answered) = header_str(response.headers(), CONTENT_DIGEST)
        && answered != digest.as_str()
    {
        tracing::debug!(given = %digest, answered, upload = %writer.location.path(), "the registry names the committed blob by another digest");
    }
    Descriptor::new(
        OCTET_STREAM,
        digest.clone(),
        i64::try_from(size).unwrap_or(i64::MAX),
    )
}

/// `body`, hashed and counted; ends with an error (recorded in `failure`)
/// instead of a clean end when it does not have `digest` or `size`.
fn checked_stream(
    body: ByteStream,
    digest: Digest,
    size: Option<u64>,
    failure: Arc<Mutex<Option<Error>>>,
    sent: Arc<AtomicU64>,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, Error>> + Send + 'static {
    struct State {
        body: Option<ByteStream>,
        digester: Digester,
        digest: Digest,
        size: Option<u64>,
        failure: Arc<Mutex<Option<Error>>>,
        sent: Arc<AtomicU64>,
    }
    let state = State {
        body: Some(body),
        digester: Digester::new(digest.algorithm()),
        digest,
        size,
        failure,
        sent,
    };
    fn fail(state: &State, err: Error) -> Error {
        let copy = Error::backend("check the uploaded stream", BodyError(err.to_string()));
        *state.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
        copy
    }
    futures_util::stream::unfold(state, |mut state| async move {
        let body = state.body.as_mut()?;
        match body.next().await {
            Some(Ok(chunk)) => {
                state.digester.update(&chunk);
                state.sent.store(state.digester.offset(), Ordering::Relaxed);
                if let Some(size) = state.size
                    && state.digester.offset() > size
                {
                    state.body = None;
                    let err = fail(
                        &state,
                        Error::SizeInvalid {
                            expected: size,
                            actual: state.digester.offset(),
                        },
                    );
                    return Some((Err(err), state));
                }
                Some((Ok(chunk), state))
            }
            Some(Err(err)) => {
                state.body = None;
                let err = fail(&state, err);
                Some((Err(err), state))
            }
            None => {
                state.body = None;
                let actual = state.digester.offset();
                if let Some(size) = state.size
                    && actual != size
                {
                    let err = fail(
                        &state,
                        Error::SizeInvalid {
                            expected: size,
                            actual,
                        },
                    );
                    return Some((Err(err), state));
                }
                let computed = state.digester.finish();
                if computed != state.digest {
                    let err = fail(
                        &state,
                        Error::DigestMismatch {
                            given: state.digest.clone(),
                            computed,
                        },
                    );
                    return Some((Err(err), state));
                }
                None
            }
        }
    })
}

#[async_trait]
impl BlobStatter for RemoteBlobs {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let route = self.blob(digest);
        let url = self.inner().url(&route)?;
        let response = self
            .inner()
            .send(Call::new(Method::HEAD, url, route), &[StatusCode::OK])
            .await?;
        let size = header_u64(response.headers(), CONTENT_LENGTH).ok_or_else(|| {
            Error::backend(
                format!("HEAD /v2/{}/blobs/{digest}", self.name()),
                BodyError("the registry answered without a Content-Length".to_owned()),
            )
        })?;
        Ok(descriptor(&response, digest, size))
    }
}

#[async_trait]
impl BlobProvider for RemoteBlobs {
    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let content = self.fetch(digest, None, None).await?;
        let capacity = usize::try_from(content.descriptor.size)
            .unwrap_or(0)
            .min(64 << 20);
        let mut out = BytesMut::with_capacity(capacity);
        let mut body = content.body;
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }

    async fn open(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<BlobContent> {
        self.fetch(digest, None, range).await
    }

    async fn open_described(
        &self,
        descriptor: Descriptor,
        range: Option<Range<u64>>,
    ) -> Result<BlobContent> {
        let digest = descriptor.digest.clone();
        self.fetch(&digest, Some(descriptor), range).await
    }

    async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>> {
        self.stat(digest).await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        // The parsers are berth-api's; these are the answers read here.
        let parse_content_range =
            |v: &str| ContentRange::parse(v).map(|c| (c.first, c.last, c.size));
        let parse_range = |v: &str| ChunkRange::parse(v).map(|c| (c.start, c.end));
        assert_eq!(parse_content_range("bytes 0-0/2"), Some((0, 0, Some(2))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_range("0-99"), Some((0, 99)));
        assert_eq!(parse_range("bytes=0-0"), Some((0, 0)));
        assert_eq!(parse_range("x"), None);
    }
}
