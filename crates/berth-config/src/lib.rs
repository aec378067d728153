//! The configuration of the berth registry: CNCF Distribution's
//! `config.yml`, with Distribution's keys and defaults, `REGISTRY_*`
//! environment overrides, and validation whose errors name the key, the
//! bad value and what is allowed.
//!
//! ```
//! use std::time::Duration;
//!
//! use berth_config::{BlobDescriptorCache, Configuration, Listen, StorageDriver};
//!
//! let yaml = "
//! version: 0.1
//! storage:
//!   filesystem:
//!     rootdirectory: /var/lib/registry
//!   cache:
//!     blobdescriptor: inmemory
//!   maintenance:
//!     uploadpurging:
//!       age: 72h
//! http:
//!   addr: :5000
//!   secret: not-so-secret
//!   colour: blue
//! ";
//! // The environment is an argument: `Configuration::load_with_process_env`
//! // reads the process's own.
//! let env = [("REGISTRY_STORAGE_DELETE_ENABLED", "true")];
//! let loaded = Configuration::parse_with_env(yaml, env)?;
//! let config = &loaded.config;
//!
//! assert!(matches!(&config.storage.driver, StorageDriver::Filesystem(fs) if fs.maxthreads == 100));
//! assert_eq!(config.storage.cache.blobdescriptor, BlobDescriptorCache::InMemory);
//! assert!(config.storage.delete.enabled);
//! assert_eq!(config.storage.maintenance.uploadpurging.age, Duration::from_secs(72 * 3600));
//! assert_eq!(config.http.listen()?, Listen::Tcp("0.0.0.0:5000".into()));
//! assert_eq!(loaded.warnings, ["unknown configuration key http.colour; ignored"]);
//!
//! // For `berth config check`: every default filled in, secrets masked.
//! let dump = config.masked().to_yaml()?;
//! assert!(dump.contains("secret: '*****'"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is read
//!
//! Every section of Distribution 2.8 and 3.0's configuration parses, so a
//! stock `config.yml` runs unchanged:
//!
//! - typed, with Distribution's defaults: `version`, `log`, `storage`
//!   (`filesystem`, `inmemory`, `s3`; `delete`, `redirect`, `cache`,
//!   `maintenance`, `tag`), `http`, `redis`, `auth` (`htpasswd`, `token`,
//!   `silly`), `notifications`, `proxy`, `health`, `validation`,
//!   `catalog`, `middleware`;
//! - kept as written: `log.fields`, middleware `options`,
//!   `compatibility`;
//! - reported in [`LoadedConfig::unsupported`] ("not supported yet"):
//!   `log.hooks`, `http.tls.letsencrypt`, `proxy.exec`, `reporting`,
//!   `compatibility`, enabled middleware, Redis Sentinel and Cluster
//!   options, and the like;
//! - any other key: a warning in [`LoadedConfig::warnings`] naming its full
//!   path (`storage.filesystem.rootdir`), never an error, never silently
//!   dropped.
//!
//! The storage drivers Distribution has and berth does not (`azure`,
//! `gcs`, `oss`, `swift`) are an error: berth cannot serve without its
//! storage.
//!
//! # Environment overrides
//!
//! As in Distribution, a variable `REGISTRY_<KEY>_<KEY>…` sets the key
//! path it spells: `REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/srv`
//! sets `storage.filesystem.rootdirectory`. The rules:
//!
//! - the name after `REGISTRY_` is split at every `_`; each part matches a
//!   key case-insensitively, and a key the file lacks is created in lower
//!   case — sections too (`REGISTRY_REDIS_ADDR` creates `redis:`). Map
//!   keys (header names, `log.fields`) are addressed the same way, so they
//!   cannot contain `_`; a created one is lower case
//!   (`REGISTRY_HTTP_HEADERS_X-FRAME-OPTIONS` → `x-frame-options`), an
//!   existing one keeps its spelling;
//! - the value is YAML: `true`, `5000`, `[nosniff]`, `{enabled: true}`,
//!   `10s`; an empty value is empty (the default);
//! - variables apply shortest path first (a whole section before keys in
//!   it), then by name, list indices in numeric order;
//! - a numeric part indexes a list (a berth extension):
//!   `REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL` sets the first endpoint's
//!   URL; the index one past the end appends an item;
//! - naming a storage driver other than the file's
//!   (`REGISTRY_STORAGE_S3_BUCKET` over a `filesystem:` file), or
//!   `REGISTRY_STORAGE=s3`, replaces the file's driver (with a warning);
//!   the sections beside it (`delete`, `cache`, …) stay. Likewise an
//!   access controller other than the file's (`REGISTRY_AUTH_TOKEN_REALM`
//!   over `auth: htpasswd:`) replaces it. Variables naming two different
//!   drivers (or controllers) are an error;
//! - variables whose first part is not a top-level key (`REGISTRY_PORT`,
//!   set by Docker links and Kubernetes services) are ignored with a
//!   warning;
//! - a value of the wrong kind is an error naming the variable:
//!   `storage.delete.enabled (set by REGISTRY_STORAGE_DELETE_ENABLED):
//!   "maybe" is not valid: expected true or false`.
//!
//! # Using it in the binary
//!
//! ```no_run
//! use berth_config::{Configuration, default_config_path};
//!
//! let loaded = match default_config_path() {
//!     Some(path) => Configuration::load_with_process_env(&path)?,
//!     None => Configuration::embedded_with_env(berth_config::process_env())?,
//! };
//! loaded.log_warnings();
//! let config = loaded.config;
//! let listen = config.http.listen()?;
//! // `config.http.secret` is None: make one and warn that uploads will not
//! // survive across replicas. Map `config.storage.driver` onto a driver
//! // (`storage.s3` is the S3 driver's own `S3Parameters`), and so on.
//! # Ok::<(), berth_config::ConfigError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod decode;
mod duration;
mod env;
mod error;
mod headers;
mod http;
mod keys;
mod log;
mod sections;
mod storage;

/// `auth:`: berth-auth's settings, the one definition of that section
/// (`Htpasswd`, `Silly` and `Token` are berth-auth's controller options).
pub use berth_auth::settings::Auth;
pub use berth_auth::{HtpasswdOptions as Htpasswd, SillyOptions as Silly, TokenOptions as Token};
/// `redis:`: berth-cache's settings, the one definition of that section.
pub use berth_cache::settings::{Redis, RedisPool, RedisTls};
/// `storage.s3`: the S3 driver's parameter type (and its checksum mode),
/// the one definition of that section.
pub use berth_driver_s3::{ChecksumMode, S3Parameters};
pub use berth_duration::{DurationError, format_duration, parse_duration};
/// `health:`: berth-health's options, the one definition of that section.
pub use berth_health::{
    DEFAULT_INTERVAL as DEFAULT_CHECK_INTERVAL, FileCheck, HealthOptions as Health, HttpCheck,
    StorageDriverCheck, TcpCheck,
};
/// `notifications:`: berth-notifications' settings, the one definition of
/// that section.
pub use berth_notifications::settings::{
    DEFAULT_ENDPOINT_BACKOFF, DEFAULT_ENDPOINT_THRESHOLD, DEFAULT_ENDPOINT_TIMEOUT,
    DEFAULT_SPOOL_MAX_BYTES, Endpoint, Events, Ignore, Notifications, Spool,
};
/// `proxy:`: berth-proxy's settings, the one definition of that section.
pub use berth_proxy::settings::Proxy;
pub use config::{
    CONFIG_VERSION, Configuration, DEFAULT_CONFIG_PATHS, DEFAULT_CONFIG_YAML, LoadedConfig, MASK,
    default_config_path, first_existing, process_env,
};
pub use env::ENV_PREFIX;
pub use error::{ConfigError, Location};
pub use headers::Headers;
pub use http::{
    DEFAULT_HTTP_ADDR, DEFAULT_PROMETHEUS_PATH, Debug, H2c, Http, Http2, Listen, Net, Prometheus,
    Tls, TlsVersion,
};
pub use keys::known_keys;
pub use log::{AccessLog, Log, LogFormatter, LogLevel};
pub use sections::{
    Catalog, DEFAULT_CATALOG_MAX_ENTRIES, IndexPlatforms, IndexValidation, ManifestValidation,
    Middleware, MiddlewareEntry, PlatformSpec, UrlValidation, Validation,
};
pub use storage::{
    BlobDescriptorCache, Cache, DEFAULT_BLOB_DESCRIPTOR_SIZE, DEFAULT_MAX_THREADS,
    DEFAULT_ROOT_DIRECTORY, DEFAULT_UPLOAD_PURGING_AGE, DEFAULT_UPLOAD_PURGING_INTERVAL, Delete,
    Filesystem, MIN_MAX_THREADS, Maintenance, OTHER_DISTRIBUTION_DRIVERS, ReadOnly, Redirect,
    STORAGE_DRIVERS, STORAGE_SUBSECTIONS, Storage, StorageDriver, Tag, UploadPurging,
};

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
