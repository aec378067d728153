//! Tags.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::Error;
use crate::grammar;

/// A validated tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
///
/// Cloning is cheap (a reference-count increment).
///
/// ```
/// use berth_reference::Tag;
///
/// let tag: Tag = "v1.2.3-rc.1".parse()?;
/// assert_eq!(tag, "v1.2.3-rc.1");
/// assert!(Tag::parse(".hidden").is_err());
/// # Ok::<(), berth_reference::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Arc<str>);

impl Tag {
    /// The tag a name-only reference gets when one is needed: `latest`.
    pub const LATEST: &'static str = "latest";

    /// Parses and validates a tag.
    pub fn parse(s: &str) -> Result<Tag, Error> {
        validate_tag(s)?;
        Ok(Tag(Arc::from(s)))
    }

    /// Builds a tag from a string already checked.
    pub(crate) fn from_checked(s: &str) -> Tag {
        Tag(Arc::from(s))
    }

    /// The `latest` tag.
    pub fn latest() -> Tag {
        Tag(Arc::from(Tag::LATEST))
    }

    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks that `tag` is a valid tag, without allocating unless it is not.
///
/// ```
/// use berth_reference::{Error, validate_tag};
///
/// assert!(validate_tag("latest").is_ok());
/// assert!(matches!(validate_tag("-x"), Err(Error::InvalidTag { .. })));
/// ```
pub fn validate_tag(tag: &str) -> Result<(), Error> {
    grammar::check_tag_error(tag)
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({:?})", &*self.0)
    }
}

impl FromStr for Tag {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tag::parse(s)
    }
}

impl TryFrom<&str> for Tag {
    type Error = Error;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Tag::parse(s)
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Tag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Tag {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Tag {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl From<Tag> for String {
    fn from(tag: Tag) -> String {
        tag.0.to_string()
    }
}
