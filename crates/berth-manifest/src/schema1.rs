//! Docker image manifest v2 schema 1, signed and unsigned: read and serve
//! only.
//!
//! A signed schema 1 manifest is a libtrust "pretty" JWS: the manifest JSON
//! with a `signatures` array spliced in before its closing brace. Each
//! signature's `protected` header (base64url) holds `formatLength` and
//! `formatTail`; the signed payload is the first `formatLength` bytes of the
//! body followed by the base64url-decoded `formatTail`. That payload is what
//! the manifest's digest is computed over, and its fields are what the
//! manifest says. The signatures themselves are not verified (Distribution
//! does not verify them when reading either): a signed manifest is served
//! and digested as stored.

use std::borrow::Cow;
use std::collections::HashSet;

use base64::Engine as _;
use berth_digest::Digest;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::descriptor::{Descriptor, parse_digest};
use crate::error::{At, ManifestError};
use crate::manifest::{ManifestContent, ManifestKind, References};
use crate::media_type::{DOCKER_SCHEMA1_LAYER, DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED};
use crate::policy::ValidationPolicy;
use crate::registry::{ManifestSchema, ParsedManifest};
use crate::wire::{check_schema_version, from_json};

/// A Docker schema 1 manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema1Manifest {
    /// Always 1.
    pub schema_version: u32,
    /// The repository name.
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The CPU architecture.
    pub architecture: String,
    /// The layers, newest first.
    pub fs_layers: Vec<FsLayer>,
    /// One v1 image JSON per layer, newest first.
    pub history: Vec<Schema1History>,
    /// The JWS signatures (empty when unsigned).
    pub signatures: Vec<Schema1Signature>,
    canonical: Bytes,
    references: Vec<Descriptor>,
}

/// A schema 1 layer reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsLayer {
    /// The layer's digest (`blobSum`).
    pub blob_sum: Digest,
}

/// A schema 1 history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema1History {
    /// The v1 image JSON, as a string (`v1Compatibility`).
    pub v1_compatibility: String,
}

/// One libtrust JWS signature of a schema 1 manifest (not verified).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema1Signature {
    /// The unprotected header (`jwk`, `alg`).
    pub header: Map<String, Value>,
    /// The signature, base64url.
    pub signature: String,
    /// The protected header, base64url.
    pub protected: String,
    /// `formatLength` from the protected header.
    pub format_length: usize,
    /// `formatTail` from the protected header, decoded.
    pub format_tail: Vec<u8>,
}

impl Schema1Manifest {
    /// Whether the manifest is signed.
    pub fn is_signed(&self) -> bool {
        !self.signatures.is_empty()
    }

    /// The bytes the digest is computed over: the signed payload, or the
    /// whole body when unsigned.
    pub fn canonical(&self) -> &Bytes {
        &self.canonical
    }
}

impl ManifestContent for Schema1Manifest {
    /// The distinct `blobSum`s in order of first appearance, as descriptors
    /// of media type [`DOCKER_SCHEMA1_LAYER`] and size 0 (schema 1 does not
    /// record sizes).
    fn references(&self) -> References<'_> {
        References::new(None, &self.references)
    }

    fn is_index(&self) -> bool {
        false
    }

    fn digested_payload(&self) -> Option<&Bytes> {
        self.is_signed().then_some(&self.canonical)
    }

    fn validate(&self, _policy: &ValidationPolicy) -> Result<(), ManifestError> {
        for (field, value) in [
            ("name", &self.name),
            ("tag", &self.tag),
            ("architecture", &self.architecture),
        ] {
            if value.is_empty() {
                return Err(ManifestError::MissingField {
                    path: field.to_owned(),
                });
            }
        }
        if self.history.len() != self.fs_layers.len() {
            return Err(ManifestError::HistoryMismatch {
                fs_layers: self.fs_layers.len(),
                history: self.history.len(),
            });
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a schema 1 manifest (a JSON object)")]
struct Envelope {
    signatures: Option<Vec<WireSignature>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JWS signature (a JSON object)")]
struct WireSignature {
    #[serde(default)]
    header: Option<Map<String, Value>>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    protected: Option<String>,
    /// Unused; present so that only a JSON object is accepted.
    #[serde(flatten)]
    _rest: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(expecting = "a JWS protected header (a JSON object)")]
struct ProtectedHeader {
    #[serde(rename = "formatLength")]
    format_length: Option<Number>,
    #[serde(rename = "formatTail")]
    format_tail: Option<String>,
}

#[derive(Deserialize)]
#[serde(expecting = "a schema 1 manifest (a JSON object)")]
struct WireSchema1 {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<Number>,
    name: Option<String>,
    tag: Option<String>,
    architecture: Option<String>,
    #[serde(rename = "fsLayers")]
    fs_layers: Option<Vec<WireFsLayer>>,
    history: Option<Vec<WireHistory>>,
}

#[derive(Deserialize)]
#[serde(expecting = "an fsLayers entry (a JSON object)")]
struct WireFsLayer {
    #[serde(rename = "blobSum")]
    blob_sum: Option<String>,
    /// Unused; present so that only a JSON object is accepted.
    #[serde(flatten)]
    _rest: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(expecting = "a history entry (a JSON object)")]
struct WireHistory {
    #[serde(rename = "v1Compatibility", default)]
    v1_compatibility: Option<String>,
    /// Unused; present so that only a JSON object is accepted.
    #[serde(flatten)]
    _rest: Map<String, Value>,
}

/// Base64url as libtrust writes it (unpadded), also accepting padding.
const BASE64URL: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;

fn invalid(index: usize, reason: impl Into<String>) -> ManifestError {
    ManifestError::InvalidSignature {
        index,
        reason: reason.into(),
    }
}

/// The parser's message of a JSON error, without the prefix.
fn json_message(err: ManifestError) -> String {
    match err {
        ManifestError::InvalidJson { message } => message,
        other => other.to_string(),
    }
}

/// A whole, non-negative number from a JSON number (libtrust reads
/// `formatLength` as a float).
fn whole_number(n: &Number) -> Option<usize> {
    if let Some(u) = n.as_u64() {
        return usize::try_from(u).ok();
    }
    let f = n.as_f64()?;
    if f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64 {
        // Exact: a whole number within u32 range.
        return usize::try_from(f as u64).ok();
    }
    None
}

/// Reads one signature's protected header: `formatLength` and the decoded
/// `formatTail`.
fn read_protected(
    index: usize,
    sig: WireSignature,
    body_len: usize,
) -> Result<Schema1Signature, ManifestError> {
    let protected = sig
        .protected
        .ok_or_else(|| invalid(index, "the protected header is missing"))?;
    let decoded = BASE64URL
        .decode(protected.as_bytes())
        .map_err(|e| invalid(index, format!("not base64url: {e}")))?;
    let header: ProtectedHeader = from_json(&decoded)
        .map_err(|e| invalid(index, format!("not a JSON object: {}", json_message(e))))?;
    let length = header
        .format_length
        .ok_or_else(|| invalid(index, "formatLength is missing"))?;
    let format_length = whole_number(&length).ok_or_else(|| {
        invalid(
            index,
            format!("formatLength {length} is not a whole number"),
        )
    })?;
    if format_length > body_len {
        return Err(invalid(
            index,
            format!("formatLength {format_length} exceeds the manifest's {body_len} bytes"),
        ));
    }
    let tail = header
        .format_tail
        .ok_or_else(|| invalid(index, "formatTail is missing"))?;
    let format_tail = BASE64URL
        .decode(tail.as_bytes())
        .map_err(|e| invalid(index, format!("formatTail is not base64url: {e}")))?;
    Ok(Schema1Signature {
        header: sig.header.unwrap_or_default(),
        signature: sig.signature.unwrap_or_default(),
        protected,
        format_length,
        format_tail,
    })
}

/// The signed payload every signature agrees on.
fn signed_payload(body: &Bytes, signatures: &[Schema1Signature]) -> Result<Bytes, ManifestError> {
    let Some((first, rest)) = signatures.split_first() else {
        return Err(ManifestError::MissingSignatures);
    };
    let head = body
        .get(..first.format_length)
        .ok_or_else(|| invalid(0, "formatLength exceeds the manifest"))?;
    let payload = if first.format_tail.is_empty() {
        body.slice(..first.format_length)
    } else {
        let mut p = Vec::with_capacity(head.len() + first.format_tail.len());
        p.extend_from_slice(head);
        p.extend_from_slice(&first.format_tail);
        Bytes::from(p)
    };
    for (i, sig) in rest.iter().enumerate() {
        let index = i + 1;
        let agrees = sig.format_length.checked_add(sig.format_tail.len()) == Some(payload.len())
            && payload.get(..sig.format_length) == body.get(..sig.format_length)
            && payload.get(sig.format_length..) == Some(sig.format_tail.as_slice());
        if !agrees {
            return Err(ManifestError::SignatureMismatch { index });
        }
    }
    Ok(payload)
}

/// The schema of Docker schema 1 ([`DOCKER_SCHEMA1_SIGNED`] and
/// [`DOCKER_SCHEMA1_MANIFEST`]).
///
/// A body with a non-empty `signatures` array is read as signed whichever
/// of the two types it came as; a body sent as `…+prettyjws` without
/// signatures is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Schema1Schema;

impl ManifestSchema for Schema1Schema {
    fn media_types(&self) -> &[&'static str] {
        &[DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1_MANIFEST]
    }

    fn parse(&self, selected: &str, body: &Bytes) -> Result<ParsedManifest, ManifestError> {
        let envelope: Envelope = from_json(body)?;
        let wire_signatures = envelope.signatures.unwrap_or_default();
        let signed = !wire_signatures.is_empty();
        if !signed && selected.eq_ignore_ascii_case(DOCKER_SCHEMA1_SIGNED) {
            return Err(ManifestError::MissingSignatures);
        }
        let signatures = wire_signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| read_protected(i, s, body.len()))
            .collect::<Result<Vec<_>, _>>()?;
        let canonical = if signed {
            signed_payload(body, &signatures)?
        } else {
            body.clone()
        };
        let wire: WireSchema1 = if signed {
            from_json(&canonical).map_err(|e| {
                invalid(
                    0,
                    format!(
                        "the signed payload is not a valid manifest: {}",
                        json_message(e)
                    ),
                )
            })?
        } else {
            from_json(&canonical)?
        };
        check_schema_version(wire.schema_version.as_ref(), 1)?;
        let required = |value: Option<String>, field: &str| {
            value.ok_or_else(|| ManifestError::MissingField {
                path: field.to_owned(),
            })
        };
        let name = required(wire.name, "name")?;
        let tag = required(wire.tag, "tag")?;
        let architecture = required(wire.architecture, "architecture")?;
        let root = At::ROOT;
        let layers_at = root.field("fsLayers");
        let fs_layers = wire
            .fs_layers
            .ok_or_else(|| ManifestError::MissingField {
                path: "fsLayers".to_owned(),
            })?
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let at = layers_at.index(i);
                parse_digest(l.blob_sum.as_deref(), &at.field("blobSum"))
                    .map(|blob_sum| FsLayer { blob_sum })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let history = wire
            .history
            .unwrap_or_default()
            .into_iter()
            .map(|h| Schema1History {
                v1_compatibility: h.v1_compatibility.unwrap_or_default(),
            })
            .collect();
        let mut seen = HashSet::with_capacity(fs_layers.len());
        let references = fs_layers
            .iter()
            .filter(|l| seen.insert(l.blob_sum.clone()))
            .map(|l| Descriptor::new(DOCKER_SCHEMA1_LAYER, l.blob_sum.clone(), 0))
            .collect();
        let media_type = if signed {
            DOCKER_SCHEMA1_SIGNED
        } else {
            DOCKER_SCHEMA1_MANIFEST
        };
        Ok(ParsedManifest {
            media_type: Cow::Borrowed(media_type),
            kind: ManifestKind::Schema1(Box::new(Schema1Manifest {
                schema_version: 1,
                name,
                tag,
                architecture,
                fs_layers,
                history,
                signatures,
                canonical,
                references,
            })),
        })
    }
}
