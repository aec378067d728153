//! What can go wrong reading a configuration.

use std::path::PathBuf;

pub use berth_settings::Location;

/// A configuration that cannot be used. Each message names the key (and
/// the environment variable, if one set it), the bad value and what is
/// allowed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not YAML.
    #[error("{origin}: not valid YAML: {message}")]
    Syntax {
        /// The file, or `configuration` for text given directly.
        origin: String,
        /// The YAML parser's message, with line and column.
        message: String,
    },
    /// The configuration is YAML but not a mapping of keys.
    #[error(
        "{origin}: expected a mapping of configuration keys (version, storage, http, ...), found {found}"
    )]
    NotAMapping {
        /// The file, or `configuration`.
        origin: String,
        /// What was found instead.
        found: String,
    },
    /// An environment variable's value is not YAML.
    #[error("{var}: {value:?} is not a valid YAML value: {message}")]
    EnvSyntax {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// The YAML parser's message.
        message: String,
    },
    /// An environment variable addresses a list item that cannot be set.
    #[error(
        "{var}: {key} is a list of {len} item(s); an override may set an item 0..{len} (the next index appends one), not {index}"
    )]
    EnvIndex {
        /// The variable.
        var: String,
        /// The list's key path.
        key: String,
        /// The index the variable gave (as written).
        index: String,
        /// How many items the list has.
        len: usize,
    },
    /// Two environment variables name different storage drivers (or
    /// access controllers).
    #[error(
        "{first} selects {what} {first_choice} but {second} selects {second_choice}: set keys of one {what} only"
    )]
    EnvConflict {
        /// `storage driver` or `access controller`.
        what: String,
        /// The first variable (in the order they are applied).
        first: String,
        /// What it names.
        first_choice: String,
        /// The second variable.
        second: String,
        /// What it names.
        second_choice: String,
    },
    /// A key with a bad value, or a required one missing (the message
    /// names the key, the value and what is allowed).
    #[error(transparent)]
    Setting(Box<berth_settings::SettingError>),
    /// `storage` names no driver.
    #[error(
        "storage: no storage driver configured: expected exactly one of filesystem, inmemory, s3"
    )]
    NoStorageDriver,
    /// `storage` names more than one driver.
    #[error("storage: more than one storage driver configured ({}): expected exactly one of filesystem, inmemory, s3", drivers.join(", "))]
    MultipleStorageDrivers {
        /// The drivers named, in the file's order.
        drivers: Vec<String>,
    },
    /// `storage` names a driver berth does not have.
    #[error("{at}: storage driver {name:?} is {}: expected one of filesystem, inmemory, s3", if *known { "not supported yet" } else { "unknown" })]
    UnsupportedStorageDriver {
        /// The driver's key.
        at: Location,
        /// The driver's name.
        name: String,
        /// Whether it is one of Distribution's drivers (azure, gcs, oss,
        /// swift) rather than an unknown name.
        known: bool,
    },
}

impl From<berth_settings::SettingError> for ConfigError {
    fn from(e: berth_settings::SettingError) -> ConfigError {
        ConfigError::Setting(Box::new(e))
    }
}
