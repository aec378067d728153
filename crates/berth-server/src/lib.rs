//! From a configuration to a running berth registry.
//!
//! berth-server composes the library crates: it builds the storage driver,
//! the descriptor cache, the registry, the access controller, the
//! notifier and the pull-through namespace a [`Configuration`] names,
//! serves the registry (and the debug server) with actix-web, plain or
//! over TLS, and runs the maintenance loops beside the requests (upload
//! purging, garbage collections, handing idle memory back). It also
//! holds the work behind the `berth` command line's other commands:
//! [`check`] for `berth config check` and [`gc`] for
//! `berth garbage-collect`. The binary only parses the command line and
//! sets up logging.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_server::StartError> {
//! // The embedded default (filesystem under ./data, port 5000), with the
//! // REGISTRY_* environment overrides.
//! let loaded = berth_server::load(None)?;
//! berth_server::serve(loaded)?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// Unsafe code only in `sys` (glibc allocator tuning).
#![deny(unsafe_code)]

mod build;
pub mod check;
pub mod gc;
mod health;
mod maintenance;
mod server;
#[allow(unsafe_code)]
mod sys;
mod tls;

use std::path::PathBuf;

pub use berth_config::{Configuration, LoadedConfig};
pub use build::build_registry;
pub use sys::limit_malloc_arenas;

/// A failure to start, said plainly.
pub type StartError = Box<dyn std::error::Error>;

/// A configuration as `berth serve` reads it, and where it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration, with its warnings and unsupported keys.
    pub config: LoadedConfig,
    /// The file it was read from; `None` for the embedded default.
    pub path: Option<PathBuf>,
}

/// Reads the configuration `berth serve` runs: the file `path`, else the
/// one `REGISTRY_CONFIGURATION_PATH` names (as Distribution), else the
/// embedded default; the `REGISTRY_*` environment overrides apply.
pub fn load(path: Option<PathBuf>) -> Result<Loaded, StartError> {
    let path = path.or_else(|| {
        std::env::var_os("REGISTRY_CONFIGURATION_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    });
    let config = match &path {
        Some(path) => Configuration::load_with_process_env(path)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => Configuration::embedded_with_env(berth_config::process_env())?,
    };
    Ok(Loaded { config, path })
}

/// Serves the registry `loaded` describes until the process is stopped
/// (SIGINT or SIGTERM; requests get `http.draintimeout` to finish). Logs
/// the configuration's warnings first; logging should be set up before.
pub fn serve(loaded: Loaded) -> Result<(), StartError> {
    loaded.config.log_warnings();
    check::startup_checks(&loaded.config)?;
    let config = loaded.config.config;
    match &loaded.path {
        Some(path) => tracing::info!(config = %path.display(), "configuration loaded"),
        None => tracing::info!("no configuration file given: running the embedded default"),
    }
    let runtime = actix_web::rt::System::new();
    runtime.block_on(server::run(config))
}

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
