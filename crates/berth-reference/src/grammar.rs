//! The grammar, as hand-written scanners over bytes.
//!
//! Every rule is checked in one left-to-right pass without allocating; only
//! a failure builds an error value. Every delimiter the scanners split on is
//! ASCII, so every split falls on a character boundary, and slices are taken
//! with `get`, so no input can make them panic.

use crate::error::{
    ComponentProblem, DomainProblem, Error, FormatError, TagError, char_at, excerpt,
};
use crate::{NAME_TOTAL_LENGTH_MAX, TAG_LENGTH_MAX};

/// A name that follows the grammar, save perhaps for uppercase letters in its
/// path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScannedName {
    /// Length of the domain, 0 when there is none.
    pub(crate) domain_len: usize,
    /// Whether the path has uppercase letters (which it must not).
    pub(crate) uppercase: bool,
}

/// Checks the structure of a name, `[domain '/'] path-component ('/' path-component)*`,
/// tolerating uppercase in path components so that the caller can tell
/// "invalid" from "valid once lowercased".
///
/// The domain is present when the name has a `/` and what comes before the
/// first `/` is a valid domain (Distribution's regular expression prefers
/// the domain branch).
pub(crate) fn scan_name(name: &str) -> Result<ScannedName, FormatError> {
    if name.is_empty() {
        return Err(FormatError::MissingName);
    }
    let mut uppercase = false;
    let Some((first, rest)) = name.split_once('/') else {
        scan_path(name, &mut uppercase)?;
        return Ok(ScannedName {
            domain_len: 0,
            uppercase,
        });
    };
    let domain = check_domain(first);
    if domain.is_ok() {
        scan_path(rest, &mut uppercase)?;
        return Ok(ScannedName {
            domain_len: first.len(),
            uppercase,
        });
    }
    match (scan_path(name, &mut uppercase), domain) {
        (Ok(()), _) => Ok(ScannedName {
            domain_len: 0,
            uppercase,
        }),
        // ':' and brackets only have a meaning in a domain: the writer meant
        // one, so say what is wrong with it rather than with the path.
        (Err(_), Err(problem)) if first.bytes().any(|b| matches!(b, b':' | b'[' | b']')) => {
            Err(FormatError::InvalidDomain {
                domain: excerpt(first),
                problem,
            })
        }
        (Err(err), _) => Err(err),
    }
}

/// Finishes checking a scanned name: no uppercase in the path, length within
/// [`NAME_TOTAL_LENGTH_MAX`].
pub(crate) fn finish_name(name: &str, scanned: ScannedName) -> Result<usize, Error> {
    if scanned.uppercase {
        let path = match scanned.domain_len {
            0 => name,
            n => name.get(n + 1..).unwrap_or(name),
        };
        return Err(Error::NameContainsUppercase {
            name: excerpt(path),
        });
    }
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(Error::NameTooLong { length: name.len() });
    }
    Ok(scanned.domain_len)
}

/// Checks a whole name (`[domain '/'] path`) and returns its domain length.
pub(crate) fn check_name(name: &str) -> Result<usize, Error> {
    let scanned = scan_name(name)?;
    finish_name(name, scanned)
}

/// The length of the domain of a name known to be valid (0 when none).
pub(crate) fn domain_len_of_valid(name: &str) -> usize {
    match name.split_once('/') {
        Some((first, _)) if check_domain(first).is_ok() => first.len(),
        _ => 0,
    }
}

/// Checks `path-component ('/' path-component)*`, noting uppercase letters
/// in `uppercase` instead of failing on them.
pub(crate) fn scan_path(path: &str, uppercase: &mut bool) -> Result<(), FormatError> {
    for component in path.split('/') {
        if component.is_empty() {
            return Err(FormatError::EmptyPathComponent);
        }
        scan_component(component, uppercase).map_err(|problem| {
            FormatError::InvalidPathComponent {
                component: excerpt(component),
                problem,
            }
        })?;
    }
    Ok(())
}

/// Checks one non-empty path component:
/// `[a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*`, noting uppercase letters in
/// `uppercase` instead of failing on them.
fn scan_component(component: &str, uppercase: &mut bool) -> Result<(), ComponentProblem> {
    // Start of the separator run being read, if any.
    let mut separator_start: Option<usize> = None;
    for (i, &b) in component.as_bytes().iter().enumerate() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'A'..=b'Z' => {
                *uppercase |= b.is_ascii_uppercase();
                if let Some(start) = separator_start.take() {
                    let separator = component.get(start..i).unwrap_or_default();
                    if !is_valid_separator(separator.as_bytes()) {
                        return Err(ComponentProblem::InvalidSeparator {
                            separator: excerpt(separator),
                        });
                    }
                }
            }
            b'.' | b'_' | b'-' => {
                if i == 0 {
                    return Err(ComponentProblem::LeadingSeparator);
                }
                separator_start.get_or_insert(i);
            }
            _ => {
                return Err(ComponentProblem::InvalidCharacter {
                    character: char_at(component, i),
                    offset: i,
                });
            }
        }
    }
    match separator_start {
        Some(_) => Err(ComponentProblem::TrailingSeparator),
        None => Ok(()),
    }
}

/// `.`, `_`, `__` or a run of `-`.
fn is_valid_separator(separator: &[u8]) -> bool {
    matches!(separator, b"." | b"_" | b"__")
        || (!separator.is_empty() && separator.iter().all(|&b| b == b'-'))
}

/// Checks `host [':' port]`, where host is a domain name (dot-separated
/// labels of `[a-zA-Z0-9-]`, no label starting or ending with `-`; IPv4
/// addresses are domain names too) or an IPv6 address in brackets
/// (`[` `[a-fA-F0-9:]+` `]`), and port is `[0-9]+`.
pub(crate) fn check_domain(domain: &str) -> Result<(), DomainProblem> {
    let bytes = domain.as_bytes();
    let host_end = if bytes.first() == Some(&b'[') {
        let close = bytes
            .iter()
            .position(|&b| b == b']')
            .ok_or(DomainProblem::InvalidIpv6)?;
        if close == 1 {
            return Err(DomainProblem::InvalidIpv6);
        }
        for (i, &b) in bytes.iter().enumerate().take(close).skip(1) {
            if !(b.is_ascii_hexdigit() || b == b':') {
                return Err(invalid_domain_character(domain, i));
            }
        }
        close + 1
    } else {
        let end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
        check_domain_name(domain, end)?;
        end
    };
    match bytes.get(host_end..) {
        None | Some([]) => Ok(()),
        Some([b':', port @ ..]) => {
            if port.is_empty() {
                return Err(DomainProblem::MissingPort);
            }
            match port.iter().position(|b| !b.is_ascii_digit()) {
                Some(i) => Err(invalid_domain_character(domain, host_end + 1 + i)),
                None => Ok(()),
            }
        }
        Some(_) => Err(invalid_domain_character(domain, host_end)),
    }
}

/// Checks the domain name in `domain[..end]`: labels of `[a-zA-Z0-9-]`
/// joined by `.`, none empty, none starting or ending with `-`.
fn check_domain_name(domain: &str, end: usize) -> Result<(), DomainProblem> {
    let bytes = domain.as_bytes();
    let mut label_start = 0;
    let mut previous = 0u8;
    for i in 0..=end {
        // A virtual '.' closes the last label.
        let b = if i == end {
            b'.'
        } else {
            bytes.get(i).copied().unwrap_or(b'.')
        };
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => {}
            b'-' if i == label_start => return Err(DomainProblem::HyphenAtLabelEdge),
            b'-' => {}
            b'.' if i == label_start => return Err(DomainProblem::EmptyLabel),
            b'.' if previous == b'-' => return Err(DomainProblem::HyphenAtLabelEdge),
            b'.' => label_start = i + 1,
            _ => return Err(invalid_domain_character(domain, i)),
        }
        previous = b;
    }
    Ok(())
}

fn invalid_domain_character(domain: &str, offset: usize) -> DomainProblem {
    DomainProblem::InvalidCharacter {
        character: char_at(domain, offset),
        offset,
    }
}

/// Checks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), TagError> {
    let bytes = tag.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err(TagError::Empty);
    };
    if !is_word(first) {
        return Err(TagError::InvalidFirstCharacter {
            character: char_at(tag, 0),
        });
    }
    if let Some(i) = bytes
        .iter()
        .position(|&b| !(is_word(b) || b == b'.' || b == b'-'))
    {
        return Err(TagError::InvalidCharacter {
            character: char_at(tag, i),
            offset: i,
        });
    }
    // Only ASCII is left: bytes and characters count alike.
    if bytes.len() > TAG_LENGTH_MAX {
        return Err(TagError::TooLong {
            length: bytes.len(),
        });
    }
    Ok(())
}

/// `[A-Za-z0-9_]`, the `\w` of the tag grammar.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Checks a tag, wrapping a failure into [`Error::InvalidTag`].
pub(crate) fn check_tag_error(tag: &str) -> Result<(), Error> {
    check_tag(tag).map_err(|reason| Error::InvalidTag {
        tag: excerpt(tag),
        reason,
    })
}

/// Whether `s` is an image ID: exactly 64 lowercase hex characters.
pub(crate) fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(s: &str) -> Result<bool, ComponentProblem> {
        let mut upper = false;
        scan_component(s, &mut upper).map(|()| upper)
    }

    #[test]
    fn components() {
        for ok in [
            "a",
            "a0",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a.b_c__d-e",
        ] {
            assert_eq!(component(ok), Ok(false), "{ok}");
        }
        assert_eq!(component("aB"), Ok(true));
        assert_eq!(component(".a"), Err(ComponentProblem::LeadingSeparator));
        assert_eq!(component("a-"), Err(ComponentProblem::TrailingSeparator));
        for (bad, sep) in [
            ("a___b", "___"),
            ("a..b", ".."),
            ("a._b", "._"),
            ("a-_b", "-_"),
        ] {
            assert_eq!(
                component(bad),
                Err(ComponentProblem::InvalidSeparator {
                    separator: sep.into()
                }),
                "{bad}"
            );
        }
        assert_eq!(
            component("aé"),
            Err(ComponentProblem::InvalidCharacter {
                character: 'é',
                offset: 1
            })
        );
    }

    #[test]
    fn domains() {
        for ok in [
            "a",
            "localhost",
            "localhost:5000",
            "a-b.c",
            "A.B",
            "1.2.3.4:80",
            "[::1]",
            "[2001:db8::1]:5000",
            "xn--n3h.com",
        ] {
            assert_eq!(check_domain(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_domain(""), Err(DomainProblem::EmptyLabel));
        assert_eq!(check_domain("a..b"), Err(DomainProblem::EmptyLabel));
        assert_eq!(check_domain("a."), Err(DomainProblem::EmptyLabel));
        assert_eq!(check_domain("-a"), Err(DomainProblem::HyphenAtLabelEdge));
        assert_eq!(check_domain("a-.b"), Err(DomainProblem::HyphenAtLabelEdge));
        assert_eq!(check_domain("a:"), Err(DomainProblem::MissingPort));
        assert_eq!(check_domain("[]"), Err(DomainProblem::InvalidIpv6));
        assert_eq!(check_domain("[::1"), Err(DomainProblem::InvalidIpv6));
        assert_eq!(
            check_domain("[::1]x"),
            Err(DomainProblem::InvalidCharacter {
                character: 'x',
                offset: 5
            })
        );
        assert_eq!(
            check_domain("a:5x"),
            Err(DomainProblem::InvalidCharacter {
                character: 'x',
                offset: 3
            })
        );
        assert_eq!(
            check_domain("a_b"),
            Err(DomainProblem::InvalidCharacter {
                character: '_',
                offset: 1
            })
        );
    }

    #[test]
    fn domain_split() {
        assert_eq!(domain_len_of_valid("foo/bar"), 3);
        assert_eq!(domain_len_of_valid("a_b/c"), 0);
        assert_eq!(domain_len_of_valid("foo"), 0);
    }

    #[test]
    fn tags() {
        assert_eq!(check_tag("_"), Ok(()));
        assert_eq!(check_tag(&"a".repeat(128)), Ok(()));
        assert_eq!(
            check_tag(&"a".repeat(129)),
            Err(TagError::TooLong { length: 129 })
        );
        assert_eq!(
            check_tag(".a"),
            Err(TagError::InvalidFirstCharacter { character: '.' })
        );
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier(&"a".repeat(64)));
        assert!(!is_identifier(&"a".repeat(63)));
        assert!(!is_identifier(&"A".repeat(64)));
    }
}
