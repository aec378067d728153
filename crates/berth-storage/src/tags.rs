//! Tags: `_manifests/tags/<tag>/current/link` and its `index/` history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use berth_core::{Error, Page, PageRequest, Result, TagService};
use berth_digest::Digest;
use berth_driver::{ListVersion, Listing};
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
    /// repository has no tags directory. Kept between calls while the
    /// driver vouches that the tags directory is unchanged.
    pub(crate) async fn names(&self) -> Result<Option<Arc<[String]>>> {
        let repo = self.name.as_str();
        let known = self.inner.tag_lists.get(repo);
        let listing = self
            .inner
            .driver
            .list_if_changed(&paths::tags_dir(&self.name), known.as_ref().map(|(v, _)| v))
            .await;
        match (listing, known) {
            (Ok(Listing::Unchanged), Some((_, names))) => Ok(Some(names)),
            (Ok(Listing::Unchanged), None) => Err(Error::backend(
                format!("list the tags of {repo}"),
                "the storage driver answered \"unchanged\" to a first listing",
            )),
            (Ok(Listing::Changed { entries, version }), _) => {
                let names: Arc<[String]> = tag_names(entries).into();
                self.inner.tag_lists.put(repo, version, &names);
                Ok(Some(names))
            }
            (Err(e), _) if e.is_not_found() => {
                self.inner.tag_lists.put(repo, None, &Arc::from([]));
                Ok(None)
            }
            (Err(e), _) => Err(storage_error(e)),
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
            None if self.repository_exists().await? => Arc::from([]),
            None => {
                return Err(Error::NameUnknown {
                    name: self.name.as_str().to_owned(),
                });
            }
        };
        Ok(paginate(&names, &page))
    }

    async fn lookup(&self, digest: &Digest) -> Result<Vec<Tag>> {
        let names = self.names().await?.unwrap_or_else(|| Arc::from([]));
        let mut found: Vec<Tag> = futures_util::stream::iter(names.iter().cloned())
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

/// The tag names among a tags directory's `entries` (full paths), sorted.
fn tag_names(entries: Vec<String>) -> Vec<String> {
    // The entries' own strings, cut down to their last component in place
    // (no copy per tag).
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
    // Drivers list in order already: this is a check, linear on sorted
    // input.
    names.sort_unstable();
    names
}

/// One page of sorted `names`: after `last`, at most `n`.
pub(crate) fn paginate(names: &[String], page: &PageRequest) -> Page<String> {
    let start = match &page.last {
        Some(last) => names.partition_point(|n| n.as_str() <= last.as_str()),
        None => 0,
    };
    let rest = &names[start..];
    let take = page.n.unwrap_or(rest.len()).min(rest.len());
    Page {
        items: rest[..take].to_vec(),
        more: take < rest.len(),
    }
}

/// At most this many tag names are kept by [`TagLists`], over all
/// repositories (a few MiB at most).
const TAG_LIST_BUDGET: usize = 50_000;

/// Tag lists kept between requests, each with the [`ListVersion`] of the
/// tags directory it was read from: a list is served again only when the
/// driver says the directory is unchanged. The least recently used go
/// first when the budget is full.
#[derive(Default)]
pub(crate) struct TagLists {
    state: Mutex<TagListState>,
}

#[derive(Default)]
struct TagListState {
    lists: HashMap<String, CachedList>,
    /// Names held, over all lists.
    held: usize,
    /// Ticks at every use, for the least recently used.
    clock: u64,
}

struct CachedList {
    version: ListVersion,
    names: Arc<[String]>,
    used: u64,
}

impl TagLists {
    fn state(&self) -> std::sync::MutexGuard<'_, TagListState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The list kept for `repo`, and its version.
    fn get(&self, repo: &str) -> Option<(ListVersion, Arc<[String]>)> {
        let mut state = self.state();
        state.clock += 1;
        let now = state.clock;
        let cached = state.lists.get_mut(repo)?;
        cached.used = now;
        Some((cached.version.clone(), cached.names.clone()))
    }

    /// Keeps `names` for `repo` under `version`; with no version, forgets
    /// what was kept.
    fn put(&self, repo: &str, version: Option<ListVersion>, names: &Arc<[String]>) {
        let mut state = self.state();
        if let Some(old) = state.lists.remove(repo) {
            state.held -= old.names.len();
        }
        let Some(version) = version.filter(|_| names.len() <= TAG_LIST_BUDGET) else {
            return;
        };
        while state.held + names.len() > TAG_LIST_BUDGET {
            let Some(oldest) = state
                .lists
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(repo, _)| repo.clone())
            else {
                break;
            };
            if let Some(old) = state.lists.remove(&oldest) {
                state.held -= old.names.len();
            }
        }
        state.clock += 1;
        let used = state.clock;
        state.held += names.len();
        state.lists.insert(
            repo.to_owned(),
            CachedList {
                version,
                names: names.clone(),
                used,
            },
        );
    }
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

    fn names(prefix: &str, n: usize) -> Arc<[String]> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn tag_lists_keep_the_recently_used_within_the_budget() {
        let lists = TagLists::default();
        let v = |i: u64| Some(ListVersion::new([i; 6]));
        let third = TAG_LIST_BUDGET / 3;
        lists.put("a", v(1), &names("a", third));
        lists.put("b", v(2), &names("b", third));
        lists.put("c", v(3), &names("c", third));
        assert!(lists.get("a").is_some(), "a is the most recently used now");
        // d does not fit beside all three: b, the least recently used, goes.
        lists.put("d", v(4), &names("d", third));
        assert!(lists.get("b").is_none());
        for repo in ["a", "c", "d"] {
            assert!(lists.get(repo).is_some(), "{repo} kept");
        }
        assert_eq!(lists.state().held, 3 * third);
        // Replaced, forgotten, too big to keep.
        lists.put("a", v(5), &names("x", 2));
        assert_eq!(
            lists.get("a").map(|(v, n)| (v, n.len())),
            Some((ListVersion::new([5; 6]), 2))
        );
        lists.put("a", None, &names("x", 2));
        assert!(lists.get("a").is_none());
        lists.put("e", v(6), &names("e", TAG_LIST_BUDGET + 1));
        assert!(lists.get("e").is_none());
        assert_eq!(lists.state().held, 2 * third);
    }

    #[test]
    fn pagination_edges() {
        let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let p = paginate(&names, &page(None, None));
        assert_eq!((p.items.len(), p.more), (4, false));
        let p = paginate(&names, &page(None, Some(0)));
        assert_eq!((p.items.len(), p.more), (0, true));
        let p = paginate(&names, &page(None, Some(4)));
        assert_eq!((p.items.len(), p.more), (4, false));
        let p = paginate(&names, &page(Some("b"), Some(1)));
        assert_eq!((p.items, p.more), (vec!["c".to_string()], true));
        let p = paginate(&names, &page(Some("bb"), Some(5)));
        assert_eq!(p.items, vec!["c".to_string(), "d".to_string()]);
        let p = paginate(&names, &page(Some("z"), Some(5)));
        assert_eq!((p.items.len(), p.more), (0, false));
        let p = paginate(&[], &page(None, Some(0)));
        assert_eq!((p.items.len(), p.more), (0, false));
    }
}
