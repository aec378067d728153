//! The media-type registry: bytes and a Content-Type in, a typed manifest
//! out.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use berth_digest::Algorithm;
use bytes::Bytes;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Number;

use crate::docker::{DockerManifestListSchema, DockerManifestSchema};
use crate::error::{ManifestError, excerpt};
use crate::manifest::{Manifest, ManifestKind};
use crate::media_type::{
    self, DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED, OCI_INDEX, OCI_MANIFEST,
};
use crate::oci::{OciIndexSchema, OciManifestSchema};
use crate::policy::ValidationPolicy;
use crate::schema1::Schema1Schema;
use crate::wire::from_json;

/// The largest manifest accepted: 4 MiB, as Distribution.
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// One manifest schema: the media types it handles and how it parses them.
///
/// Each schema is independent; a new one is added with
/// [`ManifestRegistry::register`] without touching the others.
pub trait ManifestSchema: fmt::Debug + Send + Sync {
    /// The media types this schema parses, in their canonical (lowercase)
    /// spelling.
    fn media_types(&self) -> &[&'static str];

    /// Parses `body` as `selected`, one of [`media_types`](Self::media_types)
    /// (chosen from the Content-Type, or from the body when the Content-Type
    /// was generic). It must refuse a body whose own `mediaType` contradicts
    /// `selected` (see [`check_declared_media_type`](crate::check_declared_media_type)),
    /// and leave the rules to [`ManifestContent::validate`](crate::ManifestContent::validate).
    fn parse(&self, selected: &str, body: &Bytes) -> Result<ParsedManifest, ManifestError>;
}

/// What a [`ManifestSchema`] makes of a body.
#[derive(Debug, Clone)]
pub struct ParsedManifest {
    /// The manifest's media type, canonical spelling.
    pub media_type: Cow<'static, str>,
    /// The typed manifest.
    pub kind: ManifestKind,
}

/// Maps media types to schemas and parses manifests.
///
/// [`ManifestRegistry::new`] knows every built-in schema: OCI image manifest
/// and index, Docker schema 2 manifest and manifest list, Docker schema 1
/// signed and unsigned.
///
/// How the schema is chosen:
///
/// 1. The Content-Type's media type (parameters dropped, any casing), unless
///    it is absent, empty, `application/json` or `application/octet-stream`.
///    An unknown one is [`ManifestError::UnsupportedMediaType`].
/// 2. Otherwise the body: `schemaVersion` 1 is schema 1 (signed if it has
///    `signatures`); else its `mediaType`; else an OCI index if it has
///    `manifests`, an OCI image manifest if it has `config`; else
///    [`ManifestError::UnknownSchema`].
///
/// A body whose `mediaType` contradicts the Content-Type is
/// [`ManifestError::MediaTypeMismatch`]; a body without `mediaType` is
/// accepted where the schema allows it (OCI).
#[derive(Debug, Clone)]
pub struct ManifestRegistry {
    entries: Vec<(&'static str, Arc<dyn ManifestSchema>)>,
    policy: ValidationPolicy,
    algorithm: Algorithm,
}

impl Default for ManifestRegistry {
    fn default() -> ManifestRegistry {
        ManifestRegistry::new()
    }
}

/// The fields the body is sniffed by when the Content-Type is generic.
#[derive(Deserialize)]
#[serde(expecting = "a manifest (a JSON object)")]
struct Sniff {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<Number>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<IgnoredAny>,
    config: Option<IgnoredAny>,
    signatures: Option<IgnoredAny>,
}

impl ManifestRegistry {
    /// A registry with every built-in schema, the default
    /// [`ValidationPolicy`] and sha256 digests.
    pub fn new() -> ManifestRegistry {
        let mut registry = ManifestRegistry::empty();
        registry.register(Arc::new(OciIndexSchema));
        registry.register(Arc::new(OciManifestSchema));
        registry.register(Arc::new(DockerManifestListSchema));
        registry.register(Arc::new(DockerManifestSchema));
        registry.register(Arc::new(Schema1Schema));
        registry
    }

    /// A registry with no schema at all.
    pub fn empty() -> ManifestRegistry {
        ManifestRegistry {
            entries: Vec::new(),
            policy: ValidationPolicy::default(),
            algorithm: Algorithm::CANONICAL,
        }
    }

    /// Adds a schema. It takes over any media type another schema had.
    pub fn register(&mut self, schema: Arc<dyn ManifestSchema>) -> &mut ManifestRegistry {
        for &media_type in schema.media_types() {
            self.entries
                .retain(|(m, _)| !m.eq_ignore_ascii_case(media_type));
            self.entries.push((media_type, Arc::clone(&schema)));
        }
        self
    }

    /// Uses `policy` for [`parse`](Self::parse).
    pub fn with_policy(mut self, policy: ValidationPolicy) -> ManifestRegistry {
        self.policy = policy;
        self
    }

    /// Computes manifest digests with `algorithm` (sha256 by default).
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> ManifestRegistry {
        self.algorithm = algorithm;
        self
    }

    /// The validation policy.
    pub fn policy(&self) -> &ValidationPolicy {
        &self.policy
    }

    /// The digest algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Every media type a schema is registered for, in registration order.
    pub fn media_types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|(m, _)| *m)
    }

    /// Whether `media_type` (any casing, parameters ignored) has a schema.
    pub fn supports(&self, media_type: &str) -> bool {
        media_type::essence(media_type).is_some_and(|m| self.lookup(m).is_some())
    }

    /// The registered media types joined for an `Accept` header.
    pub fn accept_header(&self) -> String {
        self.media_types().collect::<Vec<_>>().join(", ")
    }

    /// Parses and validates a manifest being pushed: size limit, schema
    /// choice, the schema's structure, then its rules and the registry's
    /// policy.
    pub fn parse(
        &self,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Manifest, ManifestError> {
        let manifest = self.parse_unvalidated(content_type, body)?;
        manifest.validate(&self.policy)?;
        Ok(manifest)
    }

    /// Parses a manifest without checking the schema's rules or the policy:
    /// only what a typed value needs (valid JSON of the right shape, the
    /// schema version, the media type, required fields, valid digests and
    /// integer sizes). For content already stored, which an earlier, more
    /// lenient registry (Distribution) may have accepted.
    pub fn parse_unvalidated(
        &self,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Manifest, ManifestError> {
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge {
                size: body.len(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        if body.is_empty() {
            return Err(ManifestError::Empty);
        }
        let (selected, schema) = self.select(content_type, &body)?;
        let parsed = schema.parse(selected, &body)?;
        Ok(Manifest::new(
            parsed.media_type,
            body,
            parsed.kind,
            self.algorithm,
        ))
    }

    fn lookup(&self, media_type: &str) -> Option<(&'static str, &dyn ManifestSchema)> {
        self.entries
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(media_type))
            .map(|(m, s)| (*m, s.as_ref()))
    }

    fn lookup_or_unsupported(
        &self,
        media_type: &str,
    ) -> Result<(&'static str, &dyn ManifestSchema), ManifestError> {
        self.lookup(media_type)
            .ok_or_else(|| ManifestError::UnsupportedMediaType {
                media_type: excerpt(media_type),
            })
    }

    fn select(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(&'static str, &dyn ManifestSchema), ManifestError> {
        if !media_type::is_generic_content_type(content_type)
            && let Some(essence) = content_type.and_then(media_type::essence)
        {
            return self.lookup_or_unsupported(essence);
        }
        let sniff: Sniff = from_json(body)?;
        if sniff.schema_version.as_ref().and_then(Number::as_u64) == Some(1) {
            let media_type = if sniff.signatures.is_some() {
                DOCKER_SCHEMA1_SIGNED
            } else {
                DOCKER_SCHEMA1_MANIFEST
            };
            return self.lookup_or_unsupported(media_type);
        }
        if let Some(declared) = sniff.media_type.as_deref().filter(|m| !m.is_empty()) {
            return self.lookup_or_unsupported(declared);
        }
        if sniff.manifests.is_some() {
            return self.lookup_or_unsupported(OCI_INDEX);
        }
        if sniff.config.is_some() {
            return self.lookup_or_unsupported(OCI_MANIFEST);
        }
        Err(ManifestError::UnknownSchema)
    }
}
