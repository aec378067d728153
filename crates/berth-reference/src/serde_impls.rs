//! `Serialize`/`Deserialize` as strings (feature `serde`).

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{AnyReference, Canonical, Error, Name, Reference, RepositoryName, Tag, Tagged};

/// Deserializes any `FromStr<Err = Error>` type from a string, borrowing it
/// when the format allows.
struct StrVisitor<T>(PhantomData<T>, &'static str);

impl<T: FromStr<Err = Error>> Visitor<'_> for StrVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

macro_rules! string_serde {
    ($($ty:ty => $expecting:literal),* $(,)?) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(StrVisitor(PhantomData, $expecting))
            }
        }
    )*};
}

string_serde! {
    Name => "a repository name",
    RepositoryName => "a repository path",
    Tag => "a tag",
    Reference => "an image reference",
    Tagged => "an image reference with a tag",
    Canonical => "an image reference with a digest",
    AnyReference => "an image reference or digest",
}
