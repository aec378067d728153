//! The registered digest algorithms.

use std::fmt;
use std::str::FromStr;

use crate::error::{DigestError, excerpt};

/// A registered digest algorithm.
///
/// The OCI image specification registers `sha256` and `sha512`; `sha384` is
/// accepted as well because Distribution (through go-digest) accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256: 32-byte digests, 64 hex characters. The canonical algorithm.
    Sha256,
    /// SHA-384: 48-byte digests, 96 hex characters.
    Sha384,
    /// SHA-512: 64-byte digests, 128 hex characters.
    Sha512,
}

impl Algorithm {
    /// Every registered algorithm, canonical first.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha384, Algorithm::Sha512];

    /// The canonical algorithm, used when nothing else is asked for.
    pub const CANONICAL: Algorithm = Algorithm::Sha256;

    /// The algorithm's name as it appears in a digest (`sha256`).
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The size of a digest of this algorithm, in bytes.
    pub const fn size(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 => 64,
        }
    }

    /// The length of the hex-encoded part of a digest of this algorithm.
    pub const fn hex_len(self) -> usize {
        self.size() * 2
    }

    /// Looks an algorithm up by name, checking the grammar first so the
    /// error says whether the name is malformed or merely unsupported.
    pub fn from_name(name: &str) -> Result<Algorithm, DigestError> {
        match name {
            "sha256" => Ok(Algorithm::Sha256),
            "sha384" => Ok(Algorithm::Sha384),
            "sha512" => Ok(Algorithm::Sha512),
            _ if is_valid_algorithm_name(name) => Err(DigestError::UnsupportedAlgorithm {
                algorithm: excerpt(name),
            }),
            _ => Err(DigestError::InvalidAlgorithm {
                algorithm: excerpt(name),
            }),
        }
    }

    /// A streaming digester for this algorithm.
    pub fn digester(self) -> crate::Digester {
        crate::Digester::new(self)
    }

    /// The digest of `data` under this algorithm.
    pub fn digest(self, data: &[u8]) -> crate::Digest {
        let mut digester = self.digester();
        digester.update(data);
        digester.finish()
    }
}

/// Checks the OCI algorithm grammar:
/// `[a-z0-9]+ ([+._-] [a-z0-9]+)*`.
pub(crate) fn is_valid_algorithm_name(name: &str) -> bool {
    let mut component_len = 0usize;
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => component_len += 1,
            b'+' | b'.' | b'_' | b'-' if component_len > 0 => component_len = 0,
            _ => return false,
        }
    }
    component_len > 0
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Algorithm::from_name(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_grammar() {
        for ok in [
            "sha256",
            "a",
            "a+b",
            "multihash+base58",
            "sha256.v2",
            "x_y-z",
        ] {
            assert!(is_valid_algorithm_name(ok), "{ok}");
        }
        for bad in ["", "SHA256", "+a", "a+", "a++b", "a b", "a:b", "ä"] {
            assert!(!is_valid_algorithm_name(bad), "{bad}");
        }
    }

    #[test]
    fn names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
            assert_eq!(alg.hex_len(), alg.size() * 2);
        }
    }

    #[test]
    fn unsupported_and_invalid_names_differ() {
        assert!(matches!(
            Algorithm::from_name("md5"),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(
            Algorithm::from_name("Sha256"),
            Err(DigestError::InvalidAlgorithm { .. })
        ));
    }
}
