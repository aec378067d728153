//! OCI and Docker image manifests for a container registry.
//!
//! A [`ManifestRegistry`] turns a pushed body and its Content-Type into a
//! [`Manifest`]: the payload bytes exactly as sent, their [`Digest`], the
//! media type, and the typed form ([`ManifestKind`]) with its references.
//! Nothing is ever re-serialized, so the digest is always that of the bytes
//! stored and served.
//!
//! ```
//! use berth_manifest::{ManifestKind, ManifestRegistry, media_type};
//! use bytes::Bytes;
//!
//! let body = Bytes::from_static(br#"{
//!   "schemaVersion": 2,
//!   "mediaType": "application/vnd.oci.image.manifest.v1+json",
//!   "config": {
//!     "mediaType": "application/vnd.oci.image.config.v1+json",
//!     "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
//!     "size": 2
//!   },
//!   "layers": [{
//!     "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
//!     "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
//!     "size": 0
//!   }]
//! }"#);
//!
//! let registry = ManifestRegistry::new();
//! let manifest = registry.parse(Some(media_type::OCI_MANIFEST), body.clone())?;
//!
//! assert_eq!(manifest.media_type(), media_type::OCI_MANIFEST);
//! assert_eq!(manifest.payload(), &body); // verbatim
//! assert_eq!(manifest.digest(), &berth_digest::Digest::sha256(&body));
//! assert!(!manifest.is_index());
//! assert_eq!(manifest.references().count(), 2); // config + one layer
//! assert!(matches!(manifest.kind(), ManifestKind::OciImage(m) if m.layers.len() == 1));
//!
//! // Bad input names the bad part.
//! let bad = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:abc","size":2},"layers":[]}"#;
//! let err = registry.parse(None, Bytes::from_static(bad)).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "config.digest: invalid digest \"sha256:abc\": invalid sha256 digest length: expected 64 hex characters, got 3"
//! );
//! # Ok::<(), berth_manifest::ManifestError>(())
//! ```
//!
//! Supported schemas: OCI image manifest and index (image-spec v1.1, with
//! `subject`, `artifactType`, `annotations`), Docker image manifest v2
//! schema 2 and manifest list, and Docker schema 1 (signed and unsigned,
//! for reading and serving stored content). Every rule checked is listed in
//! `docs/manifests.md` at the root of the berth repository.
//!
//! The modules: [`media_type`] (constants and classification), and at the
//! root [`Descriptor`] and [`Platform`], the typed manifests
//! ([`OciManifest`], [`OciIndex`], [`DockerManifest`],
//! [`DockerManifestList`], [`Schema1Manifest`]), [`Manifest`],
//! [`ManifestRegistry`] with its [`ManifestSchema`] trait for adding
//! schemas, [`ValidationPolicy`] and [`ManifestError`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod descriptor;
mod docker;
mod error;
mod manifest;
pub mod media_type;
mod oci;
mod policy;
mod registry;
mod schema1;
mod wire;

pub use berth_digest::{Algorithm, Digest};
pub use descriptor::{Descriptor, Platform};
pub use docker::{
    DockerManifest, DockerManifestList, DockerManifestListSchema, DockerManifestSchema,
};
pub use error::ManifestError;
pub use manifest::{Manifest, ManifestContent, ManifestKind, References};
pub use oci::{OciIndex, OciIndexSchema, OciManifest, OciManifestSchema};
pub use policy::{UrlRejection, ValidationPolicy};
pub use registry::{MAX_MANIFEST_SIZE, ManifestRegistry, ManifestSchema, ParsedManifest};
pub use schema1::{FsLayer, Schema1History, Schema1Manifest, Schema1Schema, Schema1Signature};
pub use wire::check_declared_media_type;

impl From<serde_json::Error> for ManifestError {
    fn from(err: serde_json::Error) -> ManifestError {
        ManifestError::json(&err)
    }
}

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
