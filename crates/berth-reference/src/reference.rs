//! References: [`Reference`] (name, optional tag, optional digest) and the
//! stricter [`Tagged`] and [`Canonical`], plus [`AnyReference`].

use std::fmt;
use std::str::FromStr;

use berth_digest::Digest;

use crate::error::{Error, FormatError};
use crate::grammar;
use crate::name::Name;
use crate::tag::Tag;

/// A reference as the grammar reads it: `name [":" tag] ["@" digest]`.
///
/// This is the general result of parsing, Distribution's `Reference` with a
/// name: the tag and the digest are each optional. [`Reference::tagged`] and
/// [`Reference::canonical`] give the stricter typed values.
///
/// `Display` writes the canonical string form, which parses back to an
/// equal value.
///
/// ```
/// use berth_reference::Reference;
///
/// let r = Reference::parse("quay.io/team/app:v1")?;
/// assert_eq!(r.domain(), Some("quay.io"));
/// assert_eq!(r.path(), "team/app");
/// assert_eq!(r.tag().map(|t| t.as_str()), Some("v1"));
/// assert!(r.digest().is_none());
/// assert_eq!(r.to_string(), "quay.io/team/app:v1");
/// # Ok::<(), berth_reference::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    name: Name,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference exactly as written, without normalization
    /// (Distribution's `Parse`).
    ///
    /// The digest starts at the first `@`; the tag at the first `:` after
    /// the last `/` before it. Errors, in the order they are checked:
    ///
    /// - [`Error::NameEmpty`]: the input is empty;
    /// - [`Error::InvalidFormat`]: the name does not follow the grammar;
    /// - [`Error::InvalidTag`]: the tag does not follow the grammar;
    /// - [`Error::NameContainsUppercase`]: the path has uppercase letters
    ///   (the input would be valid with them lowercased);
    /// - [`Error::NameTooLong`]: the name is longer than 255 characters;
    /// - [`Error::InvalidDigest`]: the digest is malformed or of an
    ///   unsupported algorithm.
    pub fn parse(s: &str) -> Result<Reference, Error> {
        if s.is_empty() {
            return Err(Error::NameEmpty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        let (name, tag) = split_tag(rest);
        let scanned = grammar::scan_name(name)?;
        if let Some(tag) = tag {
            grammar::check_tag_error(tag)?;
        }
        let domain_len = grammar::finish_name(name, scanned)?;
        let digest = digest.map(Digest::parse).transpose()?;
        Ok(Reference {
            name: Name::from_checked(name, domain_len),
            tag: tag.map(Tag::from_checked),
            digest,
        })
    }

    /// Puts a reference together from its parts.
    pub fn new(name: Name, tag: Option<Tag>, digest: Option<Digest>) -> Reference {
        Reference { name, tag, digest }
    }

    /// The repository name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The domain of the name, if it has one.
    pub fn domain(&self) -> Option<&str> {
        self.name.domain()
    }

    /// The path of the name (the name without its domain).
    pub fn path(&self) -> &str {
        self.name.path()
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Whether the reference is a bare name, without tag or digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// This reference with its tag set (any digest is kept), Distribution's
    /// `WithTag`. Fails with [`Error::InvalidTag`].
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        Ok(Reference {
            name: self.name.clone(),
            tag: Some(Tag::parse(tag)?),
            digest: self.digest.clone(),
        })
    }

    /// This reference with its digest set (any tag is kept), Distribution's
    /// `WithDigest`.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            name: self.name.clone(),
            tag: self.tag.clone(),
            digest: Some(digest),
        }
    }

    /// The name alone, without tag and digest (Distribution's `TrimNamed`).
    pub fn trim(&self) -> Name {
        self.name.clone()
    }

    /// Takes the reference apart.
    pub fn into_parts(self) -> (Name, Option<Tag>, Option<Digest>) {
        (self.name, self.tag, self.digest)
    }

    /// The name and tag, when there is a tag (any digest is left out).
    pub fn tagged(&self) -> Option<Tagged> {
        let tag = self.tag.clone()?;
        Some(Tagged::new(self.name.clone(), tag))
    }

    /// The name and digest, when there is a digest (any tag is left out):
    /// what a client pulls when both are given.
    pub fn canonical(&self) -> Option<Canonical> {
        let digest = self.digest.clone()?;
        Some(Canonical::new(self.name.clone(), digest))
    }

    /// The familiar form of the name (see [`Name::familiar_name`]).
    pub fn familiar_name(&self) -> &str {
        self.name.familiar_name()
    }

    /// The familiar form of the whole reference, as the Docker CLI shows it:
    /// `docker.io/library/ubuntu:22.04` → `ubuntu:22.04`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name().to_owned();
        push_suffix(&mut s, self.tag.as_ref(), self.digest.as_ref());
        s
    }

    /// Whether `s` is exactly this reference's string form (no allocation).
    pub(crate) fn is_written_as(&self, s: &str) -> bool {
        let Some(mut rest) = s.strip_prefix(self.name.as_str()) else {
            return false;
        };
        if let Some(tag) = &self.tag {
            match rest
                .strip_prefix(':')
                .and_then(|r| r.strip_prefix(tag.as_str()))
            {
                Some(r) => rest = r,
                None => return false,
            }
        }
        match &self.digest {
            Some(digest) => rest.strip_prefix('@') == Some(digest.as_str()),
            None => rest.is_empty(),
        }
    }
}

/// Splits `name[:tag]`: the tag starts at the first `:` after the last `/`,
/// since a tag holds neither `/` nor `:`, and neither does the last path
/// component.
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last_start = s.rfind('/').map_or(0, |i| i + 1);
    match s.get(last_start..).and_then(|last| last.find(':')) {
        Some(offset) => {
            let at = last_start + offset;
            (
                s.get(..at).unwrap_or(s),
                Some(s.get(at + 1..).unwrap_or_default()),
            )
        }
        None => (s, None),
    }
}

fn push_suffix(s: &mut String, tag: Option<&Tag>, digest: Option<&Digest>) {
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag.as_str());
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(digest.as_str());
    }
}

fn write_reference(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    tag: Option<&Tag>,
    digest: Option<&Digest>,
) -> fmt::Result {
    f.write_str(name)?;
    if let Some(tag) = tag {
        write!(f, ":{tag}")?;
    }
    if let Some(digest) = digest {
        write!(f, "@{digest}")?;
    }
    Ok(())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_reference(
            f,
            self.name.as_str(),
            self.tag.as_ref(),
            self.digest.as_ref(),
        )
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({:?})", self.to_string())
    }
}

impl FromStr for Reference {
    type Err = Error;

    /// Same as [`Reference::parse`] (no normalization).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl TryFrom<&str> for Reference {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Reference::parse(s)
    }
}

impl From<Name> for Reference {
    fn from(name: Name) -> Reference {
        Reference {
            name,
            tag: None,
            digest: None,
        }
    }
}

impl From<Tagged> for Reference {
    fn from(tagged: Tagged) -> Reference {
        Reference {
            name: tagged.name,
            tag: Some(tagged.tag),
            digest: None,
        }
    }
}

impl From<Canonical> for Reference {
    fn from(canonical: Canonical) -> Reference {
        Reference {
            name: canonical.name,
            tag: None,
            digest: Some(canonical.digest),
        }
    }
}

/// A name with a tag, `name:tag` (Distribution's `NamedTagged`).
///
/// ```
/// use berth_reference::Tagged;
///
/// let t = Tagged::parse("localhost:5000/app:1.0")?;
/// assert_eq!(t.domain(), Some("localhost:5000"));
/// assert_eq!(t.tag(), "1.0");
/// # Ok::<(), berth_reference::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tagged {
    name: Name,
    tag: Tag,
}

impl Tagged {
    /// Puts a tagged name together.
    pub fn new(name: Name, tag: Tag) -> Tagged {
        Tagged { name, tag }
    }

    /// Parses `name:tag` as written (see [`Reference::parse`]); fails with
    /// [`FormatError::MissingTag`] or [`FormatError::UnexpectedDigest`] when
    /// the input is not of that shape.
    pub fn parse(s: &str) -> Result<Tagged, Error> {
        let (name, tag, digest) = Reference::parse(s)?.into_parts();
        match (tag, digest) {
            (_, Some(_)) => Err(FormatError::UnexpectedDigest.into()),
            (None, None) => Err(FormatError::MissingTag.into()),
            (Some(tag), None) => Ok(Tagged { name, tag }),
        }
    }

    /// The repository name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The domain of the name, if it has one.
    pub fn domain(&self) -> Option<&str> {
        self.name.domain()
    }

    /// The path of the name.
    pub fn path(&self) -> &str {
        self.name.path()
    }

    /// The tag.
    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// This name with another tag.
    pub fn with_tag(&self, tag: &str) -> Result<Tagged, Error> {
        self.name.with_tag(tag)
    }

    /// This tagged name with a digest too.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference::new(self.name.clone(), Some(self.tag.clone()), Some(digest))
    }

    /// The name alone.
    pub fn trim(&self) -> Name {
        self.name.clone()
    }

    /// Takes the tagged name apart.
    pub fn into_parts(self) -> (Name, Tag) {
        (self.name, self.tag)
    }

    /// The familiar form of the name (see [`Name::familiar_name`]).
    pub fn familiar_name(&self) -> &str {
        self.name.familiar_name()
    }

    /// The familiar form of the whole, `familiar-name:tag`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name().to_owned();
        push_suffix(&mut s, Some(&self.tag), None);
        s
    }
}

impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_reference(f, self.name.as_str(), Some(&self.tag), None)
    }
}

impl fmt::Debug for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tagged({:?})", self.to_string())
    }
}

impl FromStr for Tagged {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tagged::parse(s)
    }
}

impl TryFrom<&str> for Tagged {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Tagged::parse(s)
    }
}

/// A name with a digest, `name@digest` (Distribution's `Canonical`): a
/// reference to immutable content.
///
/// ```
/// use berth_reference::Canonical;
///
/// let c = Canonical::parse(
///     "app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
/// )?;
/// assert_eq!(c.path(), "app");
/// assert_eq!(c.digest().algorithm().name(), "sha256");
/// # Ok::<(), berth_reference::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Canonical {
    name: Name,
    digest: Digest,
}

impl Canonical {
    /// Puts a canonical reference together.
    pub fn new(name: Name, digest: Digest) -> Canonical {
        Canonical { name, digest }
    }

    /// Parses `name@digest` as written (see [`Reference::parse`]); fails
    /// with [`FormatError::MissingDigest`] or [`FormatError::UnexpectedTag`]
    /// when the input is not of that shape.
    pub fn parse(s: &str) -> Result<Canonical, Error> {
        let (name, tag, digest) = Reference::parse(s)?.into_parts();
        match (tag, digest) {
            (Some(_), _) => Err(FormatError::UnexpectedTag.into()),
            (None, None) => Err(FormatError::MissingDigest.into()),
            (None, Some(digest)) => Ok(Canonical { name, digest }),
        }
    }

    /// The repository name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The domain of the name, if it has one.
    pub fn domain(&self) -> Option<&str> {
        self.name.domain()
    }

    /// The path of the name.
    pub fn path(&self) -> &str {
        self.name.path()
    }

    /// The digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// This canonical reference with a tag too.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        Ok(Reference::new(
            self.name.clone(),
            Some(Tag::parse(tag)?),
            Some(self.digest.clone()),
        ))
    }

    /// This name with another digest.
    pub fn with_digest(&self, digest: Digest) -> Canonical {
        Canonical::new(self.name.clone(), digest)
    }

    /// The name alone.
    pub fn trim(&self) -> Name {
        self.name.clone()
    }

    /// Takes the canonical reference apart.
    pub fn into_parts(self) -> (Name, Digest) {
        (self.name, self.digest)
    }

    /// The familiar form of the name (see [`Name::familiar_name`]).
    pub fn familiar_name(&self) -> &str {
        self.name.familiar_name()
    }

    /// The familiar form of the whole, `familiar-name@digest`.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name().to_owned();
        push_suffix(&mut s, None, Some(&self.digest));
        s
    }
}

impl fmt::Display for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_reference(f, self.name.as_str(), None, Some(&self.digest))
    }
}

impl fmt::Debug for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Canonical({:?})", self.to_string())
    }
}

impl FromStr for Canonical {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Canonical::parse(s)
    }
}

impl TryFrom<&str> for Canonical {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Canonical::parse(s)
    }
}

/// What [`AnyReference::parse`] finds: a bare digest (or image ID), or a
/// normalized named reference (Distribution's `ParseAnyReference`).
///
/// ```
/// use berth_reference::AnyReference;
///
/// let id = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// let r = AnyReference::parse(id)?;
/// assert_eq!(r.to_string(), format!("sha256:{id}"));
///
/// let r = AnyReference::parse("redis:7")?;
/// assert_eq!(r.to_string(), "docker.io/library/redis:7");
/// # Ok::<(), berth_reference::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnyReference {
    /// A digest alone: the input was `algorithm:hex`, or a bare 64-hex image
    /// ID read as a sha256 digest. Distribution's `Digested` without a name.
    Digested(Digest),
    /// A named reference, normalized.
    Named(Reference),
}

impl AnyReference {
    /// The digest, whether alone or in a named reference.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            AnyReference::Digested(digest) => Some(digest),
            AnyReference::Named(reference) => reference.digest(),
        }
    }

    /// The name, if there is one.
    pub fn name(&self) -> Option<&Name> {
        match self {
            AnyReference::Digested(_) => None,
            AnyReference::Named(reference) => Some(reference.name()),
        }
    }

    /// The tag, if there is one.
    pub fn tag(&self) -> Option<&Tag> {
        match self {
            AnyReference::Digested(_) => None,
            AnyReference::Named(reference) => reference.tag(),
        }
    }

    /// The familiar form: the digest alone, or the reference's familiar
    /// string.
    pub fn familiar_string(&self) -> String {
        match self {
            AnyReference::Digested(digest) => digest.to_string(),
            AnyReference::Named(reference) => reference.familiar_string(),
        }
    }
}

impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyReference::Digested(digest) => fmt::Display::fmt(digest, f),
            AnyReference::Named(reference) => fmt::Display::fmt(reference, f),
        }
    }
}

impl FromStr for AnyReference {
    type Err = Error;

    /// Same as [`AnyReference::parse`] (normalizing).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AnyReference::parse(s)
    }
}

impl From<Digest> for AnyReference {
    fn from(digest: Digest) -> AnyReference {
        AnyReference::Digested(digest)
    }
}

impl From<Reference> for AnyReference {
    fn from(reference: Reference) -> AnyReference {
        AnyReference::Named(reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_split() {
        assert_eq!(split_tag("a"), ("a", None));
        assert_eq!(split_tag("a:b"), ("a", Some("b")));
        assert_eq!(split_tag("h:1/a"), ("h:1/a", None));
        assert_eq!(split_tag("h:1/a:t"), ("h:1/a", Some("t")));
        assert_eq!(split_tag("a:"), ("a", Some("")));
        assert_eq!(split_tag(":"), ("", Some("")));
        assert_eq!(split_tag("a:b:c"), ("a", Some("b:c")));
    }

    #[test]
    fn written_as() {
        let r = Reference::parse("a/b:c").unwrap();
        assert!(r.is_written_as("a/b:c"));
        assert!(!r.is_written_as("a/b"));
        assert!(!r.is_written_as("a/b:cd"));
        assert!(!r.is_written_as("a/b:c@"));
    }
}
