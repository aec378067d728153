//! Docker/OCI image references: `[domain/]path[:tag][@digest]`.
//!
//! The grammar, normalization and familiar forms of CNCF Distribution's
//! `reference` package, as typed Rust values with precise errors.
//!
//! ```
//! use berth_reference::{Error, Reference};
//!
//! // As written: the grammar decides what is domain, path, tag and digest.
//! let r = Reference::parse("ghcr.io/acme/api:1.4@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")?;
//! assert_eq!(r.domain(), Some("ghcr.io"));
//! assert_eq!(r.path(), "acme/api");
//! assert_eq!(r.tag().unwrap(), "1.4");
//! assert_eq!(r.digest().unwrap().encoded().len(), 64);
//!
//! // As the Docker CLI reads it: normalized onto Docker Hub, and back.
//! let r = Reference::parse_normalized("ubuntu:22.04")?;
//! assert_eq!(r.to_string(), "docker.io/library/ubuntu:22.04");
//! assert_eq!(r.familiar_string(), "ubuntu:22.04");
//!
//! // Errors say which rule failed.
//! let err = Reference::parse("app/Web").unwrap_err();
//! assert!(matches!(err, Error::NameContainsUppercase { .. }));
//! assert_eq!(
//!     Reference::parse("app/a__-b").unwrap_err().to_string(),
//!     "invalid reference format: path component \"a__-b\" has invalid separator \"__-\" \
//!      (allowed: '.', '_', '__' or a run of '-')",
//! );
//! # Ok::<(), Error>(())
//! ```
//!
//! # Grammar
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path
//! domain           := host [ ":" port ]
//! host             := domain-name | "[" [a-fA-F0-9:]+ "]"
//! domain-name      := domain-label ( "." domain-label )*     (IPv4 addresses included)
//! domain-label     := [a-zA-Z0-9] | [a-zA-Z0-9] [a-zA-Z0-9-]* [a-zA-Z0-9]
//! port             := [0-9]+
//! path             := path-component ( "/" path-component )*
//! path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator        := "." | "_" | "__" | "-"+
//! tag              := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest           := algorithm ":" hex                        (see berth_digest::Digest)
//! identifier       := [a-f0-9]{64}                             (an image ID)
//! ```
//!
//! A name has a domain when it has a `/` and the part before the first `/`
//! is a valid domain; so `foo/bar` has domain `foo` as written (normalization
//! is what puts it under `docker.io`). A name is at most
//! [`NAME_TOTAL_LENGTH_MAX`] characters, domain included.
//!
//! # Map from Distribution
//!
//! | Distribution (`reference`) | here |
//! |---|---|
//! | `Parse` | [`Reference::parse`] |
//! | `ParseNormalizedNamed` | [`Reference::parse_normalized`], [`Name::parse_normalized`] |
//! | `ParseNamed` | [`Reference::parse_named`] |
//! | `ParseDockerRef` | [`Reference::parse_docker`] |
//! | `ParseAnyReference` | [`AnyReference::parse`] |
//! | `WithName` | [`Name::parse`] |
//! | `WithTag`, `WithDigest` | `with_tag`, `with_digest` on each type |
//! | `TrimNamed` | `trim` |
//! | `TagNameOnly` | [`Reference::tag_name_only`] |
//! | `FamiliarName`, `FamiliarString` | `familiar_name`, `familiar_string` |
//! | `Named`, `NamedTagged`, `Canonical`, `Digested` | [`Name`], [`Tagged`], [`Canonical`], [`AnyReference::Digested`] |
//!
//! For a registry's HTTP layer, [`validate_repository_name`] (the OCI
//! specification's `<name>` rule), [`validate_name`] (Distribution's, which
//! also admits a domain-like first component) and [`validate_tag`] check a
//! name and a tag without allocating.
//!
//! With the `serde` feature (on by default) every type serializes as its
//! string form and deserializes through its `FromStr` (which, for
//! [`Reference`], does not normalize).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod grammar;
mod name;
mod normalize;
mod reference;
#[cfg(feature = "serde")]
mod serde_impls;
mod tag;

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use berth_digest::Digest;
pub use error::{ComponentProblem, DomainProblem, Error, FormatError, TagError};
pub use name::{Name, RepositoryName, validate_name, validate_repository_name};
pub use reference::{AnyReference, Canonical, Reference, Tagged};
pub use tag::{Tag, validate_tag};

/// The longest a name may be, domain and `/` included.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// The longest a tag may be.
pub const TAG_LENGTH_MAX: usize = 128;

/// The domain of Docker Hub, where normalization puts names without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";

/// The legacy Docker Hub domain, normalized to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";

/// The namespace of Docker Hub's official images, under which normalization
/// puts single-component names.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
