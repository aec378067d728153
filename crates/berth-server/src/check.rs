//! The work of `berth config check [CONFIG]`: read a configuration as `berth serve`
//! would, report what the reader found worth telling, and print the
//! effective configuration.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use berth_config::{Configuration, LoadedConfig, StorageDriver};
use berth_manifest::ValidationPolicy;

/// Loads `path` (or the embedded default) with this process's
/// environment and makes the checks `berth serve` makes before it opens
/// anything. On success: warnings and "not supported yet" items to
/// stderr, the effective configuration (defaults filled in, secrets
/// masked) as YAML to stdout, exit 0. On an invalid configuration: the
/// error to stderr, exit 1.
pub fn run(path: Option<&Path>) -> ExitCode {
    let origin = match path {
        Some(path) => path.display().to_string(),
        None => "built-in configuration".to_owned(),
    };
    let loaded = match load(path) {
        Ok(loaded) => loaded,
        Err(e) => return invalid(&origin, &e),
    };
    let mut stderr = std::io::stderr().lock();
    for w in &loaded.warnings {
        let _ = writeln!(stderr, "warning: {w}");
    }
    for u in &loaded.unsupported {
        let _ = writeln!(stderr, "unsupported: {u}");
    }
    drop(stderr);
    if let Err(e) = startup_checks(&loaded) {
        return invalid(&origin, &*e);
    }
    match loaded.config.masked().to_yaml() {
        Ok(yaml) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(yaml.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            eprintln!("berth: cannot print the configuration: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<&Path>) -> Result<LoadedConfig, berth_config::ConfigError> {
    match path {
        Some(path) => Configuration::load_with_process_env(path),
        None => Configuration::embedded_with_env(berth_config::process_env()),
    }
}

fn invalid(origin: &str, e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("berth: invalid configuration ({origin}): {e}");
    ExitCode::FAILURE
}

/// What `berth serve` checks after reading the configuration and before
/// it binds or connects: the listening address, no ACME, the S3 driver's
/// parameters, the URL validation patterns. Nothing here touches the
/// network or the storage.
pub(crate) fn startup_checks(loaded: &LoadedConfig) -> Result<(), crate::StartError> {
    let config = &loaded.config;
    config.http.listen()?;
    if loaded.letsencrypt {
        return Err("http.tls.letsencrypt (ACME) is not supported; set http.tls.certificate and http.tls.key".into());
    }
    if let StorageDriver::S3(s3) = &config.storage.driver {
        s3.validate().map_err(|e| format!("storage.s3: {e}"))?;
    }
    let urls = &config.validation.manifests.urls;
    if !config.validation.disabled {
        ValidationPolicy::from_patterns(&urls.allow, &urls.deny)
            .map_err(|e| format!("validation.manifests.urls: {e}"))?;
    }
    Ok(())
}
