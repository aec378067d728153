//! `/v2/<name>/manifests/<reference>`: PUT, GET, HEAD, DELETE, by tag and
//! by digest; OCI image manifests and indexes; the errors of each.

use berth_digest::Digest;
use serde_json::json;

use crate::common::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, Setup, app, default_app};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

#[tokio::test]
async fn push_and_pull_by_tag_and_digest() {
    let a = default_app().await;
    let manifest = a.image_manifest("deep/nested/app", 1).await;
    let digest = Digest::sha256(&manifest);
    let r = a
        .put(
            "/v2/deep/nested/app/manifests/v1",
            &[("Content-Type", OCI_MANIFEST)],
            &manifest,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("http://localhost:8080/v2/deep/nested/app/manifests/{digest}").as_str())
    );
    assert!(r.header("oci-subject").is_none());

    for reference in ["v1".to_owned(), digest.to_string()] {
        let path = format!("/v2/deep/nested/app/manifests/{reference}");
        let r = a.get_with(&path, &[("Accept", OCI_MANIFEST)]).await;
        assert_eq!(r.status, 200, "{reference}: {}", r.text());
        assert_eq!(r.body, manifest, "the bytes as pushed");
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));

        // Without Accept: served as stored.
        let r = a.get(&path).await;
        assert_eq!(
            (r.status, r.header("content-type")),
            (200, Some(OCI_MANIFEST))
        );

        let r = a.head(&path).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.size, Some(manifest.len() as u64));
        assert!(r.body.is_empty());
        assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

        // Conditional GET.
        let r = a
            .get_with(&path, &[("If-None-Match", &format!("\"{digest}\""))])
            .await;
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        let r = a.get_with(&path, &[("If-None-Match", "\"other\"")]).await;
        assert_eq!(r.status, 200);
    }

    // The same manifest pushed by digest.
    let r = a
        .put(
            &format!("/v2/deep/nested/app/manifests/{digest}"),
            &[("Content-Type", OCI_MANIFEST)],
            &manifest,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
}

#[tokio::test]
async fn unknown_and_malformed_references() {
    let a = default_app().await;
    let (_, _) = a.push_image("ref/app", "v1", 1).await;
    let path = "/v2/ref/app/manifests";
    a.get(&format!("{path}/nope"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    a.get(&format!("{path}/{}", Digest::sha256(b"x")))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(a.head(&format!("{path}/nope")).await.status, 404);
    // Another repository does not see this one's manifests.
    a.get("/v2/other/app/manifests/v1")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");

    // Neither a tag nor a digest: names no manifest, 404 on reads and
    // deletes.
    for bad in [
        ".INVALID_MANIFEST_NAME",
        "bad!tag",
        "sha256:abc",
        "md5:0123",
    ] {
        let r = a.get(&format!("{path}/{bad}")).await;
        r.assert_error(404, "MANIFEST_UNKNOWN");
        assert!(
            r.message().contains("neither a valid tag"),
            "{}",
            r.message()
        );
        assert_eq!(a.head(&format!("{path}/{bad}")).await.status, 404);
        a.delete(&format!("{path}/{bad}"))
            .await
            .assert_error(404, "MANIFEST_UNKNOWN");
    }
}

#[tokio::test]
async fn push_errors() {
    let a = default_app().await;
    let manifest = a.image_manifest("err/app", 1).await;
    let path = "/v2/err/app/manifests";

    // Bad tags.
    for bad in [".INVALID_MANIFEST_NAME", "-bad", "bad!tag"] {
        a.put(
            &format!("{path}/{bad}"),
            &[("Content-Type", OCI_MANIFEST)],
            &manifest,
        )
        .await
        .assert_error(400, "TAG_INVALID");
    }
    let long = "t".repeat(129);
    a.put(
        &format!("{path}/{long}"),
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    )
    .await
    .assert_error(400, "TAG_INVALID");
    // A malformed digest as the reference.
    a.put(
        &format!("{path}/sha256:abc"),
        &[("Content-Type", OCI_MANIFEST)],
        &manifest,
    )
    .await
    .assert_error(400, "DIGEST_INVALID");
    // By digest, the digest must be the body's.
    let r = a
        .put(
            &format!("{path}/{}", Digest::sha256(b"other")),
            &[("Content-Type", OCI_MANIFEST)],
            &manifest,
        )
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    assert_eq!(
        r.json()["errors"][0]["detail"]["computed"],
        Digest::sha256(&manifest).as_str()
    );

    // Not JSON.
    a.put(
        &format!("{path}/v1"),
        &[("Content-Type", OCI_MANIFEST)],
        b"{not json",
    )
    .await
    .assert_error(400, "MANIFEST_INVALID");
    // A Content-Type the body does not agree with.
    a.put(
        &format!("{path}/v1"),
        &[("Content-Type", DOCKER_MANIFEST)],
        &manifest,
    )
    .await
    .assert_error(400, "MANIFEST_INVALID");
    // Larger than 4 MiB: 413.
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    a.put(
        &format!("{path}/big"),
        &[("Content-Type", OCI_MANIFEST)],
        &huge,
    )
    .await
    .assert_error(413, "MANIFEST_INVALID");

    // A blob the repository does not have is named.
    let missing = Digest::sha256(b"never pushed");
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": missing, "size": 12},
        "layers": []
    }))
    .unwrap();
    let r = a
        .put(
            &format!("{path}/v2"),
            &[("Content-Type", OCI_MANIFEST)],
            &body,
        )
        .await;
    r.assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert!(r.message().contains(missing.as_str()), "{}", r.message());
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], missing.as_str());
    // A blob only another repository has is as unknown.
    let elsewhere = a.push_blob("elsewhere/app", b"{}").await;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": elsewhere, "size": 2},
        "layers": []
    }))
    .unwrap();
    a.put(
        &format!("{path}/v2"),
        &[("Content-Type", OCI_MANIFEST)],
        &body,
    )
    .await
    .assert_error(400, "MANIFEST_BLOB_UNKNOWN");

    // None of the refused pushes made a tag.
    for tag in ["v1", "v2", "big"] {
        a.get(&format!("{path}/{tag}"))
            .await
            .assert_error(404, "MANIFEST_UNKNOWN");
    }
}

#[tokio::test]
async fn index_push_and_negotiation() {
    let a = default_app().await;
    let (m1, d1) = a.push_image("multi/app", "amd", 1).await;
    let (m2, d2) = a.push_image("multi/app", "arm", 2).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d2, "size": m2.len(), "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": OCI_MANIFEST, "digest": d1, "size": m1.len(), "platform": {"architecture": "amd64", "os": "linux"}}
        ]
    }))
    .unwrap();
    let index_digest = Digest::sha256(&index);
    let r = a
        .put(
            "/v2/multi/app/manifests/latest",
            &[("Content-Type", OCI_INDEX)],
            &index,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("docker-content-digest"),
        Some(index_digest.as_str())
    );

    let r = a
        .get_with("/v2/multi/app/manifests/latest", &[("Accept", OCI_INDEX)])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert_eq!(
        r.header("docker-content-digest"),
        Some(index_digest.as_str())
    );
    assert_eq!(r.body, index);
    // Several types, with parameters and quality values.
    let r = a
        .get_with(
            "/v2/multi/app/manifests/latest",
            &[("Accept", &format!("{OCI_MANIFEST};q=0.5, {OCI_INDEX}"))],
        )
        .await;
    assert_eq!((r.status, r.header("content-type")), (200, Some(OCI_INDEX)));
    let r = a
        .head(&format!("/v2/multi/app/manifests/{index_digest}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.size, Some(index.len() as u64));
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));

    // A client that does not take indexes gets the linux/amd64 image.
    let r = a
        .get_with(
            "/v2/multi/app/manifests/latest",
            &[("Accept", OCI_MANIFEST)],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, m1);
    assert_eq!(r.header("docker-content-digest"), Some(d1.as_str()));
    assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
    // One that takes neither gets a clear refusal.
    let r = a
        .get_with(
            "/v2/multi/app/manifests/latest",
            &[("Accept", DOCKER_MANIFEST)],
        )
        .await;
    r.assert_error(404, "MANIFEST_UNKNOWN");
    assert!(r.message().contains("Accept"), "{}", r.message());

    // An index naming a manifest the repository does not have.
    let missing = Digest::sha256(b"no such manifest");
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": missing, "size": 10}]
    }))
    .unwrap();
    let r = a
        .put(
            "/v2/multi/app/manifests/broken",
            &[("Content-Type", OCI_INDEX)],
            &body,
        )
        .await;
    r.assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    assert!(r.message().contains(missing.as_str()), "{}", r.message());
}

#[tokio::test]
async fn deletes_disabled() {
    let a = default_app().await;
    let (manifest, digest) = a.push_image("keep/app", "v1", 1).await;
    a.delete(&format!("/v2/keep/app/manifests/{digest}"))
        .await
        .assert_error(405, "UNSUPPORTED");
    a.delete("/v2/keep/app/manifests/v1")
        .await
        .assert_error(405, "UNSUPPORTED");
    // Nothing went.
    assert_eq!(a.get("/v2/keep/app/manifests/v1").await.body, manifest);
}

#[tokio::test]
async fn deletes_enabled() {
    let a = app(Setup {
        delete_enabled: true,
        ..Setup::default()
    })
    .await;
    let (_, d1) = a.push_image("del/app", "one", 1).await;
    let (manifest2, d2) = a.push_image("del/app", "two", 2).await;

    // By tag: the tag goes, the manifest stays.
    let r = a.delete("/v2/del/app/manifests/two").await;
    assert_eq!(r.status, 202, "{}", r.text());
    a.get("/v2/del/app/manifests/two")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(
        a.get(&format!("/v2/del/app/manifests/{d2}")).await.body,
        manifest2
    );
    let tags = a.get("/v2/del/app/tags/list").await.json();
    assert_eq!(tags["tags"], json!(["one"]));

    // By digest: the manifest and its tags.
    let r = a.delete(&format!("/v2/del/app/manifests/{d1}")).await;
    assert_eq!(r.status, 202, "{}", r.text());
    a.get("/v2/del/app/manifests/one")
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    a.get(&format!("/v2/del/app/manifests/{d1}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
    a.delete(&format!("/v2/del/app/manifests/{d1}"))
        .await
        .assert_error(404, "MANIFEST_UNKNOWN");
}
