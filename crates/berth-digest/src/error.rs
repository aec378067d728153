//! Errors of digest parsing and of hash-state restoration.

use crate::Algorithm;

/// How many characters of a rejected input an error message quotes.
const EXCERPT: usize = 80;

/// Shortens untrusted input before it goes into an error message.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// Why a string is not a valid digest.
///
/// Each variant names the rule of the OCI digest grammar that failed
/// (`algorithm ":" encoded`, algorithm components of `[a-z0-9]+` joined by
/// one of `+._-`, a registered algorithm, lowercase hex of the algorithm's
/// exact length).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The input was the empty string.
    #[error("invalid digest format: the digest is empty")]
    Empty,
    /// There is no `:` between the algorithm and the encoded part.
    #[error("invalid digest format: {input:?} has no ':' between algorithm and encoded value")]
    MissingSeparator {
        /// The input (shortened).
        input: String,
    },
    /// The algorithm part does not follow the grammar.
    #[error(
        "invalid digest algorithm {algorithm:?}: expected lowercase alphanumeric components joined by '+', '.', '_' or '-'"
    )]
    InvalidAlgorithm {
        /// The algorithm part (shortened).
        algorithm: String,
    },
    /// The algorithm is well formed but not one berth implements.
    #[error("unsupported digest algorithm {algorithm:?}: supported are sha256, sha384 and sha512")]
    UnsupportedAlgorithm {
        /// The algorithm part (shortened).
        algorithm: String,
    },
    /// The encoded part has the wrong length for its algorithm.
    #[error("invalid {algorithm} digest length: expected {expected} hex characters, got {actual}")]
    InvalidLength {
        /// The digest's algorithm.
        algorithm: Algorithm,
        /// The number of hex characters the algorithm needs.
        expected: usize,
        /// The number of characters given.
        actual: usize,
    },
    /// The encoded part has a character that is not lowercase hex.
    #[error(
        "invalid {algorithm} digest: character {character:?} at offset {offset} of the encoded value is not lowercase hex"
    )]
    InvalidEncoding {
        /// The digest's algorithm.
        algorithm: Algorithm,
        /// The offending character.
        character: char,
        /// Its byte offset within the encoded part.
        offset: usize,
    },
}

/// Why saved hash state could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The state does not start with a known magic (`sha\x03`, `sha\x04`, `sha\x07`).
    #[error(
        "invalid hash state: unknown identifier (expected a saved sha256, sha384 or sha512 state)"
    )]
    UnknownMagic,
    /// The state has the wrong size for its algorithm.
    #[error("invalid hash state: {algorithm} state must be {expected} bytes, got {actual}")]
    InvalidSize {
        /// The algorithm the magic names.
        algorithm: Algorithm,
        /// The size of a saved state of that algorithm.
        expected: usize,
        /// The size given.
        actual: usize,
    },
    /// The state was saved for another algorithm than the one asked for.
    #[error("hash state is for {actual}, expected {expected}")]
    AlgorithmMismatch {
        /// The algorithm the caller expected.
        expected: Algorithm,
        /// The algorithm of the saved state.
        actual: Algorithm,
    },
}
