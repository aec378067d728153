//! The work of `berth garbage-collect CONFIG [--dry-run] [--delete-untagged] [--quiet] [--force]`
//!
//! stdout gets what was (or would be) removed and the summary; stderr gets
//! the progress: a bar on a terminal, otherwise a counted line per phase
//! when it completes and at most one a second while it runs.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_config::Configuration;
use berth_storage::{GcOptions, GcProgress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::{StartError, build_registry};

/// What the command was asked to do.
pub struct GcArgs<'a> {
    /// The configuration file of the registry whose storage to clean.
    pub config: &'a Path,
    /// Report what would be removed; remove nothing.
    pub dry_run: bool,
    /// Also remove manifests no tag points to.
    pub delete_untagged: bool,
    /// Print only the summary.
    pub quiet: bool,
    /// Accepted for scripts written for earlier versions; does nothing.
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
        if args.force {
            eprintln!(
                "warning: --force is no longer needed: collections run safely beside serving registries"
            );
        }
        let progress = Progress::new(if args.quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        });
        let options = GcOptions {
            dry_run: args.dry_run,
            delete_untagged: args.delete_untagged,
            delay: config.storage.maintenance.gc.delay,
        };
        let report = registry
            .garbage_collect_with_progress(options, &|p| progress.report(p))
            .await;
        progress.finish();
        let report = report?;
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

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not at all (`--quiet`).
    Off,
    /// A progress bar on stderr, a terminal.
    Bar,
    /// Plain lines on stderr (a file, a pipe, a log).
    Lines,
}

/// How often a running phase prints a line in [`Mode::Lines`].
const LINE_INTERVAL: Duration = Duration::from_secs(1);

/// Shows a collection's [`GcProgress`] on stderr.
struct Progress {
    mode: Mode,
    state: Mutex<State>,
}

/// The phase being shown.
#[derive(Default)]
struct State {
    /// Which phase ([`phase`]), its bar (in [`Mode::Bar`]) and when its
    /// last line was printed (in [`Mode::Lines`]).
    current: Option<(u8, Option<ProgressBar>, Instant)>,
}

/// One step of a phase, as shown.
struct Step {
    /// What the collection reported.
    progress: GcProgress,
    /// Which phase it is.
    phase: u8,
    /// Where it is: position and, when known, length.
    position: u64,
    length: Option<u64>,
    /// What the bar says after the counts.
    unit: &'static str,
    /// Whether the phase is complete.
    complete: bool,
}

impl Step {
    fn of(progress: GcProgress) -> Option<Step> {
        let (phase, position, length, unit, complete) = match progress {
            GcProgress::Mark {
                repositories,
                total,
                ..
            } => (
                0,
                repositories,
                Some(total),
                "repositories marked",
                repositories == total,
            ),
            GcProgress::ListBlobs { blobs, done } => (1, blobs, None, "blobs listed", done),
            GcProgress::SweepManifests { removed, total } => {
                (2, removed, Some(total), "manifests swept", removed == total)
            }
            GcProgress::SweepBlobs { removed, total } => {
                (3, removed, Some(total), "blobs swept", removed == total)
            }
            _ => return None,
        };
        Some(Step {
            progress,
            phase,
            position: position as u64,
            length: length.map(|l| l as u64),
            unit,
            complete,
        })
    }

    /// The line to print (while the phase runs, or when it is complete).
    fn line(&self) -> String {
        match self.progress {
            GcProgress::Mark {
                total, manifests, ..
            } if self.complete => format!("marked {manifests} manifests in {total} repositories"),
            GcProgress::Mark {
                repositories,
                total,
                manifests,
            } => format!(
                "marking: {repositories} of {total} repositories, {manifests} manifests kept"
            ),
            GcProgress::ListBlobs { blobs, done: true } => format!("listed {blobs} blobs"),
            GcProgress::ListBlobs { blobs, .. } => format!("listing blobs: {blobs} found"),
            GcProgress::SweepManifests { removed, total } => {
                format!("swept {removed} of {total} manifests")
            }
            GcProgress::SweepBlobs { removed, total } => {
                format!("swept {removed} of {total} blobs")
            }
            _ => String::new(),
        }
    }
}

impl Progress {
    fn new(mode: Mode) -> Progress {
        Progress {
            mode,
            state: Mutex::new(State::default()),
        }
    }

    /// Shows one report of the collection.
    fn report(&self, p: GcProgress) {
        if self.mode == Mode::Off {
            return;
        }
        let Some(step) = Step::of(p) else { return };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        if state.current.as_ref().map(|(phase, _, _)| *phase) != Some(step.phase) {
            if let Some((_, Some(bar), _)) = state.current.take() {
                bar.finish_and_clear();
            }
            let bar = (self.mode == Mode::Bar && !step.complete).then(|| new_bar(&step));
            state.current = Some((step.phase, bar, now));
        }
        let Some((_, bar, last)) = state.current.as_mut() else {
            return;
        };
        if step.complete {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            eprintln!("{}", step.line());
        } else if let Some(bar) = bar {
            bar.set_position(step.position);
        } else if now.duration_since(*last) >= LINE_INTERVAL {
            *last = now;
            eprintln!("{}", step.line());
        }
    }

    /// Clears a bar left by a collection that stopped half-way.
    fn finish(&self) {
        if let Ok(mut state) = self.state.lock()
            && let Some((_, Some(bar), _)) = state.current.take()
        {
            bar.finish_and_clear();
        }
    }
}

/// A bar (a counter when the length is not known) for the phase `step`
/// starts.
fn new_bar(step: &Step) -> ProgressBar {
    let template = if step.length.is_some() {
        format!(
            "{{elapsed:>4}} [{{wide_bar}}] {{pos}}/{{len}} {}",
            step.unit
        )
    } else {
        format!("{{elapsed:>4}} {{spinner}} {{pos}} {}", step.unit)
    };
    let style = ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(step.length, ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar.set_position(step.position);
    bar
}
