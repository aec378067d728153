//! The error type of manifest parsing and validation, and the field paths
//! its messages name.

use std::fmt;

use berth_digest::DigestError;

/// How many characters of a rejected input an error message quotes.
const EXCERPT: usize = 120;

/// Shortens untrusted input before it goes into an error message.
pub(crate) fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", s.get(..cut).unwrap_or_default()),
        None => s.to_owned(),
    }
}

/// Why a manifest was refused.
///
/// Every variant about one part of the manifest carries `path`, the JSON path
/// of that part in the form `layers[2].digest`, `manifests[0].platform.os` or
/// `config.mediaType`, and, where there is one, the offending value
/// (shortened to 120 characters).
///
/// Parsing errors (the body is not a manifest of the schema at all) and
/// validation errors (it is, but breaks a rule of the specification or of the
/// [`ValidationPolicy`](crate::ValidationPolicy)) share this type; see
/// `docs/manifests.md` for which rule raises which variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The body is larger than the limit (checked before anything is parsed).
    #[error("manifest too large: {size} bytes, the limit is {limit} bytes")]
    TooLarge {
        /// The size of the body.
        size: usize,
        /// The limit ([`MAX_MANIFEST_SIZE`](crate::MAX_MANIFEST_SIZE)).
        limit: usize,
    },
    /// The body is empty.
    #[error("manifest is empty")]
    Empty,
    /// The body is not JSON, or a value has the wrong JSON type. The message
    /// is serde's, with the line and column.
    #[error("invalid manifest JSON: {message}")]
    InvalidJson {
        /// What the JSON parser said.
        message: String,
    },
    /// The Content-Type (or, when the Content-Type is generic, the body's own
    /// `mediaType`) is not a manifest type this registry knows.
    #[error("unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        /// The media type (shortened), without parameters.
        media_type: String,
    },
    /// The Content-Type is absent or generic and the body gives no way to
    /// tell its schema: no `schemaVersion` 1, no `mediaType`, neither
    /// `manifests` nor `config`.
    #[error(
        "cannot tell the manifest schema: no specific Content-Type, no mediaType field, and neither a manifests nor a config field"
    )]
    UnknownSchema,
    /// The body's `mediaType` field contradicts the Content-Type it was sent
    /// with.
    #[error("mediaType {body:?} in the manifest does not match the Content-Type {content_type:?}")]
    MediaTypeMismatch {
        /// The media type the Content-Type named.
        content_type: String,
        /// The body's `mediaType` (shortened).
        body: String,
    },
    /// `schemaVersion` is not the one the schema requires.
    #[error("unsupported schemaVersion {found}: expected {expected}")]
    UnsupportedSchemaVersion {
        /// The version the schema requires (2, or 1 for schema 1).
        expected: u8,
        /// The value found, as written.
        found: String,
    },
    /// A required field is absent (or, for a string the specification
    /// requires, empty).
    #[error("{path}: required field is missing")]
    MissingField {
        /// Where the field should be.
        path: String,
    },
    /// The manifest has a field that belongs to the other kind of OCI
    /// document: an image manifest with `manifests`, or an index with
    /// `config` or `layers`.
    #[error("{path}: field not allowed in {kind}; the document is ambiguous")]
    Ambiguous {
        /// The offending field.
        path: String,
        /// `"an image manifest"` or `"an image index"`.
        kind: &'static str,
    },
    /// A digest does not parse.
    #[error("{path}: invalid digest {value:?}: {source}")]
    InvalidDigest {
        /// Where the digest is.
        path: String,
        /// The value (shortened).
        value: String,
        /// Why it is not a digest.
        #[source]
        source: DigestError,
    },
    /// A size is not an integer in the int64 range (`1.5`, `1e3`,
    /// `18446744073709551615`).
    #[error("{path}: size {value} is not an int64 integer")]
    InvalidSize {
        /// Where the size is.
        path: String,
        /// The value as written.
        value: String,
    },
    /// A size is negative.
    #[error("{path}: size {size} is negative")]
    NegativeSize {
        /// Where the size is.
        path: String,
        /// The value.
        size: i64,
    },
    /// A media type is required here and is absent or empty.
    #[error("{path}: media type is required")]
    MissingMediaType {
        /// Where the media type should be.
        path: String,
    },
    /// A media type is not of the RFC 6838 form `type/subtype`.
    #[error("{path}: {value:?} is not a valid media type (RFC 6838 type/subtype)")]
    InvalidMediaType {
        /// Where the media type is.
        path: String,
        /// The value (shortened).
        value: String,
    },
    /// The config descriptor has a media type the schema does not allow.
    #[error("{path}: media type {media_type:?} is not allowed for {expected}")]
    InvalidConfigMediaType {
        /// Where the media type is (`config.mediaType`).
        path: String,
        /// The media type (shortened).
        media_type: String,
        /// What the schema allows, in words.
        expected: &'static str,
    },
    /// A layer descriptor has a media type the schema does not allow.
    #[error("{path}: media type {media_type:?} is not allowed for {expected}")]
    InvalidLayerMediaType {
        /// Where the media type is (`layers[i].mediaType`).
        path: String,
        /// The media type (shortened).
        media_type: String,
        /// What the schema allows, in words.
        expected: &'static str,
    },
    /// An index or manifest-list entry has a media type that is known not to
    /// be a manifest (only with
    /// [`ValidationPolicy::strict_index_children`](crate::ValidationPolicy::strict_index_children)).
    #[error("{path}: media type {media_type:?} is not a manifest media type")]
    InvalidChildMediaType {
        /// Where the media type is (`manifests[i].mediaType`).
        path: String,
        /// The media type (shortened).
        media_type: String,
    },
    /// An OCI image manifest whose config is the empty descriptor has no
    /// `artifactType` (the image-spec says it MUST then be set).
    #[error(
        "artifactType: required when config.mediaType is {}",
        crate::media_type::OCI_EMPTY
    )]
    MissingArtifactType,
    /// A descriptor's `data` is not valid base64.
    #[error("{path}: data is not valid base64: {reason}")]
    InvalidData {
        /// Where the data is.
        path: String,
        /// What the decoder said.
        reason: String,
    },
    /// A descriptor's decoded `data` does not have the descriptor's size.
    #[error("{path}: data is {actual} bytes but the descriptor's size is {size}")]
    DataSizeMismatch {
        /// Where the data is.
        path: String,
        /// The descriptor's size.
        size: i64,
        /// The length of the decoded data.
        actual: usize,
    },
    /// A descriptor's decoded `data` does not have the descriptor's digest.
    #[error("{path}: data has digest {actual} but the descriptor's digest is {expected}")]
    DataDigestMismatch {
        /// Where the data is.
        path: String,
        /// The descriptor's digest.
        expected: String,
        /// The digest of the decoded data.
        actual: String,
    },
    /// A foreign layer (Docker `…foreign.diff…` media type) has no URLs.
    #[error("{path}: a foreign layer must have at least one URL")]
    MissingUrls {
        /// Where the URLs should be (`layers[i].urls`).
        path: String,
    },
    /// A layer URL is malformed, not http/https, or has a fragment.
    #[error("{path}: invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// Where the URL is (`layers[i].urls[j]`).
        path: String,
        /// The URL (shortened).
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A layer URL is not allowed by the policy's allow list (or there is no
    /// allow list and no deny list, which allows no URL at all).
    #[error(
        "{path}: URL {url:?} is not allowed by the registry's validation.manifests.urls policy"
    )]
    UrlNotAllowed {
        /// Where the URL is.
        path: String,
        /// The URL (shortened).
        url: String,
    },
    /// A layer URL matches the policy's deny list.
    #[error("{path}: URL {url:?} is denied by the registry's validation.manifests.urls policy")]
    UrlDenied {
        /// Where the URL is.
        path: String,
        /// The URL (shortened).
        url: String,
    },
    /// A schema 1 manifest was sent as `…v1+prettyjws` but has no
    /// `signatures`.
    #[error("signatures: a signed schema 1 manifest must have at least one signature")]
    MissingSignatures,
    /// A schema 1 signature's protected header cannot give the signed
    /// payload.
    #[error("signatures[{index}].protected: {reason}")]
    InvalidSignature {
        /// Which signature.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Two schema 1 signatures sign different payloads.
    #[error("signatures[{index}]: signs a different payload than signatures[0]")]
    SignatureMismatch {
        /// The signature that disagrees with the first.
        index: usize,
    },
    /// A schema 1 manifest has not as many `history` entries as `fsLayers`.
    #[error("history: {history} entries but fsLayers has {fs_layers}; they must be as many")]
    HistoryMismatch {
        /// The number of `fsLayers`.
        fs_layers: usize,
        /// The number of `history` entries.
        history: usize,
    },
}

impl ManifestError {
    /// The JSON path of the offending part, when the error is about one part.
    pub fn path(&self) -> Option<&str> {
        match self {
            ManifestError::MissingField { path }
            | ManifestError::Ambiguous { path, .. }
            | ManifestError::InvalidDigest { path, .. }
            | ManifestError::InvalidSize { path, .. }
            | ManifestError::NegativeSize { path, .. }
            | ManifestError::MissingMediaType { path }
            | ManifestError::InvalidMediaType { path, .. }
            | ManifestError::InvalidConfigMediaType { path, .. }
            | ManifestError::InvalidLayerMediaType { path, .. }
            | ManifestError::InvalidChildMediaType { path, .. }
            | ManifestError::InvalidData { path, .. }
            | ManifestError::DataSizeMismatch { path, .. }
            | ManifestError::DataDigestMismatch { path, .. }
            | ManifestError::MissingUrls { path }
            | ManifestError::InvalidUrl { path, .. }
            | ManifestError::UrlNotAllowed { path, .. }
            | ManifestError::UrlDenied { path, .. } => Some(path),
            ManifestError::MissingArtifactType => Some("artifactType"),
            ManifestError::UnsupportedSchemaVersion { .. } => Some("schemaVersion"),
            ManifestError::MediaTypeMismatch { .. } => Some("mediaType"),
            ManifestError::HistoryMismatch { .. } => Some("history"),
            ManifestError::MissingSignatures => Some("signatures"),
            _ => None,
        }
    }

    /// Whether the error is about the media type the manifest was sent as
    /// (an unknown Content-Type or body `mediaType`, or the two disagreeing),
    /// rather than about its content.
    pub fn is_media_type_error(&self) -> bool {
        matches!(
            self,
            ManifestError::UnsupportedMediaType { .. }
                | ManifestError::MediaTypeMismatch { .. }
                | ManifestError::UnknownSchema
        )
    }

    /// An [`InvalidJson`](ManifestError::InvalidJson) from serde's error.
    pub(crate) fn json(err: &serde_json::Error) -> ManifestError {
        ManifestError::InvalidJson {
            message: err.to_string(),
        }
    }
}

/// One step of a JSON path.
#[derive(Clone, Copy, Debug)]
enum Seg<'a> {
    Root,
    Field(&'a str),
    Index(usize),
}

/// A JSON path built on the stack as validation descends, and formatted only
/// when an error needs it (`layers[2].digest`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct At<'a> {
    parent: Option<&'a At<'a>>,
    seg: Seg<'a>,
}

impl<'a> At<'a> {
    /// The document itself.
    pub(crate) const ROOT: At<'static> = At {
        parent: None,
        seg: Seg::Root,
    };

    /// The field `name` under this path.
    pub(crate) fn field(&'a self, name: &'a str) -> At<'a> {
        At {
            parent: Some(self),
            seg: Seg::Field(name),
        }
    }

    /// The element `index` of the array at this path.
    pub(crate) fn index(&'a self, index: usize) -> At<'a> {
        At {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    /// The path as a string.
    pub(crate) fn path(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut has_parent_text = false;
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
            has_parent_text = !matches!(parent.seg, Seg::Root);
        }
        match self.seg {
            Seg::Root => Ok(()),
            Seg::Field(name) if has_parent_text => write!(f, ".{name}"),
            Seg::Field(name) => f.write_str(name),
            Seg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_format_like_json_paths() {
        let root = At::ROOT;
        let layers = root.field("layers");
        let second = layers.index(2);
        assert_eq!(second.field("digest").path(), "layers[2].digest");
        let manifests = root.field("manifests");
        let first = manifests.index(0);
        let platform = first.field("platform");
        assert_eq!(platform.field("os").path(), "manifests[0].platform.os");
        assert_eq!(root.path(), "");
        assert_eq!(root.field("config").path(), "config");
    }

    #[test]
    fn excerpt_shortens_long_values() {
        let long = "a".repeat(500);
        let short = excerpt(&long);
        assert!(short.ends_with('…'));
        assert_eq!(short.chars().count(), EXCERPT + 1);
        assert_eq!(excerpt("abc"), "abc");
    }
}
