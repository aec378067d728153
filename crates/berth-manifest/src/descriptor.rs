//! Content descriptors and platforms.

use std::collections::BTreeMap;

use base64::Engine as _;
use berth_digest::Digest;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

use crate::error::{At, ManifestError, excerpt};
use crate::media_type;

/// A content descriptor: what a manifest says about a blob or another
/// manifest it references (OCI image-spec `descriptor.md`; Docker's schema 2
/// uses the same fields).
///
/// Serde names are the specification's (`mediaType`, `artifactType`, …).
/// Optional fields are left out when serializing if absent or empty; fields
/// the specification does not define are kept in [`extra`](Descriptor::extra)
/// and written back.
///
/// Deserializing a `Descriptor` checks the digest and that `size` is an
/// int64 integer; [`Descriptor::validate`] checks the rest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Descriptor {
    /// The media type of the referenced content. Empty when the JSON had
    /// none; [`Descriptor::validate`] refuses that.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// The size in bytes of the referenced content (an int64 in the
    /// specification; negative values are refused by validation).
    pub size: i64,
    /// URLs the content may also be fetched from.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub urls: Vec<String>,
    /// Arbitrary metadata.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
    /// The platform of a referenced manifest (index entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type of a referenced artifact manifest.
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The content itself, base64-encoded (RFC 4648 §4, padded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Fields the specification does not define, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The platform an image runs on (an index entry's `platform`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(expecting = "a platform (a JSON object)")]
pub struct Platform {
    /// CPU architecture, as Go's `GOARCH` (`amd64`, `arm64`, …).
    #[serde(default)]
    pub architecture: String,
    /// Operating system, as Go's `GOOS` (`linux`, `windows`, …).
    #[serde(default)]
    pub os: String,
    /// Operating system version (`10.0.14393.1066`).
    #[serde(
        rename = "os.version",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub os_version: Option<String>,
    /// Required operating system features (`win32k`).
    #[serde(rename = "os.features", skip_serializing_if = "Vec::is_empty", default)]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub variant: Option<String>,
    /// Required CPU features (Docker's manifest list; reserved by OCI).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub features: Vec<String>,
    /// Fields the specifications do not define, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    /// A descriptor with the three required fields.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: i64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
            data: None,
            extra: Map::new(),
        }
    }

    /// The OCI empty descriptor: `application/vnd.oci.empty.v1+json`, the
    /// digest and size of `{}`, and `{}` embedded as `data`.
    pub fn empty() -> Descriptor {
        let mut d = Descriptor::new(media_type::OCI_EMPTY, Digest::sha256(b"{}"), 2);
        d.data = Some(media_type::OCI_EMPTY_DATA.to_owned());
        d
    }

    /// Whether this is the OCI empty descriptor's media type.
    pub fn is_empty_type(&self) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type::OCI_EMPTY)
    }

    /// Whether the content is a foreign / non-distributable layer that names
    /// URLs, so a registry need not hold it.
    pub fn is_foreign(&self) -> bool {
        !self.urls.is_empty() && media_type::is_foreign_layer(&self.media_type)
    }

    /// The decoded `data`, if any.
    pub fn decoded_data(&self) -> Result<Option<Vec<u8>>, base64::DecodeError> {
        self.data
            .as_deref()
            .map(|d| base64::engine::general_purpose::STANDARD.decode(d))
            .transpose()
    }

    /// Checks the rules every descriptor in a manifest follows: a
    /// well-formed, non-empty media type; a non-negative size; a well-formed
    /// `artifactType` if present; `data`, if present, valid base64 of exactly
    /// `size` bytes with this digest; a `platform`, if present, with
    /// `architecture` and `os`.
    pub fn validate(&self) -> Result<(), ManifestError> {
        self.check(&At::ROOT)
    }

    pub(crate) fn check(&self, at: &At<'_>) -> Result<(), ManifestError> {
        check_media_type(&self.media_type, &at.field("mediaType"))?;
        if self.size < 0 {
            return Err(ManifestError::NegativeSize {
                path: at.field("size").path(),
                size: self.size,
            });
        }
        if let Some(artifact_type) = &self.artifact_type {
            check_optional_media_type(artifact_type, &at.field("artifactType"))?;
        }
        if let Some(platform) = &self.platform {
            platform.check(&at.field("platform"))?;
        }
        self.check_data(at)
    }

    fn check_data(&self, at: &At<'_>) -> Result<(), ManifestError> {
        let data = match self.decoded_data() {
            Ok(Some(data)) => data,
            Ok(None) => return Ok(()),
            Err(err) => {
                return Err(ManifestError::InvalidData {
                    path: at.field("data").path(),
                    reason: err.to_string(),
                });
            }
        };
        if i64::try_from(data.len()).ok() != Some(self.size) {
            return Err(ManifestError::DataSizeMismatch {
                path: at.field("data").path(),
                size: self.size,
                actual: data.len(),
            });
        }
        let actual = self.digest.algorithm().digest(&data);
        if actual != self.digest {
            return Err(ManifestError::DataDigestMismatch {
                path: at.field("data").path(),
                expected: self.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(())
    }
}

impl Platform {
    fn check(&self, at: &At<'_>) -> Result<(), ManifestError> {
        if self.architecture.is_empty() {
            return Err(ManifestError::MissingField {
                path: at.field("architecture").path(),
            });
        }
        if self.os.is_empty() {
            return Err(ManifestError::MissingField {
                path: at.field("os").path(),
            });
        }
        Ok(())
    }
}

/// Checks a media type that must be present and well formed.
pub(crate) fn check_media_type(value: &str, at: &At<'_>) -> Result<(), ManifestError> {
    if value.is_empty() {
        return Err(ManifestError::MissingMediaType { path: at.path() });
    }
    check_optional_media_type(value, at)
}

/// Checks a media type that is present (possibly empty, which is invalid).
pub(crate) fn check_optional_media_type(value: &str, at: &At<'_>) -> Result<(), ManifestError> {
    if media_type::is_valid(value) {
        Ok(())
    } else {
        Err(ManifestError::InvalidMediaType {
            path: at.path(),
            value: excerpt(value),
        })
    }
}

/// A descriptor as it appears in JSON, before its digest and size are
/// checked: the manifest parsers read this so that errors can name the path.
#[derive(Deserialize)]
#[serde(expecting = "a descriptor (a JSON object)")]
pub(crate) struct WireDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    size: Option<Number>,
    #[serde(default)]
    urls: Option<Vec<String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    platform: Option<Platform>,
    #[serde(rename = "artifactType", default)]
    artifact_type: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl WireDescriptor {
    /// Checks the digest and size (the parts a [`Descriptor`] cannot hold
    /// unchecked) and builds the descriptor.
    pub(crate) fn into_descriptor(self, at: &At<'_>) -> Result<Descriptor, ManifestError> {
        let digest = parse_digest(self.digest.as_deref(), &at.field("digest"))?;
        let size = parse_size(self.size.as_ref(), &at.field("size"))?;
        Ok(Descriptor {
            media_type: self.media_type.unwrap_or_default(),
            digest,
            size,
            urls: self.urls.unwrap_or_default(),
            annotations: self.annotations.unwrap_or_default(),
            platform: self.platform,
            artifact_type: self.artifact_type,
            data: self.data,
            extra: self.extra,
        })
    }
}

/// Parses a required digest field.
pub(crate) fn parse_digest(value: Option<&str>, at: &At<'_>) -> Result<Digest, ManifestError> {
    let value = value.ok_or_else(|| ManifestError::MissingField { path: at.path() })?;
    Digest::parse(value).map_err(|source| ManifestError::InvalidDigest {
        path: at.path(),
        value: excerpt(value),
        source,
    })
}

/// Parses a required int64 size field (negative values pass; validation
/// refuses them).
fn parse_size(value: Option<&Number>, at: &At<'_>) -> Result<i64, ManifestError> {
    let value = value.ok_or_else(|| ManifestError::MissingField { path: at.path() })?;
    value.as_i64().ok_or_else(|| ManifestError::InvalidSize {
        path: at.path(),
        value: excerpt(&value.to_string()),
    })
}

/// Converts a list of wire descriptors, naming each by its index.
pub(crate) fn convert_list(
    list: Vec<WireDescriptor>,
    at: &At<'_>,
) -> Result<Vec<Descriptor>, ManifestError> {
    list.into_iter()
        .enumerate()
        .map(|(i, d)| d.into_descriptor(&at.index(i)))
        .collect()
}

impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Descriptor, D::Error> {
        WireDescriptor::deserialize(deserializer)?
            .into_descriptor(&At::ROOT)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    #[test]
    fn empty_descriptor_is_valid() {
        let d = Descriptor::empty();
        assert_eq!(d.digest.as_str(), D);
        assert_eq!(d.validate(), Ok(()));
        assert_eq!(d.decoded_data().ok().flatten().as_deref(), Some(&b"{}"[..]));
    }

    #[test]
    fn serializes_with_spec_names_and_omits_absent() {
        let d = Descriptor::new(media_type::OCI_CONFIG, Digest::sha256(b"{}"), 2);
        let json = serde_json::to_string(&d).unwrap_or_default();
        assert_eq!(
            json,
            format!(
                r#"{{"mediaType":"{}","digest":"{D}","size":2}}"#,
                media_type::OCI_CONFIG
            )
        );
    }

    #[test]
    fn deserialize_checks_digest_and_size() {
        let bad = r#"{"mediaType":"a/b","digest":"sha256:abc","size":1}"#;
        let err = serde_json::from_str::<Descriptor>(bad)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("digest: invalid digest")));
        let frac = format!(r#"{{"mediaType":"a/b","digest":"{D}","size":1.5}}"#);
        assert!(serde_json::from_str::<Descriptor>(&frac).is_err());
        let neg = format!(r#"{{"mediaType":"a/b","digest":"{D}","size":-1}}"#);
        let d = serde_json::from_str::<Descriptor>(&neg).ok();
        assert!(matches!(
            d.map(|d| d.validate()),
            Some(Err(ManifestError::NegativeSize { size: -1, .. }))
        ));
    }
}
