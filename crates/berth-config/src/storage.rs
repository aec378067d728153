//! `storage:` — exactly one driver section, and the sections beside it
//! (`delete`, `redirect`, `cache`, `maintenance`, `tag`).

use std::time::Duration;

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

/// `storage.filesystem.rootdirectory`'s default.
pub const DEFAULT_ROOT_DIRECTORY: &str = "/var/lib/registry";
/// `storage.filesystem.maxthreads`'s default.
pub const DEFAULT_MAX_THREADS: u64 = 100;
/// The smallest `storage.filesystem.maxthreads`; smaller values are raised
/// to it, as Distribution does.
pub const MIN_MAX_THREADS: u64 = 25;
/// `storage.cache.blobdescriptorsize`'s default.
pub const DEFAULT_BLOB_DESCRIPTOR_SIZE: u64 = 10_000;
/// `storage.maintenance.uploadpurging.age`'s default: one week.
pub const DEFAULT_UPLOAD_PURGING_AGE: Duration = Duration::from_secs(168 * 3600);
/// `storage.maintenance.uploadpurging.interval`'s default: a day.
pub const DEFAULT_UPLOAD_PURGING_INTERVAL: Duration = Duration::from_secs(24 * 3600);

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
    /// `storage.filesystem`.
    Filesystem(Filesystem),
    /// `storage.inmemory`: no parameters; nothing survives a restart.
    InMemory,
    /// `storage.s3`.
    S3(Box<S3>),
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

/// `storage.filesystem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filesystem {
    /// `rootdirectory`: default `/var/lib/registry`.
    pub rootdirectory: String,
    /// `maxthreads`: the most blocking file operations at once. Default
    /// 100; values under 25 are raised to 25.
    pub maxthreads: u64,
}

impl Default for Filesystem {
    fn default() -> Filesystem {
        Filesystem {
            rootdirectory: DEFAULT_ROOT_DIRECTORY.to_owned(),
            maxthreads: DEFAULT_MAX_THREADS,
        }
    }
}

/// `storage.s3`: every parameter as written, `None` when not set. The S3
/// driver applies its own defaults and checks the values; this crate only
/// checks types (numbers and booleans may also be strings, as Distribution
/// allows) and that `bucket` is set.
/// [`to_mapping`](S3::to_mapping) gives the parameters back as the map the
/// driver's parameter type deserializes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct S3 {
    /// `region`: the AWS region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `regionendpoint`: an S3-compatible endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regionendpoint: Option<String>,
    /// `forcepathstyle`: path-style bucket addressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forcepathstyle: Option<bool>,
    /// `bucket`: required.
    pub bucket: String,
    /// `rootdirectory`: a key prefix inside the bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootdirectory: Option<String>,
    /// `accesskey`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accesskey: Option<String>,
    /// `secretkey`: masked by [`Configuration::masked`](crate::Configuration::masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secretkey: Option<String>,
    /// `sessiontoken`: masked too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessiontoken: Option<String>,
    /// `secure`: HTTPS to the endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure: Option<bool>,
    /// `skipverify`: skip TLS certificate verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipverify: Option<bool>,
    /// `v4auth`: sign with SigV4 (the only signing there is now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub v4auth: Option<bool>,
    /// `encrypt`: server-side encryption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<bool>,
    /// `keyid`: the KMS key for `encrypt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// `chunksize`: multipart part size, bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunksize: Option<u64>,
    /// `multipartcopychunksize`: bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipartcopychunksize: Option<u64>,
    /// `multipartcopymaxconcurrency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipartcopymaxconcurrency: Option<u64>,
    /// `multipartcopythresholdsize`: bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipartcopythresholdsize: Option<u64>,
    /// `storageclass`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storageclass: Option<String>,
    /// `objectacl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objectacl: Option<String>,
    /// `useragent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub useragent: Option<String>,
    /// `usedualstack`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usedualstack: Option<bool>,
    /// `accelerate`: S3 transfer acceleration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accelerate: Option<bool>,
    /// `loglevel`: the SDK's log level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loglevel: Option<String>,
    /// `checksumcalculation` (berth): `when_required` or `when_supported`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksumcalculation: Option<String>,
    /// `checksumvalidation` (berth): `when_required` or `when_supported`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksumvalidation: Option<String>,
    /// `connecttimeout` (berth): opening a connection to the store.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::duration::ser::option"
    )]
    pub connecttimeout: Option<Duration>,
    /// `readtimeout` (berth): a request's start to its answer's head.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::duration::ser::option"
    )]
    pub readtimeout: Option<Duration>,
    /// `operationtimeout` (berth): one S3 operation, retries included.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::duration::ser::option"
    )]
    pub operationtimeout: Option<Duration>,
}

impl S3 {
    /// The parameters that are set, as a YAML mapping keyed by
    /// Distribution's names — what the S3 driver's parameter type
    /// deserializes from.
    pub fn to_mapping(&self) -> Mapping {
        match serde_yaml::to_value(self) {
            Ok(Value::Mapping(m)) => m,
            // A struct of strings, numbers and booleans always serializes
            // to a mapping.
            _ => Mapping::new(),
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

/// `storage.maintenance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Maintenance {
    /// `uploadpurging`.
    pub uploadpurging: UploadPurging,
    /// `readonly`.
    pub readonly: ReadOnly,
}

/// `storage.maintenance.uploadpurging`: removing abandoned uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadPurging {
    /// `enabled`: default true.
    pub enabled: bool,
    /// `age`: uploads older than this are removed. Default 168h.
    #[serde(serialize_with = "crate::duration::ser::duration")]
    pub age: Duration,
    /// `interval`: how often to look. Default 24h.
    #[serde(serialize_with = "crate::duration::ser::duration")]
    pub interval: Duration,
    /// `dryrun`: only log what would be removed. Default false.
    pub dryrun: bool,
}

impl Default for UploadPurging {
    fn default() -> UploadPurging {
        UploadPurging {
            enabled: true,
            age: DEFAULT_UPLOAD_PURGING_AGE,
            interval: DEFAULT_UPLOAD_PURGING_INTERVAL,
            dryrun: false,
        }
    }
}

/// `storage.maintenance.readonly`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadOnly {
    /// `enabled`: refuse every write (pushes, deletes). Default false.
    pub enabled: bool,
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
            let mut fs_obj = obj.child(ctx, "filesystem")?;
            let mut fs = Filesystem::default();
            if let Some(root) = fs_obj.non_empty(ctx, "rootdirectory")? {
                fs.rootdirectory = root;
            }
            if let Some(n) = fs_obj.unsigned(ctx, "maxthreads")? {
                if n < MIN_MAX_THREADS {
                    ctx.warn(
                        &fs_obj.key_path("maxthreads"),
                        &format!(
                            "{n} is below the minimum of {MIN_MAX_THREADS}; using {MIN_MAX_THREADS}"
                        ),
                    );
                }
                fs.maxthreads = n.max(MIN_MAX_THREADS);
            }
            fs_obj.finish(ctx);
            StorageDriver::Filesystem(fs)
        }
        "inmemory" => {
            let mem = obj.child(ctx, "inmemory")?;
            mem.finish(ctx);
            StorageDriver::InMemory
        }
        "s3" => {
            let s3_obj = obj.child(ctx, "s3")?;
            StorageDriver::S3(Box::new(decode_s3(ctx, s3_obj)?))
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
    let maintenance = decode_maintenance(ctx, obj.child(ctx, "maintenance")?)?;

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

fn decode_s3(ctx: &mut Ctx<'_>, mut o: Obj<'_>) -> Result<S3, ConfigError> {
    let bucket = o
        .non_empty(ctx, "bucket")?
        .ok_or_else(|| ctx.missing(&o.key_path("bucket"), "the name of the S3 bucket"))?;
    let s3 = S3 {
        region: o.non_empty(ctx, "region")?,
        regionendpoint: o.non_empty(ctx, "regionendpoint")?,
        forcepathstyle: o.boolean(ctx, "forcepathstyle")?,
        bucket,
        rootdirectory: o.non_empty(ctx, "rootdirectory")?,
        accesskey: o.non_empty(ctx, "accesskey")?,
        secretkey: o.non_empty(ctx, "secretkey")?,
        sessiontoken: o.non_empty(ctx, "sessiontoken")?,
        secure: o.boolean(ctx, "secure")?,
        skipverify: o.boolean(ctx, "skipverify")?,
        v4auth: o.boolean(ctx, "v4auth")?,
        encrypt: o.boolean(ctx, "encrypt")?,
        keyid: o.non_empty(ctx, "keyid")?,
        chunksize: o.unsigned(ctx, "chunksize")?,
        multipartcopychunksize: o.unsigned(ctx, "multipartcopychunksize")?,
        multipartcopymaxconcurrency: o.unsigned(ctx, "multipartcopymaxconcurrency")?,
        multipartcopythresholdsize: o.unsigned(ctx, "multipartcopythresholdsize")?,
        storageclass: o.non_empty(ctx, "storageclass")?,
        objectacl: o.non_empty(ctx, "objectacl")?,
        useragent: o.non_empty(ctx, "useragent")?,
        usedualstack: o.boolean(ctx, "usedualstack")?,
        accelerate: o.boolean(ctx, "accelerate")?,
        loglevel: o.non_empty(ctx, "loglevel")?,
        checksumcalculation: o.non_empty(ctx, "checksumcalculation")?,
        checksumvalidation: o.non_empty(ctx, "checksumvalidation")?,
        connecttimeout: o.duration(ctx, "connecttimeout")?,
        readtimeout: o.duration(ctx, "readtimeout")?,
        operationtimeout: o.duration(ctx, "operationtimeout")?,
    };
    o.finish(ctx);
    Ok(s3)
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

fn decode_maintenance(ctx: &mut Ctx<'_>, mut o: Obj<'_>) -> Result<Maintenance, ConfigError> {
    let mut m = Maintenance::default();
    let mut purge = o.child(ctx, "uploadpurging")?;
    if let Some(enabled) = purge.boolean(ctx, "enabled")? {
        m.uploadpurging.enabled = enabled;
    }
    if let Some(age) = purge.duration(ctx, "age")? {
        m.uploadpurging.age = age;
    }
    if let Some(interval) = purge.duration(ctx, "interval")? {
        m.uploadpurging.interval = interval;
    }
    m.uploadpurging.dryrun = purge.flag(ctx, "dryrun")?;
    purge.finish(ctx);
    let mut readonly = o.child(ctx, "readonly")?;
    m.readonly.enabled = readonly.flag(ctx, "enabled")?;
    readonly.finish(ctx);
    o.finish(ctx);
    Ok(m)
}
