//! The validated `Digest` value.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use crate::Algorithm;
use crate::error::{DigestError, excerpt};

/// A validated content digest: `<algorithm>:<lowercase hex>`.
///
/// A `Digest` can only be built from a string that passes every rule of the
/// OCI digest grammar for a registered algorithm, or from raw hash output, so
/// holding one proves it is well formed. Cloning is cheap (a reference-count
/// increment). Equality, ordering and hashing are those of the string form,
/// so a `Digest` can be looked up in a map by `&str`.
#[derive(Clone)]
pub struct Digest {
    text: Arc<str>,
    algorithm: Algorithm,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Digest {
    /// Parses and validates a digest string such as
    /// `sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let algorithm = validate(s)?;
        Ok(Digest {
            text: Arc::from(s),
            algorithm,
        })
    }

    /// Builds a digest from raw hash output of `algorithm`.
    ///
    /// Fails with [`DigestError::InvalidLength`] when `raw` is not exactly
    /// [`Algorithm::size`] bytes.
    pub fn from_raw(algorithm: Algorithm, raw: &[u8]) -> Result<Digest, DigestError> {
        if raw.len() != algorithm.size() {
            return Err(DigestError::InvalidLength {
                algorithm,
                expected: algorithm.hex_len(),
                actual: raw.len() * 2,
            });
        }
        Ok(Digest::encode(algorithm, raw))
    }

    /// Hex-encodes hash output whose length the caller guarantees.
    pub(crate) fn encode(algorithm: Algorithm, raw: &[u8]) -> Digest {
        let mut text = String::with_capacity(algorithm.name().len() + 1 + raw.len() * 2);
        text.push_str(algorithm.name());
        text.push(':');
        for b in raw {
            text.push(HEX[usize::from(b >> 4)] as char);
            text.push(HEX[usize::from(b & 0x0f)] as char);
        }
        Digest {
            text: Arc::from(text),
            algorithm,
        }
    }

    /// The digest of `data` under the canonical algorithm (sha256).
    pub fn sha256(data: &[u8]) -> Digest {
        Algorithm::Sha256.digest(data)
    }

    /// The digest's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex-encoded part, after the `:`.
    pub fn encoded(&self) -> &str {
        &self.text[self.algorithm.name().len() + 1..]
    }

    /// The whole digest string, `algorithm:encoded`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The raw hash bytes the hex part encodes.
    pub fn to_raw(&self) -> Vec<u8> {
        self.encoded()
            .as_bytes()
            .chunks_exact(2)
            .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
            .collect()
    }

    /// A verifier that tells whether a stream of bytes has this digest.
    pub fn verifier(&self) -> crate::Verifier {
        crate::Verifier::new(self.clone())
    }
}

/// The value of one validated lowercase hex character.
fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

/// Checks `s` against the digest grammar and returns its algorithm.
fn validate(s: &str) -> Result<Algorithm, DigestError> {
    if s.is_empty() {
        return Err(DigestError::Empty);
    }
    let Some((name, encoded)) = s.split_once(':') else {
        return Err(DigestError::MissingSeparator { input: excerpt(s) });
    };
    let algorithm = Algorithm::from_name(name)?;
    if let Some((offset, character)) = encoded
        .char_indices()
        .find(|&(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
    {
        return Err(DigestError::InvalidEncoding {
            algorithm,
            character,
            offset,
        });
    }
    // Only ASCII hex is left, so bytes and characters count alike.
    if encoded.len() != algorithm.hex_len() {
        return Err(DigestError::InvalidLength {
            algorithm,
            expected: algorithm.hex_len(),
            actual: encoded.len(),
        });
    }
    Ok(algorithm)
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Digest {}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        &*self.text == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        &*self.text == *other
    }
}

impl PartialOrd for Digest {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Digest {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Borrow<str> for Digest {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl TryFrom<&str> for Digest {
    type Error = DigestError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Digest::parse(s)
    }
}

impl TryFrom<String> for Digest {
    type Error = DigestError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let algorithm = validate(&s)?;
        Ok(Digest {
            text: Arc::from(s),
            algorithm,
        })
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.text.to_string()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip() {
        for alg in Algorithm::ALL {
            let raw: Vec<u8> = (0..alg.size()).map(|i| (i * 37) as u8).collect();
            let d = Digest::from_raw(alg, &raw).unwrap();
            assert_eq!(d.to_raw(), raw);
            assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        }
    }

    #[test]
    fn from_raw_checks_length() {
        assert_eq!(
            Digest::from_raw(Algorithm::Sha256, &[0; 31]),
            Err(DigestError::InvalidLength {
                algorithm: Algorithm::Sha256,
                expected: 64,
                actual: 62
            })
        );
    }
}
