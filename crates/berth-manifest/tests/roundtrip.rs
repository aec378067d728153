//! Realistic manifests of every schema: parsed, their fields and references
//! checked, their payload kept byte for byte and their digest that of the
//! bytes (of the signed payload for signed schema 1).

use std::sync::Arc;

use berth_digest::{Algorithm, Digest};
use berth_manifest::media_type::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2,
    DOCKER_SCHEMA1_LAYER, DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED, OCI_CONFIG, OCI_EMPTY,
    OCI_INDEX, OCI_MANIFEST,
};
use berth_manifest::{
    Descriptor, Manifest, ManifestContent, ManifestError, ManifestKind, ManifestRegistry,
    ManifestSchema, ParsedManifest, References, ValidationPolicy,
};
use bytes::Bytes;

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}")))
}

fn parse(content_type: Option<&str>, body: &Bytes) -> Manifest {
    ManifestRegistry::new()
        .parse(content_type, body.clone())
        .unwrap_or_else(|e| panic!("parse failed: {e}"))
}

/// The checks every parse must pass: bytes verbatim, digest of the bytes.
fn assert_verbatim(manifest: &Manifest, body: &Bytes) {
    assert_eq!(manifest.payload(), body);
    assert_eq!(
        manifest.payload().as_ptr(),
        body.as_ptr(),
        "payload must not be copied"
    );
    assert_eq!(manifest.size(), body.len());
    assert_eq!(manifest.digest(), &Digest::sha256(body));
}

fn digests(refs: References<'_>) -> Vec<String> {
    refs.map(|d| d.digest.to_string()).collect()
}

#[test]
fn docker_v2_multi_layer_image() {
    let body = fixture("docker-v2.json");
    let m = parse(Some(DOCKER_MANIFEST_V2), &body);
    assert_verbatim(&m, &body);
    assert_eq!(m.media_type(), DOCKER_MANIFEST_V2);
    assert!(!m.is_index());
    assert!(!m.is_schema1());
    assert_eq!(m.subject(), None);
    assert_eq!(m.artifact_type(), None);
    assert!(m.annotations().is_empty());

    let ManifestKind::DockerV2(typed) = m.kind() else {
        panic!("expected Docker v2, got {:?}", m.kind());
    };
    assert_eq!(typed.schema_version, 2);
    assert_eq!(typed.config.media_type, DOCKER_CONFIG);
    assert_eq!(typed.config.size, 7023);
    assert_eq!(typed.layers.len(), 3);
    assert!(
        typed
            .layers
            .iter()
            .all(|l| l.media_type == DOCKER_LAYER_GZIP)
    );
    assert_eq!(
        typed.layers.iter().map(|l| l.size).collect::<Vec<_>>(),
        [32654, 16724, 73109]
    );

    let refs = m.references();
    assert_eq!(refs.len(), 4);
    let all = digests(m.references());
    assert_eq!(all[0], typed.config.digest.to_string());
    assert_eq!(
        all[1..],
        typed
            .layers
            .iter()
            .map(|l| l.digest.to_string())
            .collect::<Vec<_>>()[..]
    );
    assert_eq!(m.blob_references().count(), 4);
    assert_eq!(m.manifest_references().count(), 0);
    assert_eq!(m.config().map(|c| c.size), Some(7023));
}

#[test]
fn content_type_parameters_and_case_are_ignored() {
    let body = fixture("docker-v2.json");
    for ct in [
        "application/vnd.docker.distribution.manifest.v2+json; charset=utf-8",
        "Application/VND.Docker.Distribution.Manifest.V2+JSON",
        "  application/vnd.docker.distribution.manifest.v2+json ;q=1",
    ] {
        let m = parse(Some(ct), &body);
        assert_eq!(m.media_type(), DOCKER_MANIFEST_V2, "{ct}");
        assert_verbatim(&m, &body);
    }
    // Generic or absent: sniffed from the body's mediaType.
    for ct in [
        None,
        Some(""),
        Some("application/json"),
        Some("application/octet-stream"),
    ] {
        let m = parse(ct, &body);
        assert_eq!(m.media_type(), DOCKER_MANIFEST_V2, "{ct:?}");
    }
}

#[test]
fn oci_image_with_annotations() {
    let body = fixture("oci-image.json");
    let m = parse(Some(OCI_MANIFEST), &body);
    assert_verbatim(&m, &body);
    assert_eq!(m.media_type(), OCI_MANIFEST);
    assert_eq!(
        m.annotations()
            .get("org.opencontainers.image.source")
            .map(String::as_str),
        Some("https://github.com/example/app")
    );
    assert_eq!(m.annotations().len(), 3);
    // No artifactType: the referrers rule reports the config media type.
    assert_eq!(m.artifact_type(), Some(OCI_CONFIG));

    let ManifestKind::OciImage(typed) = m.kind() else {
        panic!("expected OCI image");
    };
    assert_eq!(typed.media_type.as_deref(), Some(OCI_MANIFEST));
    assert_eq!(typed.artifact_type, None);
    assert_eq!(typed.layers.len(), 2);
    assert_eq!(
        typed.layers[1]
            .annotations
            .get("org.opencontainers.image.title")
            .map(String::as_str),
        Some("app.tar.zst")
    );
    assert_eq!(typed.layers[0].size, 3_370_706);
    assert_eq!(m.references().count(), 3);
    assert_eq!(m.descriptor().annotations.len(), 3);
}

#[test]
fn oci_index_with_two_platforms() {
    let body = fixture("oci-index.json");
    let m = parse(Some(OCI_INDEX), &body);
    assert_verbatim(&m, &body);
    assert!(m.is_index());
    assert_eq!(m.config(), None);
    assert_eq!(m.blob_references().count(), 0);
    let children: Vec<&Descriptor> = m.manifest_references().collect();
    assert_eq!(children.len(), 2);
    let platforms: Vec<(String, String, Option<String>)> = children
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| (p.architecture.clone(), p.os.clone(), p.variant.clone()))
        .collect();
    assert_eq!(
        platforms,
        [
            ("amd64".to_owned(), "linux".to_owned(), None),
            (
                "arm64".to_owned(),
                "linux".to_owned(),
                Some("v8".to_owned())
            ),
        ]
    );
    assert!(children.iter().all(|d| d.media_type == OCI_MANIFEST));
    assert_eq!(
        m.annotations()
            .get("org.opencontainers.image.ref.name")
            .map(String::as_str),
        Some("1.0")
    );
    assert_eq!(m.artifact_type(), None);
    let ManifestKind::OciIndex(typed) = m.kind() else {
        panic!("expected OCI index");
    };
    assert_eq!(typed.manifests[1].annotations.len(), 1);
}

#[test]
fn docker_manifest_list() {
    let body = fixture("docker-list.json");
    let m = parse(Some(DOCKER_MANIFEST_LIST), &body);
    assert_verbatim(&m, &body);
    assert_eq!(m.media_type(), DOCKER_MANIFEST_LIST);
    assert!(m.is_index());
    let ManifestKind::DockerList(list) = m.kind() else {
        panic!("expected Docker list");
    };
    assert_eq!(list.manifests.len(), 3);
    let amd64 = list.manifests[0].platform.as_ref().expect("platform");
    assert_eq!(amd64.features, ["sse4"]);
    let arm = list.manifests[1].platform.as_ref().expect("platform");
    assert_eq!(arm.variant.as_deref(), Some("v7"));
    let windows = list.manifests[2].platform.as_ref().expect("platform");
    assert_eq!(windows.os, "windows");
    assert_eq!(windows.os_version.as_deref(), Some("10.0.17763.1879"));
    assert_eq!(windows.os_features, ["win32k"]);
    assert_eq!(m.manifest_references().count(), 3);
    // Sniffed with no Content-Type.
    assert_eq!(parse(None, &body).media_type(), DOCKER_MANIFEST_LIST);
}

#[test]
fn oci_artifact_with_subject_and_artifact_type() {
    let body = fixture("oci-artifact.json");
    let m = parse(Some(OCI_MANIFEST), &body);
    assert_verbatim(&m, &body);
    assert_eq!(m.artifact_type(), Some("application/spdx+json"));
    let subject = m.subject().expect("subject");
    assert_eq!(subject.media_type, OCI_MANIFEST);
    assert_eq!(subject.size, 1052);
    let config = m.config().expect("config");
    assert_eq!(config.media_type, OCI_EMPTY);
    assert_eq!(
        config.decoded_data().ok().flatten().as_deref(),
        Some(&b"{}"[..])
    );
    assert!(config.is_empty_type());
    // The subject is not a reference: it need not exist at push time.
    assert!(m.references().all(|d| d.digest != subject.digest));
    assert_eq!(m.references().count(), 2);
    let descriptor = m.descriptor();
    assert_eq!(
        descriptor.artifact_type.as_deref(),
        Some("application/spdx+json")
    );
    assert_eq!(descriptor.digest, Digest::sha256(&body));
    assert_eq!(descriptor.size, i64::try_from(body.len()).unwrap_or(-1));
    assert_eq!(descriptor.media_type, OCI_MANIFEST);
}

#[test]
fn schema1_signed_digest_is_of_the_signed_payload() {
    let body = fixture("schema1-signed.json");
    let payload = fixture("schema1-signed.payload.json");
    for ct in [
        Some(DOCKER_SCHEMA1_SIGNED),
        None,
        Some("application/json"),
        Some(DOCKER_SCHEMA1_MANIFEST),
    ] {
        let m = parse(ct, &body);
        assert_eq!(m.media_type(), DOCKER_SCHEMA1_SIGNED, "{ct:?}");
        assert_eq!(m.payload(), &body, "served as stored, signatures included");
        assert_eq!(m.digest(), &Digest::sha256(&payload));
        assert_ne!(m.digest(), &Digest::sha256(&body));
        assert_eq!(m.digested_bytes(), &payload);
        assert!(m.is_schema1());
        let ManifestKind::Schema1(s1) = m.kind() else {
            panic!("expected schema 1");
        };
        assert!(s1.is_signed());
        assert_eq!(s1.canonical(), &payload);
        assert_eq!(s1.signatures.len(), 2);
        assert!(
            s1.signatures
                .iter()
                .all(|s| s.format_length == 1086 && s.format_tail == b"\n}")
        );
        assert_eq!(
            s1.signatures[0].header.get("alg").and_then(|v| v.as_str()),
            Some("ES256")
        );
        assert_eq!(
            (s1.name.as_str(), s1.tag.as_str(), s1.architecture.as_str()),
            ("library/hello-world", "latest", "amd64")
        );
        assert_eq!(s1.fs_layers.len(), 3);
        assert_eq!(s1.history.len(), 3);
        assert!(s1.history[0].v1_compatibility.contains("af340544ed62"));
    }
    let m = parse(None, &body);
    // Three fsLayers, two distinct blobs, in order of first appearance.
    let refs: Vec<&Descriptor> = m.references().collect();
    assert_eq!(refs.len(), 2);
    assert_eq!(
        refs[0].digest.as_str(),
        "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
    );
    assert!(
        refs.iter()
            .all(|d| d.media_type == DOCKER_SCHEMA1_LAYER && d.size == 0)
    );
    assert_eq!(m.blob_references().count(), 2);
    assert_eq!(
        m.digest_with(Algorithm::Sha512),
        Algorithm::Sha512.digest(&payload)
    );
}

#[test]
fn schema1_unsigned_digest_is_of_the_bytes() {
    let body = fixture("schema1-unsigned.json");
    for ct in [
        Some(DOCKER_SCHEMA1_MANIFEST),
        None,
        Some("application/json"),
    ] {
        let m = parse(ct, &body);
        assert_verbatim(&m, &body);
        assert_eq!(m.media_type(), DOCKER_SCHEMA1_MANIFEST);
        let ManifestKind::Schema1(s1) = m.kind() else {
            panic!("expected schema 1");
        };
        assert!(!s1.is_signed());
        assert_eq!(m.references().count(), 2);
    }
}

#[test]
fn oci_image_without_media_type_field() {
    let body = fixture("oci-image-no-media-type.json");
    for ct in [None, Some("application/json"), Some(OCI_MANIFEST)] {
        let m = parse(ct, &body);
        assert_verbatim(&m, &body);
        assert_eq!(m.media_type(), OCI_MANIFEST);
        let ManifestKind::OciImage(typed) = m.kind() else {
            panic!("expected OCI image");
        };
        assert_eq!(typed.media_type, None);
    }
    let index = Bytes::from_static(
        br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}"#,
    );
    let m = parse(None, &index);
    assert_eq!(m.media_type(), OCI_INDEX);
    assert_verbatim(&m, &index);
}

#[test]
fn unusual_whitespace_key_order_and_unicode_escapes() {
    // Tabs, CRLF, keys in reverse order, an escaped key name, \u escapes and
    // an escaped slash: all parsed, none normalised away.
    let body = Bytes::from(
        "\r\n\t{\"layers\"\t:\r\n[ {\"size\" : 1024 , \"digest\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\r\n\
         \"mediaType\":\"application\\/vnd.oci.image.layer.v1.tar+gzip\"} ],\
         \"annotations\":{\"org.example.caf\\u00e9\":\"na\\u00efve \\ud83d\\ude00 \\\"quoted\\\"\"},\
         \"config\":{\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2,\"mediaType\":\"application/vnd.oci.image.config.v1+json\"},\
         \"media\\u0054ype\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"schemaVersion\":2}\n\n"
            .as_bytes()
            .to_vec(),
    );
    for ct in [None, Some(OCI_MANIFEST)] {
        let m = parse(ct, &body);
        assert_verbatim(&m, &body);
        assert_eq!(m.media_type(), OCI_MANIFEST);
        assert_eq!(
            m.annotations().get("org.example.café").map(String::as_str),
            Some("naïve 😀 \"quoted\"")
        );
        let ManifestKind::OciImage(typed) = m.kind() else {
            panic!("expected OCI image");
        };
        assert_eq!(
            typed.layers[0].media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(typed.media_type.as_deref(), Some(OCI_MANIFEST));
    }
    // The same manifest written compactly has another digest: bytes matter.
    let compact =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&body).expect("json"))
            .expect("serialize");
    let other = parse(None, &Bytes::from(compact));
    assert_ne!(other.digest(), parse(None, &body).digest());
}

#[test]
fn descriptor_keeps_unknown_fields() {
    let json = r#"{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "size": 0,
        "com.example.extension": {"nested": [1, 2, {"x": null}]},
        "platform": {"architecture": "riscv64", "os": "linux", "com.example.cpu": "u74"},
        "urls": [],
        "artifactType": "application/vnd.example+json"
    }"#;
    let d: Descriptor = serde_json::from_str(json).expect("descriptor");
    assert_eq!(d.extra.len(), 1);
    assert_eq!(d.platform.as_ref().map(|p| p.extra.len()), Some(1));
    let out = serde_json::to_value(&d).expect("serialize");
    assert_eq!(
        out["com.example.extension"]["nested"][2]["x"],
        serde_json::Value::Null
    );
    assert_eq!(out["platform"]["com.example.cpu"], "u74");
    assert_eq!(out["artifactType"], "application/vnd.example+json");
    // Absent / empty optional fields are left out.
    assert!(out.get("urls").is_none());
    assert!(out.get("annotations").is_none());
    assert!(out.get("data").is_none());
    assert!(out["platform"].get("variant").is_none());
    assert!(out["platform"].get("os.version").is_none());
    let again: Descriptor = serde_json::from_value(out).expect("reparse");
    assert_eq!(again, d);
    assert_eq!(d.validate(), Ok(()));
}

#[test]
fn digest_algorithm_is_configurable() {
    let body = fixture("oci-image.json");
    let registry = ManifestRegistry::new().with_algorithm(Algorithm::Sha512);
    let m = registry.parse(None, body.clone()).expect("parse");
    assert_eq!(m.digest(), &Algorithm::Sha512.digest(&body));
    assert_eq!(m.digest_with(Algorithm::Sha256), Digest::sha256(&body));
    assert_eq!(registry.algorithm(), Algorithm::Sha512);
}

#[test]
fn accept_header_lists_every_manifest_type() {
    let registry = ManifestRegistry::new();
    let accept = registry.accept_header();
    for mt in berth_manifest::media_type::MANIFEST_MEDIA_TYPES {
        assert!(accept.contains(mt), "{mt} missing from {accept}");
        assert!(registry.supports(mt));
    }
    assert_eq!(registry.media_types().count(), 6);
    assert!(registry.supports("application/vnd.oci.image.index.v1+json; charset=utf-8"));
    assert!(!registry.supports("application/json"));
}

/// BuildKit's registry cache (before `image-manifest=true`) pushes an index
/// whose entries are blobs. Distribution accepts it; so does berth unless
/// the policy is strict.
#[test]
fn buildkit_cache_index_with_blob_entries() {
    let body = Bytes::from_static(
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:0503825856099e6adb39c8297af09547f69684b7016b7f3680ed801aa310baaa","size":2789742,"annotations":{"buildkit/createdat":"2019-08-14T17:52:26.789506223-07:00","containerd.io/uncompressed":"sha256:1bfeebd65323b8ddf5bd6a51cc7097b72788bc982e9ab3280d53d3c613adffa7"}},{"mediaType":"application/vnd.buildkit.cacheconfig.v0","digest":"sha256:3eebdbf306be5643e5e3eba7dc4874697e2ddcba11ed3e91802b4332b8d69574","size":565}]}"#,
    );
    let m = parse(Some(OCI_INDEX), &body);
    assert!(m.is_index());
    // The layer is a blob; the cache config's type is unknown, so it is
    // looked up as a manifest first, as Distribution does.
    assert_eq!(m.blob_references().count(), 1);
    assert_eq!(m.manifest_references().count(), 1);

    let strict = ManifestRegistry::new()
        .with_policy(ValidationPolicy::new().with_strict_index_children(true));
    let err = strict
        .parse(Some(OCI_INDEX), body)
        .expect_err("strict refuses");
    assert_eq!(
        err,
        ManifestError::InvalidChildMediaType {
            path: "manifests[0].mediaType".to_owned(),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
        }
    );
}

#[test]
fn foreign_layers_with_an_allow_policy() {
    let body = Bytes::from_static(
        br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1234,"digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","size":1718332879,"digest":"sha256:3889bb8d808bbae6fa5a33e07093e65c31371bcf9e4c38c21be6b9af52ad1548","urls":["https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:3889bb8d808bbae6fa5a33e07093e65c31371bcf9e4c38c21be6b9af52ad1548"]},{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":1024,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#,
    );
    let policy =
        ValidationPolicy::from_patterns(["^https://mcr\\.microsoft\\.com/"], Vec::<&str>::new())
            .expect("patterns");
    let registry = ManifestRegistry::new().with_policy(policy);
    let m = registry.parse(None, body.clone()).expect("allowed");
    let layers: Vec<&Descriptor> = m.references().skip(1).collect();
    assert!(layers[0].is_foreign());
    assert!(!layers[1].is_foreign());
    // The default policy allows no URL, as Distribution's.
    let err = ManifestRegistry::new()
        .parse(None, body.clone())
        .expect_err("default refuses");
    assert!(
        matches!(err, ManifestError::UrlNotAllowed { ref path, .. } if path == "layers[0].urls[0]")
    );
    // Stored content is read without the policy.
    assert!(
        ManifestRegistry::new()
            .parse_unvalidated(None, body)
            .is_ok()
    );
}

#[test]
fn unvalidated_parse_is_lenient_about_rules_only() {
    // A Docker v2 manifest with a layer type Docker's spec does not allow:
    // refused on push, readable from storage.
    let body = Bytes::from_static(
        br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[{"mediaType":"application/x-custom","size":-5,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}]}"#,
    );
    let registry = ManifestRegistry::new();
    assert!(registry.parse(None, body.clone()).is_err());
    let m = registry.parse_unvalidated(None, body).expect("lenient");
    assert_eq!(m.references().count(), 2);
    assert!(m.validate(registry.policy()).is_err());
}

/// A schema added from outside the crate, without touching the others.
#[derive(Debug)]
struct HelmChartSchema;

#[derive(Debug)]
struct HelmChart {
    chart: Vec<Descriptor>,
}

impl ManifestContent for HelmChart {
    fn references(&self) -> References<'_> {
        References::new(None, &self.chart)
    }
    fn is_index(&self) -> bool {
        false
    }
    fn validate(&self, _: &ValidationPolicy) -> Result<(), ManifestError> {
        Ok(())
    }
}

const HELM: &str = "application/vnd.example.chart.manifest.v1+json";

impl ManifestSchema for HelmChartSchema {
    fn media_types(&self) -> &[&'static str] {
        &[HELM]
    }
    fn parse(&self, selected: &str, body: &Bytes) -> Result<ParsedManifest, ManifestError> {
        #[derive(serde::Deserialize)]
        struct Wire {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            chart: Vec<Descriptor>,
        }
        let wire: Wire = serde_json::from_slice(body)?;
        berth_manifest::check_declared_media_type(selected, wire.media_type.as_deref())?;
        Ok(ParsedManifest {
            media_type: HELM.into(),
            kind: ManifestKind::Custom(Arc::new(HelmChart { chart: wire.chart })),
        })
    }
}

#[test]
fn a_new_schema_registers_alongside_the_others() {
    let mut registry = ManifestRegistry::new();
    registry.register(Arc::new(HelmChartSchema));
    let body = Bytes::from_static(
        br#"{"mediaType":"application/vnd.example.chart.manifest.v1+json","chart":[{"mediaType":"application/tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}"#,
    );
    // By Content-Type and by the body's mediaType.
    for ct in [Some(HELM), None] {
        let m = registry.parse(ct, body.clone()).expect("custom schema");
        assert_eq!(m.media_type(), HELM);
        assert_eq!(m.references().count(), 1);
        assert!(matches!(m.kind(), ManifestKind::Custom(_)));
        assert_eq!(m.digest(), &Digest::sha256(&body));
    }
    assert!(registry.accept_header().contains(HELM));
    // The built-in schemas are untouched.
    let oci = fixture("oci-image.json");
    assert_eq!(
        registry.parse(None, oci).expect("oci").media_type(),
        OCI_MANIFEST
    );
    // Without it, the type is unsupported.
    let err = ManifestRegistry::new()
        .parse(Some(HELM), body)
        .expect_err("unknown");
    assert_eq!(
        err,
        ManifestError::UnsupportedMediaType {
            media_type: HELM.to_owned()
        }
    );
}

#[test]
fn serializing_a_typed_index_gives_a_parsable_manifest() {
    // The referrers API builds an index from descriptors.
    let artifact = parse(None, &fixture("oci-artifact.json"));
    let index = berth_manifest::OciIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        artifact_type: None,
        manifests: vec![artifact.descriptor()],
        subject: None,
        annotations: Default::default(),
    };
    let bytes = Bytes::from(serde_json::to_vec(&index).expect("serialize"));
    let m = parse(Some(OCI_INDEX), &bytes);
    let ManifestKind::OciIndex(back) = m.kind() else {
        panic!("expected index");
    };
    assert_eq!(**back, index);
    assert_eq!(
        m.manifest_references()
            .next()
            .and_then(|d| d.artifact_type.as_deref()),
        Some("application/spdx+json")
    );
}

#[test]
fn shared_across_threads() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<ManifestRegistry>();
    send_sync::<Manifest>();
    send_sync::<ManifestError>();
    send_sync::<Descriptor>();
    send_sync::<ValidationPolicy>();
}
