//! Tags: `_manifests/tags/<tag>/current/link` and its `index/` history.

use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{Error, Page, PageRequest, Result, TagService};
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_reference::{RepositoryName, Tag};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::registry::Inner;
use crate::{paths, storage_error};

/// How many tag links `lookup` reads at once.
const LOOKUP_CONCURRENCY: usize = 32;

/// The tags of one repository: [`TagService`] on storage.
#[derive(Clone)]
pub struct Tags {
    pub(crate) inner: Arc<Inner>,
    pub(crate) name: RepositoryName,
}

impl Tags {
    /// The digest `tag` points to, `None` when the tag does not exist.
    pub(crate) async fn target(&self, tag: &Tag) -> Result<Option<Digest>> {
        let path = paths::tag_current_link(&self.name, tag);
        match self.inner.driver.get_content(&path).await {
            Ok(link) => match std::str::from_utf8(&link)
                .ok()
                .and_then(|s| Digest::parse(s.trim()).ok())
            {
                Some(digest) => Ok(Some(digest)),
                None => Err(Error::backend(
                    format!("read tag {} of {}", tag.as_str(), self.name.as_str()),
                    "the current link does not hold a digest",
                )),
            },
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// Every tag name of the repository, sorted; `None` when the
    /// repository has no tags directory.
    pub(crate) async fn names(&self) -> Result<Option<Vec<String>>> {
        match self.inner.driver.list(&paths::tags_dir(&self.name)).await {
            Ok(entries) => {
                // The entries' own strings, cut down to their last
                // component in place (no copy per tag).
                let mut names: Vec<String> = entries
                    .into_iter()
                    .map(|mut p| {
                        if let Some(slash) = p.rfind('/') {
                            p.drain(..=slash);
                        }
                        p
                    })
                    .filter(|n| berth_reference::validate_tag(n).is_ok())
                    .collect();
                // Drivers list in order already: this is a check, linear
                // on sorted input.
                names.sort_unstable();
                Ok(Some(names))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn repository_exists(&self) -> Result<bool> {
        match self.inner.driver.stat(&paths::repository(&self.name)).await {
            Ok(info) => Ok(info.is_dir),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(storage_error(e)),
        }
    }
}

#[async_trait]
impl TagService for Tags {
    async fn get(&self, tag: &Tag) -> Result<Descriptor> {
        let Some(digest) = self.target(tag).await? else {
            return Err(Error::ManifestUnknown {
                reference: tag.as_str().to_owned(),
            });
        };
        let mut descriptor = self.inner.global.stat(&digest).await.map_err(|e| match e {
            Error::BlobUnknown { .. } => Error::ManifestUnknown {
                reference: tag.as_str().to_owned(),
            },
            e => e,
        })?;
        descriptor.digest = digest;
        Ok(descriptor)
    }

    async fn tag(&self, tag: &Tag, descriptor: &Descriptor) -> Result<()> {
        let link = Bytes::copy_from_slice(descriptor.digest.as_str().as_bytes());
        let driver = &self.inner.driver;
        // History first, then the current link, as Distribution does.
        driver
            .put_content(
                &paths::tag_index_link(&self.name, tag, &descriptor.digest),
                link.clone(),
            )
            .await
            .map_err(storage_error)?;
        driver
            .put_content(&paths::tag_current_link(&self.name, tag), link)
            .await
            .map_err(storage_error)
    }

    async fn untag(&self, tag: &Tag) -> Result<()> {
        if !self.inner.options.delete_enabled {
            return Err(Error::unsupported("deletes are disabled"));
        }
        match self
            .inner
            .driver
            .delete(&paths::tag_dir(&self.name, tag))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Err(Error::ManifestUnknown {
                reference: tag.as_str().to_owned(),
            }),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn list(&self, page: PageRequest) -> Result<Page<String>> {
        let names = match self.names().await? {
            Some(names) => names,
            None if self.repository_exists().await? => Vec::new(),
            None => {
                return Err(Error::NameUnknown {
                    name: self.name.as_str().to_owned(),
                });
            }
        };
        Ok(paginate(names, &page))
    }

    async fn lookup(&self, digest: &Digest) -> Result<Vec<Tag>> {
        let names = self.names().await?.unwrap_or_default();
        let mut found: Vec<Tag> = futures_util::stream::iter(names)
            .map(|name| async move {
                let Ok(tag) = Tag::parse(&name) else {
                    return Ok(None);
                };
                Ok::<_, Error>(match self.target(&tag).await {
                    Ok(Some(target)) if &target == digest => Some(tag),
                    // A tag with a broken link points to nothing.
                    Ok(_) | Err(Error::Backend { .. }) => None,
                    Err(e) => return Err(e),
                })
            })
            .buffer_unordered(LOOKUP_CONCURRENCY)
            .try_filter_map(|t| async move { Ok(t) })
            .try_collect()
            .await?;
        found.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(found)
    }
}

/// One page of sorted `names`: after `last`, at most `n`.
pub(crate) fn paginate(names: Vec<String>, page: &PageRequest) -> Page<String> {
    let start = match &page.last {
        Some(last) => names.partition_point(|n| n.as_str() <= last.as_str()),
        None => 0,
    };
    let rest = names.len() - start;
    let take = page.n.unwrap_or(rest).min(rest);
    let more = take < rest;
    let mut names = names;
    names.truncate(start + take);
    names.drain(..start);
    Page { items: names, more }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(last: Option<&str>, n: Option<usize>) -> PageRequest {
        PageRequest {
            last: last.map(str::to_owned),
            n,
        }
    }

    #[test]
    fn pagination_edges() {
        let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let p = paginate(names.clone(), &page(None, None));
        assert_eq!((p.items.len(), p.more), (4, false));
        let p = paginate(names.clone(), &page(None, Some(0)));
        assert_eq!((p.items.len(), p.more), (0, true));
        let p = paginate(names.clone(), &page(None, Some(4)));
        assert_eq!((p.items.len(), p.more), (4, false));
        let p = paginate(names.clone(), &page(Some("b"), Some(1)));
        assert_eq!((p.items, p.more), (vec!["c".to_string()], true));
        let p = paginate(names.clone(), &page(Some("bb"), Some(5)));
        assert_eq!(p.items, vec!["c".to_string(), "d".to_string()]);
        let p = paginate(names.clone(), &page(Some("z"), Some(5)));
        assert_eq!((p.items.len(), p.more), (0, false));
        let p = paginate(Vec::new(), &page(None, Some(0)));
        assert_eq!((p.items.len(), p.more), (0, false));
    }
}
