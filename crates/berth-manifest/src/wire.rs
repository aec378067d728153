//! The JSON shapes the parsers read before checking digests and sizes, and
//! the checks shared by the schemas.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Number;

use crate::descriptor::{Descriptor, WireDescriptor, check_optional_media_type, convert_list};
use crate::error::{At, ManifestError, excerpt};
use crate::media_type;
use crate::policy::ValidationPolicy;

/// Deserializes a JSON object, mapping serde's error.
pub(crate) fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ManifestError> {
    ensure_object(body)?;
    serde_json::from_slice(body).map_err(|e| ManifestError::json(&e))
}

/// Refuses a document that is not a JSON object. serde would otherwise read
/// a struct from a JSON array, positionally, which no manifest is.
pub(crate) fn ensure_object(body: &[u8]) -> Result<(), ManifestError> {
    let Some(at) = body
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    else {
        // Empty or only whitespace: serde's error says so.
        return Ok(());
    };
    if body.get(at) == Some(&b'{') {
        return Ok(());
    }
    let before = body.get(..at).unwrap_or_default();
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = at
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |nl| nl + 1)
        + 1;
    Err(ManifestError::InvalidJson {
        message: format!("expected a JSON object at line {line} column {column}"),
    })
}

/// An image manifest (OCI or Docker schema 2) as JSON.
#[derive(Deserialize)]
#[serde(expecting = "an image manifest (a JSON object)")]
pub(crate) struct WireImage {
    #[serde(rename = "schemaVersion")]
    pub(crate) schema_version: Option<Number>,
    #[serde(rename = "mediaType")]
    pub(crate) media_type: Option<String>,
    #[serde(rename = "artifactType")]
    pub(crate) artifact_type: Option<String>,
    pub(crate) config: Option<WireDescriptor>,
    pub(crate) layers: Option<Vec<WireDescriptor>>,
    pub(crate) subject: Option<WireDescriptor>,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
    pub(crate) manifests: Option<IgnoredAny>,
}

/// An index (OCI index or Docker manifest list) as JSON.
#[derive(Deserialize)]
#[serde(expecting = "an index (a JSON object)")]
pub(crate) struct WireIndex {
    #[serde(rename = "schemaVersion")]
    pub(crate) schema_version: Option<Number>,
    #[serde(rename = "mediaType")]
    pub(crate) media_type: Option<String>,
    #[serde(rename = "artifactType")]
    pub(crate) artifact_type: Option<String>,
    pub(crate) manifests: Option<Vec<WireDescriptor>>,
    pub(crate) subject: Option<WireDescriptor>,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
    pub(crate) config: Option<IgnoredAny>,
    pub(crate) layers: Option<IgnoredAny>,
}

/// Checks `schemaVersion` is present and equal to `expected`.
pub(crate) fn check_schema_version(
    value: Option<&Number>,
    expected: u8,
) -> Result<(), ManifestError> {
    let value = value.ok_or_else(|| ManifestError::MissingField {
        path: "schemaVersion".to_owned(),
    })?;
    if value.as_u64() == Some(u64::from(expected)) {
        Ok(())
    } else {
        Err(ManifestError::UnsupportedSchemaVersion {
            expected,
            found: excerpt(&value.to_string()),
        })
    }
}

/// Checks that a manifest's own `mediaType` field, when present and not
/// empty, names the media type its schema was chosen for (`selected`, from
/// the Content-Type or the body). Schemas registered from outside this
/// crate should call it too.
pub fn check_declared_media_type(
    selected: &str,
    declared: Option<&str>,
) -> Result<(), ManifestError> {
    match declared {
        Some(declared) if !declared.is_empty() && !declared.eq_ignore_ascii_case(selected) => {
            Err(ManifestError::MediaTypeMismatch {
                content_type: selected.to_owned(),
                body: excerpt(declared),
            })
        }
        _ => Ok(()),
    }
}

/// Converts a required descriptor field.
pub(crate) fn required_descriptor(
    value: Option<WireDescriptor>,
    name: &str,
) -> Result<Descriptor, ManifestError> {
    let root = At::ROOT;
    let at = root.field(name);
    value
        .ok_or_else(|| ManifestError::MissingField { path: at.path() })?
        .into_descriptor(&at)
}

/// Converts a required descriptor list field.
pub(crate) fn required_list(
    value: Option<Vec<WireDescriptor>>,
    name: &str,
) -> Result<Vec<Descriptor>, ManifestError> {
    let root = At::ROOT;
    let at = root.field(name);
    let list = value.ok_or_else(|| ManifestError::MissingField { path: at.path() })?;
    convert_list(list, &at)
}

/// Converts an optional `subject`.
pub(crate) fn optional_subject(
    value: Option<WireDescriptor>,
) -> Result<Option<Descriptor>, ManifestError> {
    let root = At::ROOT;
    value
        .map(|d| d.into_descriptor(&root.field("subject")))
        .transpose()
}

/// Checks a manifest-level `artifactType`, if present.
pub(crate) fn check_artifact_type(value: Option<&str>) -> Result<(), ManifestError> {
    match value {
        Some(value) => check_optional_media_type(value, &At::ROOT.field("artifactType")),
        None => Ok(()),
    }
}

/// Checks a `subject`, if present.
pub(crate) fn check_subject(subject: Option<&Descriptor>) -> Result<(), ManifestError> {
    match subject {
        Some(subject) => subject.check(&At::ROOT.field("subject")),
        None => Ok(()),
    }
}

/// Checks a layer's URLs: a Docker foreign layer must have some, and each
/// must pass the policy.
pub(crate) fn check_layer_urls(
    layer: &Descriptor,
    at: &At<'_>,
    policy: &ValidationPolicy,
) -> Result<(), ManifestError> {
    let urls_at = at.field("urls");
    if layer.urls.is_empty() && media_type::is_docker_foreign_layer(&layer.media_type) {
        return Err(ManifestError::MissingUrls {
            path: urls_at.path(),
        });
    }
    for (i, url) in layer.urls.iter().enumerate() {
        policy.check_url_at(url, &urls_at.index(i))?;
    }
    Ok(())
}

/// Checks an index's entries (OCI index or Docker manifest list).
pub(crate) fn check_index_entries(
    entries: &[Descriptor],
    policy: &ValidationPolicy,
) -> Result<(), ManifestError> {
    let root = At::ROOT;
    let list = root.field("manifests");
    for (i, entry) in entries.iter().enumerate() {
        let at = list.index(i);
        entry.check(&at)?;
        if policy.strict_index_children && media_type::is_known_blob(&entry.media_type) {
            return Err(ManifestError::InvalidChildMediaType {
                path: at.field("mediaType").path(),
                media_type: excerpt(&entry.media_type),
            });
        }
    }
    Ok(())
}
