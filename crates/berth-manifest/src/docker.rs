//! Docker image manifest v2 schema 2 and manifest lists.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Serialize;

use crate::descriptor::Descriptor;
use crate::error::{At, ManifestError, excerpt};
use crate::manifest::{ManifestContent, ManifestKind, References};
use crate::media_type::{self, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2};
use crate::policy::ValidationPolicy;
use crate::registry::{ManifestSchema, ParsedManifest};
use crate::wire::{
    WireImage, WireIndex, check_declared_media_type, check_index_entries, check_layer_urls,
    check_schema_version, from_json, required_descriptor, required_list,
};

/// A Docker image manifest, version 2 schema 2.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerManifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Always [`DOCKER_MANIFEST_V2`] (required in the body).
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The container (or plugin) configuration.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

/// A Docker manifest list: one manifest per platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DockerManifestList {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Always [`DOCKER_MANIFEST_LIST`] (required in the body).
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The entries.
    pub manifests: Vec<Descriptor>,
}

const CONFIG_TYPES: &str = "a Docker container config (application/vnd.docker.container.image.v1+json), a Docker plugin config (application/vnd.docker.plugin.v1+json) or an OCI image config";
const LAYER_TYPES: &str =
    "a Docker schema 2 layer (a Docker rootfs diff or foreign type, or an OCI layer type)";

impl ManifestContent for DockerManifest {
    fn references(&self) -> References<'_> {
        References::new(Some(&self.config), &self.layers)
    }

    fn is_index(&self) -> bool {
        false
    }

    fn config(&self) -> Option<&Descriptor> {
        Some(&self.config)
    }

    fn validate(&self, policy: &ValidationPolicy) -> Result<(), ManifestError> {
        let root = At::ROOT;
        let config = root.field("config");
        self.config.check(&config)?;
        if !media_type::is_config(&self.config.media_type) {
            return Err(ManifestError::InvalidConfigMediaType {
                path: config.field("mediaType").path(),
                media_type: excerpt(&self.config.media_type),
                expected: CONFIG_TYPES,
            });
        }
        let layers = root.field("layers");
        for (i, layer) in self.layers.iter().enumerate() {
            let at = layers.index(i);
            layer.check(&at)?;
            if !media_type::is_oci_layer(&layer.media_type)
                && !media_type::is_docker_layer(&layer.media_type)
            {
                return Err(ManifestError::InvalidLayerMediaType {
                    path: at.field("mediaType").path(),
                    media_type: excerpt(&layer.media_type),
                    expected: LAYER_TYPES,
                });
            }
            check_layer_urls(layer, &at, policy)?;
        }
        Ok(())
    }
}

impl ManifestContent for DockerManifestList {
    fn references(&self) -> References<'_> {
        References::new(None, &self.manifests)
    }

    fn is_index(&self) -> bool {
        true
    }

    fn validate(&self, policy: &ValidationPolicy) -> Result<(), ManifestError> {
        check_index_entries(&self.manifests, policy)
    }
}

/// Docker requires the body's `mediaType` (unlike OCI).
fn required_media_type(declared: Option<String>) -> Result<String, ManifestError> {
    match declared {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(ManifestError::MissingField {
            path: "mediaType".to_owned(),
        }),
    }
}

/// The schema of [`DOCKER_MANIFEST_V2`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerManifestSchema;

impl ManifestSchema for DockerManifestSchema {
    fn media_types(&self) -> &[&'static str] {
        &[DOCKER_MANIFEST_V2]
    }

    fn parse(&self, selected: &str, body: &Bytes) -> Result<ParsedManifest, ManifestError> {
        let wire: WireImage = from_json(body)?;
        check_declared_media_type(selected, wire.media_type.as_deref())?;
        let media_type = required_media_type(wire.media_type)?;
        check_schema_version(wire.schema_version.as_ref(), 2)?;
        let manifest = DockerManifest {
            schema_version: 2,
            media_type,
            config: required_descriptor(wire.config, "config")?,
            layers: required_list(wire.layers, "layers")?,
        };
        Ok(ParsedManifest {
            media_type: Cow::Borrowed(DOCKER_MANIFEST_V2),
            kind: ManifestKind::DockerV2(Box::new(manifest)),
        })
    }
}

/// The schema of [`DOCKER_MANIFEST_LIST`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerManifestListSchema;

impl ManifestSchema for DockerManifestListSchema {
    fn media_types(&self) -> &[&'static str] {
        &[DOCKER_MANIFEST_LIST]
    }

    fn parse(&self, selected: &str, body: &Bytes) -> Result<ParsedManifest, ManifestError> {
        let wire: WireIndex = from_json(body)?;
        check_declared_media_type(selected, wire.media_type.as_deref())?;
        let media_type = required_media_type(wire.media_type)?;
        check_schema_version(wire.schema_version.as_ref(), 2)?;
        let list = DockerManifestList {
            schema_version: 2,
            media_type,
            manifests: required_list(wire.manifests, "manifests")?,
        };
        Ok(ParsedManifest {
            media_type: Cow::Borrowed(DOCKER_MANIFEST_LIST),
            kind: ManifestKind::DockerList(Box::new(list)),
        })
    }
}
