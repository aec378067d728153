//! Listings: tags, the catalog (with `n`/`last` and `Link`), referrers.

use berth_digest::Digest;
use serde_json::json;

use crate::common::{OCI_INDEX, OCI_MANIFEST, Setup, app, default_app};

#[tokio::test]
async fn tags_list_and_pagination() {
    let a = default_app().await;
    // Pushed out of order: listed in lexical order.
    for (i, tag) in ["c", "a", "e", "b", "d"].iter().enumerate() {
        a.push_image("paged/app", tag, i as u8).await;
    }
    let r = a.get("/v2/paged/app/tags/list").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json(),
        json!({"name": "paged/app", "tags": ["a", "b", "c", "d", "e"]})
    );
    assert!(r.header("link").is_none());

    let r = a.get("/v2/paged/app/tags/list?n=2").await;
    assert_eq!(r.json()["tags"], json!(["a", "b"]));
    assert_eq!(
        r.header("link"),
        Some("<http://localhost:8080/v2/paged/app/tags/list?last=b&n=2>; rel=\"next\"")
    );
    let r = a.get("/v2/paged/app/tags/list?n=2&last=b").await;
    assert_eq!(r.json()["tags"], json!(["c", "d"]));
    assert!(r.header("link").unwrap().contains("last=d&n=2"));
    let r = a.get("/v2/paged/app/tags/list?n=2&last=d").await;
    assert_eq!(r.json()["tags"], json!(["e"]));
    assert!(r.header("link").is_none());
    // `last` alone.
    let r = a.get("/v2/paged/app/tags/list?last=c").await;
    assert_eq!(r.json()["tags"], json!(["d", "e"]));
    // n=0: an empty page.
    let r = a.get("/v2/paged/app/tags/list?n=0").await;
    assert_eq!((r.status, r.json()["tags"].clone()), (200, json!([])));
    assert!(r.header("link").is_none());
    // Exactly all: no next page.
    let r = a.get("/v2/paged/app/tags/list?n=5").await;
    assert_eq!(r.json()["tags"].as_array().unwrap().len(), 5);
    assert!(r.header("link").is_none());

    let r = a.head("/v2/paged/app/tags/list").await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(
        r.size,
        Some(a.get("/v2/paged/app/tags/list").await.body.len() as u64)
    );

    for bad in ["abc", "-1", "1.5"] {
        a.get(&format!("/v2/paged/app/tags/list?n={bad}"))
            .await
            .assert_error(400, "PAGINATION_NUMBER_INVALID");
    }
    // An unknown repository.
    a.get("/v2/nothing/here/tags/list")
        .await
        .assert_error(404, "NAME_UNKNOWN");
    // An invalid name.
    let r = a.get("/v2/Bad/Name/tags/list").await;
    r.assert_error(400, "NAME_INVALID");
    assert!(r.message().contains("Bad/Name"), "{}", r.message());
}

#[tokio::test]
async fn catalog_and_pagination() {
    let a = default_app().await;
    let r = a.get("/v2/_catalog").await;
    assert_eq!((r.status, r.json()), (200, json!({"repositories": []})));

    for repo in ["cat/c", "cat/a", "paged/app", "cat/b"] {
        a.push_image(repo, "latest", 9).await;
    }
    // A repository with only an upload started has no content: not listed.
    assert_eq!(
        a.post("/v2/uploading/app/blobs/uploads/", b"").await.status,
        202
    );
    let r = a.get("/v2/_catalog").await;
    assert_eq!(
        r.json(),
        json!({"repositories": ["cat/a", "cat/b", "cat/c", "paged/app"]})
    );
    assert!(r.header("link").is_none());

    let r = a.get("/v2/_catalog?n=2").await;
    assert_eq!(r.json()["repositories"], json!(["cat/a", "cat/b"]));
    assert_eq!(
        r.header("link"),
        Some("<http://localhost:8080/v2/_catalog?last=cat%2Fb&n=2>; rel=\"next\"")
    );
    let r = a.get("/v2/_catalog?n=2&last=cat/b").await;
    assert_eq!(r.json()["repositories"], json!(["cat/c", "paged/app"]));
    assert!(r.header("link").is_none());
    let r = a.get("/v2/_catalog?n=2&last=cat%2Fa").await;
    assert_eq!(r.json()["repositories"], json!(["cat/b", "cat/c"]));
    let r = a.get("/v2/_catalog?n=0").await;
    assert_eq!(r.json()["repositories"], json!([]));

    a.get("/v2/_catalog?n=1001")
        .await
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
    a.get("/v2/_catalog?n=x")
        .await
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
}

#[tokio::test]
async fn catalog_max_entries() {
    let mut setup = Setup::default();
    setup.settings.catalog_max_entries = 2;
    let a = app(setup).await;
    for repo in ["r/a", "r/b", "r/c"] {
        a.push_image(repo, "latest", 1).await;
    }
    // Without n: a page of the maximum, with a link to the next.
    let r = a.get("/v2/_catalog").await;
    assert_eq!(r.json()["repositories"], json!(["r/a", "r/b"]));
    assert!(
        r.header("link")
            .unwrap()
            .contains("/v2/_catalog?last=r%2Fb&n=2"),
        "{:?}",
        r.header("link")
    );
    a.get("/v2/_catalog?n=3")
        .await
        .assert_error(400, "PAGINATION_NUMBER_INVALID");
}

#[tokio::test]
async fn referrers() {
    let a = default_app().await;
    let (m1, d1) = a.push_image("ref/app", "v1", 1).await;

    // No referrers yet: an empty index, not a 404.
    let r = a.get(&format!("/v2/ref/app/referrers/{d1}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    assert_eq!(
        r.json(),
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
    );

    // Two artifacts with d1 as subject, of two artifact types.
    let empty = a.push_blob("ref/app", b"{}").await;
    let mut pushed = Vec::new();
    for (artifact_type, payload) in [
        ("application/vnd.example.sig", &b"signature"[..]),
        ("application/vnd.example.sbom", &b"sbom"[..]),
    ] {
        let data = a.push_blob("ref/app", payload).await;
        let artifact = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/vnd.example.data", "digest": data, "size": payload.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d1, "size": m1.len()},
            "annotations": {"org.example.kind": artifact_type}
        }))
        .unwrap();
        let ad = Digest::sha256(&artifact);
        let r = a
            .put(
                &format!("/v2/ref/app/manifests/{ad}"),
                &[("Content-Type", OCI_MANIFEST)],
                &artifact,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.header("oci-subject"), Some(d1.as_str()));
        pushed.push((artifact_type, ad, artifact.len()));
    }

    let r = a.get(&format!("/v2/ref/app/referrers/{d1}")).await;
    assert_eq!(r.status, 200);
    assert!(r.header("oci-filters-applied").is_none());
    let body = r.json();
    assert_eq!(body["schemaVersion"], 2);
    assert_eq!(body["mediaType"], OCI_INDEX);
    let manifests = body["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "{body}");
    for (artifact_type, digest, size) in &pushed {
        let entry = manifests
            .iter()
            .find(|m| m["digest"] == digest.as_str())
            .unwrap_or_else(|| panic!("{digest} not in {body}"));
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["artifactType"], *artifact_type);
        assert_eq!(entry["size"], *size);
        assert_eq!(entry["annotations"]["org.example.kind"], *artifact_type);
    }

    // Filtered by artifactType.
    let r = a
        .get(&format!(
            "/v2/ref/app/referrers/{d1}?artifactType=application/vnd.example.sig"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let body = r.json();
    assert_eq!(body["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(body["manifests"][0]["digest"], pushed[0].1.as_str());
    let r = a
        .get(&format!(
            "/v2/ref/app/referrers/{d1}?artifactType=application%2Fother"
        ))
        .await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    assert_eq!(r.json()["manifests"], json!([]));
    // An empty filter is no filter.
    let r = a
        .get(&format!("/v2/ref/app/referrers/{d1}?artifactType="))
        .await;
    assert!(r.header("oci-filters-applied").is_none());
    assert_eq!(r.json()["manifests"].as_array().unwrap().len(), 2);

    // A HEAD announces the GET's length.
    let r = a.head(&format!("/v2/ref/app/referrers/{d1}")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(
        r.size,
        Some(
            a.get(&format!("/v2/ref/app/referrers/{d1}"))
                .await
                .body
                .len() as u64
        )
    );

    // Referrers are per repository.
    let r = a.get(&format!("/v2/other/app/referrers/{d1}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["manifests"], json!([]));

    // A malformed digest is a bad request.
    a.get("/v2/ref/app/referrers/sha256:nope")
        .await
        .assert_error(400, "DIGEST_INVALID");
}

#[tokio::test]
async fn subject_need_not_exist() {
    let a = default_app().await;
    let empty = a.push_blob("sub/app", b"{}").await;
    let absent = Digest::sha256(b"a manifest never pushed");
    let artifact = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.sig",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": absent, "size": 123}
    }))
    .unwrap();
    let r = a
        .put(
            "/v2/sub/app/manifests/sig",
            &[("Content-Type", OCI_MANIFEST)],
            &artifact,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("oci-subject"), Some(absent.as_str()));
    let r = a.get(&format!("/v2/sub/app/referrers/{absent}")).await;
    assert_eq!(
        r.json()["manifests"][0]["digest"],
        Digest::sha256(&artifact).as_str()
    );
}
