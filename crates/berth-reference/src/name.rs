//! Repository names: [`Name`] (with an optional domain) and
//! [`RepositoryName`] (a registry-side path).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use berth_digest::Digest;

use crate::error::{Error, excerpt};
use crate::grammar;
use crate::reference::{Canonical, Tagged};
use crate::tag::Tag;
use crate::{DEFAULT_DOMAIN, NAME_TOTAL_LENGTH_MAX, OFFICIAL_REPO_PREFIX};

/// A repository name: `[domain '/'] path`, Distribution's `Named`.
///
/// The domain is there when the name has a `/` and what comes before the
/// first `/` is a valid `host[:port]`; the path is everything else. So
/// `foo/bar` has domain `foo` as written; [normalization](Name::parse_normalized)
/// is what moves such names under `docker.io`.
///
/// Equality, ordering and hashing are those of the full name string, so a
/// `Name` can be looked up in a map by `&str`. Cloning is cheap.
///
/// ```
/// use berth_reference::Name;
///
/// let name = Name::parse("registry.example.com:5000/team/app")?;
/// assert_eq!(name.domain(), Some("registry.example.com:5000"));
/// assert_eq!(name.path(), "team/app");
/// assert_eq!(name.as_str(), "registry.example.com:5000/team/app");
///
/// let hub = Name::parse_normalized("ubuntu")?;
/// assert_eq!(hub.as_str(), "docker.io/library/ubuntu");
/// assert_eq!(hub.familiar_name(), "ubuntu");
/// # Ok::<(), berth_reference::Error>(())
/// ```
#[derive(Clone)]
pub struct Name {
    full: Arc<str>,
    /// Length of the domain; 0 when there is none (a domain is never empty).
    domain_len: usize,
}

impl Name {
    /// Parses a name exactly as written, without normalization
    /// (Distribution's `WithName`): no tag or digest may follow.
    pub fn parse(s: &str) -> Result<Name, Error> {
        if s.is_empty() {
            return Err(Error::NameEmpty);
        }
        let domain_len = grammar::check_name(s)?;
        Ok(Name::from_checked(s, domain_len))
    }

    /// Builds a name from a string already checked, with its domain length.
    pub(crate) fn from_checked(s: &str, domain_len: usize) -> Name {
        Name {
            full: Arc::from(s),
            domain_len,
        }
    }

    /// The domain (`host[:port]`), if the name has one.
    pub fn domain(&self) -> Option<&str> {
        match self.domain_len {
            0 => None,
            n => self.full.get(..n),
        }
    }

    /// The path: the name without its domain.
    pub fn path(&self) -> &str {
        match self.domain_len {
            0 => &self.full,
            n => self.full.get(n + 1..).unwrap_or_default(),
        }
    }

    /// The full name, `[domain '/'] path`.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The familiar (short) form of the name, as the Docker CLI shows it:
    /// without `docker.io/`, and without `library/` when nothing else
    /// follows it but one component.
    ///
    /// `docker.io/library/ubuntu` → `ubuntu`, `docker.io/foo/bar` →
    /// `foo/bar`, `docker.io/library/foo/bar` → `library/foo/bar`; names
    /// elsewhere than `docker.io` are unchanged.
    pub fn familiar_name(&self) -> &str {
        if self.domain() != Some(DEFAULT_DOMAIN) {
            return self.as_str();
        }
        let path = self.path();
        match path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest,
            _ => path,
        }
    }

    /// This name with a tag (Distribution's `WithTag`).
    pub fn with_tag(&self, tag: &str) -> Result<Tagged, Error> {
        Ok(Tagged::new(self.clone(), Tag::parse(tag)?))
    }

    /// This name with a digest (Distribution's `WithDigest`).
    pub fn with_digest(&self, digest: Digest) -> Canonical {
        Canonical::new(self.clone(), digest)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Name")
            .field("domain", &self.domain())
            .field("path", &self.path())
            .finish()
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.full == other.full
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> Ordering {
        self.full.cmp(&other.full)
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.full.hash(state);
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.full == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.full == *other
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.full
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl FromStr for Name {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::parse(s)
    }
}

impl TryFrom<&str> for Name {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Name::parse(s)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> String {
        name.full.to_string()
    }
}

impl From<RepositoryName> for Name {
    /// A repository path read as a name: like [`Name::parse`], the first
    /// component becomes the domain when the path has several components.
    fn from(repository: RepositoryName) -> Name {
        let domain_len = grammar::domain_len_of_valid(&repository.0);
        Name {
            full: repository.0,
            domain_len,
        }
    }
}

/// A repository path as a registry serves it, the `<name>` of
/// `/v2/<name>/...`: path components joined by `/`, at most
/// [`NAME_TOTAL_LENGTH_MAX`] characters, with no domain semantics (no
/// uppercase, no `:` or port).
///
/// This is the OCI distribution specification's `<name>` rule.
///
/// ```
/// use berth_reference::{Error, RepositoryName, validate_repository_name};
///
/// let repo = RepositoryName::parse("library/ubuntu")?;
/// assert_eq!(repo.as_str(), "library/ubuntu");
/// assert!(validate_repository_name("team/app-1.2_x").is_ok());
/// assert!(matches!(
///     validate_repository_name("Team/app"),
///     Err(Error::NameContainsUppercase { .. })
/// ));
/// assert!(validate_repository_name("localhost:5000/app").is_err());
/// # Ok::<(), berth_reference::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(Arc<str>);

impl RepositoryName {
    /// Parses and validates a repository path.
    pub fn parse(s: &str) -> Result<RepositoryName, Error> {
        validate_repository_name(s)?;
        Ok(RepositoryName(Arc::from(s)))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's components, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// Checks that `name` is a valid repository path (see [`RepositoryName`]),
/// without allocating unless it is not.
///
/// Errors: [`Error::NameEmpty`], [`Error::InvalidFormat`],
/// [`Error::NameContainsUppercase`] (valid once lowercased),
/// [`Error::NameTooLong`].
pub fn validate_repository_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::NameEmpty);
    }
    let mut uppercase = false;
    grammar::scan_path(name, &mut uppercase)?;
    if uppercase {
        return Err(Error::NameContainsUppercase {
            name: excerpt(name),
        });
    }
    if name.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(Error::NameTooLong { length: name.len() });
    }
    Ok(())
}

/// Checks that `name` is a valid [`Name`] (`[domain '/'] path`, as
/// [`Name::parse`] reads it), without allocating unless it is not.
///
/// This is the check Distribution's HTTP routes apply to `<name>` (its
/// `NameRegexp` and `WithName`), which lets a first component such as
/// `Foo` or `localhost:5000` through as a domain; the OCI specification's
/// stricter rule is [`validate_repository_name`].
///
/// ```
/// use berth_reference::validate_name;
///
/// assert!(validate_name("library/ubuntu").is_ok());
/// assert!(validate_name("Foo/bar").is_ok());
/// assert!(validate_name("foo/Bar").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::NameEmpty);
    }
    grammar::check_name(name).map(|_| ())
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepositoryName({:?})", &*self.0)
    }
}

impl FromStr for RepositoryName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RepositoryName::parse(s)
    }
}

impl TryFrom<&str> for RepositoryName {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        RepositoryName::parse(s)
    }
}

impl PartialEq<str> for RepositoryName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for RepositoryName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl Borrow<str> for RepositoryName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for RepositoryName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<RepositoryName> for String {
    fn from(name: RepositoryName) -> String {
        name.0.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_name_to_name() {
        let name = Name::from(RepositoryName::parse("foo/bar").unwrap());
        assert_eq!(name.domain(), Some("foo"));
        assert_eq!(name.path(), "bar");
        let name = Name::from(RepositoryName::parse("a_b/c").unwrap());
        assert_eq!(name.domain(), None);
        assert_eq!(name, Name::parse("a_b/c").unwrap());
    }

    #[test]
    fn name_debug_shows_parts() {
        let name = Name::parse("host:1/a").unwrap();
        assert_eq!(
            format!("{name:?}"),
            r#"Name { domain: Some("host:1"), path: "a" }"#
        );
    }
}
