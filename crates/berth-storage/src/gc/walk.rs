//! Enumerating the storage: repositories, blobs, links.

use super::*;

/// Every repository: the paths below `repositories/` that hold a
/// `_manifests` directory (other `_`-prefixed directories are skipped, as
/// Distribution's catalog does), sorted.
pub(super) async fn repositories(driver: &dyn StorageDriver) -> Result<Vec<RepositoryName>> {
    let root = paths::repositories_root();
    let mut found = Vec::new();
    walk(driver, &root, |info| {
        if !info.is_dir {
            return Walk::Continue;
        }
        let base = info.path.rsplit('/').next().unwrap_or_default();
        if base == "_manifests" {
            if let Some(name) = info
                .path
                .strip_suffix("/_manifests")
                .and_then(|p| p.strip_prefix(&root))
            {
                found.push(name.trim_start_matches('/').to_owned());
            }
            Walk::SkipDir
        } else if base.starts_with('_') {
            Walk::SkipDir
        } else {
            Walk::Continue
        }
    })
    .await?;
    let mut names = found
        .into_iter()
        .map(|name| {
            RepositoryName::parse(&name).map_err(|e| {
                Error::backend(
                    format!("garbage collection: the repository directory {name:?}"),
                    e.to_string(),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    names.sort();
    names.dedup();
    Ok(names)
}

/// Every blob of the global store with its size: the files
/// `blobs/<alg>/<2 hex>/<hex>/data`. Any other file named `data` there
/// fails the collection, as in Distribution. Reports each blob found to
/// `progress`.
pub(super) async fn blobs(
    driver: &dyn StorageDriver,
    progress: &(dyn Fn(GcProgress) + Send + Sync),
) -> Result<Vec<GcBlob>> {
    let root = paths::blobs_root();
    let mut found = Vec::new();
    let mut bad = None;
    progress(GcProgress::ListBlobs {
        blobs: 0,
        done: false,
    });
    walk(driver, &root, |info| {
        if info.is_dir || !info.path.ends_with("/data") {
            return Walk::Continue;
        }
        let rest = info.path.strip_prefix(&root).unwrap_or_default();
        let digest = match rest
            .trim_start_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            [alg, prefix, hex, "data"] if hex.get(..2) == Some(*prefix) => {
                Digest::parse(&format!("{alg}:{hex}")).ok()
            }
            _ => None,
        };
        match digest {
            Some(digest) => {
                found.push(GcBlob {
                    digest,
                    size: info.size,
                });
                progress(GcProgress::ListBlobs {
                    blobs: found.len(),
                    done: false,
                });
                Walk::Continue
            }
            None => {
                bad = Some(info.path.clone());
                Walk::Stop
            }
        }
    })
    .await?;
    if let Some(path) = bad {
        return Err(Error::backend(
            "garbage collection: enumerating blobs",
            format!("{path} is not the data of a blob"),
        ));
    }
    progress(GcProgress::ListBlobs {
        blobs: found.len(),
        done: true,
    });
    Ok(found)
}

/// Walks `from`; a missing `from` is empty.
pub(super) async fn walk(
    driver: &dyn StorageDriver,
    from: &str,
    mut visit: impl FnMut(&berth_driver::FileInfo) -> Walk + Send,
) -> Result<()> {
    match driver.walk(from, &mut visit).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(driver_error("walk", e)),
    }
}

/// The digest a link file holds; `None` when there is no file. A link that
/// does not hold a digest fails the collection, as in Distribution.
pub(super) async fn read_link(driver: &dyn StorageDriver, path: &str) -> Result<Option<Digest>> {
    match driver.get_content(path).await {
        Ok(content) => std::str::from_utf8(&content)
            .ok()
            .and_then(|s| Digest::parse(s.trim()).ok())
            .map(Some)
            .ok_or_else(|| {
                Error::backend(
                    format!("garbage collection: reading the link {path}"),
                    "it does not hold a digest",
                )
            }),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(driver_error("read", e)),
    }
}

/// berth's referrers index of a repository.
pub(super) fn referrers_dir(name: &RepositoryName) -> String {
    format!("{}/_referrers", paths::repository(name))
}

pub(super) fn driver_error(operation: &str, e: DriverError) -> Error {
    Error::backend(format!("garbage collection: {operation}"), e)
}
