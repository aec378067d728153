//! Media-type constants of the OCI image-spec, Docker's image specs and
//! containerd, and the classification the registry needs (manifest, index,
//! layer, config, foreign).
//!
//! Media types compare ASCII-case-insensitively everywhere in this crate
//! (RFC 6838 §4.2), so the classification functions accept any casing.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI layer, uncompressed tar.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI layer, gzip-compressed tar.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI layer, zstd-compressed tar.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// OCI non-distributable layer, uncompressed tar (deprecated by the
/// image-spec, still accepted).
pub const OCI_LAYER_NONDISTRIBUTABLE: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// OCI non-distributable layer, gzip-compressed tar (deprecated).
pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI non-distributable layer, zstd-compressed tar (deprecated).
pub const OCI_LAYER_NONDISTRIBUTABLE_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
/// The OCI empty descriptor's media type (content `{}`).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The digest of the OCI empty content `{}`.
pub const OCI_EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The size of the OCI empty content `{}`.
pub const OCI_EMPTY_SIZE: i64 = 2;
/// The OCI empty content `{}`, base64-encoded, as a descriptor's `data`.
pub const OCI_EMPTY_DATA: &str = "e30=";

/// Docker image manifest, version 2 schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list (multi-platform).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker container image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker plugin configuration.
pub const DOCKER_PLUGIN_CONFIG: &str = "application/vnd.docker.plugin.v1+json";
/// Docker layer, gzip-compressed tar.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker foreign layer, gzip-compressed tar (fetched from its `urls`).
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker layer, uncompressed tar (defined by containerd, not Docker's spec).
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker layer, zstd-compressed tar (defined by containerd, not Docker's
/// spec).
pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
/// Docker foreign layer, uncompressed tar (defined by containerd).
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";
/// Docker image manifest, version 2 schema 1, unsigned.
pub const DOCKER_SCHEMA1_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker image manifest, version 2 schema 1, signed (JWS, libtrust "pretty"
/// form).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// The media type Distribution gives schema 1 layers (`fsLayers[].blobSum`)
/// when it lists them as descriptors.
pub const DOCKER_SCHEMA1_LAYER: &str = "application/vnd.docker.container.image.rootfs.diff+x-gtar";

/// Every manifest media type the built-in schemas parse, most preferred
/// first: the list for an `Accept` header.
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1_MANIFEST,
];

/// Content types that say nothing about the schema: with these (or none),
/// the registry looks at the body.
pub const GENERIC_CONTENT_TYPES: &[&str] = &["application/json", "application/octet-stream"];

const OCI_LAYERS: &[&str] = &[
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_LAYER_NONDISTRIBUTABLE,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
];

const DOCKER_LAYERS: &[&str] = &[
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER,
    DOCKER_LAYER_ZSTD,
    DOCKER_FOREIGN_LAYER_GZIP,
    DOCKER_FOREIGN_LAYER,
];

const FOREIGN_LAYERS: &[&str] = &[
    DOCKER_FOREIGN_LAYER_GZIP,
    DOCKER_FOREIGN_LAYER,
    OCI_LAYER_NONDISTRIBUTABLE,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
];

const CONFIGS: &[&str] = &[OCI_CONFIG, DOCKER_CONFIG, DOCKER_PLUGIN_CONFIG];

const INDEXES: &[&str] = &[OCI_INDEX, DOCKER_MANIFEST_LIST];

fn one_of(media_type: &str, list: &[&str]) -> bool {
    list.iter().any(|m| m.eq_ignore_ascii_case(media_type))
}

/// Whether `media_type` is a manifest type: OCI manifest or index, Docker
/// schema 2 manifest or list, or Docker schema 1.
pub fn is_manifest(media_type: &str) -> bool {
    one_of(media_type, MANIFEST_MEDIA_TYPES)
}

/// Whether `media_type` is an index type (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    one_of(media_type, INDEXES)
}

/// Whether `media_type` is one of the OCI layer types (tar, gzip, zstd,
/// and their non-distributable forms).
pub fn is_oci_layer(media_type: &str) -> bool {
    one_of(media_type, OCI_LAYERS)
}

/// Whether `media_type` is one of the Docker schema 2 layer types (rootfs
/// diff tar, gzip, zstd, and the foreign ones).
pub fn is_docker_layer(media_type: &str) -> bool {
    one_of(media_type, DOCKER_LAYERS)
}

/// Whether `media_type` is a layer type of either family.
pub fn is_layer(media_type: &str) -> bool {
    is_oci_layer(media_type) || is_docker_layer(media_type)
}

/// Whether `media_type` is a foreign / non-distributable layer type (Docker
/// `…foreign.diff…`, OCI `…nondistributable…`): one a client may fetch from
/// the descriptor's `urls` instead of the registry.
pub fn is_foreign_layer(media_type: &str) -> bool {
    one_of(media_type, FOREIGN_LAYERS)
}

/// Whether `media_type` is the Docker foreign layer type, which (unlike the
/// OCI non-distributable types) requires `urls`.
pub fn is_docker_foreign_layer(media_type: &str) -> bool {
    one_of(
        media_type,
        &[DOCKER_FOREIGN_LAYER_GZIP, DOCKER_FOREIGN_LAYER],
    )
}

/// Whether `media_type` is an image or plugin configuration type (OCI
/// image config, Docker container config, Docker plugin config).
pub fn is_config(media_type: &str) -> bool {
    one_of(media_type, CONFIGS)
}

/// Whether `media_type` is known to name a blob and not a manifest: a layer
/// (including schema 1's), a configuration, or the OCI empty type.
pub fn is_known_blob(media_type: &str) -> bool {
    is_layer(media_type)
        || is_config(media_type)
        || one_of(media_type, &[OCI_EMPTY, DOCKER_SCHEMA1_LAYER])
}

/// Whether `media_type` is of the RFC 6838 form `type/subtype`, each a
/// restricted name: an ASCII letter or digit, then up to 126 of
/// `A-Za-z0-9!#$&^_.+-`. Parameters are not allowed.
pub fn is_valid(media_type: &str) -> bool {
    match media_type.split_once('/') {
        Some((kind, subtype)) => is_restricted_name(kind) && is_restricted_name(subtype),
        None => false,
    }
}

fn is_restricted_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphanumeric()
                && rest.len() <= 126
                && rest.iter().all(|&b| {
                    b.is_ascii_alphanumeric()
                        || matches!(
                            b,
                            b'!' | b'#' | b'$' | b'&' | b'^' | b'_' | b'.' | b'+' | b'-'
                        )
                })
        }
        None => false,
    }
}

/// The media type of a `Content-Type` header value: parameters (`;
/// charset=utf-8`) and surrounding whitespace removed. Returns `None` when
/// nothing is left.
pub fn essence(content_type: &str) -> Option<&str> {
    let base = content_type
        .split_once(';')
        .map_or(content_type, |(base, _)| base);
    let base = base.trim_matches(|c: char| c == ' ' || c == '\t');
    (!base.is_empty()).then_some(base)
}

/// Whether a `Content-Type` value says nothing about the schema: absent,
/// empty, `application/json` or `application/octet-stream` (parameters
/// ignored, any casing).
pub fn is_generic_content_type(content_type: Option<&str>) -> bool {
    match content_type.and_then(essence) {
        None => true,
        Some(base) => one_of(base, GENERIC_CONTENT_TYPES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6838_names() {
        assert!(is_valid(OCI_MANIFEST));
        assert!(is_valid("text/plain"));
        assert!(is_valid("application/vnd.in-toto+json"));
        assert!(is_valid("a/b"));
        assert!(!is_valid(""));
        assert!(!is_valid("application"));
        assert!(!is_valid("application/"));
        assert!(!is_valid("/json"));
        assert!(!is_valid("application/json; charset=utf-8"));
        assert!(!is_valid("application/-json"));
        assert!(!is_valid("application/js on"));
        assert!(!is_valid("a/b/c"));
        assert!(is_valid(&format!("a/{}", "b".repeat(127))));
        assert!(!is_valid(&format!("a/{}", "b".repeat(128))));
    }

    #[test]
    fn content_type_essence() {
        assert_eq!(
            essence("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
            Some(OCI_MANIFEST)
        );
        assert_eq!(essence("  application/json  "), Some("application/json"));
        assert_eq!(essence(" ; x=y"), None);
        assert!(is_generic_content_type(None));
        assert!(is_generic_content_type(Some("")));
        assert!(is_generic_content_type(Some(
            "Application/JSON; charset=utf-8"
        )));
        assert!(is_generic_content_type(Some("application/octet-stream")));
        assert!(!is_generic_content_type(Some(OCI_INDEX)));
    }

    #[test]
    fn classification() {
        assert!(is_manifest(DOCKER_SCHEMA1_SIGNED));
        assert!(is_index("Application/VND.oci.image.index.v1+json"));
        assert!(is_layer(OCI_LAYER_ZSTD));
        assert!(is_layer(DOCKER_FOREIGN_LAYER_GZIP));
        assert!(is_foreign_layer(OCI_LAYER_NONDISTRIBUTABLE_GZIP));
        assert!(!is_foreign_layer(OCI_LAYER_GZIP));
        assert!(is_known_blob(OCI_EMPTY));
        assert!(is_known_blob(DOCKER_PLUGIN_CONFIG));
        assert!(!is_known_blob(OCI_MANIFEST));
        assert!(!is_known_blob("application/vnd.in-toto+json"));
    }
}
