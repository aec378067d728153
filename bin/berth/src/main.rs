//! `berth`: the command line. Parse it, set up logging, and hand the
//! work to berth-server.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use berth_config::{Configuration, LogFormatter, LogLevel};
use clap::{Parser, Subcommand};

/// berth, a container image registry: the OCI Distribution API v1.1 and
/// Docker's Registry API V2, a drop-in replacement for CNCF Distribution
/// (`registry:2`) with the same configuration file and storage layout.
/// What this build can do, for `--version` and `version`.
macro_rules! features {
    () => {
        "storage drivers: filesystem, inmemory, s3; descriptor caches: inmemory, redis; tls: rustls"
    };
}

/// `berth --version`: the version and the features.
const LONG_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\n", features!());

#[derive(Debug, Parser)]
#[command(name = "berth", version, long_version = LONG_VERSION, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the registry.
    ///
    /// CONFIG is a Distribution-style config.yml (or the file named by
    /// REGISTRY_CONFIGURATION_PATH); `REGISTRY_*` environment variables
    /// override its keys. Without either, berth runs its embedded default:
    /// filesystem storage under ./data, an in-memory descriptor cache,
    /// deletes enabled, listening on port 5000.
    Serve {
        /// The configuration file.
        config: Option<PathBuf>,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Remove blobs and manifests nothing references (mark and sweep).
    ///
    /// The same result as Distribution's `registry garbage-collect` on the
    /// same storage, except that children of kept indexes and referrers of
    /// kept manifests are kept. It may run while registries serve the
    /// storage: what they touched within storage.maintenance.gc.delay
    /// stays, and one collection runs at a time.
    GarbageCollect {
        /// The configuration file of the registry whose storage to clean.
        config: PathBuf,
        /// Report what would be removed; remove nothing.
        #[arg(long, short = 'd')]
        dry_run: bool,
        /// Also remove manifests that no tag points to.
        #[arg(long, short = 'm')]
        delete_untagged: bool,
        /// Print only the summary.
        #[arg(long, short = 'q')]
        quiet: bool,
        /// No longer needed (accepted for old scripts).
        #[arg(long, hide = true)]
        force: bool,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration and print it as berth reads it.
    ///
    /// Reads CONFIG (or, without it, the embedded default) with the
    /// `REGISTRY_*` environment overrides, as `berth serve` would. Prints
    /// warnings (unknown keys, ignored variables) and keys that are not
    /// supported yet to stderr, and the effective configuration, every
    /// default filled in and secrets masked, to stdout. Exits non-zero,
    /// naming the key and value, when the configuration is invalid.
    Check {
        /// The configuration file.
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    berth_server::limit_malloc_arenas();
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("berth {}\n{}", env!("CARGO_PKG_VERSION"), features!());
            ExitCode::SUCCESS
        }
        Command::Config {
            command: ConfigCommand::Check { config },
        } => berth_server::check::run(config.as_deref()),
        Command::GarbageCollect {
            config,
            dry_run,
            delete_untagged,
            quiet,
            force,
        } => match berth_server::gc::garbage_collect(berth_server::gc::GcArgs {
            config: &config,
            dry_run,
            delete_untagged,
            quiet,
            force,
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth garbage-collect: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => match serve(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `berth serve`: load, log, run.
fn serve(path: Option<PathBuf>) -> Result<(), berth_server::StartError> {
    let loaded = berth_server::load(path)?;
    init_logging(&loaded.config.config);
    berth_server::serve(loaded)
}

fn init_logging(config: &Configuration) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = match config.log.level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal, never in files or journals.
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    // JSON (and Logstash, which Distribution also writes as one JSON object
    // a line): each line carries the request span's fields, its id among
    // them. Requests actix-http cannot parse (a client's TLS probe) are
    // debug lines, not errors.
    let _ = match config.log.formatter {
        LogFormatter::Text => registry
            .with(berth_handlers::ClientErrorsAtDebug::new(layer))
            .try_init(),
        LogFormatter::Json | LogFormatter::Logstash => registry
            .with(berth_handlers::ClientErrorsAtDebug::new(
                layer
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .flatten_event(true),
            ))
            .try_init(),
    };
}
