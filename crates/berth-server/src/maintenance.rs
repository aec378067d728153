//! What runs beside the requests: upload purging, garbage collections
//! (followed, and scheduled), handing idle memory back.

use std::sync::Arc;
use std::time::Duration;

use berth_storage::Registry;

/// Removes uploads older than `age` every `interval`, as Distribution's
/// maintenance loop does (the first run comes after a short random wait, so
/// replicas do not all purge at once).
pub(crate) fn spawn_upload_purging(
    registry: Registry,
    age: Duration,
    interval: Duration,
    dry_run: bool,
) {
    // Up to a minute (or one interval, if shorter) of random delay.
    let window = interval.min(Duration::from_secs(60)).as_millis().max(1) as u64;
    let random = u64::from_le_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or([0; 8]),
    );
    let jitter = Duration::from_millis(random % window);
    actix_web::rt::spawn(async move {
        tokio::time::sleep(jitter).await;
        loop {
            match registry.purge_uploads(age, dry_run).await {
                Ok(report) => tracing::info!(
                    purged = report.purged.len(),
                    kept = report.kept,
                    errors = report.errors.len(),
                    dry_run,
                    "upload purging done"
                ),
                Err(e) => tracing::warn!(error = %e, "upload purging failed"),
            }
            tokio::time::sleep(interval.max(Duration::from_secs(1))).await;
        }
    });
}

/// Follows the storage's garbage collections (so this node hears of
/// removals), and with `gc.enabled` on a writable node runs one every
/// `gc.interval`, the first one interval after start. A run that finds
/// another holding the lease is skipped.
pub(crate) fn spawn_collections(
    registry: Registry,
    gc: &berth_storage::settings::Gc,
    read_only: bool,
) {
    let follower = registry.clone();
    actix_web::rt::spawn(async move { follower.follow_collections().await });
    if !gc.enabled || read_only {
        return;
    }
    let options = berth_storage::GcOptions {
        dry_run: false,
        delete_untagged: gc.deleteuntagged,
        delay: gc.delay,
    };
    let interval = gc.interval.max(Duration::from_millis(100));
    tracing::info!(
        interval = ?gc.interval,
        delay = ?gc.delay,
        delete_untagged = gc.deleteuntagged,
        "garbage collection on a schedule"
    );
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let log = PhaseLog::default();
            match registry
                .garbage_collect_with_progress(options, &|p| log.report(p))
                .await
            {
                Ok(report) => tracing::info!(
                    manifests_removed = report.manifests_removed.len(),
                    blobs_removed = report.blobs_removed.len(),
                    bytes_freed = report.bytes_freed,
                    protected = report.protected,
                    "garbage collection done"
                ),
                Err(berth_core::Error::Unavailable { source, .. }) => {
                    tracing::info!(reason = %source, "garbage collection skipped")
                }
                Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
            }
        }
    });
}

/// Logs a line as each phase of a collection completes.
#[derive(Default)]
struct PhaseLog {
    listed: std::sync::atomic::AtomicBool,
}

impl PhaseLog {
    fn report(&self, progress: berth_storage::GcProgress) {
        use berth_storage::GcProgress::*;
        match progress {
            Mark {
                repositories,
                total,
                manifests,
            } if repositories == total => tracing::info!(
                repositories,
                manifests,
                "garbage collection: marked {manifests} manifests in {repositories} repositories"
            ),
            ListBlobs { blobs, done: true }
                if !self.listed.swap(true, std::sync::atomic::Ordering::Relaxed) =>
            {
                tracing::info!(blobs, "garbage collection: listed {blobs} blobs")
            }
            SweepManifests { removed, total } if removed == total => {
                tracing::info!(removed, "garbage collection: removed {removed} manifests")
            }
            SweepBlobs { removed, total } if removed == total => {
                tracing::info!(removed, "garbage collection: removed {removed} blobs")
            }
            _ => {}
        }
    }
}

/// Hands memory freed after a burst of requests back to the system once
/// the server goes idle: glibc keeps freed heap pages mapped, so a
/// registry that served a load would sit at its peak RSS for ever. Trims
/// after 3 s without a request, and again after 12 s, once the blocking
/// pool's idle threads (kept 10 s after their last task) have ended and
/// freed their caches.
pub(crate) fn spawn_idle_trim(metrics: Arc<berth_handlers::Metrics>) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    actix_web::rt::spawn(async move {
        const TRIM_AFTER: [u32; 2] = [3, 12];
        // Seconds without a request (checked every second).
        let (mut seen, mut quiet) = (metrics.requests_served(), u32::MAX);
        loop {
            actix_web::rt::time::sleep(Duration::from_secs(1)).await;
            let now = metrics.requests_served();
            if now != seen {
                (seen, quiet) = (now, 0);
                continue;
            }
            quiet = quiet.saturating_add(1);
            if TRIM_AFTER.contains(&quiet) {
                crate::sys::trim_heap();
            }
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = metrics;
}
