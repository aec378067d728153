//! The error type and the precise reasons it carries.

use std::fmt;

use berth_digest::DigestError;

use crate::NAME_TOTAL_LENGTH_MAX;

/// How many characters of untrusted input an error message quotes.
const EXCERPT: usize = 80;

/// Shortens untrusted input before it goes into an error value.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT) {
        Some((cut, _)) => {
            let mut short = String::with_capacity(cut + 3);
            short.push_str(s.get(..cut).unwrap_or_default());
            short.push('…');
            short
        }
        None => s.to_owned(),
    }
}

/// The character starting at byte `offset` of `s`, for error reports.
///
/// The scanners only report offsets at which they stopped on the first byte
/// they did not accept, after accepting ASCII only, so the offset is a
/// character boundary; the replacement character covers any other case.
pub(crate) fn char_at(s: &str, offset: usize) -> char {
    s.get(offset..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Why a string is not a valid reference, name, tag or digest.
///
/// Each variant names the rule that failed. The first words of every message
/// are those of Distribution's matching error (`invalid reference format`,
/// `repository name must be lowercase`, …); the rest says precisely what is
/// wrong. Quoted input is shortened to its first 80 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input does not follow the reference grammar.
    #[error("invalid reference format: {0}")]
    InvalidFormat(FormatError),

    /// The repository path has uppercase letters; it would be valid in
    /// lowercase. (Uppercase is allowed in the domain and in tags only.)
    #[error("repository name must be lowercase: {name:?} has uppercase letters")]
    NameContainsUppercase {
        /// The offending repository path (shortened).
        name: String,
    },

    /// The name (domain, `/` and path) is longer than
    /// [`NAME_TOTAL_LENGTH_MAX`] characters.
    #[error(
        "repository name must not be more than {max} characters: it has {length}",
        max = NAME_TOTAL_LENGTH_MAX
    )]
    NameTooLong {
        /// The length of the name.
        length: usize,
    },

    /// The input is empty.
    #[error("repository name must have at least one component")]
    NameEmpty,

    /// The tag does not follow `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid tag format: {tag:?}: {reason}")]
    InvalidTag {
        /// The offending tag (shortened).
        tag: String,
        /// The rule it breaks.
        reason: TagError,
    },

    /// The digest after `@` is not a valid digest of a supported algorithm.
    #[error("invalid digest format: {}", digest_detail(.0))]
    InvalidDigest(#[source] DigestError),

    /// The input is valid but not in canonical (fully qualified) form.
    #[error("repository name must be canonical: {input:?} is {canonical:?} in canonical form")]
    NameNotCanonical {
        /// The input (shortened).
        input: String,
        /// Its canonical form (shortened).
        canonical: String,
    },

    /// The input is a bare 64-character hex string, an image ID, which is
    /// refused as a repository name to keep the two apart.
    #[error("invalid repository name ({input}): cannot specify 64-byte hexadecimal strings")]
    IdentifierNotAllowed {
        /// The input.
        input: String,
    },
}

/// The message of a digest error without the `invalid digest format: ` that
/// [`Error::InvalidDigest`] already says.
fn digest_detail(err: &DigestError) -> String {
    let message = err.to_string();
    match message.strip_prefix("invalid digest format: ") {
        Some(rest) => rest.to_owned(),
        None => message,
    }
}

impl From<DigestError> for Error {
    fn from(err: DigestError) -> Self {
        Error::InvalidDigest(err)
    }
}

impl From<FormatError> for Error {
    fn from(err: FormatError) -> Self {
        Error::InvalidFormat(err)
    }
}

/// What breaks the reference grammar, carried by [`Error::InvalidFormat`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// Nothing comes before the `:` of the tag or the `@` of the digest.
    MissingName,
    /// A `/` starts or ends the name, or two `/` follow each other.
    EmptyPathComponent,
    /// A path component breaks `[a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*`.
    InvalidPathComponent {
        /// The component (shortened).
        component: String,
        /// The rule it breaks.
        problem: ComponentProblem,
    },
    /// The part before the first `/` is meant as a domain (`host[:port]`) but
    /// is not one, nor a valid path component.
    InvalidDomain {
        /// The domain (shortened).
        domain: String,
        /// The rule it breaks.
        problem: DomainProblem,
    },
    /// A tag was required (parsing a [`Tagged`](crate::Tagged)) but there is none.
    MissingTag,
    /// A tag was given where none is allowed (parsing a [`Canonical`](crate::Canonical)).
    UnexpectedTag,
    /// A digest was required (parsing a [`Canonical`](crate::Canonical)) but there is none.
    MissingDigest,
    /// A digest was given where none is allowed (parsing a [`Tagged`](crate::Tagged)).
    UnexpectedDigest,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::MissingName => {
                f.write_str("the repository name is missing before the tag or digest")
            }
            FormatError::EmptyPathComponent => {
                f.write_str("empty path component (the name starts or ends with '/', or has '//')")
            }
            FormatError::InvalidPathComponent { component, problem } => {
                write!(f, "path component {component:?} {problem}")
            }
            FormatError::InvalidDomain { domain, problem } => {
                write!(f, "domain {domain:?} {problem}")
            }
            FormatError::MissingTag => f.write_str("a tag is required"),
            FormatError::UnexpectedTag => f.write_str("a tag is not allowed here"),
            FormatError::MissingDigest => f.write_str("a digest is required"),
            FormatError::UnexpectedDigest => f.write_str("a digest is not allowed here"),
        }
    }
}

/// How a path component breaks its grammar.
///
/// A path component is lowercase alphanumeric runs joined by one separator
/// each: `.`, `_`, `__`, or any run of `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComponentProblem {
    /// A character outside `[a-z0-9._-]`.
    InvalidCharacter {
        /// The character.
        character: char,
        /// Its byte offset in the component.
        offset: usize,
    },
    /// The component starts with a separator.
    LeadingSeparator,
    /// The component ends with a separator.
    TrailingSeparator,
    /// Two alphanumeric runs are joined by something other than `.`, `_`,
    /// `__` or a run of `-` (for example `___`, `..` or `._`).
    InvalidSeparator {
        /// The separator.
        separator: String,
    },
}

impl fmt::Display for ComponentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComponentProblem::InvalidCharacter { character, offset } => write!(
                f,
                "has invalid character {character:?} at offset {offset} (allowed: a-z, 0-9 and the separators '.', '_', '__', '-')"
            ),
            ComponentProblem::LeadingSeparator => f.write_str("starts with a separator"),
            ComponentProblem::TrailingSeparator => f.write_str("ends with a separator"),
            ComponentProblem::InvalidSeparator { separator } => write!(
                f,
                "has invalid separator {separator:?} (allowed: '.', '_', '__' or a run of '-')"
            ),
        }
    }
}

/// How a domain breaks its grammar: `host[:port]`, where host is
/// dot-separated labels of `[a-zA-Z0-9-]` that neither start nor end with
/// `-`, or an IPv6 address in brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainProblem {
    /// A character that has no place there.
    InvalidCharacter {
        /// The character.
        character: char,
        /// Its byte offset in the domain.
        offset: usize,
    },
    /// A label is empty (the host is empty, or has a leading, trailing or
    /// doubled `.`).
    EmptyLabel,
    /// A label starts or ends with `-`.
    HyphenAtLabelEdge,
    /// An IPv6 address is not closed by `]`, or is empty.
    InvalidIpv6,
    /// The `:` is not followed by a port number.
    MissingPort,
}

impl fmt::Display for DomainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DomainProblem::InvalidCharacter { character, offset } => {
                write!(f, "has invalid character {character:?} at offset {offset}")
            }
            DomainProblem::EmptyLabel => f.write_str("has an empty label"),
            DomainProblem::HyphenAtLabelEdge => {
                f.write_str("has a label that starts or ends with '-'")
            }
            DomainProblem::InvalidIpv6 => {
                f.write_str("has an IPv6 address that is empty or not closed by ']'")
            }
            DomainProblem::MissingPort => f.write_str("has ':' without a port number"),
        }
    }
}

/// How a tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagError {
    /// The tag is empty.
    Empty,
    /// The first character is not a letter, digit or `_`.
    InvalidFirstCharacter {
        /// The character.
        character: char,
    },
    /// A later character is not a letter, digit, `_`, `.` or `-`.
    InvalidCharacter {
        /// The character.
        character: char,
        /// Its byte offset in the tag.
        offset: usize,
    },
    /// The tag is longer than [`TAG_LENGTH_MAX`](crate::TAG_LENGTH_MAX) characters.
    TooLong {
        /// The tag's length.
        length: usize,
    },
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagError::Empty => f.write_str("the tag is empty"),
            TagError::InvalidFirstCharacter { character } => write!(
                f,
                "starts with {character:?} (must start with a letter, digit or '_')"
            ),
            TagError::InvalidCharacter { character, offset } => write!(
                f,
                "has invalid character {character:?} at offset {offset} (allowed: letters, digits, '_', '.', '-')"
            ),
            TagError::TooLong { length } => write!(
                f,
                "{length} characters, more than the {} allowed",
                crate::TAG_LENGTH_MAX
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_shortens_long_input() {
        assert_eq!(excerpt("abc"), "abc");
        let long = "é".repeat(100);
        let short = excerpt(&long);
        assert_eq!(short.chars().count(), EXCERPT + 1);
        assert!(short.ends_with('…'));
    }

    #[test]
    fn char_at_never_panics() {
        assert_eq!(char_at("aé", 1), 'é');
        assert_eq!(char_at("aé", 2), char::REPLACEMENT_CHARACTER);
        assert_eq!(char_at("a", 10), char::REPLACEMENT_CHARACTER);
    }

    #[test]
    fn digest_errors_are_not_prefixed_twice() {
        let err = Error::InvalidDigest(DigestError::Empty);
        assert_eq!(
            err.to_string(),
            "invalid digest format: the digest is empty"
        );
        let err = Error::InvalidDigest(DigestError::UnsupportedAlgorithm {
            algorithm: "md5".into(),
        });
        assert!(
            err.to_string()
                .starts_with("invalid digest format: unsupported")
        );
    }
}
