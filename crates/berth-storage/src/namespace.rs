//! The registry as a [`Namespace`]: repositories, the catalog, removal.

use std::cmp::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use berth_core::{
    BlobStatter, BlobStore, Error, ManifestService, Namespace, Page, PageRequest, ReferrersService,
    Repository, Result, TagService,
};
use berth_driver::{FileInfo, Walk};
use berth_reference::RepositoryName;

use crate::manifests::Manifests;
use crate::referrers::Referrers;
use crate::tags::Tags;
use crate::{Registry, RepositoryBlobs, paths, storage_error};

/// The directories that hold a repository's own content; anything else
/// below a repository's directory is another repository.
const REPOSITORY_PARTS: [&str; 4] = ["_manifests", "_layers", "_uploads", "_referrers"];

/// One repository on storage: [`Repository`].
pub struct StorageRepository {
    name: RepositoryName,
    blobs: RepositoryBlobs,
    manifests: Manifests,
    tags: Tags,
    referrers: Referrers,
}

impl Repository for StorageRepository {
    fn name(&self) -> &RepositoryName {
        &self.name
    }

    fn blobs(&self) -> &dyn BlobStore {
        &self.blobs
    }

    fn manifests(&self) -> &dyn ManifestService {
        &self.manifests
    }

    fn tags(&self) -> &dyn TagService {
        &self.tags
    }

    fn referrers(&self) -> &dyn ReferrersService {
        &self.referrers
    }
}

impl Registry {
    /// The repository `name`, as its concrete type.
    pub fn repository(&self, name: &RepositoryName) -> StorageRepository {
        let inner = self.inner();
        let revisions = inner.links(name, crate::blobs::LinkKind::Revision);
        let tags = Tags {
            inner: inner.clone(),
            name: name.clone(),
        };
        let referrers = Referrers {
            inner: inner.clone(),
            name: name.clone(),
            revisions: revisions.clone(),
        };
        let blobs = self.blobs(name);
        StorageRepository {
            name: name.clone(),
            manifests: Manifests {
                inner: inner.clone(),
                name: name.clone(),
                revisions,
                layers: blobs.links.clone(),
                tags: tags.clone(),
                referrers: referrers.clone(),
            },
            blobs,
            tags,
            referrers,
        }
    }
}

/// Compares repository paths component by component, the order of the
/// catalog (and of Distribution's): `a/b` sorts before `a-b`.
pub fn compare_repository_names(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

#[async_trait]
impl Namespace for Registry {
    fn repository(&self, name: &RepositoryName) -> Result<Arc<dyn Repository>> {
        Ok(Arc::new(Registry::repository(self, name)))
    }

    async fn catalog(&self, page: PageRequest) -> Result<Page<String>> {
        let root = paths::repositories_root();
        let prefix = format!("{root}/");
        let limit = page.n.unwrap_or(usize::MAX);
        let last = page.last;
        // The visitor may run on another thread (the filesystem walks in
        // one blocking task): it keeps the page in state shared with us.
        let found = Arc::new(std::sync::Mutex::new((Vec::<String>::new(), false)));
        let page_state = found.clone();
        let walked = self
            .driver()
            .walk_owned(
                &root,
                Box::new(move |info| {
                    let Ok(mut state) = page_state.lock() else {
                        return Walk::Stop;
                    };
                    let (names, more) = &mut *state;
                    catalog_step(info, &prefix, last.as_deref(), limit, names, more)
                }),
            )
            .await;
        match walked {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(storage_error(e)),
        }
        let (items, more) = std::mem::take(
            &mut *found
                .lock()
                .map_err(|_| Error::backend("catalog", "a walk panicked"))?,
        );
        Ok(Page { items, more })
    }

    async fn remove_repository(&self, name: &RepositoryName) -> Result<()> {
        if !self.options().delete_enabled {
            return Err(Error::unsupported("deletes are disabled"));
        }
        let dir = paths::repository(name);
        let mut found = false;
        for part in REPOSITORY_PARTS {
            match self.driver().delete(&format!("{dir}/{part}")).await {
                Ok(()) => found = true,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(storage_error(e)),
            }
        }
        if found {
            Ok(())
        } else {
            Err(Error::NameUnknown {
                name: name.as_str().to_owned(),
            })
        }
    }

    fn blob_statter(&self) -> Arc<dyn BlobStatter> {
        Registry::blob_statter(self)
    }
}

/// One step of the catalog's walk: collects the repositories (directories
/// with `_layers` or `_manifests`) after `last`, at most `limit`, into
/// `names`; sets `more` when there are further ones.
fn catalog_step(
    info: &FileInfo,
    prefix: &str,
    last: Option<&str>,
    limit: usize,
    names: &mut Vec<String>,
    more: &mut bool,
) -> Walk {
    if !info.is_dir {
        return Walk::Continue;
    }
    let Some(relative) = info.path.strip_prefix(prefix) else {
        return Walk::SkipDir;
    };
    let (parent, leaf) = match relative.rsplit_once('/') {
        Some((parent, leaf)) => (Some(parent), leaf),
        None => (None, relative),
    };
    // A repository is a directory with layers or manifests (as
    // Distribution 2.8 lists by `_layers` and 3.0 by
    // `_manifests`): one with only uploads is not listed.
    if leaf == "_layers" || leaf == "_manifests" {
        let Some(repository) = parent else {
            return Walk::SkipDir;
        };
        let after_last =
            last.is_none_or(|l| compare_repository_names(repository, l) == Ordering::Greater);
        let seen = names.last().is_some_and(|n| n == repository);
        if after_last && !seen {
            if names.len() == limit {
                *more = true;
                return Walk::Stop;
            }
            names.push(repository.to_owned());
        }
        return Walk::SkipDir;
    }
    if leaf.starts_with('_') {
        return Walk::SkipDir;
    }
    // Skip whole subtrees that sort before `last` and do not
    // lead to it: a page costs what it lists, not what precedes.
    if let Some(l) = last {
        let leads_to_last =
            l == relative || l.strip_prefix(relative).is_some_and(|r| r.starts_with('/'));
        if !leads_to_last && compare_repository_names(relative, l) == Ordering::Less {
            return Walk::SkipDir;
        }
    }
    Walk::Continue
}
