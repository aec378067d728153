//! `berth`: the command line. Parse, load the configuration, build the
//! registry from the library crates, run.

mod wire;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// berth, a container image registry: the OCI Distribution API v1.1 and
/// Docker's Registry API V2, a drop-in replacement for CNCF Distribution
/// (`registry:2`) with the same configuration file and storage layout.
#[derive(Debug, Parser)]
#[command(name = "berth", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the registry.
    ///
    /// CONFIG is a Distribution-style config.yml; `REGISTRY_*` environment
    /// variables override its keys. Without CONFIG, berth runs its embedded
    /// default: filesystem storage under ./data, an in-memory descriptor
    /// cache, deletes enabled, listening on port 5000.
    Serve {
        /// The configuration file.
        config: Option<PathBuf>,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("berth {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Serve { config } => match wire::serve(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
