//! What a cache keeps of a descriptor, and which descriptors it accepts.

use berth_core::{Error, Result};
use berth_digest::Digest;
use berth_manifest::Descriptor;

use crate::CacheError;

/// Checks a descriptor before caching it under `digest`, as Distribution
/// does: a non-negative size, a non-empty media type, and a descriptor
/// digest that is either the key or a digest of another algorithm (an
/// alias: the key is, say, the sha512 of content whose canonical digest is
/// a sha256).
///
/// Answers whether the descriptor's own digest must be recorded too (the
/// alias case).
pub(crate) fn check(digest: &Digest, descriptor: &Descriptor) -> Result<bool> {
    let refuse = |reason: String| {
        Err(Error::backend(
            "cache descriptor",
            CacheError::InvalidDescriptor {
                digest: digest.to_string(),
                reason,
            },
        ))
    };
    if descriptor.size < 0 {
        return refuse(format!("negative size {}", descriptor.size));
    }
    if descriptor.media_type.is_empty() {
        return refuse("empty media type".to_owned());
    }
    if descriptor.digest == *digest {
        return Ok(false);
    }
    if descriptor.digest.algorithm() == digest.algorithm() {
        return refuse(format!(
            "the descriptor's digest {} differs from the key but has the same algorithm",
            descriptor.digest
        ));
    }
    Ok(true)
}

/// The descriptor a cache answers: the three fields it keeps.
pub(crate) fn answer(digest: Digest, size: i64, media_type: &str) -> Descriptor {
    Descriptor::new(media_type, digest, size)
}

/// The miss.
pub(crate) fn unknown(digest: &Digest) -> Error {
    Error::BlobUnknown {
        digest: digest.clone(),
    }
}
