//! Uploads over HTTP: monolithic `PUT`s, cross-repository mounts, and the
//! resumable writer (`PATCH` chunks, `PUT` to commit), and deletes.

use super::*;

#[async_trait]
impl BlobIngester for RemoteBlobs {
    async fn put(&self, media_type: &str, content: Bytes) -> Result<Descriptor> {
        let digest = Digest::sha256(&content);
        let writer = self.start(None).await?.into_upload()?;
        let mut url = writer.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let size = content.len() as u64;
        let call = Call::new(Method::PUT, url, self.upload_route(&writer.id))
            .header(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))
            .body(content)
            .idempotent(false);
        match self
            .inner()
            .send(call, &[StatusCode::CREATED, StatusCode::NO_CONTENT])
            .await
        {
            Ok(response) => {
                let mut descriptor = committed(&response, &digest, size, &writer);
                descriptor.media_type = media_type.to_owned();
                Ok(descriptor)
            }
            Err(err) => {
                if err.kind() != ErrorKind::Unavailable {
                    let _ = writer.cancel().await;
                }
                Err(err)
            }
        }
    }

    async fn create(&self, options: CreateOptions) -> Result<Created> {
        let mount = options
            .mount_from
            .as_ref()
            .map(|(from, digest)| (from, digest));
        match self.start(mount).await? {
            Started::Mounted(digest) => Ok(Created::Mounted(Box::new(self.stat(&digest).await?))),
            Started::Upload(writer) => Ok(Created::Upload(writer)),
        }
    }

    async fn resume(&self, id: &str) -> Result<Box<dyn BlobWriter>> {
        let unknown = || Error::BlobUploadUnknown {
            id: berth_core::shorten(id),
        };
        let base = &self.inner().base_url();
        let url = if id.starts_with("http://") || id.starts_with("https://") {
            let url = Url::parse(id).map_err(|_| unknown())?;
            // Never send credentials to another origin than the registry.
            if url.origin() != base.origin() {
                return Err(unknown());
            }
            url
        } else if id.starts_with('/') {
            base.join(id).map_err(|_| unknown())?
        } else if !id.is_empty() && !id.contains(['/', '?', '#', '%']) {
            self.inner().url(&self.upload_route(id))?
        } else {
            return Err(unknown());
        };
        let expected_path = format!("/v2/{}/blobs/uploads/", self.name());
        if !url.path().contains(&expected_path) {
            return Err(unknown());
        }
        let bare = !id.contains('/');
        let response = self
            .inner()
            .send(
                Call::new(Method::GET, url.clone(), self.upload_route(id)),
                &[StatusCode::NO_CONTENT, StatusCode::OK],
            )
            .await
            .map_err(|e| match e {
                // Distribution cannot find an upload without the state it
                // signs into the upload URL.
                Error::BlobUploadInvalid { .. } if bare => unknown(),
                e => e,
            })?;
        let location = match header_str(response.headers(), LOCATION) {
            Some(l) => self.inner().resolve(response.url(), l)?,
            None => url,
        };
        let state = distribution_state(&location);
        let size = match header_str(response.headers(), RANGE).and_then(ChunkRange::parse) {
            // "0-0" is both "empty" and "one byte" in Distribution's answers.
            Some(ChunkRange { start: 0, end: 0 }) => state.as_ref().map_or(0, |s| s.offset),
            Some(ChunkRange { end, .. }) => end + 1,
            None => 0,
        };
        let started_at = state
            .and_then(|s| s.started_at)
            .unwrap_or_else(SystemTime::now);
        let uuid = header_str(response.headers(), UPLOAD_UUID).map(str::to_owned);
        let digester = (size == 0).then(|| Digester::new(Algorithm::CANONICAL));
        Ok(Box::new(RemoteBlobWriter::new(
            self.clone(),
            location,
            uuid,
            started_at,
            size,
            digester,
        )))
    }
}

#[async_trait]
impl BlobDeleter for RemoteBlobs {
    async fn delete(&self, digest: &Digest) -> Result<()> {
        let route = self.blob(digest);
        let url = self.inner().url(&route)?;
        self.inner()
            .send(
                Call::new(Method::DELETE, url, route),
                &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT, StatusCode::OK],
            )
            .await
            .map(drop)
    }
}

/// An upload in progress on the registry.
///
/// Its [`id`](BlobWriter::id) is the upload URL the registry last gave
/// (what [`BlobIngester::resume`] takes back).
pub struct RemoteBlobWriter {
    pub(super) blobs: RemoteBlobs,
    pub(super) location: Url,
    /// `location` as a string: the id.
    pub(super) id: String,
    pub(super) uuid: Option<String>,
    pub(super) started_at: SystemTime,
    pub(super) size: u64,
    /// The hash of everything written, when this writer saw it all.
    pub(super) digester: Option<Digester>,
}

impl std::fmt::Debug for RemoteBlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteBlobWriter")
            .field("uuid", &self.uuid)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl RemoteBlobWriter {
    pub(super) fn new(
        blobs: RemoteBlobs,
        location: Url,
        uuid: Option<String>,
        started_at: SystemTime,
        size: u64,
        digester: Option<Digester>,
    ) -> RemoteBlobWriter {
        RemoteBlobWriter {
            blobs,
            id: location.to_string(),
            location,
            uuid,
            started_at,
            size,
            digester,
        }
    }

    pub(super) fn set_location(&mut self, response: &Response) -> Result<()> {
        if let Some(location) = header_str(response.headers(), LOCATION) {
            self.location = self.blobs.inner().resolve(response.url(), location)?;
            self.id = self.location.to_string();
        }
        Ok(())
    }
}

#[async_trait]
impl BlobWriter for RemoteBlobWriter {
    fn id(&self) -> &str {
        &self.id
    }

    fn started_at(&self) -> SystemTime {
        self.started_at
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let len = chunk.len() as u64;
        let range = ChunkRange {
            start: self.size,
            end: self.size + len - 1,
        }
        .to_string();
        let hashed = chunk.clone();
        let call = Call::new(
            Method::PATCH,
            self.location.clone(),
            self.blobs.upload_route(&self.id),
        )
        .header(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))
        .header(
            CONTENT_RANGE,
            HeaderValue::from_str(&range).map_err(|e| Error::backend("build Content-Range", e))?,
        )
        .body(chunk)
        .idempotent(false);
        let response = self
            .blobs
            .inner()
            .send(call, &[StatusCode::ACCEPTED, StatusCode::NO_CONTENT])
            .await?;
        self.set_location(&response)?;
        let expected = self.size + len;
        let answered = header_str(response.headers(), RANGE)
            .and_then(ChunkRange::parse)
            .map(|r| r.end + 1);
        if let Some(digester) = &mut self.digester {
            digester.update(&hashed);
        }
        self.size = expected;
        if let Some(answered) = answered
            && answered != expected
        {
            // Someone else wrote to this upload: what it holds is not what
            // this writer hashed.
            self.digester = None;
            self.size = answered;
            return Err(Error::BlobUploadInvalid {
                reason: format!(
                    "the registry holds {answered} bytes after this chunk, {expected} were expected"
                ),
            });
        }
        Ok(())
    }

    async fn commit(self: Box<Self>, digest: &Digest, size: Option<u64>) -> Result<Descriptor> {
        if let Some(expected) = size
            && expected != self.size
        {
            let actual = self.size;
            let _ = self.cancel().await;
            return Err(Error::SizeInvalid { expected, actual });
        }
        if let Some(digester) = &self.digester
            && digester.algorithm() == digest.algorithm()
        {
            let computed = digester.finish();
            if &computed != digest {
                let _ = self.cancel().await;
                return Err(Error::DigestMismatch {
                    given: digest.clone(),
                    computed,
                });
            }
        }
        let mut url = self.location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let call = Call::new(Method::PUT, url, self.blobs.upload_route(&self.id))
            .header(CONTENT_TYPE, HeaderValue::from_static(OCTET_STREAM))
            .idempotent(false);
        let result = self
            .blobs
            .inner()
            .send(call, &[StatusCode::CREATED, StatusCode::NO_CONTENT])
            .await;
        match result {
            Ok(response) => Ok(committed(&response, digest, self.size, &self)),
            Err(err) => {
                if !matches!(
                    err.kind(),
                    ErrorKind::Unavailable | ErrorKind::BlobUploadUnknown
                ) {
                    let _ = self.cancel().await;
                }
                Err(err)
            }
        }
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        let call = Call::new(
            Method::DELETE,
            self.location.clone(),
            self.blobs.upload_route(&self.id),
        );
        self.blobs
            .inner()
            .send(
                call,
                &[StatusCode::NO_CONTENT, StatusCode::OK, StatusCode::ACCEPTED],
            )
            .await
            .map(drop)
    }

    async fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// What Distribution signs into its upload URLs (`_state`): a 32-byte
/// HMAC, then JSON with the offset and start time.
pub(super) struct UploadState {
    offset: u64,
    started_at: Option<SystemTime>,
}

pub(super) fn distribution_state(url: &Url) -> Option<UploadState> {
    #[derive(serde::Deserialize)]
    struct Wire {
        #[serde(rename = "Offset", default)]
        offset: u64,
        #[serde(rename = "StartedAt", default)]
        started_at: Option<String>,
    }
    let (_, state) = url.query_pairs().find(|(k, _)| k == "_state")?;
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(state.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(state.as_bytes()))
        .ok()?;
    let wire: Wire = serde_json::from_slice(raw.get(32..)?).ok()?;
    let started_at = wire.started_at.and_then(|s| {
        time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(SystemTime::from)
    });
    Some(UploadState {
        offset: wire.offset,
        started_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distribution_upload_state() {
        // From a Distribution 2.8 Location header.
        let url = Url::parse("http://127.0.0.1:45123/v2/a/blobs/uploads/ecf5b459-5b19-4311-be75-3a0001c28f5e?_state=bJO4MugO266KqGxW-EHEiTCfgublALgWqKnYAABIG2p7Ik5hbWUiOiJhIiwiVVVJRCI6ImVjZjViNDU5LTViMTktNDMxMS1iZTc1LTNhMDAwMWMyOGY1ZSIsIk9mZnNldCI6MCwiU3RhcnRlZEF0IjoiMjAyNi0xMS0yM1QwMjo1ODoyMC43MzcyOTE1MTVaIn0%3D").unwrap();
        let state = distribution_state(&url).unwrap();
        assert_eq!(state.offset, 0);
        let started = state.started_at.unwrap();
        let since = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(since, 1_795_402_700);
        assert!(
            distribution_state(&Url::parse("http://x/v2/a/blobs/uploads/1").unwrap()).is_none()
        );
    }
}
