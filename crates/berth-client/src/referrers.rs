//! Referrers over HTTP: the OCI 1.1 API, and the tag schema fallback.

use std::sync::Arc;

use async_trait::async_trait;
use berth_api::Route;
use berth_api::headers::OCI_FILTERS_APPLIED;
use berth_core::{Error, ErrorKind, ReferrersService, Result};
use berth_digest::Digest;
use berth_manifest::{Descriptor, media_type};
use reqwest::header::{ACCEPT, HeaderValue, LINK};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::client::{Call, Inner, header_str, read_limited};
use crate::manifests::RemoteManifests;
use crate::repository::Repo;
use berth_api::query::next_link_target as next_link;

/// The largest referrers page read.
const PAGE_LIMIT: usize = 16 * 1024 * 1024;

/// At most this many pages of referrers.
const MAX_PAGES: usize = 1000;

/// The referrers of one remote repository: a [`ReferrersService`].
///
/// `GET /v2/<name>/referrers/<digest>` (with `artifactType`, following
/// `Link` pages; filtered here when the registry did not say
/// `OCI-Filters-Applied: artifactType`). When the registry answers `404`
/// (or `405`), it has no referrers API: as the OCI specification
/// describes, the referrers are then the entries of the index tagged
/// `<alg>-<hex>` (`sha256-…`), and none when that tag does not exist.
#[derive(Debug, Clone)]
pub struct RemoteReferrers {
    repo: Arc<Repo>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

impl RemoteReferrers {
    pub(crate) fn new(repo: Arc<Repo>) -> RemoteReferrers {
        RemoteReferrers { repo }
    }

    fn inner(&self) -> &Inner {
        &self.repo.client.inner
    }

    fn name(&self) -> &str {
        self.repo.name.as_str()
    }

    /// The referrers from the tag schema: the index tagged
    /// `<alg>-<hex>`.
    pub async fn from_tag_schema(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let tag: String = format!("{}-{}", subject.algorithm().name(), subject.encoded())
            .chars()
            .take(berth_reference::TAG_LENGTH_MAX)
            .collect();
        let manifests = RemoteManifests::new(self.repo.clone());
        let manifest = match manifests.fetch(&tag, None).await {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ManifestUnknown | ErrorKind::NameUnknown
                ) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        if !manifest.is_index() {
            tracing::warn!(
                repository = self.name(),
                tag,
                "the referrers tag does not point to an index; no referrers"
            );
            return Ok(Vec::new());
        }
        Ok(filter(
            manifest.references().cloned().collect(),
            artifact_type,
        ))
    }
}

fn filter(mut list: Vec<Descriptor>, artifact_type: Option<&str>) -> Vec<Descriptor> {
    if let Some(wanted) = artifact_type {
        list.retain(|d| d.artifact_type.as_deref() == Some(wanted));
    }
    list
}

#[async_trait]
impl ReferrersService for RemoteReferrers {
    async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let inner = self.inner();
        let route = Route::Referrers {
            name: self.name(),
            digest: subject.as_str(),
        };
        let mut url = inner.url(&route)?;
        if let Some(artifact_type) = artifact_type {
            url.query_pairs_mut()
                .append_pair("artifactType", artifact_type);
        }
        let mut out = Vec::new();
        let mut filtered = true;
        for page in 0..MAX_PAGES {
            let mut call = Call::new(Method::GET, url.clone(), route)
                .header(ACCEPT, HeaderValue::from_static(media_type::OCI_INDEX));
            let mut response = inner.execute(&mut call).await?;
            match response.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED if page == 0 => {
                    return self.from_tag_schema(subject, artifact_type).await;
                }
                _ => return Err(inner.error_from(response, &call).await),
            }
            filtered &= header_str(response.headers(), OCI_FILTERS_APPLIED)
                .is_some_and(|f| f.split(',').any(|f| f.trim() == "artifactType"));
            let next = response
                .headers()
                .get_all(LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link)
                .map(|link| inner.resolve(&url, &link))
                .transpose()?;
            let body = read_limited(&mut response, PAGE_LIMIT)
                .await
                .map_err(|e| inner.unavailable(e))?;
            let index: Index = serde_json::from_slice(&body).map_err(|e| {
                Error::backend(
                    format!("read the referrers of {subject}"),
                    crate::error::BodyError(format!("not an image index: {e}")),
                )
            })?;
            out.extend(index.manifests);
            match next {
                Some(next) if next != url => url = next,
                _ => break,
            }
        }
        Ok(if filtered {
            out
        } else {
            filter(out, artifact_type)
        })
    }
}
