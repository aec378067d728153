//! Manifests and tags over HTTP.

use std::sync::Arc;

use async_trait::async_trait;
use berth_api::Route;
use berth_api::headers::CONTENT_DIGEST;
use berth_core::{
    Error, ErrorKind, ManifestService, Page, PageRequest, PutOptions, Result, TagService,
};
use berth_digest::Digest;
use berth_manifest::{Descriptor, MAX_MANIFEST_SIZE, Manifest};
use berth_reference::Tag;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::client::{Call, Inner, header_str, header_u64, read_limited};
use crate::error::BodyError;
use crate::pagination;
use crate::repository::Repo;

/// The manifests of one remote repository: a [`ManifestService`].
///
/// - `exists` is `HEAD /v2/<name>/manifests/<digest>`; `get` a `GET` that
///   accepts every media type [`berth_manifest::ManifestRegistry`] knows.
///   The body (at most [`MAX_MANIFEST_SIZE`]) is kept verbatim, parsed
///   without the push-time rules (the registry accepted it), and its
///   digest checked against the one asked for: a registry that sends
///   other bytes gets [`Error::DigestMismatch`].
/// - `put` is a `PUT` by digest, or by [`PutOptions::tag`] (which stores
///   and tags at once); `delete` is `DELETE` by digest.
/// - [`get_by_tag`](RemoteManifests::get_by_tag) fetches by tag in one
///   request, checking the body against `Docker-Content-Digest`.
#[derive(Debug, Clone)]
pub struct RemoteManifests {
    repo: Arc<Repo>,
}

impl RemoteManifests {
    pub(crate) fn new(repo: Arc<Repo>) -> RemoteManifests {
        RemoteManifests { repo }
    }

    fn inner(&self) -> &Inner {
        &self.repo.client.inner
    }

    fn name(&self) -> &str {
        self.repo.name.as_str()
    }

    /// The manifest `tag` points to, in one `GET`. When the registry names
    /// its digest (`Docker-Content-Digest`), the body must have it.
    pub async fn get_by_tag(&self, tag: &Tag) -> Result<Manifest> {
        self.fetch(tag.as_str(), None).await
    }

    /// `GET /v2/<name>/manifests/<reference>`, verified against `expected`
    /// (or the registry's `Docker-Content-Digest`).
    pub(crate) async fn fetch(
        &self,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<Manifest> {
        let inner = self.inner();
        let route = Route::Manifest {
            name: self.name(),
            reference,
        };
        let url = inner.url(&route)?;
        let call = Call::new(Method::GET, url, route).header(ACCEPT, inner.accept.clone());
        let mut response = inner.send(call, &[StatusCode::OK]).await?;
        let content_type = header_str(response.headers(), CONTENT_TYPE).map(str::to_owned);
        let announced =
            header_str(response.headers(), CONTENT_DIGEST).and_then(|d| Digest::parse(d).ok());
        let body = read_limited(&mut response, MAX_MANIFEST_SIZE)
            .await
            .map_err(|e| match e.downcast_ref::<BodyError>() {
                Some(too_large) => Error::ManifestInvalid {
                    reason: too_large.to_string(),
                },
                None => inner.unavailable(e),
            })?;
        let manifest = inner
            .manifests
            .parse_unvalidated(content_type.as_deref(), body)?;
        if let Some(expected) = expected.or(announced.as_ref()) {
            let computed = manifest.digest_with(expected.algorithm());
            if &computed != expected {
                tracing::warn!(
                    repository = self.name(), reference, expected = %expected, computed = %computed,
                    "the registry sent a manifest that does not match its digest"
                );
                return Err(Error::DigestMismatch {
                    given: expected.clone(),
                    computed,
                });
            }
        }
        Ok(manifest)
    }

    /// `PUT /v2/<name>/manifests/<reference>`.
    pub(crate) async fn push(&self, manifest: &Manifest, reference: &str) -> Result<Digest> {
        let inner = self.inner();
        let route = Route::Manifest {
            name: self.name(),
            reference,
        };
        let url = inner.url(&route)?;
        let content_type =
            HeaderValue::from_str(manifest.media_type()).map_err(|e| Error::ManifestInvalid {
                reason: format!("media type {:?}: {e}", manifest.media_type()),
            })?;
        let call = Call::new(Method::PUT, url, route)
            .header(CONTENT_TYPE, content_type)
            .body(manifest.payload().clone())
            .idempotent(true);
        let response = inner
            .send(
                call,
                &[
                    StatusCode::CREATED,
                    StatusCode::OK,
                    StatusCode::ACCEPTED,
                    StatusCode::NO_CONTENT,
                ],
            )
            .await?;
        let ours = manifest.digest();
        if let Some(theirs) =
            header_str(response.headers(), CONTENT_DIGEST).and_then(|d| Digest::parse(d).ok())
            && theirs.algorithm() == ours.algorithm()
            && &theirs != ours
        {
            return Err(Error::DigestMismatch {
                given: ours.clone(),
                computed: theirs,
            });
        }
        Ok(ours.clone())
    }
}

#[async_trait]
impl ManifestService for RemoteManifests {
    async fn exists(&self, digest: &Digest) -> Result<bool> {
        let inner = self.inner();
        let reference = digest.as_str();
        let route = Route::Manifest {
            name: self.name(),
            reference,
        };
        let url = inner.url(&route)?;
        let mut call = Call::new(Method::HEAD, url, route).header(ACCEPT, inner.accept.clone());
        let response = inner.execute(&mut call).await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(inner.error_from(response, &call).await),
        }
    }

    async fn get(&self, digest: &Digest) -> Result<Manifest> {
        self.fetch(digest.as_str(), Some(digest)).await
    }

    async fn put(&self, manifest: &Manifest, options: PutOptions) -> Result<Digest> {
        match &options.tag {
            Some(tag) => self.push(manifest, tag.as_str()).await,
            None => self.push(manifest, manifest.digest().as_str()).await,
        }
    }

    async fn delete(&self, digest: &Digest) -> Result<()> {
        let inner = self.inner();
        let reference = digest.as_str();
        let route = Route::Manifest {
            name: self.name(),
            reference,
        };
        let url = inner.url(&route)?;
        inner
            .send(
                Call::new(Method::DELETE, url, route),
                &[StatusCode::ACCEPTED, StatusCode::OK, StatusCode::NO_CONTENT],
            )
            .await
            .map(drop)
    }
}

/// The tags of one remote repository: a [`TagService`].
///
/// - `get` is `HEAD /v2/<name>/manifests/<tag>`: the descriptor from
///   `Content-Type`, `Docker-Content-Digest` and `Content-Length` (a `GET`,
///   verified, when the registry leaves one out).
/// - `tag` fetches the manifest by digest (verified) and `PUT`s the same
///   bytes under the tag; `untag` is `DELETE` by tag, which Distribution
///   2.x refuses (answered as [`Error::Unsupported`]).
/// - `list` is `GET /v2/<name>/tags/list` with `n` and `last`, following
///   `Link` headers; entries not after `last` are dropped and the page cut
///   at `n` here too, for registries that do not paginate.
/// - `lookup` is [`Error::Unsupported`]: the API cannot ask which tags
///   point to a digest.
#[derive(Debug, Clone)]
pub struct RemoteTags {
    repo: Arc<Repo>,
    manifests: RemoteManifests,
}

impl RemoteTags {
    pub(crate) fn new(repo: Arc<Repo>) -> RemoteTags {
        RemoteTags {
            manifests: RemoteManifests::new(repo.clone()),
            repo,
        }
    }

    fn inner(&self) -> &Inner {
        &self.repo.client.inner
    }

    fn name(&self) -> &str {
        self.repo.name.as_str()
    }
}

#[async_trait]
impl TagService for RemoteTags {
    async fn get(&self, tag: &Tag) -> Result<Descriptor> {
        let inner = self.inner();
        let route = Route::Manifest {
            name: self.name(),
            reference: tag.as_str(),
        };
        let url = inner.url(&route)?;
        let call = Call::new(Method::HEAD, url, route).header(ACCEPT, inner.accept.clone());
        let response = inner.send(call, &[StatusCode::OK]).await?;
        let headers = response.headers();
        let media_type = header_str(headers, CONTENT_TYPE)
            .filter(|ct| !berth_manifest::media_type::is_generic_content_type(Some(ct)))
            .and_then(berth_manifest::media_type::essence);
        let digest = header_str(headers, CONTENT_DIGEST).and_then(|d| Digest::parse(d).ok());
        let size = header_u64(headers, CONTENT_LENGTH).and_then(|s| i64::try_from(s).ok());
        if let (Some(media_type), Some(digest), Some(size)) = (media_type, digest, size) {
            return Ok(Descriptor::new(media_type, digest, size));
        }
        // Not enough in the headers: read the manifest itself.
        let manifest = self.manifests.fetch(tag.as_str(), None).await?;
        Ok(Descriptor::new(
            manifest.media_type(),
            manifest.digest().clone(),
            i64::try_from(manifest.size()).unwrap_or(i64::MAX),
        ))
    }

    async fn tag(&self, tag: &Tag, descriptor: &Descriptor) -> Result<()> {
        let manifest = self
            .manifests
            .fetch(descriptor.digest.as_str(), Some(&descriptor.digest))
            .await?;
        self.manifests.push(&manifest, tag.as_str()).await.map(drop)
    }

    async fn untag(&self, tag: &Tag) -> Result<()> {
        let inner = self.inner();
        let route = Route::Manifest {
            name: self.name(),
            reference: tag.as_str(),
        };
        let url = inner.url(&route)?;
        let mut call = Call::new(Method::DELETE, url, route);
        let response = inner.execute(&mut call).await?;
        let status = response.status();
        if matches!(
            status,
            StatusCode::ACCEPTED | StatusCode::OK | StatusCode::NO_CONTENT
        ) {
            return Ok(());
        }
        let err = inner.error_from(response, &call).await;
        if status == StatusCode::BAD_REQUEST && err.kind() == ErrorKind::ManifestInvalid {
            // Distribution 2.x reads the reference as a digest and answers
            // DIGEST_INVALID.
            return Err(Error::unsupported(format!(
                "deleting tag {tag}: the registry deletes manifests by digest only"
            )));
        }
        Err(err)
    }

    async fn list(&self, page: PageRequest) -> Result<Page<String>> {
        let route = Route::Tags { name: self.name() };
        let url = self.inner().url(&route)?;
        pagination::list(self.inner(), url, route, "tags", page).await
    }

    async fn lookup(&self, digest: &Digest) -> Result<Vec<Tag>> {
        Err(Error::unsupported(format!(
            "looking up the tags of {digest}: the registry API cannot ask which tags point to a digest"
        )))
    }
}
