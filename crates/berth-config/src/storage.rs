//! `storage:` — exactly one driver section, and the sections beside it
//! (`delete`, `redirect`, `cache`, `maintenance`, `tag`).

use berth_driver_s3::S3Parameters;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_yaml::{Mapping, Value};

use crate::decode::{Ctx, Obj, describe};
use crate::error::ConfigError;

/// The keys under `storage:` that are not a driver.
pub const STORAGE_SUBSECTIONS: &[&str] = &["maintenance", "cache", "delete", "redirect", "tag"];

/// The storage drivers berth has.
pub const STORAGE_DRIVERS: &[&str] = &["filesystem", "inmemory", "s3"];

/// Distribution's other storage drivers: known, not supported yet.
pub const OTHER_DISTRIBUTION_DRIVERS: &[&str] = &["azure", "gcs", "oss", "swift"];

pub use berth_driver::{
    DEFAULT_MAX_THREADS, DEFAULT_ROOT_DIRECTORY, FilesystemParameters as Filesystem,
    MIN_MAX_THREADS,
};
/// `storage.cache.blobdescriptorsize`'s default.
pub const DEFAULT_BLOB_DESCRIPTOR_SIZE: u64 = 10_000;
pub use berth_storage::settings::{
    DEFAULT_UPLOAD_PURGING_AGE, DEFAULT_UPLOAD_PURGING_INTERVAL, Maintenance, ReadOnly,
    UploadPurging,
};

/// `storage:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    /// The one driver section.
    pub driver: StorageDriver,
    /// `storage.delete`.
    pub delete: Delete,
    /// `storage.redirect`.
    pub redirect: Redirect,
    /// `storage.cache`.
    pub cache: Cache,
    /// `storage.maintenance`.
    pub maintenance: Maintenance,
    /// `storage.tag`.
    pub tag: Tag,
}

impl Serialize for Storage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        match &self.driver {
            StorageDriver::Filesystem(fs) => map.serialize_entry("filesystem", fs)?,
            StorageDriver::InMemory => map.serialize_entry("inmemory", &Mapping::new())?,
            StorageDriver::S3(s3) => map.serialize_entry("s3", s3)?,
        }
        map.serialize_entry("delete", &self.delete)?;
        map.serialize_entry("redirect", &self.redirect)?;
        map.serialize_entry("cache", &self.cache)?;
        map.serialize_entry("maintenance", &self.maintenance)?;
        if self.tag.concurrencylimit.is_some() {
            map.serialize_entry("tag", &self.tag)?;
        }
        map.end()
    }
}

/// The storage driver and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageDriver {
    /// `storage.filesystem`: the filesystem driver's own parameters.
    Filesystem(Filesystem),
    /// `storage.inmemory`: no parameters; nothing survives a restart.
    InMemory,
    /// `storage.s3`: the S3 driver's own parameter type, read by its own
    /// deserializer (Distribution's keys, case-insensitive; numbers and
    /// booleans may be strings, as environment overrides give them).
    S3(Box<S3Parameters>),
}

impl StorageDriver {
    /// The driver's key: `filesystem`, `inmemory` or `s3`.
    pub fn name(&self) -> &'static str {
        match self {
            StorageDriver::Filesystem(_) => "filesystem",
            StorageDriver::InMemory => "inmemory",
            StorageDriver::S3(_) => "s3",
        }
    }
}

/// `storage.delete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delete {
    /// `enabled`: allow deleting blobs and manifests. Default false.
    pub enabled: bool,
}

/// `storage.redirect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Redirect {
    /// `disable`: serve blob bytes rather than redirecting to the
    /// driver's URL. Default false.
    pub disable: bool,
}

/// `storage.cache`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    /// `blobdescriptor` (or the old `layerinfo`): none when not set.
    pub blobdescriptor: BlobDescriptorCache,
    /// `blobdescriptorsize`: entries of the in-memory cache. Default
    /// 10000.
    pub blobdescriptorsize: u64,
}

impl Default for Cache {
    fn default() -> Cache {
        Cache {
            blobdescriptor: BlobDescriptorCache::None,
            blobdescriptorsize: DEFAULT_BLOB_DESCRIPTOR_SIZE,
        }
    }
}

/// `storage.cache.blobdescriptor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobDescriptorCache {
    /// Not set (or `none`, or a value Distribution does not know, which
    /// it warns about and ignores): no cache.
    None,
    /// `inmemory`: a bounded in-process cache.
    InMemory,
    /// `redis`: Redis, configured under `redis:`.
    Redis,
}

/// `storage.tag`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tag {
    /// `concurrencylimit`: the most tag look-ups at once when one
    /// request needs many. Not set: the server's own choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrencylimit: Option<u64>,
}

pub(crate) fn decode(ctx: &mut Ctx<'_>, mut obj: Obj<'_>) -> Result<Storage, ConfigError> {
    let drivers: Vec<String> = obj
        .keys()
        .into_iter()
        .filter(|k| !STORAGE_SUBSECTIONS.contains(&k.as_str()))
        .collect();
    let name = match drivers.as_slice() {
        [] => return Err(ConfigError::NoStorageDriver),
        [one] => one.clone(),
        _ => return Err(ConfigError::MultipleStorageDrivers { drivers }),
    };
    let path = obj.key_path(&name);
    let driver = match name.as_str() {
        "filesystem" => {
            let fs_obj = obj.child(ctx, "filesystem")?;
            StorageDriver::Filesystem(Filesystem::read(ctx, fs_obj)?)
        }
        "inmemory" => {
            let mem = obj.child(ctx, "inmemory")?;
            mem.finish(ctx);
            StorageDriver::InMemory
        }
        "s3" => {
            let path = obj.key_path("s3");
            let value = obj.take_raw("s3").unwrap_or(&Value::Null);
            StorageDriver::S3(Box::new(decode_s3(ctx, &path, value)?))
        }
        other => {
            return Err(ConfigError::UnsupportedStorageDriver {
                at: ctx.at(&path),
                name: other.to_owned(),
                known: OTHER_DISTRIBUTION_DRIVERS.contains(&other),
            });
        }
    };

    let mut delete = obj.child(ctx, "delete")?;
    let delete_enabled = delete.flag(ctx, "enabled")?;
    delete.finish(ctx);

    let mut redirect = obj.child(ctx, "redirect")?;
    let redirect_disable = redirect.flag(ctx, "disable")?;
    redirect.finish(ctx);

    let cache = decode_cache(ctx, obj.child(ctx, "cache")?)?;
    let maintenance = Maintenance::read(ctx, obj.child(ctx, "maintenance")?)?;

    let mut tag_obj = obj.child(ctx, "tag")?;
    let concurrencylimit = match tag_obj.take("concurrencylimit") {
        Some((p, v)) => match ctx.unsigned(&p, v)? {
            0 => return Err(ctx.invalid(&p, v, "a positive integer")),
            n => Some(n),
        },
        None => None,
    };
    tag_obj.finish(ctx);

    obj.finish(ctx);
    Ok(Storage {
        driver,
        delete: Delete {
            enabled: delete_enabled,
        },
        redirect: Redirect {
            disable: redirect_disable,
        },
        cache,
        maintenance,
        tag: Tag { concurrencylimit },
    })
}

/// `storage.s3`, read by the driver's parameter type; its errors and
/// unknown keys are reported under their key paths.
fn decode_s3(ctx: &mut Ctx<'_>, path: &str, value: &Value) -> Result<S3Parameters, ConfigError> {
    for name in berth_driver_s3::PARAMETERS {
        berth_settings::keys::record(path, name);
    }
    let mut params = match S3Parameters::read(value) {
        Ok(Ok(params)) => params,
        Ok(Err(e)) => {
            let key = format!("{path}.{}", e.parameter);
            // Reading says what a parameter should hold; with no value,
            // the parameter is a required one that is not given.
            let expected = e.expected.unwrap_or(e.message);
            return Err(match e.value {
                Some(value) => ConfigError::from(berth_settings::SettingError::Invalid {
                    at: ctx.at(&key),
                    value,
                    expected,
                }),
                None => ctx.missing(&key, &expected),
            });
        }
        Err(_) => return Err(ctx.invalid(path, value, "a mapping of S3 parameters")),
    };
    // Reported here, with the other unknown keys, and not again by the
    // driver.
    for key in std::mem::take(&mut params.unknown) {
        ctx.warn_unknown(&format!("{path}.{key}"));
    }
    Ok(params)
}

fn decode_cache(ctx: &mut Ctx<'_>, mut o: Obj<'_>) -> Result<Cache, ConfigError> {
    let mut cache = Cache::default();
    // Distribution reads `layerinfo` when `blobdescriptor` is not set.
    let legacy = o.take("layerinfo");
    if let Some((path, value)) = o.take("blobdescriptor").or(legacy) {
        let text = ctx.string(&path, value)?;
        cache.blobdescriptor = match text.as_str() {
            "inmemory" => BlobDescriptorCache::InMemory,
            "redis" => BlobDescriptorCache::Redis,
            "" | "none" => BlobDescriptorCache::None,
            _ => {
                ctx.warn(
                    &path,
                    &format!(
                        "unknown cache type {}, caching disabled (expected inmemory or redis)",
                        describe(value)
                    ),
                );
                BlobDescriptorCache::None
            }
        };
    }
    if let Some((path, value)) = o.take("blobdescriptorsize") {
        cache.blobdescriptorsize = match ctx.unsigned(&path, value)? {
            0 => return Err(ctx.invalid(&path, value, "a positive integer")),
            n => n,
        };
    }
    o.finish(ctx);
    Ok(cache)
}
