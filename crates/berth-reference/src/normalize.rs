//! Normalization: from what people type (`ubuntu`) to fully qualified names
//! (`docker.io/library/ubuntu`).

use berth_digest::Digest;

use crate::error::{Error, FormatError, excerpt};
use crate::grammar;
use crate::name::Name;
use crate::reference::{AnyReference, Reference};
use crate::tag::Tag;
use crate::{DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX};

/// The domain that is always a domain, even without `.` or `:`.
const LOCALHOST: &str = "localhost";

/// Rewrites `s` into the fully qualified form `domain/remainder` that is
/// then parsed (Distribution's `splitDockerDomain`), and returns it with the
/// length of its domain.
///
/// The first `/`-separated component is the domain when it is `localhost`,
/// contains `.` or `:`, or has uppercase letters (which a repository path
/// may not have); `index.docker.io` becomes `docker.io`. Otherwise the
/// domain is `docker.io` and the whole input is the remainder. On
/// `docker.io`, a single-component remainder goes under `library/`.
fn qualify(s: &str) -> (String, usize) {
    let (domain, remainder) = match s.split_once('/') {
        None => (DEFAULT_DOMAIN, s),
        Some((first, rest)) => {
            if first == LOCALHOST {
                (first, rest)
            } else if first == LEGACY_DEFAULT_DOMAIN {
                (DEFAULT_DOMAIN, rest)
            } else if first.contains(['.', ':']) || first.bytes().any(|b| b.is_ascii_uppercase()) {
                (first, rest)
            } else {
                (DEFAULT_DOMAIN, s)
            }
        }
    };
    let library = domain == DEFAULT_DOMAIN && !remainder.contains('/');
    let mut qualified = String::with_capacity(
        domain.len()
            + 1
            + if library {
                OFFICIAL_REPO_PREFIX.len()
            } else {
                0
            }
            + remainder.len(),
    );
    qualified.push_str(domain);
    qualified.push('/');
    if library {
        qualified.push_str(OFFICIAL_REPO_PREFIX);
    }
    qualified.push_str(remainder);
    (qualified, domain.len())
}

/// Checks what precedes the fully qualified reference's parse: not an image
/// ID, not empty, and a lowercase remote name.
fn qualify_checked(s: &str) -> Result<String, Error> {
    if s.is_empty() {
        return Err(Error::NameEmpty);
    }
    if grammar::is_identifier(s) {
        return Err(Error::IdentifierNotAllowed {
            input: s.to_owned(),
        });
    }
    let (qualified, domain_len) = qualify(s);
    let remainder = qualified.get(domain_len + 1..).unwrap_or_default();
    // The remote name is the remainder before any digest and tag.
    let before_digest = remainder.split('@').next().unwrap_or_default();
    let remote_name = before_digest.split(':').next().unwrap_or_default();
    if remote_name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Error::NameContainsUppercase {
            name: excerpt(remote_name),
        });
    }
    Ok(qualified)
}

impl Reference {
    /// Parses a reference as the Docker CLI reads it, normalizing the name
    /// (Distribution's `ParseNormalizedNamed`).
    ///
    /// - a bare 64-character lowercase hex string is refused
    ///   ([`Error::IdentifierNotAllowed`]): it is an image ID;
    /// - a name without `/` goes to `docker.io/library/`;
    /// - otherwise the first component is the domain when it is
    ///   `localhost`, contains `.` or `:`, or has uppercase letters;
    ///   `index.docker.io` becomes `docker.io`; any other first component is
    ///   a path component under `docker.io`;
    /// - on `docker.io`, a single-component path goes under `library/`;
    /// - the path must be lowercase ([`Error::NameContainsUppercase`]).
    ///
    /// Then the qualified string is parsed as by [`Reference::parse`].
    ///
    /// ```
    /// use berth_reference::Reference;
    ///
    /// let r = Reference::parse_normalized("ubuntu:22.04")?;
    /// assert_eq!(r.to_string(), "docker.io/library/ubuntu:22.04");
    /// assert_eq!(r.familiar_string(), "ubuntu:22.04");
    ///
    /// let r = Reference::parse_normalized("localhost:5000/app")?;
    /// assert_eq!(r.domain(), Some("localhost:5000"));
    /// # Ok::<(), berth_reference::Error>(())
    /// ```
    ///
    /// As in Distribution, a first component with a `.` or `:` that is not
    /// a valid domain (such as `a_b.c`) leaves the name without a domain
    /// when the whole input is a valid path.
    pub fn parse_normalized(s: &str) -> Result<Reference, Error> {
        Reference::parse(&qualify_checked(s)?)
    }

    /// Parses a reference that must already be in canonical, fully
    /// qualified form (Distribution's `ParseNamed`): normalizes it as
    /// [`Reference::parse_normalized`] does, and fails with
    /// [`Error::NameNotCanonical`] if that changes the string.
    ///
    /// ```
    /// use berth_reference::{Error, Reference};
    ///
    /// assert!(Reference::parse_named("docker.io/library/ubuntu:22.04").is_ok());
    /// assert!(matches!(
    ///     Reference::parse_named("ubuntu:22.04"),
    ///     Err(Error::NameNotCanonical { .. })
    /// ));
    /// ```
    pub fn parse_named(s: &str) -> Result<Reference, Error> {
        let reference = Reference::parse_normalized(s)?;
        if !reference.is_written_as(s) {
            return Err(Error::NameNotCanonical {
                input: excerpt(s),
                canonical: excerpt(&reference.to_string()),
            });
        }
        Ok(reference)
    }

    /// Parses a reference into what Docker pulls (Distribution's
    /// `ParseDockerRef`): normalized; a bare name gets the `latest` tag; a
    /// reference with both tag and digest keeps only the digest.
    ///
    /// The result has exactly one of tag and digest.
    ///
    /// ```
    /// use berth_reference::Reference;
    ///
    /// let r = Reference::parse_docker("busybox")?;
    /// assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    /// # Ok::<(), berth_reference::Error>(())
    /// ```
    pub fn parse_docker(s: &str) -> Result<Reference, Error> {
        let reference = Reference::parse_normalized(s)?;
        Ok(match reference.into_parts() {
            (name, _, Some(digest)) => Reference::new(name, None, Some(digest)),
            (name, Some(tag), None) => Reference::new(name, Some(tag), None),
            (name, None, None) => Reference::new(name, Some(Tag::latest()), None),
        })
    }

    /// This reference with the `latest` tag if it is a bare name, unchanged
    /// otherwise (Distribution's `TagNameOnly`).
    pub fn tag_name_only(self) -> Reference {
        if self.is_name_only() {
            let (name, _, _) = self.into_parts();
            Reference::new(name, Some(Tag::latest()), None)
        } else {
            self
        }
    }
}

impl Name {
    /// Parses and normalizes a bare name, as
    /// [`Reference::parse_normalized`] does; a tag or digest is refused
    /// ([`FormatError::UnexpectedTag`], [`FormatError::UnexpectedDigest`]).
    pub fn parse_normalized(s: &str) -> Result<Name, Error> {
        let (name, tag, digest) = Reference::parse_normalized(s)?.into_parts();
        if tag.is_some() {
            return Err(FormatError::UnexpectedTag.into());
        }
        if digest.is_some() {
            return Err(FormatError::UnexpectedDigest.into());
        }
        Ok(name)
    }
}

impl AnyReference {
    /// Parses a digest, an image ID or a named reference (Distribution's
    /// `ParseAnyReference`):
    ///
    /// - a bare 64-character lowercase hex string is an image ID, read as
    ///   the sha256 digest it is;
    /// - a valid digest string (`sha256:…`) is a digest;
    /// - anything else is parsed by [`Reference::parse_normalized`].
    pub fn parse(s: &str) -> Result<AnyReference, Error> {
        if grammar::is_identifier(s) {
            let mut digest = String::with_capacity(7 + s.len());
            digest.push_str("sha256:");
            digest.push_str(s);
            return Ok(AnyReference::Digested(Digest::parse(&digest)?));
        }
        if let Ok(digest) = Digest::parse(s) {
            return Ok(AnyReference::Digested(digest));
        }
        Reference::parse_normalized(s).map(AnyReference::Named)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualification() {
        for (input, qualified) in [
            ("ubuntu", "docker.io/library/ubuntu"),
            ("ubuntu:1", "docker.io/library/ubuntu:1"),
            ("foo/bar", "docker.io/foo/bar"),
            ("localhost/foo", "localhost/foo"),
            ("index.docker.io/foo", "docker.io/library/foo"),
            ("docker.io/foo/bar", "docker.io/foo/bar"),
            ("Foo/bar", "Foo/bar"),
            ("a.b/c", "a.b/c"),
            ("h:1/c", "h:1/c"),
            ("/x", "docker.io//x"),
        ] {
            assert_eq!(qualify(input).0, qualified, "{input}");
        }
    }
}
