//! Upload purging: removing uploads older than an age.

use std::time::{Duration, SystemTime};

use berth_core::Result;
use berth_driver::Walk;

use crate::upload::parse_started_at;
use crate::{Registry, paths, storage_error};

/// One upload that purging found too old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedUpload {
    /// The repository it belonged to.
    pub repository: String,
    /// The upload id.
    pub id: String,
    /// When it started (the upload directory's modification time when its
    /// `startedat` file is missing or unreadable).
    pub started_at: SystemTime,
}

/// What a purge did, or in a dry run would do.
#[derive(Debug, Clone, Default)]
pub struct PurgeReport {
    /// Uploads removed (or, in a dry run, that would be).
    pub purged: Vec<PurgedUpload>,
    /// Uploads left alone because they are young enough.
    pub kept: usize,
    /// Problems met on the way (the purge goes on past them).
    pub errors: Vec<String>,
}

impl Registry {
    /// Removes every upload that started more than `older_than` ago, in
    /// every repository. With `dry_run`, only reports what it would remove.
    ///
    /// The walk skips `_layers` and `_manifests`, so its cost grows with the
    /// number of repositories and uploads, not with the content.
    pub async fn purge_uploads(&self, older_than: Duration, dry_run: bool) -> Result<PurgeReport> {
        let driver = self.driver();
        let cutoff = SystemTime::now()
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let root = paths::repositories_root();
        let mut upload_dirs = Vec::new();
        let walked = driver
            .walk(&root, &mut |info| {
                let name = info.path.rsplit('/').next().unwrap_or("");
                if !info.is_dir {
                    return Walk::Continue;
                }
                match name {
                    "_uploads" => {
                        upload_dirs.push(info.path.clone());
                        Walk::SkipDir
                    }
                    "_layers" | "_manifests" => Walk::SkipDir,
                    _ => Walk::Continue,
                }
            })
            .await;
        match walked {
            Ok(()) => {}
            Err(e) if e.is_not_found() => return Ok(PurgeReport::default()),
            Err(e) => return Err(storage_error(e)),
        }

        let mut report = PurgeReport::default();
        for dir in upload_dirs {
            let repository = dir
                .strip_prefix(&format!("{root}/"))
                .and_then(|r| r.strip_suffix("/_uploads"))
                .unwrap_or_default()
                .to_owned();
            let uploads = match driver.list(&dir).await {
                Ok(uploads) => uploads,
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    report.errors.push(e.to_string());
                    continue;
                }
            };
            for upload in uploads {
                let id = upload.rsplit('/').next().unwrap_or("").to_owned();
                let started_at = match driver.get_content(&format!("{upload}/startedat")).await {
                    Ok(content) => parse_started_at(&content),
                    Err(_) => None,
                };
                let started_at = match started_at {
                    Some(at) => at,
                    None => match driver.stat(&upload).await {
                        Ok(info) => info.modified,
                        Err(e) => {
                            report.errors.push(e.to_string());
                            continue;
                        }
                    },
                };
                if started_at > cutoff {
                    report.kept += 1;
                    continue;
                }
                if !dry_run {
                    match driver.delete(&upload).await {
                        Ok(()) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => {
                            report.errors.push(e.to_string());
                            continue;
                        }
                    }
                }
                tracing::info!(repository, id, dry_run, "purged an old upload");
                report.purged.push(PurgedUpload {
                    repository: repository.clone(),
                    id,
                    started_at,
                });
            }
        }
        Ok(report)
    }
}
