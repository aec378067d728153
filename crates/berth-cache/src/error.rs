//! The crate's own error type.

use std::time::Duration;

/// What can go wrong in this crate outside the [`BlobDescriptorService`]
/// methods: building a provider from bad options, and the reasons wrapped
/// inside the [`berth_core::Error`]s the methods return.
///
/// [`BlobDescriptorService`]: berth_core::BlobDescriptorService
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The Redis URL cannot be used (bad syntax, unsupported scheme such
    /// as `rediss://` without TLS support, bad database number).
    #[error("invalid Redis URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, with any password replaced by `***`.
        url: String,
        /// Why it was refused.
        reason: String,
    },

    /// The Redis address is not `host:port`.
    #[error("invalid Redis address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        addr: String,
        /// Why it was refused.
        reason: String,
    },

    /// An option is out of range (a zero timeout, a zero capacity).
    #[error("invalid cache option {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A Redis provider was built outside a Tokio runtime (its connection
    /// task needs one).
    #[error("the Redis cache must be created inside a Tokio runtime")]
    NoRuntime,

    /// Redis did not answer in time.
    #[error("no answer from Redis within {after:?}")]
    Timeout {
        /// The time waited.
        after: Duration,
    },

    /// Redis answered with an error or could not be reached.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),

    /// A cache entry does not hold a valid descriptor (a missing or
    /// malformed field, a negative size, a key of the wrong type).
    #[error("corrupt cache entry {key}: {reason}")]
    Corrupt {
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A descriptor cannot be cached (negative size, empty media type, a
    /// digest that contradicts the key).
    #[error("descriptor for {digest} not cached: {reason}")]
    InvalidDescriptor {
        /// The key digest.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
}
