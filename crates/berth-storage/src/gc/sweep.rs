//! The sweep phase's removals, in an order that never leaves a reference
//! to something gone.

use super::*;

/// Removes a manifest from its repository: its tag history entries, its
/// referrers index entries, then its revision.
pub(super) async fn remove_manifest(driver: &dyn StorageDriver, doomed: &Doomed) -> Result<()> {
    let GcManifest { repository, digest } = &doomed.manifest;
    for entry in &doomed.tag_entries {
        delete(driver, entry).await?;
    }
    for entry in &doomed.referrer_entries {
        delete(driver, entry).await?;
    }
    let revision = paths::revision_link(repository, digest);
    delete(driver, berth_driver::parent(&revision)).await?;
    tracing::info!(
        repository = repository.as_str(),
        %digest,
        "garbage collection: removed manifest"
    );
    Ok(())
}

/// Removes a blob from the global store.
pub(super) async fn remove_blob(driver: &dyn StorageDriver, blob: &GcBlob) -> Result<()> {
    delete(driver, &paths::blob_dir(&blob.digest)).await?;
    tracing::info!(digest = %blob.digest, size = blob.size, "garbage collection: removed blob");
    Ok(())
}

/// Deletes `path`; already gone is fine.
pub(super) async fn delete(driver: &dyn StorageDriver, path: &str) -> Result<()> {
    match driver.delete(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(driver_error("delete", e)),
    }
}
