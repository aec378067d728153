//! The Redis provider, sharing its key layout with Distribution's.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_core::{BlobDescriptorService, BlobStatter, Error, Result};
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_reference::RepositoryName;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionAddr, IntoConnectionInfo, Pipeline, Value};

use crate::descriptor::{answer, check, unknown};
use crate::{BlobDescriptorCacheProvider, CacheError};

/// Where the Redis server is.
#[derive(Clone)]
enum Target {
    Url(String),
    Addr(String),
}

/// How to reach Redis and how long to wait for it.
///
/// Start from a URL ([`RedisOptions::url`]) or from Distribution's
/// `addr` / `password` / `db` settings ([`RedisOptions::addr`]); the other
/// settings have short defaults so that a dead Redis costs a bounded time.
///
/// ```
/// use std::time::Duration;
/// use berth_cache::RedisOptions;
///
/// let options = RedisOptions::addr("redis.internal:6379")
///     .password("s3cret")
///     .db(2)
///     .read_timeout(Duration::from_millis(500));
/// assert!(!format!("{options:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct RedisOptions {
    target: Target,
    username: Option<String>,
    password: Option<String>,
    db: Option<i64>,
    dial_timeout: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    reconnect_retries: usize,
    key_prefix: String,
}

impl RedisOptions {
    /// Default time to establish a connection (Distribution's `dialtimeout`).
    pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default time to wait for an answer (`readtimeout`).
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default time to send a command (`writetimeout`).
    pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

    fn new(target: Target) -> RedisOptions {
        RedisOptions {
            target,
            username: None,
            password: None,
            db: None,
            dial_timeout: RedisOptions::DEFAULT_DIAL_TIMEOUT,
            read_timeout: RedisOptions::DEFAULT_READ_TIMEOUT,
            write_timeout: RedisOptions::DEFAULT_WRITE_TIMEOUT,
            reconnect_retries: 0,
            key_prefix: String::new(),
        }
    }

    /// Options for a Redis URL:
    /// `redis://[[user]:password@]host[:port][/db]` or
    /// `redis+unix:///path/to/socket[?db=N]`. Credentials and database set
    /// with the methods below override the URL's.
    pub fn url(url: impl Into<String>) -> RedisOptions {
        RedisOptions::new(Target::Url(url.into()))
    }

    /// Options for a `host:port` address (Distribution's `redis.addr`;
    /// IPv6 hosts in brackets, `[::1]:6379`).
    pub fn addr(addr: impl Into<String>) -> RedisOptions {
        RedisOptions::new(Target::Addr(addr.into()))
    }

    /// The user to authenticate as (Redis 6 ACLs).
    pub fn username(mut self, username: impl Into<String>) -> RedisOptions {
        self.username = Some(username.into());
        self
    }

    /// The password to authenticate with (`redis.password`).
    pub fn password(mut self, password: impl Into<String>) -> RedisOptions {
        self.password = Some(password.into());
        self
    }

    /// The database number (`redis.db`).
    pub fn db(mut self, db: i64) -> RedisOptions {
        self.db = Some(db);
        self
    }

    /// How long a connection attempt may take (`redis.dialtimeout`).
    pub fn dial_timeout(mut self, timeout: Duration) -> RedisOptions {
        self.dial_timeout = timeout;
        self
    }

    /// How long to wait for an answer (`redis.readtimeout`).
    pub fn read_timeout(mut self, timeout: Duration) -> RedisOptions {
        self.read_timeout = timeout;
        self
    }

    /// How long sending a command may take (`redis.writetimeout`). The
    /// multiplexed connection has no separate send deadline: this time is
    /// part of each call's overall deadline (see
    /// [`RedisBlobDescriptorCache`]).
    pub fn write_timeout(mut self, timeout: Duration) -> RedisOptions {
        self.write_timeout = timeout;
        self
    }

    /// How many times a lost connection is re-dialled, with a short
    /// back-off, before calls fail (default 0: calls fail at once and the
    /// next call dials again).
    pub fn reconnect_retries(mut self, retries: usize) -> RedisOptions {
        self.reconnect_retries = retries;
        self
    }

    /// A prefix for every key (default none, which is the layout
    /// Distribution uses; with a prefix, Distribution will not see the
    /// entries).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> RedisOptions {
        self.key_prefix = prefix.into();
        self
    }

    fn target_for_humans(&self) -> String {
        match &self.target {
            Target::Url(url) => redact(url),
            Target::Addr(addr) => addr.clone(),
        }
    }

    fn connection_info(&self) -> Result<redis::ConnectionInfo, CacheError> {
        let info = match &self.target {
            Target::Url(url) => {
                url.as_str()
                    .into_connection_info()
                    .map_err(|e| CacheError::InvalidUrl {
                        url: redact(url),
                        reason: e.to_string(),
                    })?
            }
            Target::Addr(addr) => {
                let (host, port) = split_addr(addr)?;
                ConnectionAddr::Tcp(host, port)
                    .into_connection_info()
                    .map_err(|e| CacheError::InvalidAddress {
                        addr: addr.clone(),
                        reason: e.to_string(),
                    })?
            }
        };
        let mut settings = info.redis_settings().clone();
        if let Some(username) = &self.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        if let Some(db) = self.db {
            if db < 0 {
                return Err(CacheError::InvalidOption {
                    option: "db",
                    reason: format!("{db} is negative"),
                });
            }
            settings = settings.set_db(db);
        }
        Ok(info.set_redis_settings(settings))
    }

    fn check_timeouts(&self) -> Result<(), CacheError> {
        for (option, value) in [
            ("dialtimeout", self.dial_timeout),
            ("readtimeout", self.read_timeout),
            ("writetimeout", self.write_timeout),
        ] {
            if value.is_zero() {
                return Err(CacheError::InvalidOption {
                    option,
                    reason: "must be more than zero".to_owned(),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("target", &self.target_for_humans())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .field("dial_timeout", &self.dial_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// `host:port` → its parts; IPv6 hosts come in brackets.
fn split_addr(addr: &str) -> Result<(String, u16), CacheError> {
    let bad = |reason: &str| CacheError::InvalidAddress {
        addr: addr.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| bad("expected host:port"))?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| bad("unclosed '[' around an IPv6 host"))?,
        None if host.contains(':') => return Err(bad("an IPv6 host must be in brackets")),
        None => host,
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?;
    Ok((host.to_owned(), port))
}

/// The URL with the password replaced by `***`, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// A blob-descriptor cache in Redis, shared by every berth node (and by
/// Distribution registries) that uses the same Redis database.
///
/// # Keys
///
/// | key | type | content |
/// |---|---|---|
/// | `blobs::<digest>` | hash | `digest`, `size`, `mediatype`: the global descriptor |
/// | `repository::<repo>::blobs` | set | the digests the repository has |
/// | `repository::<repo>::blobs::<digest>` | hash | `mediatype`: the repository's media type for the blob |
///
/// These are Distribution's keys and fields, so both can share one Redis.
/// A global [`set_descriptor`](BlobDescriptorService::set_descriptor)
/// overwrites all three fields; a repository-scoped one adds the digest to
/// the set, writes `digest` and `size` and only fills in a missing global
/// `mediatype` (as Distribution does), and records the repository's
/// media type. Entries never expire; memory is bounded by Redis's
/// `maxmemory` policy.
///
/// # Round trips and time
///
/// Every method is one round trip (a pipeline, wrapped in `MULTI`/`EXEC`
/// when it writes several keys). Each call is bounded by the dial, read and
/// write timeouts together, however the connection behaves; a failure
/// caused by a lost connection is retried once within that bound. The one
/// connection is multiplexed and re-dialled on demand after a failure.
///
/// # Errors
///
/// A miss (unknown digest, not a member, missing fields as Distribution's
/// pre-`size` entries have) is [`Error::BlobUnknown`]. A Redis that cannot
/// be reached or does not answer in time is [`Error::Unavailable`]
/// (service `redis`); an entry that is not a valid descriptor (bad digest,
/// negative or non-numeric size, a key of another type) is
/// [`Error::Backend`]. Wrap the cache in a
/// [`CachedBlobStatter`](crate::CachedBlobStatter) to turn both into misses.
///
/// Cloning is cheap and clones share the connection.
#[derive(Clone)]
pub struct RedisBlobDescriptorCache {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    prefix: String,
    deadline: Duration,
    target: String,
}

impl RedisBlobDescriptorCache {
    /// A cache on the Redis these options name.
    ///
    /// No connection is made yet (the first call dials), so a Redis that
    /// is down at start-up is not an error: calls fail until it is up.
    /// Must be called inside a Tokio runtime.
    ///
    /// Errors: [`CacheError::InvalidUrl`], [`CacheError::InvalidAddress`],
    /// [`CacheError::InvalidOption`], [`CacheError::NoRuntime`].
    pub fn new(options: RedisOptions) -> Result<RedisBlobDescriptorCache, CacheError> {
        options.check_timeouts()?;
        let info = options.connection_info()?;
        let target = options.target_for_humans();
        if !info.addr().is_supported() {
            return Err(CacheError::InvalidUrl {
                url: target,
                reason: "TLS (rediss://) is not supported by this build".to_owned(),
            });
        }
        let client = Client::open(info).map_err(|e| CacheError::InvalidUrl {
            url: target.clone(),
            reason: e.to_string(),
        })?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(CacheError::NoRuntime);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.dial_timeout))
            .set_response_timeout(Some(options.read_timeout))
            .set_number_of_retries(options.reconnect_retries)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(options.dial_timeout);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(RedisBlobDescriptorCache {
            inner: Arc::new(Inner {
                connection,
                prefix: options.key_prefix,
                deadline: options.dial_timeout + options.write_timeout + options.read_timeout,
                target,
            }),
        })
    }

    /// Checks that Redis answers (`PING`), within the call deadline.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut pipe = Pipeline::new();
        pipe.cmd("PING");
        self.query(&pipe).await.map(|_| ())
    }

    /// The key of a global descriptor.
    fn blob_key(&self, digest: &Digest) -> String {
        format!("{}blobs::{digest}", self.inner.prefix)
    }

    /// The key of a repository's set of digests.
    fn repository_set_key(&self, repo: &RepositoryName) -> String {
        format!("{}repository::{repo}::blobs", self.inner.prefix)
    }

    /// The key of a repository's hash for one blob.
    fn repository_blob_key(&self, repo: &RepositoryName, digest: &Digest) -> String {
        format!("{}repository::{repo}::blobs::{digest}", self.inner.prefix)
    }

    /// Sends a pipeline, within the deadline, retrying once after a lost
    /// connection.
    async fn query(&self, pipe: &Pipeline) -> Result<Vec<Value>, CacheError> {
        let attempt = async {
            let mut connection = self.inner.connection.clone();
            match pipe.query_async::<Vec<Value>>(&mut connection).await {
                Err(e) if is_lost_connection(&e) => pipe.query_async(&mut connection).await,
                result => result,
            }
        };
        match tokio::time::timeout(self.inner.deadline, attempt).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CacheError::Timeout {
                after: self.inner.deadline,
            }),
        }
    }

    /// [`query`](Self::query), with its failures as registry errors.
    async fn run(&self, pipe: &Pipeline) -> Result<Vec<Value>> {
        self.query(pipe).await.map_err(to_core)
    }

    /// Adds the commands that write a global descriptor under `key_digest`.
    fn push_global(&self, pipe: &mut Pipeline, key_digest: &Digest, descriptor: &Descriptor) {
        pipe.cmd("HSET")
            .arg(self.blob_key(key_digest))
            .arg("digest")
            .arg(descriptor.digest.as_str())
            .arg("size")
            .arg(descriptor.size)
            .arg("mediatype")
            .arg(descriptor.media_type.as_str())
            .ignore();
    }

    /// Adds the commands that record `key_digest` in `repo`.
    fn push_scoped(
        &self,
        pipe: &mut Pipeline,
        repo: &RepositoryName,
        key_digest: &Digest,
        descriptor: &Descriptor,
    ) {
        let blob_key = self.blob_key(key_digest);
        pipe.cmd("SADD")
            .arg(self.repository_set_key(repo))
            .arg(key_digest.as_str())
            .ignore();
        pipe.cmd("HSET")
            .arg(&blob_key)
            .arg("digest")
            .arg(descriptor.digest.as_str())
            .arg("size")
            .arg(descriptor.size)
            .ignore();
        pipe.cmd("HSETNX")
            .arg(&blob_key)
            .arg("mediatype")
            .arg(descriptor.media_type.as_str())
            .ignore();
        pipe.cmd("HSET")
            .arg(self.repository_blob_key(repo, key_digest))
            .arg("mediatype")
            .arg(descriptor.media_type.as_str())
            .ignore();
    }

    /// Adds `HMGET blobs::<digest> digest size mediatype`.
    fn push_read_global(&self, pipe: &mut Pipeline, digest: &Digest) {
        pipe.cmd("HMGET")
            .arg(self.blob_key(digest))
            .arg("digest")
            .arg("size")
            .arg("mediatype");
    }
}

impl fmt::Debug for RedisBlobDescriptorCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBlobDescriptorCache")
            .field("target", &self.inner.target)
            .field("key_prefix", &self.inner.prefix)
            .field("deadline", &self.inner.deadline)
            .finish_non_exhaustive()
    }
}

/// Whether a failure means the connection was lost (and a retry on a new
/// one may succeed at once), rather than a slow or refusing server.
fn is_lost_connection(e: &redis::RedisError) -> bool {
    (e.is_unrecoverable_error() || e.is_connection_dropped()) && !e.is_timeout()
}

/// A Redis failure as a registry error: a corrupt entry is a backend
/// failure, anything else means Redis is unavailable.
fn to_core(e: CacheError) -> Error {
    match e {
        CacheError::Corrupt { .. } => Error::backend("redis cache", e),
        CacheError::Redis(e) if is_wrong_type(&e) => Error::backend(
            "redis cache",
            CacheError::Corrupt {
                key: "(one of the blob's keys)".to_owned(),
                reason: e.to_string(),
            },
        ),
        e => Error::unavailable("redis", e),
    }
}

/// Whether Redis refused a command because a key holds another type
/// (a string where a hash or set was expected): a corrupt entry, not an
/// unavailable Redis.
fn is_wrong_type(e: &redis::RedisError) -> bool {
    e.clone()
        .into_server_errors()
        .is_some_and(|errors| errors.iter().any(|(_, e)| e.code() == "WRONGTYPE"))
}

/// A reply item as text: `None` for nil; an error for anything else
/// that is not a string.
fn text<'a>(key: &str, field: &str, value: &'a Value) -> Result<Option<&'a str>, CacheError> {
    let corrupt = |reason: String| CacheError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| corrupt(format!("field {field} is not UTF-8"))),
        Value::SimpleString(s) => Ok(Some(s)),
        other => Err(corrupt(format!("field {field} is {other:?}"))),
    }
}

/// Reads an `HMGET digest size mediatype` reply: `None` for a miss
/// (a missing field, as in entries older than Distribution's `size`
/// field); an error for an entry that is not a valid descriptor.
fn parse_global(key: &str, reply: &Value) -> Result<Option<(Digest, i64, String)>, CacheError> {
    let corrupt = |reason: String| CacheError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let Value::Array(fields) = reply else {
        return Err(corrupt(format!("unexpected reply {reply:?}")));
    };
    let [digest, size, media_type] = fields.as_slice() else {
        return Err(corrupt(format!("{} fields in the reply", fields.len())));
    };
    let (Some(digest), Some(size), Some(media_type)) = (
        text(key, "digest", digest)?,
        text(key, "size", size)?,
        text(key, "mediatype", media_type)?,
    ) else {
        return Ok(None);
    };
    if media_type.is_empty() {
        return Ok(None);
    }
    let digest = Digest::parse(digest).map_err(|e| corrupt(format!("digest: {e}")))?;
    let size = size
        .parse::<i64>()
        .ok()
        .filter(|s| *s >= 0)
        .ok_or_else(|| corrupt(format!("size {size:?} is not a non-negative integer")))?;
    Ok(Some((digest, size, media_type.to_owned())))
}

/// Reads a `SISMEMBER` reply.
fn parse_member(key: &str, reply: &Value) -> Result<bool, CacheError> {
    match reply {
        Value::Int(n) => Ok(*n != 0),
        Value::Boolean(b) => Ok(*b),
        other => Err(CacheError::Corrupt {
            key: key.to_owned(),
            reason: format!("unexpected SISMEMBER reply {other:?}"),
        }),
    }
}

#[async_trait]
impl BlobStatter for RedisBlobDescriptorCache {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let mut pipe = Pipeline::new();
        self.push_read_global(&mut pipe, digest);
        let reply = self.run(&pipe).await?;
        let key = self.blob_key(digest);
        let found = match reply.first() {
            Some(value) => parse_global(&key, value),
            None => Err(CacheError::Corrupt {
                key,
                reason: "empty reply".to_owned(),
            }),
        };
        match found.map_err(to_core)? {
            Some((digest, size, media_type)) => Ok(answer(digest, size, &media_type)),
            None => Err(unknown(digest)),
        }
    }
}

#[async_trait]
impl BlobDescriptorService for RedisBlobDescriptorCache {
    async fn set_descriptor(&self, digest: &Digest, descriptor: &Descriptor) -> Result<()> {
        let alias = check(digest, descriptor)?;
        let mut pipe = Pipeline::new();
        if alias {
            pipe.atomic();
            self.push_global(&mut pipe, &descriptor.digest, descriptor);
        }
        self.push_global(&mut pipe, digest, descriptor);
        self.run(&pipe).await.map(|_| ())
    }

    async fn clear(&self, digest: &Digest) -> Result<()> {
        let mut pipe = Pipeline::new();
        pipe.cmd("DEL").arg(self.blob_key(digest)).ignore();
        self.run(&pipe).await.map(|_| ())
    }
}

impl BlobDescriptorCacheProvider for RedisBlobDescriptorCache {
    fn repository_scoped(&self, repo: &RepositoryName) -> Arc<dyn BlobDescriptorService> {
        Arc::new(ScopedRedis {
            cache: self.clone(),
            repo: repo.clone(),
        })
    }

    fn is_shared(&self) -> bool {
        true
    }
}

/// The Redis provider seen from one repository.
struct ScopedRedis {
    cache: RedisBlobDescriptorCache,
    repo: RepositoryName,
}

#[async_trait]
impl BlobStatter for ScopedRedis {
    /// One round trip: membership, the global descriptor and the
    /// repository's media type together.
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        let set_key = self.cache.repository_set_key(&self.repo);
        let repo_key = self.cache.repository_blob_key(&self.repo, digest);
        let mut pipe = Pipeline::new();
        pipe.cmd("SISMEMBER").arg(&set_key).arg(digest.as_str());
        self.cache.push_read_global(&mut pipe, digest);
        pipe.cmd("HGET").arg(&repo_key).arg("mediatype");
        let reply = self.cache.run(&pipe).await?;
        let [member, global, repo_media_type] = reply.as_slice() else {
            return Err(to_core(CacheError::Corrupt {
                key: set_key,
                reason: format!("{} replies to 3 commands", reply.len()),
            }));
        };
        if !parse_member(&set_key, member).map_err(to_core)? {
            return Err(unknown(digest));
        }
        let blob_key = self.cache.blob_key(digest);
        let Some((canonical, size, media_type)) =
            parse_global(&blob_key, global).map_err(to_core)?
        else {
            return Err(unknown(digest));
        };
        let media_type = match text(&repo_key, "mediatype", repo_media_type).map_err(to_core)? {
            Some(m) if !m.is_empty() => m,
            _ => media_type.as_str(),
        };
        Ok(answer(canonical, size, media_type))
    }
}

#[async_trait]
impl BlobDescriptorService for ScopedRedis {
    async fn set_descriptor(&self, digest: &Digest, descriptor: &Descriptor) -> Result<()> {
        let alias = check(digest, descriptor)?;
        let mut pipe = Pipeline::new();
        pipe.atomic();
        self.cache
            .push_scoped(&mut pipe, &self.repo, digest, descriptor);
        if alias {
            self.cache
                .push_scoped(&mut pipe, &self.repo, &descriptor.digest, descriptor);
        }
        self.cache.run(&pipe).await.map(|_| ())
    }

    /// Removes the membership and the repository's media type; the
    /// global descriptor stays.
    async fn clear(&self, digest: &Digest) -> Result<()> {
        let mut pipe = Pipeline::new();
        pipe.atomic();
        pipe.cmd("SREM")
            .arg(self.cache.repository_set_key(&self.repo))
            .arg(digest.as_str())
            .ignore();
        pipe.cmd("DEL")
            .arg(self.cache.repository_blob_key(&self.repo, digest))
            .ignore();
        self.cache.run(&pipe).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            split_addr("localhost:6379").ok(),
            Some(("localhost".to_owned(), 6379))
        );
        assert_eq!(
            split_addr("[::1]:7000").ok(),
            Some(("::1".to_owned(), 7000))
        );
        for bad in [
            "localhost",
            ":6379",
            "host:0",
            "host:x",
            "::1:6379",
            "[::1:6379",
        ] {
            assert!(
                matches!(split_addr(bad), Err(CacheError::InvalidAddress { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("redis://:pw@host:1/2"), "redis://:***@host:1/2");
        assert_eq!(redact("redis://user:pw@host/0"), "redis://user:***@host/0");
        assert_eq!(redact("redis://host:1"), "redis://host:1");
        assert_eq!(redact("redis://user@host"), "redis://user@host");
    }

    #[test]
    fn global_replies() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let d = Digest::sha256(b"x");
        let ok = Value::Array(vec![bulk(d.as_str()), bulk("3"), bulk("a/b")]);
        assert_eq!(
            parse_global("k", &ok).ok().flatten(),
            Some((d.clone(), 3, "a/b".to_owned()))
        );
        // Distribution's entries from before the `size` field: a miss.
        let old = Value::Array(vec![bulk(d.as_str()), Value::Nil, bulk("a/b")]);
        assert!(matches!(parse_global("k", &old), Ok(None)));
        for corrupt in [
            Value::Array(vec![bulk("sha256:zz"), bulk("3"), bulk("a/b")]),
            Value::Array(vec![bulk(d.as_str()), bulk("-1"), bulk("a/b")]),
            Value::Array(vec![bulk(d.as_str()), bulk("1.5"), bulk("a/b")]),
            Value::Array(vec![bulk(d.as_str()), Value::Int(3)]),
            Value::Array(vec![Value::BulkString(vec![0xff]), bulk("3"), bulk("a/b")]),
            Value::Okay,
        ] {
            assert!(
                matches!(parse_global("k", &corrupt), Err(CacheError::Corrupt { .. })),
                "{corrupt:?}"
            );
        }
    }

    #[test]
    fn needs_a_runtime() {
        let made = RedisBlobDescriptorCache::new(RedisOptions::url("redis://127.0.0.1:1/"));
        assert!(matches!(made, Err(CacheError::NoRuntime)));
    }

    #[test]
    fn refuses_bad_options() {
        let zero = RedisOptions::url("redis://127.0.0.1/").read_timeout(Duration::ZERO);
        assert!(matches!(
            RedisBlobDescriptorCache::new(zero),
            Err(CacheError::InvalidOption {
                option: "readtimeout",
                ..
            })
        ));
        let url = RedisOptions::url("http://:pw@127.0.0.1/");
        match RedisBlobDescriptorCache::new(url) {
            Err(CacheError::InvalidUrl { url, .. }) => assert!(!url.contains("pw")),
            other => panic!("{other:?}"),
        }
        let tls = RedisOptions::url("rediss://:pw@127.0.0.1/");
        match RedisBlobDescriptorCache::new(tls) {
            Err(CacheError::InvalidUrl { url, reason }) => {
                assert!(!url.contains("pw") && reason.contains("TLS"));
            }
            other => panic!("{other:?}"),
        }
        let db = RedisOptions::addr("127.0.0.1:6379").db(-1);
        assert!(matches!(
            RedisBlobDescriptorCache::new(db),
            Err(CacheError::InvalidOption { option: "db", .. })
        ));
    }
}
