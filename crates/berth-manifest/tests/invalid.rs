//! Invalid manifests: each refused with the specific error, naming the bad
//! part.

use berth_digest::DigestError;
use berth_manifest::media_type::{
    DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED,
    MANIFEST_MEDIA_TYPES, OCI_INDEX, OCI_MANIFEST,
};
use berth_manifest::{MAX_MANIFEST_SIZE, ManifestError, ManifestRegistry, ValidationPolicy};
use bytes::Bytes;
use serde_json::{Value, json};

const EMPTY_SHA: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const BRACES_SHA: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const LAYER_SHA: &str = "sha256:3889bb8d808bbae6fa5a33e07093e65c31371bcf9e4c38c21be6b9af52ad1548";

fn oci_image() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": BRACES_SHA, "size": 2},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": LAYER_SHA, "size": 100},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": EMPTY_SHA, "size": 0},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": LAYER_SHA, "size": 100}
        ]
    })
}

fn docker_v2() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": BRACES_SHA, "size": 2},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": LAYER_SHA, "size": 100}
        ]
    })
}

fn oci_index() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": LAYER_SHA, "size": 500,
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": EMPTY_SHA, "size": 500,
             "platform": {"architecture": "arm64", "os": "linux"}}
        ]
    })
}

fn docker_list() -> Value {
    json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST_V2, "digest": LAYER_SHA, "size": 500,
             "platform": {"architecture": "amd64", "os": "linux"}}
        ]
    })
}

/// Sets the value at `pointer`, adding the last key if it is absent.
fn set(v: &mut Value, pointer: &str, new: Value) {
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = new;
        return;
    }
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let parent = if parent.is_empty() {
        &mut *v
    } else {
        v.pointer_mut(parent)
            .unwrap_or_else(|| panic!("no {parent}"))
    };
    parent
        .as_object_mut()
        .expect("object")
        .insert(key.to_owned(), new);
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let parent = if parent.is_empty() {
        &mut *v
    } else {
        v.pointer_mut(parent)
            .unwrap_or_else(|| panic!("no {parent}"))
    };
    parent.as_object_mut().expect("object").remove(key);
}

fn err_with(
    registry: &ManifestRegistry,
    ct: Option<&str>,
    body: impl Into<Bytes>,
) -> ManifestError {
    match registry.parse(ct, body.into()) {
        Ok(m) => panic!("expected an error, parsed {:?}", m.kind()),
        Err(e) => e,
    }
}

fn err_bytes(ct: Option<&str>, body: impl Into<Bytes>) -> ManifestError {
    err_with(&ManifestRegistry::new(), ct, body)
}

fn err(ct: Option<&str>, v: &Value) -> ManifestError {
    err_bytes(ct, serde_json::to_vec(v).expect("serialize"))
}

fn path(e: &ManifestError) -> &str {
    e.path().unwrap_or_else(|| panic!("no path in {e:?}"))
}

fn schema1_signed() -> String {
    let path = format!(
        "{}/tests/fixtures/schema1-signed.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture")
}

// ---- size and JSON -------------------------------------------------------

#[test]
fn too_large_is_refused_before_parsing() {
    let mut body = vec![b' '; MAX_MANIFEST_SIZE + 1];
    body[0] = b'{';
    let e = err_bytes(Some(OCI_MANIFEST), body);
    assert_eq!(
        e,
        ManifestError::TooLarge {
            size: MAX_MANIFEST_SIZE + 1,
            limit: MAX_MANIFEST_SIZE
        }
    );
    assert_eq!(
        e.to_string(),
        "manifest too large: 4194305 bytes, the limit is 4194304 bytes"
    );
}

#[test]
fn exactly_the_limit_is_accepted() {
    let mut body = serde_json::to_vec(&oci_image()).expect("serialize");
    body.resize(MAX_MANIFEST_SIZE, b' ');
    assert!(
        ManifestRegistry::new()
            .parse(None, Bytes::from(body))
            .is_ok()
    );
}

#[test]
fn empty_body() {
    assert_eq!(
        err_bytes(Some(OCI_MANIFEST), Bytes::new()),
        ManifestError::Empty
    );
    assert_eq!(err_bytes(None, Bytes::new()), ManifestError::Empty);
}

#[test]
fn not_json() {
    for ct in [Some(OCI_MANIFEST), None, Some(DOCKER_SCHEMA1_SIGNED)] {
        let e = err_bytes(ct, &b"hello"[..]);
        assert!(
            matches!(e, ManifestError::InvalidJson { .. }),
            "{ct:?}: {e:?}"
        );
    }
    let e = err_bytes(None, &b"hello"[..]);
    assert_eq!(
        e.to_string(),
        "invalid manifest JSON: expected a JSON object at line 1 column 1"
    );
}

#[test]
fn json_but_not_an_object() {
    for body in [&b"[]"[..], b"\"manifest\"", b"2", b"null"] {
        for ct in [Some(OCI_MANIFEST), Some(DOCKER_MANIFEST_LIST), None] {
            let e = err_bytes(ct, body);
            assert!(
                matches!(e, ManifestError::InvalidJson { .. }),
                "{ct:?}: {e:?}"
            );
        }
    }
}

#[test]
fn trailing_characters() {
    let mut body = serde_json::to_vec(&oci_image()).expect("serialize");
    body.extend_from_slice(b" {}");
    let e = err_bytes(Some(OCI_MANIFEST), body);
    assert!(
        matches!(&e, ManifestError::InvalidJson { message } if message.contains("trailing characters")),
        "{e:?}"
    );
}

#[test]
fn not_utf8() {
    let mut body = serde_json::to_vec(&oci_image()).expect("serialize");
    let at = body.len() - 1;
    body.splice(at..at, *br#","annotations":{"a":"#);
    body.splice(
        body.len() - 1..body.len() - 1,
        [b'"', 0xff, 0xfe, b'"', b'}'],
    );
    let e = err_bytes(Some(OCI_MANIFEST), body);
    assert!(matches!(e, ManifestError::InvalidJson { .. }), "{e:?}");
}

#[test]
fn lone_surrogate_escape() {
    let mut v = oci_image();
    set(&mut v, "/annotations", json!({"a": "PLACEHOLDER"}));
    let body = serde_json::to_string(&v)
        .expect("serialize")
        .replace("PLACEHOLDER", "\\ud800");
    let e = err_bytes(Some(OCI_MANIFEST), body);
    assert!(matches!(e, ManifestError::InvalidJson { .. }), "{e:?}");
}

#[test]
fn wrong_json_types() {
    let cases: [(&str, Value); 6] = [
        ("/layers", json!({"not": "an array"})),
        ("/layers/0/size", json!("100")),
        ("/config/digest", json!(12)),
        ("/mediaType", json!(["a"])),
        ("/annotations", json!({"key": 1})),
        ("/layers/0/urls", json!("https://example.com")),
    ];
    for (pointer, bad) in cases {
        let mut v = oci_image();
        set(&mut v, pointer, bad);
        let e = err(Some(OCI_MANIFEST), &v);
        assert!(
            matches!(e, ManifestError::InvalidJson { .. }),
            "{pointer}: {e:?}"
        );
    }
}

#[test]
fn duplicate_field() {
    let body = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"a/b","digest":"{BRACES_SHA}","size":2}},"config":{{"mediaType":"a/b","digest":"{BRACES_SHA}","size":2}},"layers":[]}}"#
    );
    let e = err_bytes(Some(OCI_MANIFEST), body);
    assert!(
        matches!(&e, ManifestError::InvalidJson { message } if message.contains("duplicate field `config`")),
        "{e:?}"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // Inside a descriptor, where unknown fields are kept: refused at serde's
    // recursion limit.
    let mut v = oci_image();
    set(&mut v, "/layers/0/x", json!("DEEP"));
    let body = serde_json::to_string(&v)
        .expect("serialize")
        .replace("\"DEEP\"", &deep);
    for ct in [Some(OCI_MANIFEST), None] {
        let e = err_bytes(ct, body.clone());
        assert!(
            matches!(&e, ManifestError::InvalidJson { message } if message.contains("recursion limit")),
            "{e:?}"
        );
    }
    // Where unknown fields are skipped, skipping is not recursive: no crash,
    // and the manifest is refused for what it lacks.
    let body = format!(r#"{{"schemaVersion":2,"x":{deep},"config":{{}},"layers":[]}}"#);
    for ct in [Some(OCI_MANIFEST), None, Some(DOCKER_SCHEMA1_MANIFEST)] {
        let e = err_bytes(ct, body.clone());
        assert!(
            matches!(
                e,
                ManifestError::MissingField { .. } | ManifestError::UnsupportedSchemaVersion { .. }
            ),
            "{e:?}"
        );
    }
}

// ---- schema choice -------------------------------------------------------

#[test]
fn unknown_content_type() {
    let e = err(Some("application/vnd.example.thing+json"), &oci_image());
    assert_eq!(
        e,
        ManifestError::UnsupportedMediaType {
            media_type: "application/vnd.example.thing+json".to_owned()
        }
    );
    assert_eq!(
        e.to_string(),
        r#"unsupported manifest media type "application/vnd.example.thing+json""#
    );
    assert!(e.is_media_type_error());
    let e = err(Some("text/plain; charset=utf-8"), &oci_image());
    assert_eq!(
        e,
        ManifestError::UnsupportedMediaType {
            media_type: "text/plain".to_owned()
        }
    );
}

#[test]
fn unknown_body_media_type_with_generic_content_type() {
    let mut v = oci_image();
    set(
        &mut v,
        "/mediaType",
        json!("application/vnd.example.manifest.v9+json"),
    );
    for ct in [None, Some("application/json")] {
        assert_eq!(
            err(ct, &v),
            ManifestError::UnsupportedMediaType {
                media_type: "application/vnd.example.manifest.v9+json".to_owned()
            }
        );
    }
}

#[test]
fn schema_cannot_be_told() {
    let e = err(None, &json!({"schemaVersion": 2, "layers": []}));
    assert_eq!(e, ManifestError::UnknownSchema);
    assert_eq!(
        err(Some("application/octet-stream"), &json!({})),
        ManifestError::UnknownSchema
    );
}

#[test]
fn body_media_type_contradicts_content_type() {
    let e = err(Some(OCI_MANIFEST), &oci_index());
    assert_eq!(
        e,
        ManifestError::MediaTypeMismatch {
            content_type: OCI_MANIFEST.to_owned(),
            body: OCI_INDEX.to_owned()
        }
    );
    assert_eq!(
        e.to_string(),
        "mediaType \"application/vnd.oci.image.index.v1+json\" in the manifest does not match the Content-Type \"application/vnd.oci.image.manifest.v1+json\""
    );
    let mut oci_in_docker = oci_image();
    set(&mut oci_in_docker, "/mediaType", json!(OCI_MANIFEST));
    assert!(matches!(
        err(Some(DOCKER_MANIFEST_V2), &oci_in_docker),
        ManifestError::MediaTypeMismatch { .. }
    ));
    assert!(matches!(
        err(Some(DOCKER_MANIFEST_LIST), &docker_v2()),
        ManifestError::MediaTypeMismatch { .. }
    ));
    assert!(matches!(
        err(Some(OCI_INDEX), &docker_list()),
        ManifestError::MediaTypeMismatch { .. }
    ));
}

// ---- schemaVersion -------------------------------------------------------

#[test]
fn wrong_schema_version() {
    for (version, found) in [
        (json!(1), "1"),
        (json!(3), "3"),
        (json!(2.0), "2.0"),
        (json!(-2), "-2"),
    ] {
        let mut v = oci_image();
        set(&mut v, "/schemaVersion", version);
        assert_eq!(
            err(Some(OCI_MANIFEST), &v),
            ManifestError::UnsupportedSchemaVersion {
                expected: 2,
                found: found.to_owned()
            }
        );
    }
    let mut v = docker_list();
    set(&mut v, "/schemaVersion", json!(1));
    let e = err(Some(DOCKER_MANIFEST_LIST), &v);
    assert_eq!(e.to_string(), "unsupported schemaVersion 1: expected 2");
}

#[test]
fn missing_schema_version() {
    for (ct, mut v) in [
        (OCI_MANIFEST, oci_image()),
        (OCI_INDEX, oci_index()),
        (DOCKER_MANIFEST_V2, docker_v2()),
    ] {
        remove(&mut v, "/schemaVersion");
        assert_eq!(
            err(Some(ct), &v),
            ManifestError::MissingField {
                path: "schemaVersion".to_owned()
            }
        );
    }
}

#[test]
fn schema1_with_schema_version_2() {
    let body = schema1_signed().replacen("\"schemaVersion\": 1", "\"schemaVersion\": 2", 1);
    // The signed payload no longer parses as the signatures promise? It
    // still does: formatLength is unchanged, only the version differs.
    let e = err_bytes(Some(DOCKER_SCHEMA1_SIGNED), body);
    assert_eq!(
        e,
        ManifestError::UnsupportedSchemaVersion {
            expected: 1,
            found: "2".to_owned()
        }
    );
}

// ---- required fields and ambiguity ---------------------------------------

#[test]
fn missing_required_fields() {
    let cases: [(&str, Value, &str); 7] = [
        (OCI_MANIFEST, oci_image(), "/config"),
        (OCI_MANIFEST, oci_image(), "/layers"),
        (DOCKER_MANIFEST_V2, docker_v2(), "/layers"),
        (OCI_INDEX, oci_index(), "/manifests"),
        (DOCKER_MANIFEST_LIST, docker_list(), "/manifests"),
        (DOCKER_MANIFEST_V2, docker_v2(), "/mediaType"),
        (DOCKER_MANIFEST_LIST, docker_list(), "/mediaType"),
    ];
    for (ct, mut v, pointer) in cases {
        remove(&mut v, pointer);
        assert_eq!(
            err(Some(ct), &v),
            ManifestError::MissingField {
                path: pointer[1..].to_owned()
            },
            "{ct} {pointer}"
        );
    }
}

#[test]
fn missing_descriptor_digest_and_size() {
    let mut v = oci_image();
    remove(&mut v, "/layers/1/digest");
    let e = err(Some(OCI_MANIFEST), &v);
    assert_eq!(
        e,
        ManifestError::MissingField {
            path: "layers[1].digest".to_owned()
        }
    );
    assert_eq!(e.to_string(), "layers[1].digest: required field is missing");

    let mut v = oci_index();
    remove(&mut v, "/manifests/0/size");
    assert_eq!(
        err(Some(OCI_INDEX), &v),
        ManifestError::MissingField {
            path: "manifests[0].size".to_owned()
        }
    );
}

#[test]
fn image_manifest_with_manifests_is_ambiguous() {
    let mut v = oci_image();
    v.as_object_mut()
        .expect("object")
        .insert("manifests".to_owned(), json!([]));
    assert_eq!(
        err(Some(OCI_MANIFEST), &v),
        ManifestError::Ambiguous {
            path: "manifests".to_owned(),
            kind: "an image manifest"
        }
    );
}

#[test]
fn index_with_config_or_layers_is_ambiguous() {
    for field in ["config", "layers"] {
        let mut v = oci_index();
        v.as_object_mut()
            .expect("object")
            .insert(field.to_owned(), json!([]));
        let e = err(Some(OCI_INDEX), &v);
        assert_eq!(
            e,
            ManifestError::Ambiguous {
                path: field.to_owned(),
                kind: "an image index"
            }
        );
    }
}

// ---- digests -------------------------------------------------------------

#[test]
fn short_layer_digest() {
    let mut v = oci_image();
    set(&mut v, "/layers/2/digest", json!("sha256:abc"));
    let e = err(Some(OCI_MANIFEST), &v);
    assert!(matches!(
        &e,
        ManifestError::InvalidDigest { path, value, source: DigestError::InvalidLength { .. } }
            if path == "layers[2].digest" && value == "sha256:abc"
    ));
    assert_eq!(
        e.to_string(),
        "layers[2].digest: invalid digest \"sha256:abc\": invalid sha256 digest length: expected 64 hex characters, got 3"
    );
}

#[test]
fn uppercase_config_digest() {
    let mut v = docker_v2();
    set(
        &mut v,
        "/config/digest",
        json!(BRACES_SHA.to_uppercase().replace("SHA256", "sha256")),
    );
    let e = err(Some(DOCKER_MANIFEST_V2), &v);
    assert!(
        matches!(
            &e,
            ManifestError::InvalidDigest { path, source: DigestError::InvalidEncoding { .. }, .. } if path == "config.digest"
        ),
        "{e:?}"
    );
}

#[test]
fn unsupported_digest_algorithm() {
    let mut v = oci_image();
    set(
        &mut v,
        "/layers/0/digest",
        json!("md5:d41d8cd98f00b204e9800998ecf8427e"),
    );
    let e = err(Some(OCI_MANIFEST), &v);
    assert!(
        matches!(
            &e,
            ManifestError::InvalidDigest { path, source: DigestError::UnsupportedAlgorithm { .. }, .. } if path == "layers[0].digest"
        ),
        "{e:?}"
    );
}

#[test]
fn empty_and_separatorless_digests() {
    let mut v = oci_index();
    set(&mut v, "/manifests/1/digest", json!(""));
    assert!(matches!(
        err(Some(OCI_INDEX), &v),
        ManifestError::InvalidDigest { ref path, source: DigestError::Empty, .. } if path == "manifests[1].digest"
    ));
    let mut v = docker_list();
    set(
        &mut v,
        "/manifests/0/digest",
        json!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    );
    assert!(matches!(
        err(Some(DOCKER_MANIFEST_LIST), &v),
        ManifestError::InvalidDigest { ref path, source: DigestError::MissingSeparator { .. }, .. } if path == "manifests[0].digest"
    ));
}

#[test]
fn invalid_subject_digest() {
    let mut v = oci_image();
    v.as_object_mut().expect("object").insert(
        "subject".to_owned(),
        json!({"mediaType": OCI_MANIFEST, "digest": "sha256:xyz", "size": 1}),
    );
    let e = err(Some(OCI_MANIFEST), &v);
    assert_eq!(path(&e), "subject.digest");
    assert!(matches!(e, ManifestError::InvalidDigest { .. }));
}

#[test]
fn long_bad_values_are_shortened_in_messages() {
    let mut v = oci_image();
    let long = format!("sha256:{}", "z".repeat(10_000));
    set(&mut v, "/layers/0/digest", json!(long));
    let e = err(Some(OCI_MANIFEST), &v);
    assert!(e.to_string().len() < 400, "{}", e.to_string().len());
}

// ---- sizes ---------------------------------------------------------------

#[test]
fn negative_size() {
    let mut v = oci_image();
    set(&mut v, "/layers/0/size", json!(-1));
    let e = err(Some(OCI_MANIFEST), &v);
    assert_eq!(
        e,
        ManifestError::NegativeSize {
            path: "layers[0].size".to_owned(),
            size: -1
        }
    );
    assert_eq!(e.to_string(), "layers[0].size: size -1 is negative");
}

#[test]
fn non_integer_sizes() {
    for (bad, shown) in [
        ("1.5", "1.5"),
        ("1e3", "1000.0"),
        ("9223372036854775808", "9223372036854775808"),
        ("-0.0", "-0.0"),
    ] {
        let body = serde_json::to_string(&oci_image())
            .expect("serialize")
            .replacen("\"size\":2", &format!("\"size\":{bad}"), 1);
        let e = err_bytes(Some(OCI_MANIFEST), body);
        assert_eq!(
            e,
            ManifestError::InvalidSize {
                path: "config.size".to_owned(),
                value: shown.to_owned()
            },
            "{bad}"
        );
    }
}

// ---- media types ---------------------------------------------------------

#[test]
fn missing_media_types() {
    let mut v = oci_image();
    set(&mut v, "/config/mediaType", json!(""));
    let e = err(Some(OCI_MANIFEST), &v);
    assert_eq!(
        e,
        ManifestError::MissingMediaType {
            path: "config.mediaType".to_owned()
        }
    );
    assert_eq!(e.to_string(), "config.mediaType: media type is required");

    let mut v = oci_image();
    remove(&mut v, "/layers/0/mediaType");
    assert_eq!(
        err(Some(OCI_MANIFEST), &v),
        ManifestError::MissingMediaType {
            path: "layers[0].mediaType".to_owned()
        }
    );

    let mut v = oci_index();
    remove(&mut v, "/manifests/1/mediaType");
    assert_eq!(
        err(Some(OCI_INDEX), &v),
        ManifestError::MissingMediaType {
            path: "manifests[1].mediaType".to_owned()
        }
    );
}

#[test]
fn malformed_media_types() {
    for bad in [
        "application",
        "application/",
        "/json",
        "application/json; charset=utf-8",
        "app lication/json",
        "application/vnd..x/y",
    ] {
        let mut v = oci_image();
        set(&mut v, "/layers/1/mediaType", json!(bad));
        let e = err(Some(OCI_MANIFEST), &v);
        assert_eq!(
            e,
            ManifestError::InvalidMediaType {
                path: "layers[1].mediaType".to_owned(),
                value: bad.to_owned()
            },
            "{bad}"
        );
    }
}

#[test]
fn malformed_artifact_types() {
    for bad in ["", "not a media type", "text"] {
        let mut v = oci_image();
        v.as_object_mut()
            .expect("object")
            .insert("artifactType".to_owned(), json!(bad));
        assert_eq!(
            err(Some(OCI_MANIFEST), &v),
            ManifestError::InvalidMediaType {
                path: "artifactType".to_owned(),
                value: bad.to_owned()
            }
        );
        let mut v = oci_index();
        set(&mut v, "/manifests/0/artifactType", json!(bad));
        assert_eq!(path(&err(Some(OCI_INDEX), &v)), "manifests[0].artifactType");
    }
}

#[test]
fn docker_config_must_be_a_docker_config() {
    let mut v = docker_v2();
    set(
        &mut v,
        "/config/mediaType",
        json!("application/vnd.cncf.helm.config.v1+json"),
    );
    let e = err(Some(DOCKER_MANIFEST_V2), &v);
    assert!(
        matches!(&e, ManifestError::InvalidConfigMediaType { path, media_type, .. }
        if path == "config.mediaType" && media_type == "application/vnd.cncf.helm.config.v1+json"),
        "{e:?}"
    );
}

#[test]
fn docker_layers_must_be_layers() {
    for bad in [
        "application/vnd.in-toto+json",
        "application/vnd.docker.container.image.rootfs.diff+x-gtar",
        OCI_MANIFEST,
    ] {
        let mut v = docker_v2();
        set(&mut v, "/layers/0/mediaType", json!(bad));
        let e = err(Some(DOCKER_MANIFEST_V2), &v);
        assert!(
            matches!(&e, ManifestError::InvalidLayerMediaType { path, .. } if path == "layers[0].mediaType"),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn oci_layers_must_not_be_manifests_or_configs() {
    for bad in [
        OCI_INDEX,
        DOCKER_MANIFEST_V2,
        "application/vnd.oci.image.config.v1+json",
        "application/vnd.docker.container.image.v1+json",
    ] {
        let mut v = oci_image();
        set(&mut v, "/layers/2/mediaType", json!(bad));
        let e = err(Some(OCI_MANIFEST), &v);
        assert!(
            matches!(&e, ManifestError::InvalidLayerMediaType { path, .. } if path == "layers[2].mediaType"),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn empty_config_needs_an_artifact_type() {
    let mut v = oci_image();
    set(
        &mut v,
        "/config",
        json!({"mediaType": "application/vnd.oci.empty.v1+json", "digest": BRACES_SHA, "size": 2}),
    );
    let e = err(Some(OCI_MANIFEST), &v);
    assert_eq!(e, ManifestError::MissingArtifactType);
    assert_eq!(
        e.to_string(),
        "artifactType: required when config.mediaType is application/vnd.oci.empty.v1+json"
    );
}

#[test]
fn strict_policy_refuses_blob_entries_in_lists() {
    let strict = ManifestRegistry::new()
        .with_policy(ValidationPolicy::new().with_strict_index_children(true));
    let mut v = docker_list();
    set(
        &mut v,
        "/manifests/0/mediaType",
        json!("application/vnd.docker.container.image.v1+json"),
    );
    let e = err_with(&strict, None, serde_json::to_vec(&v).expect("serialize"));
    assert_eq!(
        e,
        ManifestError::InvalidChildMediaType {
            path: "manifests[0].mediaType".to_owned(),
            media_type: "application/vnd.docker.container.image.v1+json".to_owned()
        }
    );
    // Not with the default policy.
    assert!(
        ManifestRegistry::new()
            .parse(None, serde_json::to_vec(&v).expect("serialize").into())
            .is_ok()
    );
}

// ---- data ----------------------------------------------------------------

#[test]
fn data_must_be_base64() {
    let mut v = oci_image();
    set(&mut v, "/config/data", json!("e30"));
    let e = err(Some(OCI_MANIFEST), &v);
    assert!(
        matches!(&e, ManifestError::InvalidData { path, .. } if path == "config.data"),
        "{e:?}"
    );
    set(&mut v, "/config/data", json!("!!!!"));
    assert!(matches!(
        err(Some(OCI_MANIFEST), &v),
        ManifestError::InvalidData { .. }
    ));
}

#[test]
fn data_must_match_size() {
    let mut v = oci_image();
    set(&mut v, "/config/data", json!("e30="));
    set(&mut v, "/config/size", json!(3));
    assert_eq!(
        err(Some(OCI_MANIFEST), &v),
        ManifestError::DataSizeMismatch {
            path: "config.data".to_owned(),
            size: 3,
            actual: 2
        }
    );
}

#[test]
fn data_must_match_digest() {
    let mut v = oci_image();
    set(&mut v, "/layers/0/data", json!("e30="));
    set(&mut v, "/layers/0/size", json!(2));
    let e = err(Some(OCI_MANIFEST), &v);
    assert_eq!(
        e,
        ManifestError::DataDigestMismatch {
            path: "layers[0].data".to_owned(),
            expected: LAYER_SHA.to_owned(),
            actual: BRACES_SHA.to_owned()
        }
    );
}

// ---- platforms -----------------------------------------------------------

#[test]
fn platform_needs_architecture_and_os() {
    for field in ["os", "architecture"] {
        let mut v = oci_index();
        remove(&mut v, &format!("/manifests/1/platform/{field}"));
        assert_eq!(
            err(Some(OCI_INDEX), &v),
            ManifestError::MissingField {
                path: format!("manifests[1].platform.{field}")
            }
        );
    }
    let mut v = docker_list();
    set(&mut v, "/manifests/0/platform/os", json!(""));
    assert_eq!(path(&err(None, &v)), "manifests[0].platform.os");
}

// ---- URLs ----------------------------------------------------------------

fn with_urls(media_type: &str, urls: Value) -> Value {
    let mut v = docker_v2();
    set(&mut v, "/layers/0/mediaType", json!(media_type));
    set(&mut v, "/layers/0/urls", urls);
    v
}

#[test]
fn foreign_layer_needs_urls() {
    let mut v = docker_v2();
    set(
        &mut v,
        "/layers/0/mediaType",
        json!("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
    );
    let e = err(Some(DOCKER_MANIFEST_V2), &v);
    assert_eq!(
        e,
        ManifestError::MissingUrls {
            path: "layers[0].urls".to_owned()
        }
    );
    // An empty list is the same as none.
    let v = with_urls(
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        json!([]),
    );
    assert_eq!(
        err(None, &v),
        ManifestError::MissingUrls {
            path: "layers[0].urls".to_owned()
        }
    );
}

#[test]
fn malformed_urls() {
    let any = ManifestRegistry::new().with_policy(ValidationPolicy::allow_any_url());
    for bad in [
        "ftp://example.com/layer",
        "https://example.com/layer#frag",
        "https:///nohost",
        "example.com/layer",
        "https://example.com/a b",
        "https://example.com/%zz",
    ] {
        let v = with_urls(
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            json!(["https://ok.example.com/", bad]),
        );
        let e = err_with(&any, None, serde_json::to_vec(&v).expect("serialize"));
        assert!(
            matches!(&e, ManifestError::InvalidUrl { path, url, .. } if path == "layers[0].urls[1]" && url == bad),
            "{bad}: {e:?}"
        );
    }
}

#[test]
fn urls_outside_the_allow_list() {
    let policy =
        ValidationPolicy::from_patterns(["^https://allowed\\.example\\.com/"], Vec::<&str>::new())
            .expect("patterns");
    let registry = ManifestRegistry::new().with_policy(policy);
    let v = with_urls(
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        json!(["https://other.example.com/blob"]),
    );
    let e = err_with(&registry, None, serde_json::to_vec(&v).expect("serialize"));
    assert_eq!(
        e,
        ManifestError::UrlNotAllowed {
            path: "layers[0].urls[0]".to_owned(),
            url: "https://other.example.com/blob".to_owned()
        }
    );
    assert_eq!(
        e.to_string(),
        "layers[0].urls[0]: URL \"https://other.example.com/blob\" is not allowed by the registry's validation.manifests.urls policy"
    );
}

#[test]
fn urls_on_the_deny_list() {
    let policy = ValidationPolicy::from_patterns(["^https://"], ["/secret/"]).expect("patterns");
    let registry = ManifestRegistry::new().with_policy(policy);
    let v = with_urls(
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        json!(["https://cdn.example.com/secret/blob"]),
    );
    assert!(matches!(
        err_with(&registry, None, serde_json::to_vec(&v).expect("serialize")),
        ManifestError::UrlDenied { ref path, .. } if path == "layers[0].urls[0]"
    ));
}

#[test]
fn default_policy_allows_no_urls() {
    let mut v = oci_image();
    set(
        &mut v,
        "/layers/0/mediaType",
        json!("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
    );
    set(
        &mut v,
        "/layers/0/urls",
        json!(["https://example.com/blob"]),
    );
    assert!(matches!(err(None, &v), ManifestError::UrlNotAllowed { .. }));
}

// ---- schema 1 ------------------------------------------------------------

/// The signed fixture with its first signature's protected header replaced.
fn with_protected(protected: &str) -> String {
    let body = schema1_signed();
    let start = body.find("\"protected\": \"").expect("protected") + "\"protected\": \"".len();
    let end = start + body[start..].find('"').expect("end");
    format!("{}{}{}", &body[..start], protected, &body[end..])
}

/// The signed fixture with every signature's protected header replaced.
fn with_all_protected(protected: &str) -> String {
    let mut body = schema1_signed();
    let mut from = 0;
    while let Some(found) = body[from..].find("\"protected\": \"") {
        let start = from + found + "\"protected\": \"".len();
        let end = start + body[start..].find('"').expect("end");
        body.replace_range(start..end, protected);
        from = start + protected.len();
    }
    body
}

fn b64url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn prettyjws_without_signatures() {
    let unsigned = std::fs::read(format!(
        "{}/tests/fixtures/schema1-unsigned.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let e = err_bytes(Some(DOCKER_SCHEMA1_SIGNED), unsigned);
    assert_eq!(e, ManifestError::MissingSignatures);
    // An empty signatures array, sniffed: signed, and nothing signs it.
    let body = r#"{"schemaVersion":1,"name":"a","tag":"b","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}"#;
    assert_eq!(err_bytes(None, body), ManifestError::MissingSignatures);
}

#[test]
fn protected_header_not_base64url() {
    let e = err_bytes(None, with_protected("not*base64"));
    assert!(
        matches!(&e, ManifestError::InvalidSignature { index: 0, reason } if reason.starts_with("not base64url")),
        "{e:?}"
    );
}

#[test]
fn protected_header_problems() {
    let cases = [
        (b64url("[1,2]"), "not a JSON object"),
        (b64url(r#"{"formatTail":"Cn0"}"#), "formatLength is missing"),
        (b64url(r#"{"formatLength":1086}"#), "formatTail is missing"),
        (
            b64url(r#"{"formatLength":-1,"formatTail":"Cn0"}"#),
            "formatLength -1 is not a whole number",
        ),
        (
            b64url(r#"{"formatLength":10.5,"formatTail":"Cn0"}"#),
            "formatLength 10.5 is not a whole number",
        ),
        (
            b64url(r#"{"formatLength":99999999,"formatTail":"Cn0"}"#),
            "formatLength 99999999 exceeds",
        ),
        (
            b64url(r#"{"formatLength":1086,"formatTail":"C*0"}"#),
            "formatTail is not base64url",
        ),
        (
            b64url(r#"{"formatLength":10,"formatTail":"Cn0"}"#),
            "the signed payload is not a valid manifest",
        ),
    ];
    for (protected, reason_start) in cases {
        let e = err_bytes(Some(DOCKER_SCHEMA1_SIGNED), with_all_protected(&protected));
        assert!(
            matches!(&e, ManifestError::InvalidSignature { index: 0, reason } if reason.starts_with(reason_start)),
            "{reason_start}: {e:?}"
        );
    }
    let e = err_bytes(
        None,
        with_protected(&b64url(r#"{"formatLength":99999999,"formatTail":"Cn0"}"#)),
    );
    assert!(
        e.to_string()
            .starts_with("signatures[0].protected: formatLength 99999999 exceeds the manifest's"),
        "{e}"
    );
}

#[test]
fn signatures_that_disagree() {
    // The first signature signs one byte less of the body than the second.
    let shorter = b64url(r#"{"formatLength":1085,"formatTail":"Cn0"}"#);
    assert_eq!(
        err_bytes(None, with_protected(&shorter)),
        ManifestError::SignatureMismatch { index: 1 }
    );
    // Same length, another tail (" }" instead of "\n}").
    let other_tail = b64url(r#"{"formatLength":1086,"formatTail":"IH0"}"#);
    let e = err_bytes(None, with_protected(&other_tail));
    assert_eq!(e, ManifestError::SignatureMismatch { index: 1 });
    assert_eq!(
        e.to_string(),
        "signatures[1]: signs a different payload than signatures[0]"
    );
}

#[test]
fn schema1_missing_fields() {
    let body = schema1_signed().replacen("\"name\": \"library/hello-world\",", "", 1);
    // Editing the payload moves the closing brace: fix formatLength.
    let fl = body.find(",\n   \"signatures\"").expect("signatures");
    let protected = b64url(&format!(r#"{{"formatLength":{fl},"formatTail":"Cn0"}}"#));
    let body = body.replace(
        "eyJmb3JtYXRMZW5ndGgiOjEwODYsImZvcm1hdFRhaWwiOiJDbjAiLCJ0aW1lIjoiMjAxNS0wOC0wN1QwMDowNDowNloifQ",
        &protected,
    ).replace(
        "eyJmb3JtYXRMZW5ndGgiOjEwODYsImZvcm1hdFRhaWwiOiJDbjAiLCJ0aW1lIjoiMjAxNS0wOC0wN1QwMDowNToxMVoifQ",
        &protected,
    );
    assert_eq!(
        err_bytes(None, body),
        ManifestError::MissingField {
            path: "name".to_owned()
        }
    );

    for field in ["tag", "architecture", "fsLayers"] {
        let mut v: Value = serde_json::from_slice(
            &std::fs::read(format!(
                "{}/tests/fixtures/schema1-unsigned.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("fixture"),
        )
        .expect("json");
        remove(&mut v, &format!("/{field}"));
        assert_eq!(
            err(Some(DOCKER_SCHEMA1_MANIFEST), &v),
            ManifestError::MissingField {
                path: field.to_owned()
            }
        );
    }
}

fn schema1_unsigned() -> Value {
    serde_json::from_slice(
        &std::fs::read(format!(
            "{}/tests/fixtures/schema1-unsigned.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("json")
}

#[test]
fn schema1_empty_tag() {
    let mut v = schema1_unsigned();
    set(&mut v, "/tag", json!(""));
    assert_eq!(
        err(None, &v),
        ManifestError::MissingField {
            path: "tag".to_owned()
        }
    );
}

#[test]
fn schema1_bad_blob_sum() {
    let mut v = schema1_unsigned();
    set(&mut v, "/fsLayers/1/blobSum", json!("sha256:nothex"));
    let e = err(None, &v);
    assert!(
        matches!(&e, ManifestError::InvalidDigest { path, .. } if path == "fsLayers[1].blobSum"),
        "{e:?}"
    );
}

#[test]
fn schema1_history_mismatch() {
    let mut v = schema1_unsigned();
    v.pointer_mut("/history")
        .and_then(Value::as_array_mut)
        .expect("history")
        .pop();
    let e = err(Some(DOCKER_SCHEMA1_MANIFEST), &v);
    assert_eq!(
        e,
        ManifestError::HistoryMismatch {
            fs_layers: 3,
            history: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "history: 2 entries but fsLayers has 3; they must be as many"
    );
}

// ---- every type refuses garbage -------------------------------------------

#[test]
fn every_manifest_type_refuses_an_empty_object() {
    for ct in MANIFEST_MEDIA_TYPES {
        let e = err_bytes(Some(ct), &b"{}"[..]);
        assert!(
            matches!(
                e,
                ManifestError::MissingField { .. } | ManifestError::MissingSignatures
            ),
            "{ct}: {e:?}"
        );
    }
}

#[test]
fn json_type_errors_name_what_was_expected() {
    // A manifest is a JSON object, never an array read positionally.
    let positional = format!(
        r#"[2, "{OCI_MANIFEST}", null, {{"mediaType":"a/b","digest":"{BRACES_SHA}","size":2}}, []]"#
    );
    for ct in [Some(OCI_MANIFEST), None] {
        let e = err_bytes(ct, positional.clone());
        assert_eq!(
            e.to_string(),
            "invalid manifest JSON: expected a JSON object at line 1 column 1"
        );
    }
    let e = err_bytes(None, &b"\n  \"manifest\""[..]);
    assert_eq!(
        e.to_string(),
        "invalid manifest JSON: expected a JSON object at line 2 column 3"
    );
    let e = err(
        Some(OCI_MANIFEST),
        &json!({"schemaVersion": 2, "config": 5, "layers": []}),
    );
    assert_eq!(
        e.to_string(),
        "invalid manifest JSON: invalid type: integer `5`, expected a descriptor (a JSON object) at line 1 column 11"
    );
    let mut v = oci_index();
    set(&mut v, "/manifests/0", json!("sha256:abc"));
    let e = err(Some(OCI_INDEX), &v);
    assert!(
        e.to_string()
            .contains("expected a descriptor (a JSON object)"),
        "{e}"
    );
}
