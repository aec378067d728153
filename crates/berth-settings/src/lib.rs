//! Reading a library's settings out of a Distribution-style YAML
//! configuration, with the full key path of every value at hand: errors
//! that name the key (and the `REGISTRY_*` environment variable that set
//! it), the bad value and what is allowed; warnings for unknown keys;
//! reports of keys known but not supported yet; Go's lenient forms
//! (numbers and booleans as strings, YAML 1.1 booleans, Go durations).
//!
//! A [`Reader`] holds one reading pass (the environment's origins, the
//! warnings); a [`Section`] is one mapping being read, which remembers
//! the keys taken so that [`Section::finish`] can report the rest.
//!
//! ```
//! use berth_settings::{Origins, Reader, Section, SettingError};
//!
//! let yaml: serde_yaml::Value =
//!     serde_yaml::from_str("redis: {db: two, dialtimeout: 5s, colour: blue}").unwrap();
//! let origins = Origins::default();
//! let mut reader = Reader::new(&origins);
//! let mut root = Section::new(&reader, "", &yaml).unwrap();
//! let mut redis = root.child(&reader, "redis").unwrap();
//! let timeout = redis.duration(&reader, "dialtimeout").unwrap();
//! assert_eq!(timeout, Some(std::time::Duration::from_secs(5)));
//! let err: SettingError = redis.unsigned(&reader, "db").unwrap_err();
//! assert_eq!(err.to_string(), "redis.db: \"two\" is not valid: expected a non-negative integer");
//! redis.finish(&mut reader);
//! assert_eq!(reader.warnings, ["unknown configuration key redis.colour; ignored"]);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod headers;
pub mod keys;
mod reader;
pub mod ser;

pub use error::{Location, SettingError};
pub use headers::Headers;
pub use reader::{Origins, Reader, Section, describe, index, join, key_text, untagged};

/// What a secret is shown as in dumps of a configuration.
pub const MASK: &str = "*****";

/// The README's examples, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
