//! The whole configuration, its loader and its checks across sections.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::decode::{Ctx, Obj, Origins, describe};
use crate::env;
use crate::error::ConfigError;
use crate::headers::Headers;
use crate::http::{self, Http};
use crate::log::{self, Log};
use berth_proxy::settings::Proxy;

use berth_health::HealthOptions as Health;

use crate::sections::{self, Catalog, Middleware, Validation};
use crate::storage::{
    self, BlobDescriptorCache, Cache, Delete, Filesystem, Storage, StorageDriver,
};
use berth_auth::settings::Auth;
use berth_cache::settings::Redis;
use berth_notifications::settings::Notifications;

/// The configuration version berth reads (Distribution's only one).
pub const CONFIG_VERSION: &str = "0.1";

pub use berth_settings::MASK;

/// Where Distribution's configuration file lives, in the order berth looks
/// when `berth serve` is given none: Distribution 3's path, then 2.x's
/// (which Debian's `docker-registry` package installs).
pub const DEFAULT_CONFIG_PATHS: &[&str] = &[
    "/etc/distribution/config.yml",
    "/etc/docker/registry/config.yml",
];

/// The first of [`DEFAULT_CONFIG_PATHS`] that exists, if any.
pub fn default_config_path() -> Option<PathBuf> {
    first_existing(DEFAULT_CONFIG_PATHS.iter().map(Path::new))
}

/// The first of `paths` that exists, if any.
pub fn first_existing<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Option<PathBuf> {
    paths
        .into_iter()
        .find(|p| p.is_file())
        .map(Path::to_path_buf)
}

/// berth's built-in configuration, used by `berth serve` without a
/// configuration file: filesystem storage under `./data`, an in-memory
/// blob-descriptor cache, deletes enabled, listening on every interface on
/// port 5000. It is also a short example of the format.
pub const DEFAULT_CONFIG_YAML: &str = "\
# berth's built-in configuration (Distribution's config.yml format).
version: 0.1
log:
  level: info
  formatter: text
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: ./data
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
";

/// A registry configuration: Distribution's `config.yml`, read with
/// Distribution's keys and defaults.
///
/// Read one with [`Configuration::parse`], [`Configuration::load`] (a file)
/// or their `_with_env` forms, which apply `REGISTRY_*` overrides; each
/// returns a [`LoadedConfig`] holding the configuration and what the
/// reader wants the operator to know.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Configuration {
    /// `version`: `"0.1"`, required.
    pub version: String,
    /// `log`.
    pub log: Log,
    /// `storage`.
    pub storage: Storage,
    /// `http`.
    pub http: Http,
    /// `redis`: `Some` when an address is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<Redis>,
    /// `auth`: `Some` when an access controller is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// `notifications`.
    pub notifications: Notifications,
    /// `proxy`: `Some` when `proxy.remoteurl` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    /// `health`.
    pub health: Health,
    /// `validation`.
    pub validation: Validation,
    /// `catalog`.
    pub catalog: Catalog,
    /// `middleware`.
    #[serde(skip_serializing_if = "Middleware::is_empty")]
    pub middleware: Middleware,
    /// `compatibility` (Distribution's schema1 signing), kept as written:
    /// berth serves stored schema1 manifests but accepts no schema1
    /// pushes, so it has no use for it.
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub compatibility: Mapping,
}

/// A configuration as read, with what the reader found worth telling.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: Configuration,
    /// Unknown keys (with their full path, and the environment variable
    /// that set them, if one did), ignored environment variables, values
    /// adjusted or ignored as Distribution does.
    pub warnings: Vec<String>,
    /// Keys berth knows but does not act on yet, each saying
    /// "not supported yet".
    pub unsupported: Vec<String>,
    /// Whether `http.tls.letsencrypt` is set. It is reported as not
    /// supported, and a server refuses to start with it: berth has no
    /// ACME client, and serving plain HTTP where certificates were asked
    /// for would be a surprise.
    pub letsencrypt: bool,
}

impl LoadedConfig {
    /// Logs every warning and unsupported key with `tracing::warn!`.
    pub fn log_warnings(&self) {
        for w in &self.warnings {
            tracing::warn!("configuration: {w}");
        }
        for u in &self.unsupported {
            tracing::warn!("configuration: {u}");
        }
    }
}

impl Configuration {
    /// Reads a configuration from YAML text, without environment
    /// overrides.
    pub fn parse(yaml: &str) -> Result<LoadedConfig, ConfigError> {
        Configuration::parse_with_env(yaml, std::iter::empty::<(String, String)>())
    }

    /// Reads a configuration from YAML text, then applies the `REGISTRY_*`
    /// variables of `env` (name, value pairs; other names are skipped).
    pub fn parse_with_env<I, K, V>(yaml: &str, env: I) -> Result<LoadedConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        read("configuration", yaml, env)
    }

    /// Reads the configuration file at `path`, then applies the
    /// `REGISTRY_*` variables of `env`.
    pub fn load<I, K, V>(path: &Path, env: I) -> Result<LoadedConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        read(&path.display().to_string(), &text, env)
    }

    /// [`load`](Configuration::load) with this process's environment.
    pub fn load_with_process_env(path: &Path) -> Result<LoadedConfig, ConfigError> {
        Configuration::load(path, process_env())
    }

    /// berth's built-in configuration ([`DEFAULT_CONFIG_YAML`]) with the
    /// `REGISTRY_*` variables of `env` applied: what `berth serve` runs
    /// without a configuration file.
    pub fn embedded_with_env<I, K, V>(env: I) -> Result<LoadedConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        read("built-in configuration", DEFAULT_CONFIG_YAML, env)
    }

    /// berth's built-in configuration: the value [`DEFAULT_CONFIG_YAML`]
    /// reads as.
    pub fn default_embedded() -> Configuration {
        let mut log = Log::default();
        log.fields.insert(
            Value::String("service".into()),
            Value::String("registry".into()),
        );
        Configuration {
            version: CONFIG_VERSION.to_owned(),
            log,
            storage: Storage {
                driver: StorageDriver::Filesystem(Filesystem {
                    rootdirectory: "./data".into(),
                    ..Filesystem::default()
                }),
                delete: Delete { enabled: true },
                redirect: Default::default(),
                cache: Cache {
                    blobdescriptor: BlobDescriptorCache::InMemory,
                    ..Cache::default()
                },
                maintenance: Default::default(),
                tag: Default::default(),
            },
            http: Http {
                headers: Headers(vec![(
                    "X-Content-Type-Options".to_owned(),
                    vec!["nosniff".to_owned()],
                )]),
                ..Http::default()
            },
            redis: None,
            auth: None,
            notifications: Notifications::default(),
            proxy: None,
            health: Health {
                storagedriver: berth_health::StorageDriverCheck {
                    enabled: true,
                    threshold: 3,
                    ..Default::default()
                },
                ..Health::default()
            },
            validation: Validation::default(),
            catalog: Catalog::default(),
            middleware: Middleware::default(),
            compatibility: Mapping::new(),
        }
    }

    /// A copy with every secret replaced by [`MASK`]: `http.secret`,
    /// `storage.s3.secretkey` and `sessiontoken`, `redis.password`,
    /// `proxy.password`, and the values of `Authorization` headers of
    /// notification endpoints and HTTP health checks.
    pub fn masked(&self) -> Configuration {
        let mut c = self.clone();
        let mask = |s: &mut Option<String>| {
            if s.is_some() {
                *s = Some(MASK.to_owned());
            }
        };
        mask(&mut c.http.secret);
        if let StorageDriver::S3(s3) = &mut c.storage.driver {
            mask(&mut s3.secretkey);
            mask(&mut s3.sessiontoken);
        }
        if let Some(redis) = &mut c.redis {
            mask(&mut redis.password);
        }
        if let Some(proxy) = &mut c.proxy {
            mask(&mut proxy.password);
        }
        for endpoint in &mut c.notifications.endpoints {
            endpoint.headers.mask("Authorization");
        }
        for check in &mut c.health.http {
            check.headers.mask("Authorization");
        }
        c
    }

    /// The configuration as YAML, every default filled in (durations in
    /// Go's form). It reads back as the same configuration. Secrets are
    /// included: dump [`masked`](Configuration::masked) to show it.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }
}

/// This process's environment, skipping variables that are not Unicode.
pub fn process_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
}

fn read<I, K, V>(origin: &str, yaml: &str, env: I) -> Result<LoadedConfig, ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let tree: Value = serde_yaml::from_str(yaml).map_err(|e| ConfigError::Syntax {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    let mut root = match tree {
        Value::Null => Mapping::new(),
        Value::Mapping(m) => m,
        other => {
            return Err(ConfigError::NotAMapping {
                origin: origin.to_owned(),
                found: describe(&other),
            });
        }
    };
    env::normalize_short_forms(&mut root);
    let (origins, env_warnings) = env::apply(&mut root, env)?;
    env::normalize_short_forms(&mut root);
    let root = Value::Mapping(root);
    let mut loaded = decode(&root, &origins)?;
    let mut warnings = env_warnings;
    warnings.append(&mut loaded.warnings);
    loaded.warnings = warnings;
    Ok(loaded)
}

fn decode(root: &Value, origins: &Origins) -> Result<LoadedConfig, ConfigError> {
    let mut ctx = Ctx::new(origins);
    let ctx = &mut ctx;
    let mut o = Obj::new(ctx, "", root)?;

    let version = match o.take("version") {
        Some((path, value)) => {
            let v = ctx.string(&path, value)?;
            if v != CONFIG_VERSION {
                return Err(ctx.invalid(&path, value, "\"0.1\""));
            }
            v
        }
        None => return Err(ctx.missing("version", "\"0.1\"")),
    };

    let legacy_level = o.take("loglevel");
    if let Some((path, _)) = &legacy_level {
        ctx.warn(path, "deprecated; use log.level");
    }
    let log_obj = o.child(ctx, "log")?;
    let log = log::decode(ctx, log_obj, legacy_level)?;

    let storage_obj = match o.take_raw("storage") {
        Some(v) => Obj::new(ctx, "storage", v)?,
        None => return Err(ConfigError::NoStorageDriver),
    };
    let storage = storage::decode(ctx, storage_obj)?;

    let http_obj = o.child(ctx, "http")?;
    let (http, letsencrypt) = http::decode(ctx, http_obj)?;
    let redis_obj = o.child(ctx, "redis")?;
    let redis = Redis::read(ctx, redis_obj)?;
    let auth_obj = o.child(ctx, "auth")?;
    let auth = Auth::read(ctx, auth_obj)?;
    let notif_obj = o.child(ctx, "notifications")?;
    let notifications = Notifications::read(ctx, notif_obj)?;
    let proxy_obj = o.child(ctx, "proxy")?;
    let proxy = Proxy::read(ctx, proxy_obj)?;
    let health_obj = o.child(ctx, "health")?;
    let health = Health::read(ctx, health_obj)?;
    let validation_obj = o.child(ctx, "validation")?;
    let validation = sections::decode_validation(ctx, validation_obj)?;
    let catalog_obj = o.child(ctx, "catalog")?;
    let catalog = sections::decode_catalog(ctx, catalog_obj)?;
    let middleware_obj = o.child(ctx, "middleware")?;
    let middleware = sections::decode_middleware(ctx, middleware_obj)?;
    let compatibility = o.mapping(ctx, "compatibility")?;
    if !compatibility.is_empty() {
        ctx.report_unsupported("compatibility", "schema1 signing (compatibility.schema1)");
    }
    o.unsupported(ctx, "reporting", "error reporting (bugsnag, newrelic)");
    o.finish(ctx);

    // Checks across sections.
    if storage.cache.blobdescriptor == BlobDescriptorCache::Redis && redis.is_none() {
        return Err(ConfigError::from(berth_settings::SettingError::Requires {
            at: ctx.at("storage.cache.blobdescriptor"),
            value: "\"redis\"".to_owned(),
            needs: "redis.addr (or redis.addrs) to be set".to_owned(),
        }));
    }
    let purging = &storage.maintenance.uploadpurging;
    if purging.enabled && purging.interval.is_zero() {
        return Err(ConfigError::from(berth_settings::SettingError::Invalid {
            at: ctx.at("storage.maintenance.uploadpurging.interval"),
            value: "\"0s\"".to_owned(),
            expected: "a duration above zero while upload purging is enabled".to_owned(),
        }));
    }

    let config = Configuration {
        version,
        log,
        storage,
        http,
        redis,
        auth,
        notifications,
        proxy,
        health,
        validation,
        catalog,
        middleware,
        compatibility,
    };
    Ok(LoadedConfig {
        config,
        warnings: std::mem::take(&mut ctx.warnings),
        unsupported: std::mem::take(&mut ctx.unsupported),
        letsencrypt,
    })
}
