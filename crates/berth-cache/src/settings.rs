//! The `redis:` section of a Distribution-style configuration: this
//! crate's settings, read with berth-settings, and the [`RedisOptions`]
//! they give.

use std::time::Duration;

use berth_settings::{Reader, Section, SettingError};
use serde::Serialize;

use crate::{CacheError, RedisOptions};

/// Distribution 3's Redis keys (go-redis options) berth reads but does
/// not use yet.
const UNSUPPORTED_REDIS_KEYS: &[(&str, &str)] = &[
    ("mastername", "Redis Sentinel"),
    ("sentinelusername", "Redis Sentinel"),
    ("sentinelpassword", "Redis Sentinel"),
    ("routebylatency", "Redis Cluster routing"),
    ("routerandomly", "Redis Cluster routing"),
    ("readonly", "Redis Cluster read-only replicas"),
    ("maxredirects", "Redis Cluster redirects"),
    ("clientname", "redis.clientname"),
    ("protocol", "redis.protocol"),
    ("maxretries", "redis.maxretries"),
    ("minretrybackoff", "redis.minretrybackoff"),
    ("maxretrybackoff", "redis.maxretrybackoff"),
    ("contexttimeoutenabled", "redis.contexttimeoutenabled"),
    ("poolfifo", "redis.poolfifo"),
    ("pooltimeout", "redis.pooltimeout"),
    ("minidleconns", "redis.minidleconns"),
    ("connmaxlifetime", "redis.connmaxlifetime"),
    ("disableindentity", "redis.disableindentity"),
    ("identitysuffix", "redis.identitysuffix"),
    ("unstableresp3", "redis.unstableresp3"),
];

/// `redis:`. Present (`Some` in [`Configuration`](crate::Configuration))
/// only when an address is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Redis {
    /// The servers, `host:port`: Distribution 2.8's `addr` (one) and
    /// Distribution 3's `addrs` (a list), `addr` first. Written back as
    /// `addrs`.
    pub addrs: Vec<String>,
    /// `username` (Distribution 3; Redis 6 ACLs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `password`: masked by [`Configuration::masked`](crate::Configuration::masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `db`: the database number. Default 0.
    pub db: u64,
    /// `dialtimeout`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub dialtimeout: Option<Duration>,
    /// `readtimeout`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub readtimeout: Option<Duration>,
    /// `writetimeout`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub writetimeout: Option<Duration>,
    /// `pool` (Distribution 2.8).
    pub pool: RedisPool,
    /// `poolsize` (Distribution 3): connections in the pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poolsize: Option<u64>,
    /// `maxidleconns` (Distribution 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxidleconns: Option<u64>,
    /// `maxactiveconns` (Distribution 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxactiveconns: Option<u64>,
    /// `connmaxidletime` (Distribution 3).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub connmaxidletime: Option<Duration>,
    /// `tls`.
    pub tls: RedisTls,
}

/// `redis.pool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedisPool {
    /// `maxidle`: idle connections kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxidle: Option<u64>,
    /// `maxactive`: connections at most (0: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maxactive: Option<u64>,
    /// `idletimeout`: close connections idle this long.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "berth_settings::ser::option"
    )]
    pub idletimeout: Option<Duration>,
}

/// `redis.tls`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RedisTls {
    /// `enabled` (Distribution 2.8): TLS to Redis. Also true when a
    /// `certificate` or `clientcas` is set (Distribution 3).
    pub enabled: bool,
    /// `certificate` (Distribution 3): client certificate file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// `key` (Distribution 3): client key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `clientcas` (Distribution 3): CA files for the server's certificate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clientcas: Vec<String>,
}

impl Redis {
    /// Reads the `redis:` section; `None` when no address is set (as
    /// Distribution, which then does not use Redis).
    pub fn read(ctx: &mut Reader<'_>, mut o: Section<'_>) -> Result<Option<Redis>, SettingError> {
        if o.is_empty() {
            o.finish(ctx);
            return Ok(None);
        }
        let mut redis = Redis::default();
        if let Some(addr) = o.non_empty(ctx, "addr")? {
            redis.addrs.push(addr);
        }
        for addr in o.strings(ctx, "addrs")? {
            if !addr.is_empty() && !redis.addrs.contains(&addr) {
                redis.addrs.push(addr);
            }
        }
        redis.username = o.non_empty(ctx, "username")?;
        redis.password = o.non_empty(ctx, "password")?;
        redis.db = o.unsigned(ctx, "db")?.unwrap_or(0);
        redis.dialtimeout = o.duration(ctx, "dialtimeout")?;
        redis.readtimeout = o.duration(ctx, "readtimeout")?;
        redis.writetimeout = o.duration(ctx, "writetimeout")?;
        let mut pool = o.child(ctx, "pool")?;
        redis.pool.maxidle = pool.unsigned(ctx, "maxidle")?;
        redis.pool.maxactive = pool.unsigned(ctx, "maxactive")?;
        redis.pool.idletimeout = pool.duration(ctx, "idletimeout")?;
        pool.finish(ctx);
        redis.poolsize = o.unsigned(ctx, "poolsize")?;
        redis.maxidleconns = o.unsigned(ctx, "maxidleconns")?;
        redis.maxactiveconns = o.unsigned(ctx, "maxactiveconns")?;
        redis.connmaxidletime = o.duration(ctx, "connmaxidletime")?;
        let mut tls = o.child(ctx, "tls")?;
        redis.tls.enabled = tls.flag(ctx, "enabled")?;
        redis.tls.certificate = tls.non_empty(ctx, "certificate")?;
        redis.tls.key = tls.non_empty(ctx, "key")?;
        redis.tls.clientcas = tls.strings(ctx, "clientcas")?;
        if redis.tls.certificate.is_some() != redis.tls.key.is_some() {
            let (missing, expected) = if redis.tls.certificate.is_some() {
                ("key", "the private key file for redis.tls.certificate")
            } else {
                ("certificate", "the certificate file for redis.tls.key")
            };
            return Err(ctx.missing(&tls.key_path(missing), expected));
        }
        if redis.tls.certificate.is_some() || !redis.tls.clientcas.is_empty() {
            redis.tls.enabled = true;
        }
        tls.finish(ctx);
        for (key, what) in UNSUPPORTED_REDIS_KEYS {
            o.unsupported(ctx, key, what);
        }
        let path = o.path.clone();
        o.finish(ctx);
        if redis.addrs.is_empty() {
            ctx.warn(&path, "no addr set; Redis is not used");
            return Ok(None);
        }
        Ok(Some(redis))
    }

    /// The options of a Redis descriptor cache on the first address, with
    /// the credentials, database and timeouts set here.
    pub fn options(&self) -> Result<RedisOptions, CacheError> {
        let addr = self.addrs.first().ok_or(CacheError::InvalidOption {
            option: "redis.addr",
            reason: "required for the redis descriptor cache".to_owned(),
        })?;
        let db = i64::try_from(self.db).map_err(|_| CacheError::InvalidOption {
            option: "redis.db",
            reason: format!("{} is too large", self.db),
        })?;
        let mut options = RedisOptions::addr(addr).db(db);
        if let Some(password) = &self.password {
            options = options.password(password);
        }
        if let Some(username) = &self.username {
            options = options.username(username);
        }
        if let Some(t) = self.dialtimeout {
            options = options.dial_timeout(t);
        }
        if let Some(t) = self.readtimeout {
            options = options.read_timeout(t);
        }
        if let Some(t) = self.writetimeout {
            options = options.write_timeout(t);
        }
        Ok(options)
    }
}
