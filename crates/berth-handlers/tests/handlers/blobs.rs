//! `/v2/<name>/blobs/<digest>`: GET, HEAD, ranges, unknown and malformed
//! digests, deletes, the redirect middleware.

use berth_digest::Digest;

use crate::common::{Setup, app, default_app};

fn sample(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn get_and_head_a_blob() {
    let a = default_app().await;
    let data = sample(5000);
    let digest = a.push_blob("team/app", &data).await;
    let path = format!("/v2/team/app/blobs/{digest}");

    let r = a.get(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.size, Some(5000), "Content-Length");
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    let r = a.head(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.size, Some(5000), "HEAD announces the GET's length");
    assert!(r.body.is_empty());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
}

#[tokio::test]
async fn ranged_reads() {
    let a = default_app().await;
    let data = sample(300);
    let digest = a.push_blob("ranges/app", &data).await;
    let path = format!("/v2/ranges/app/blobs/{digest}");

    let r = a.get_with(&path, &[("Range", "bytes=10-19")]).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(r.size, Some(10));
    assert_eq!(r.header("content-range"), Some("bytes 10-19/300"));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));

    // A suffix, and an open end.
    let r = a.get_with(&path, &[("Range", "bytes=-5")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &data[295..]));
    assert_eq!(r.header("content-range"), Some("bytes 295-299/300"));
    let r = a.get_with(&path, &[("Range", "bytes=290-")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &data[290..]));
    // An end past the blob is cut to it.
    let r = a.get_with(&path, &[("Range", "bytes=295-1000")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &data[295..]));

    // Starting past the end: 416 with the blob's size.
    let r = a.get_with(&path, &[("Range", "bytes=300-")]).await;
    r.assert_error(416, "RANGE_INVALID");
    assert_eq!(r.header("content-range"), Some("bytes */300"));

    // A HEAD with a range announces the range's length.
    let mut req = actix_web::test::TestRequest::default()
        .method(actix_web::http::Method::HEAD)
        .uri(&path);
    req = req.insert_header(("Range", "bytes=0-99"));
    let r = a.send(req).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.size, Some(100));
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn unknown_and_malformed_digests() {
    let a = default_app().await;
    let digest = a.push_blob("mine/app", b"only here").await;

    // Blobs are per repository: another one does not see it.
    let r = a.get(&format!("/v2/other/app/blobs/{digest}")).await;
    r.assert_error(404, "BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], digest.as_str());
    assert_eq!(
        a.head(&format!("/v2/other/app/blobs/{digest}"))
            .await
            .status,
        404
    );
    let never = Digest::sha256(b"never pushed");
    a.get(&format!("/v2/mine/app/blobs/{never}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");

    // A malformed digest names no blob: 404, saying why.
    for bad in ["md5:abcd", "sha256:abc", "sha256:xyz", "nodigest"] {
        let r = a.get(&format!("/v2/mine/app/blobs/{bad}")).await;
        r.assert_error(404, "BLOB_UNKNOWN");
        assert!(
            r.message().contains("not a valid digest"),
            "{}",
            r.message()
        );
        assert_eq!(
            a.head(&format!("/v2/mine/app/blobs/{bad}")).await.status,
            404
        );
    }
}

#[tokio::test]
async fn invalid_repository_names() {
    let a = default_app().await;
    let digest = Digest::sha256(b"x");
    for name in ["UPPER/case", "a..b", "-lead/app"] {
        let r = a.get(&format!("/v2/{name}/blobs/{digest}")).await;
        r.assert_error(400, "NAME_INVALID");
        assert!(r.message().contains(name), "{}", r.message());
    }
    let r = a.post("/v2/UPPER/case/blobs/uploads/", b"").await;
    r.assert_error(400, "NAME_INVALID");
    assert!(r.message().contains("UPPER/case"), "{}", r.message());
}

#[tokio::test]
async fn deletes_when_disabled_and_enabled() {
    let a = default_app().await;
    let digest = a.push_blob("keep/app", b"kept").await;
    a.delete(&format!("/v2/keep/app/blobs/{digest}"))
        .await
        .assert_error(405, "UNSUPPORTED");
    assert_eq!(
        a.get(&format!("/v2/keep/app/blobs/{digest}")).await.status,
        200
    );

    let a = app(Setup {
        delete_enabled: true,
        ..Setup::default()
    })
    .await;
    let digest = a.push_blob("del/app", b"to delete").await;
    let path = format!("/v2/del/app/blobs/{digest}");
    let r = a.delete(&path).await;
    assert_eq!(r.status, 202, "{}", r.text());
    a.get(&path).await.assert_error(404, "BLOB_UNKNOWN");
    a.delete(&path).await.assert_error(404, "BLOB_UNKNOWN");
    a.delete("/v2/del/app/blobs/sha256:abc")
        .await
        .assert_error(404, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn redirect_middleware_redirects_gets_not_heads() {
    let a = app(Setup {
        redirect_base_url: Some("https://cdn.example.com/registry".into()),
        ..Setup::default()
    })
    .await;
    let digest = a.push_blob("cdn/app", b"served by the CDN").await;
    let r = a.get(&format!("/v2/cdn/app/blobs/{digest}")).await;
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location").unwrap(),
        format!(
            "https://cdn.example.com/registry/docker/registry/v2/blobs/sha256/{}/{}/data",
            &digest.encoded()[..2],
            digest.encoded()
        )
    );
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let r = a.head(&format!("/v2/cdn/app/blobs/{digest}")).await;
    assert_eq!((r.status, r.size), (200, Some(17)));
    // Only for blobs the repository has.
    a.get(&format!("/v2/other/app/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
}
