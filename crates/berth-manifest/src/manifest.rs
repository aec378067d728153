//! A parsed manifest: its verbatim bytes, digest and typed form.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use berth_digest::{Algorithm, Digest};
use bytes::Bytes;

use crate::descriptor::Descriptor;
use crate::docker::{DockerManifest, DockerManifestList};
use crate::error::ManifestError;
use crate::media_type;
use crate::oci::{OciIndex, OciManifest};
use crate::policy::ValidationPolicy;
use crate::schema1::Schema1Manifest;

/// What every typed manifest answers. The built-in schemas' types implement
/// it; a schema registered from outside this crate implements it for its own
/// type and wraps it in [`ManifestKind::Custom`].
pub trait ManifestContent: fmt::Debug + Send + Sync {
    /// The descriptors this manifest references: for an image, its config
    /// then its layers; for an index, its entries. The `subject` is not a
    /// reference (it need not exist when the manifest is pushed).
    fn references(&self) -> References<'_>;

    /// Whether this is an index (it references manifests) rather than an
    /// image (it references blobs).
    fn is_index(&self) -> bool;

    /// The config descriptor of an image manifest.
    fn config(&self) -> Option<&Descriptor> {
        None
    }

    /// The manifest this one refers to (OCI `subject`).
    fn subject(&self) -> Option<&Descriptor> {
        None
    }

    /// The artifact type as the OCI referrers API reports it.
    fn artifact_type(&self) -> Option<&str> {
        None
    }

    /// The manifest's annotations, if it has any.
    fn annotations(&self) -> Option<&BTreeMap<String, String>> {
        None
    }

    /// The bytes the digest is computed over, when they are not the payload
    /// (schema 1 signed manifests: the signed payload).
    fn digested_payload(&self) -> Option<&Bytes> {
        None
    }

    /// Checks the schema's rules and the policy.
    fn validate(&self, policy: &ValidationPolicy) -> Result<(), ManifestError>;
}

/// An iterator over a manifest's references: an optional first descriptor
/// (an image's config) and then a slice (layers, or index entries).
#[derive(Debug, Clone)]
pub struct References<'a> {
    first: Option<&'a Descriptor>,
    rest: std::slice::Iter<'a, Descriptor>,
}

impl<'a> References<'a> {
    /// `first` (if any), then every element of `rest`.
    pub fn new(first: Option<&'a Descriptor>, rest: &'a [Descriptor]) -> References<'a> {
        References {
            first,
            rest: rest.iter(),
        }
    }
}

impl<'a> Iterator for References<'a> {
    type Item = &'a Descriptor;

    fn next(&mut self) -> Option<&'a Descriptor> {
        self.first.take().or_else(|| self.rest.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.first.is_some()) + self.rest.len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for References<'_> {}

/// The typed form of a manifest, one variant per schema.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ManifestKind {
    /// Docker image manifest, version 2 schema 2.
    DockerV2(Box<DockerManifest>),
    /// Docker manifest list.
    DockerList(Box<DockerManifestList>),
    /// OCI image manifest (images and artifacts).
    OciImage(Box<OciManifest>),
    /// OCI image index.
    OciIndex(Box<OciIndex>),
    /// Docker schema 1, signed or not (read and serve only).
    Schema1(Box<Schema1Manifest>),
    /// A schema registered from outside this crate.
    Custom(Arc<dyn ManifestContent>),
}

impl ManifestKind {
    /// The typed manifest as the common trait.
    pub fn content(&self) -> &dyn ManifestContent {
        match self {
            ManifestKind::DockerV2(m) => m.as_ref(),
            ManifestKind::DockerList(m) => m.as_ref(),
            ManifestKind::OciImage(m) => m.as_ref(),
            ManifestKind::OciIndex(m) => m.as_ref(),
            ManifestKind::Schema1(m) => m.as_ref(),
            ManifestKind::Custom(m) => m.as_ref(),
        }
    }
}

static NO_ANNOTATIONS: BTreeMap<String, String> = BTreeMap::new();

/// A manifest as received: the payload bytes exactly as sent, their digest,
/// the media type it was recognised as, and its typed form.
///
/// Built by [`ManifestRegistry::parse`](crate::ManifestRegistry::parse). The
/// payload is never re-serialized: what is stored and served is what the
/// client sent, and the digest is of those bytes (for a signed schema 1
/// manifest, of its signed payload, as Distribution computes it).
#[derive(Debug, Clone)]
pub struct Manifest {
    media_type: Cow<'static, str>,
    payload: Bytes,
    digest: Digest,
    kind: ManifestKind,
}

impl Manifest {
    pub(crate) fn new(
        media_type: Cow<'static, str>,
        payload: Bytes,
        kind: ManifestKind,
        algorithm: Algorithm,
    ) -> Manifest {
        let digest = algorithm.digest(kind.content().digested_payload().unwrap_or(&payload));
        Manifest {
            media_type,
            payload,
            digest,
            kind,
        }
    }

    /// The manifest's media type, in its canonical spelling (the one to send
    /// as `Content-Type` when serving it).
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The payload, byte for byte as received.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The payload, taken out.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    /// The payload's length in bytes.
    pub fn size(&self) -> usize {
        self.payload.len()
    }

    /// The manifest's digest with the registry's algorithm (sha256 unless
    /// configured otherwise).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The manifest's digest with another algorithm.
    pub fn digest_with(&self, algorithm: Algorithm) -> Digest {
        if algorithm == self.digest.algorithm() {
            return self.digest.clone();
        }
        algorithm.digest(self.digested_bytes())
    }

    /// The bytes the digest is computed over: the payload, or for a signed
    /// schema 1 manifest its signed (canonical) payload.
    pub fn digested_bytes(&self) -> &Bytes {
        self.kind
            .content()
            .digested_payload()
            .unwrap_or(&self.payload)
    }

    /// A descriptor of this manifest (media type, digest, size, and for an
    /// OCI manifest its `artifactType` and annotations), as an index entry
    /// or a referrers list would carry it.
    pub fn descriptor(&self) -> Descriptor {
        let size = i64::try_from(self.payload.len()).unwrap_or(i64::MAX);
        let mut d = Descriptor::new(self.media_type.as_ref(), self.digest.clone(), size);
        d.artifact_type = self.artifact_type().map(str::to_owned);
        d.annotations = self.annotations().clone();
        d
    }

    /// The typed form.
    pub fn kind(&self) -> &ManifestKind {
        &self.kind
    }

    /// The typed form, taken out.
    pub fn into_kind(self) -> ManifestKind {
        self.kind
    }

    /// Every descriptor the manifest references: config then layers, or the
    /// index entries, or schema 1's distinct `blobSum`s.
    pub fn references(&self) -> References<'_> {
        self.kind.content().references()
    }

    /// The references that are blobs: all of an image's; the entries of an
    /// index whose media type is a known blob type (layers, configs, the
    /// empty type; BuildKit's cache index has such entries).
    pub fn blob_references(&self) -> impl Iterator<Item = &Descriptor> + '_ {
        let index = self.is_index();
        self.references()
            .filter(move |d| !index || media_type::is_known_blob(&d.media_type))
    }

    /// The references that are manifests: the entries of an index that are
    /// not known blob types. Empty for an image.
    pub fn manifest_references(&self) -> impl Iterator<Item = &Descriptor> + '_ {
        let index = self.is_index();
        self.references()
            .filter(move |d| index && !media_type::is_known_blob(&d.media_type))
    }

    /// Whether this is an index (OCI index, Docker manifest list) rather
    /// than an image.
    pub fn is_index(&self) -> bool {
        self.kind.content().is_index()
    }

    /// Whether this is a Docker schema 1 manifest.
    pub fn is_schema1(&self) -> bool {
        matches!(self.kind, ManifestKind::Schema1(_))
    }

    /// The config descriptor of an image manifest.
    pub fn config(&self) -> Option<&Descriptor> {
        self.kind.content().config()
    }

    /// The OCI `subject`.
    pub fn subject(&self) -> Option<&Descriptor> {
        self.kind.content().subject()
    }

    /// The artifact type as the OCI referrers API reports it: the
    /// manifest's `artifactType`, or for an OCI image manifest without one
    /// its config's media type. `None` for Docker manifests and schema 1.
    pub fn artifact_type(&self) -> Option<&str> {
        self.kind.content().artifact_type()
    }

    /// The manifest's annotations (empty when it has none).
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        self.kind.content().annotations().unwrap_or(&NO_ANNOTATIONS)
    }

    /// Checks the schema's rules and `policy`.
    /// [`ManifestRegistry::parse`](crate::ManifestRegistry::parse) already
    /// did with the registry's policy.
    pub fn validate(&self, policy: &ValidationPolicy) -> Result<(), ManifestError> {
        self.kind.content().validate(policy)
    }
}
