//! OCI image manifests and indexes (image-spec v1.1).

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;

use crate::descriptor::Descriptor;
use crate::error::{At, ManifestError, excerpt};
use crate::manifest::{ManifestContent, ManifestKind, References};
use crate::media_type::{self, OCI_INDEX, OCI_MANIFEST};
use crate::policy::ValidationPolicy;
use crate::registry::{ManifestSchema, ParsedManifest};
use crate::wire::{
    WireImage, WireIndex, check_artifact_type, check_declared_media_type, check_index_entries,
    check_layer_urls, check_schema_version, check_subject, from_json, optional_subject,
    required_descriptor, required_list,
};

/// An OCI image manifest: an image, or (with `artifactType` or a non-image
/// config) an artifact.
///
/// Top-level fields the image-spec does not define are not modelled; they
/// stay in the manifest's payload, which is what is stored and served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OciManifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The `mediaType` field, which OCI allows to be absent.
    #[serde(rename = "mediaType", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact's type, for artifacts.
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The configuration blob (the empty descriptor for most artifacts).
    pub config: Descriptor,
    /// The layers, base first (for an artifact, its blobs).
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (signatures, SBOMs, attestations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index: a list of manifests, usually one per platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OciIndex {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// The `mediaType` field, which OCI allows to be absent.
    #[serde(rename = "mediaType", skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact's type, when the index is an artifact.
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The entries.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn non_empty(map: &BTreeMap<String, String>) -> Option<&BTreeMap<String, String>> {
    (!map.is_empty()).then_some(map)
}

impl ManifestContent for OciManifest {
    fn references(&self) -> References<'_> {
        References::new(Some(&self.config), &self.layers)
    }

    fn is_index(&self) -> bool {
        false
    }

    fn config(&self) -> Option<&Descriptor> {
        Some(&self.config)
    }

    fn subject(&self) -> Option<&Descriptor> {
        self.subject.as_ref()
    }

    /// `artifactType`, else the config's media type (the OCI referrers
    /// rule).
    fn artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .or_else(|| Some(self.config.media_type.as_str()).filter(|t| !t.is_empty()))
    }

    fn annotations(&self) -> Option<&BTreeMap<String, String>> {
        non_empty(&self.annotations)
    }

    fn validate(&self, policy: &ValidationPolicy) -> Result<(), ManifestError> {
        let root = At::ROOT;
        check_artifact_type(self.artifact_type.as_deref())?;
        self.config.check(&root.field("config"))?;
        if self.config.is_empty_type() && self.artifact_type.is_none() {
            return Err(ManifestError::MissingArtifactType);
        }
        let layers = root.field("layers");
        for (i, layer) in self.layers.iter().enumerate() {
            let at = layers.index(i);
            layer.check(&at)?;
            check_not_manifest_or_config(layer, &at)?;
            check_layer_urls(layer, &at, policy)?;
        }
        check_subject(self.subject.as_ref())
    }
}

/// An OCI layer may be any blob (artifacts, cosign signatures and BuildKit
/// attestations use their own types) but not a manifest, an index or an
/// image config.
fn check_not_manifest_or_config(layer: &Descriptor, at: &At<'_>) -> Result<(), ManifestError> {
    if media_type::is_manifest(&layer.media_type) || media_type::is_config(&layer.media_type) {
        return Err(ManifestError::InvalidLayerMediaType {
            path: at.field("mediaType").path(),
            media_type: excerpt(&layer.media_type),
            expected: "a layer (not a manifest, an index or an image config)",
        });
    }
    Ok(())
}

impl ManifestContent for OciIndex {
    fn references(&self) -> References<'_> {
        References::new(None, &self.manifests)
    }

    fn is_index(&self) -> bool {
        true
    }

    fn subject(&self) -> Option<&Descriptor> {
        self.subject.as_ref()
    }

    fn artifact_type(&self) -> Option<&str> {
        self.artifact_type.as_deref().filter(|t| !t.is_empty())
    }

    fn annotations(&self) -> Option<&BTreeMap<String, String>> {
        non_empty(&self.annotations)
    }

    fn validate(&self, policy: &ValidationPolicy) -> Result<(), ManifestError> {
        check_artifact_type(self.artifact_type.as_deref())?;
        check_index_entries(&self.manifests, policy)?;
        check_subject(self.subject.as_ref())
    }
}

/// The schema of [`OCI_MANIFEST`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OciManifestSchema;

impl ManifestSchema for OciManifestSchema {
    fn media_types(&self) -> &[&'static str] {
        &[OCI_MANIFEST]
    }

    fn parse(&self, selected: &str, body: &Bytes) -> Result<ParsedManifest, ManifestError> {
        let wire: WireImage = from_json(body)?;
        check_declared_media_type(selected, wire.media_type.as_deref())?;
        check_schema_version(wire.schema_version.as_ref(), 2)?;
        if wire.manifests.is_some() {
            return Err(ManifestError::Ambiguous {
                path: "manifests".to_owned(),
                kind: "an image manifest",
            });
        }
        let manifest = OciManifest {
            schema_version: 2,
            media_type: wire.media_type,
            artifact_type: wire.artifact_type,
            config: required_descriptor(wire.config, "config")?,
            layers: required_list(wire.layers, "layers")?,
            subject: optional_subject(wire.subject)?,
            annotations: wire.annotations.unwrap_or_default(),
        };
        Ok(ParsedManifest {
            media_type: Cow::Borrowed(OCI_MANIFEST),
            kind: ManifestKind::OciImage(Box::new(manifest)),
        })
    }
}

/// The schema of [`OCI_INDEX`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OciIndexSchema;

impl ManifestSchema for OciIndexSchema {
    fn media_types(&self) -> &[&'static str] {
        &[OCI_INDEX]
    }

    fn parse(&self, selected: &str, body: &Bytes) -> Result<ParsedManifest, ManifestError> {
        let wire: WireIndex = from_json(body)?;
        check_declared_media_type(selected, wire.media_type.as_deref())?;
        check_schema_version(wire.schema_version.as_ref(), 2)?;
        for (field, present) in [
            ("config", wire.config.is_some()),
            ("layers", wire.layers.is_some()),
        ] {
            if present {
                return Err(ManifestError::Ambiguous {
                    path: field.to_owned(),
                    kind: "an image index",
                });
            }
        }
        let index = OciIndex {
            schema_version: 2,
            media_type: wire.media_type,
            artifact_type: wire.artifact_type,
            manifests: required_list(wire.manifests, "manifests")?,
            subject: optional_subject(wire.subject)?,
            annotations: wire.annotations.unwrap_or_default(),
        };
        Ok(ParsedManifest {
            media_type: Cow::Borrowed(OCI_INDEX),
            kind: ManifestKind::OciIndex(Box::new(index)),
        })
    }
}
