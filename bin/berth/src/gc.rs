//! `berth garbage-collect CONFIG [--dry-run] [--delete-untagged] [--quiet] [--force]`

use std::path::Path;

use berth_config::Configuration;
use berth_storage::GcOptions;

use crate::wire::{StartError, build_registry};

/// What the command was asked to do.
pub struct GcArgs<'a> {
    pub config: &'a Path,
    pub dry_run: bool,
    pub delete_untagged: bool,
    pub quiet: bool,
    pub force: bool,
}

/// Runs garbage collection on the storage `config` names; prints what was
/// (or would be) removed and a summary.
pub fn garbage_collect(args: GcArgs<'_>) -> Result<(), StartError> {
    let loaded = Configuration::load_with_process_env(args.config)
        .map_err(|e| format!("{}: {e}", args.config.display()))?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let config = loaded.config;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let registry = build_registry(&config, None).await?;
        let live = registry.live_instances().await?;
        if !live.is_empty() && !args.force {
            let who: Vec<String> = live
                .iter()
                .map(|i| {
                    format!(
                        "{} on {} (pid {}, heartbeat {}s ago)",
                        i.id,
                        i.host,
                        i.pid,
                        i.age().as_secs()
                    )
                })
                .collect();
            return Err(format!(
                "refusing to collect garbage: a berth is serving this storage ({}); stop it or put it in read-only mode (storage.maintenance.readonly), or pass --force",
                who.join("; ")
            )
            .into());
        }
        let report = registry
            .garbage_collect(GcOptions {
                dry_run: args.dry_run,
                delete_untagged: args.delete_untagged,
            })
            .await?;
        let verb = if args.dry_run { "would remove" } else { "removed" };
        if !args.quiet {
            for m in &report.manifests_removed {
                println!("{verb} manifest {m}");
            }
            for b in &report.blobs_removed {
                println!("{verb} blob {} ({} bytes)", b.digest, b.size);
            }
            for m in &report.dangling {
                println!("skipped {m}: its revision link names a missing manifest blob");
            }
        }
        println!(
            "{} manifests kept, {} {verb}; {} blobs marked, {} blobs kept ({} bytes), {} {verb} ({} bytes){}",
            report.manifests_kept.len(),
            report.manifests_removed.len(),
            report.marked,
            report.blobs_kept,
            report.bytes_kept,
            report.blobs_removed.len(),
            report.bytes_freed,
            if args.dry_run { " (dry run: nothing was deleted)" } else { "" }
        );
        Ok(())
    })
}
