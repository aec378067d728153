//! Properties: no input panics the registry, whatever the Content-Type; a
//! manifest that parses keeps its bytes and digest; generated valid
//! manifests always parse.

use berth_digest::Digest;
use berth_manifest::media_type::{
    DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED,
    OCI_INDEX, OCI_MANIFEST,
};
use berth_manifest::{ManifestKind, ManifestRegistry, ValidationPolicy};
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::json;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some(""),
    Some("application/json"),
    Some("application/octet-stream"),
    Some(OCI_MANIFEST),
    Some(OCI_INDEX),
    Some(DOCKER_MANIFEST_V2),
    Some(DOCKER_MANIFEST_LIST),
    Some(DOCKER_SCHEMA1_SIGNED),
    Some(DOCKER_SCHEMA1_MANIFEST),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
    Some("text/plain"),
];

const FIXTURES: &[(&str, Option<&str>)] = &[
    ("docker-v2.json", Some(DOCKER_MANIFEST_V2)),
    ("docker-list.json", Some(DOCKER_MANIFEST_LIST)),
    ("oci-image.json", Some(OCI_MANIFEST)),
    ("oci-index.json", Some(OCI_INDEX)),
    ("oci-artifact.json", Some(OCI_MANIFEST)),
    ("oci-image-no-media-type.json", None),
    ("schema1-signed.json", Some(DOCKER_SCHEMA1_SIGNED)),
    ("schema1-unsigned.json", Some(DOCKER_SCHEMA1_MANIFEST)),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn registries() -> [ManifestRegistry; 2] {
    [
        ManifestRegistry::new(),
        ManifestRegistry::new()
            .with_policy(ValidationPolicy::allow_any_url().with_strict_index_children(true)),
    ]
}

/// Parses with every registry, both ways; checks what holds of any success.
fn exercise(content_type: Option<&str>, body: &[u8]) -> Result<(), TestCaseError> {
    let body = Bytes::copy_from_slice(body);
    for registry in registries() {
        for result in [
            registry.parse(content_type, body.clone()),
            registry.parse_unvalidated(content_type, body.clone()),
        ] {
            match result {
                Ok(m) => {
                    prop_assert_eq!(m.payload(), &body);
                    let signed_schema1 =
                        matches!(m.kind(), ManifestKind::Schema1(s) if s.is_signed());
                    if !signed_schema1 {
                        prop_assert_eq!(m.digest(), &Digest::sha256(&body));
                    }
                    // Every accessor works on whatever parsed.
                    let _ = (m.references().count(), m.blob_references().count());
                    let _ = (
                        m.manifest_references().count(),
                        m.subject(),
                        m.artifact_type(),
                    );
                    let _ = (m.annotations().len(), m.is_index(), m.descriptor());
                }
                Err(e) => {
                    // Every error renders.
                    prop_assert!(!e.to_string().is_empty());
                    let _ = e.path();
                }
            }
        }
    }
    Ok(())
}

/// Tokens that make random input look enough like a manifest to reach the
/// deeper parsing paths.
fn json_token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(":".to_owned()),
        Just(",".to_owned()),
        Just("\"schemaVersion\"".to_owned()),
        Just("\"mediaType\"".to_owned()),
        Just("\"config\"".to_owned()),
        Just("\"layers\"".to_owned()),
        Just("\"manifests\"".to_owned()),
        Just("\"digest\"".to_owned()),
        Just("\"size\"".to_owned()),
        Just("\"urls\"".to_owned()),
        Just("\"data\"".to_owned()),
        Just("\"platform\"".to_owned()),
        Just("\"signatures\"".to_owned()),
        Just("\"protected\"".to_owned()),
        Just("\"fsLayers\"".to_owned()),
        Just("\"blobSum\"".to_owned()),
        Just("\"e30=\"".to_owned()),
        Just(format!("\"{OCI_MANIFEST}\"")),
        Just(format!("\"{DOCKER_MANIFEST_V2}\"")),
        Just(
            "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\""
                .to_owned()
        ),
        Just("1".to_owned()),
        Just("2".to_owned()),
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        "\"[a-z/+.:]{0,12}\"",
    ]
}

/// A byte-level mutation of a valid manifest.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

fn apply(body: &mut Vec<u8>, m: &Mutation) {
    let len = body.len().max(1);
    match *m {
        Mutation::Flip(i, b) => {
            if let Some(slot) = body.get_mut(i % len) {
                *slot ^= b | 1;
            }
        }
        Mutation::Truncate(i) => body.truncate(i % len),
        Mutation::Insert(i, b) => body.insert((i % len).min(body.len()), b),
        Mutation::Delete(i) => {
            if !body.is_empty() {
                body.remove(i % len);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        body in prop::collection::vec(any::<u8>(), 0..512),
        ct in prop::sample::select(CONTENT_TYPES),
    ) {
        exercise(ct, &body)?;
    }

    #[test]
    fn manifest_like_tokens_never_panic(
        tokens in prop::collection::vec(json_token(), 0..80),
        ct in prop::sample::select(CONTENT_TYPES),
    ) {
        exercise(ct, tokens.concat().as_bytes())?;
    }

    #[test]
    fn mutated_manifests_never_panic(
        which in 0..FIXTURES.len(),
        mutations in prop::collection::vec(mutation(), 1..6),
        use_content_type in any::<bool>(),
    ) {
        let (name, ct) = FIXTURES[which];
        let mut body = fixture(name);
        for m in &mutations {
            apply(&mut body, m);
        }
        exercise(if use_content_type { ct } else { None }, &body)?;
    }

    #[test]
    fn generated_oci_manifests_parse(
        layers in prop::collection::vec((0i64..i64::MAX, any::<[u8; 8]>(), 0usize..3), 0..8),
        annotations in prop::collection::btree_map("[a-z.]{1,12}", "\\PC{0,16}", 0..4),
        with_media_type in any::<bool>(),
        indent in any::<bool>(),
    ) {
        let layer_types = [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.in-toto+json",
        ];
        let layers: Vec<_> = layers
            .iter()
            .map(|(size, seed, t)| json!({
                "mediaType": layer_types[*t],
                "digest": Digest::sha256(seed).to_string(),
                "size": size,
            }))
            .collect();
        let mut v = json!({
            "schemaVersion": 2,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": Digest::sha256(b"config").to_string(),
                "size": 2,
            },
            "layers": layers,
            "annotations": annotations,
        });
        if with_media_type {
            v["mediaType"] = json!(OCI_MANIFEST);
        }
        let body = if indent {
            serde_json::to_vec_pretty(&v)
        } else {
            serde_json::to_vec(&v)
        }.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let body = Bytes::from(body);
        for ct in [None, Some(OCI_MANIFEST), Some("application/json")] {
            let m = ManifestRegistry::new().parse(ct, body.clone());
            prop_assert!(m.is_ok(), "{:?}", m.err());
            let m = m.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(m.digest(), &Digest::sha256(&body));
            prop_assert_eq!(m.references().count(), layers.len() + 1);
            prop_assert_eq!(m.annotations(), &annotations);
        }
    }
}
