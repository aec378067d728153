//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (start, monolithic,
//! mount) and `/v2/<name>/blobs/uploads/<id>` (GET, PATCH, PUT, DELETE).

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::test::TestRequest;
use berth_digest::Digest;
use bytes::Bytes;

use crate::common::{Setup, app, default_app, path_of, with_query};

fn sample(len: u32) -> Vec<u8> {
    (0..len).map(|i| (i % 249) as u8).collect()
}

#[tokio::test]
async fn post_patch_put() {
    let a = default_app().await;
    let data = sample(3000);
    let digest = Digest::sha256(&data);

    let r = a.post("/v2/team/app/blobs/uploads/", b"").await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("content-length"), Some("0"));
    let uuid = r.header("docker-upload-uuid").unwrap().to_owned();
    assert!(!uuid.is_empty());
    let location = r.header("location").unwrap().to_owned();
    assert!(
        location.starts_with(&format!(
            "http://localhost:8080/v2/team/app/blobs/uploads/{uuid}?_state="
        )),
        "{location}"
    );

    // A chunk with its Content-Range.
    let r = a
        .patch(
            &path_of(&location),
            &[("Content-Range", "0-999")],
            &data[..1000],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-999"));
    assert_eq!(r.header("docker-upload-uuid"), Some(uuid.as_str()));
    let location = r.header("location").unwrap().to_owned();
    assert!(location.contains(&uuid), "{location}");

    // A streamed chunk, without Content-Range.
    let r = a.patch(&path_of(&location), &[], &data[1000..2000]).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-1999"));
    let location = r.header("location").unwrap().to_owned();

    // Where it stands.
    let r = a.get(&path_of(&location)).await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range"), Some("0-1999"));
    assert_eq!(r.header("docker-upload-uuid"), Some(uuid.as_str()));
    assert!(r.header("location").unwrap().contains(&uuid));

    // The last chunk with the PUT that commits.
    let r = a
        .put(
            &with_query(&location, &format!("digest={digest}")),
            &[],
            &data[2000..],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(
        r.header("location"),
        Some(format!("http://localhost:8080/v2/team/app/blobs/{digest}").as_str())
    );
    assert_eq!(r.header("content-length"), Some("0"));

    let r = a.get(&format!("/v2/team/app/blobs/{digest}")).await;
    assert_eq!((r.status, &r.body[..]), (200, &data[..]));
    // The upload is gone.
    a.get(&format!("/v2/team/app/blobs/uploads/{uuid}"))
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn post_then_a_single_put() {
    let a = default_app().await;
    let r = a.post("/v2/one/app/blobs/uploads", b"").await;
    assert_eq!(r.status, 202, "without the trailing slash too");
    let location = r.header("location").unwrap().to_owned();
    let data = b"put in one go";
    let digest = Digest::sha256(data);
    let r = a
        .put(
            &with_query(&location, &format!("digest={digest}")),
            &[],
            data,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        a.get(&format!("/v2/one/app/blobs/{digest}")).await.body,
        &data[..]
    );
}

#[tokio::test]
async fn monolithic_post() {
    let a = default_app().await;
    let data = b"monolithic blob";
    let digest = Digest::sha256(data);
    let r = a
        .post(&format!("/v2/mono/blobs/uploads/?digest={digest}"), data)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert!(
        r.header("location")
            .unwrap()
            .ends_with(&format!("/v2/mono/blobs/{digest}"))
    );
    assert_eq!(
        a.get(&format!("/v2/mono/blobs/{digest}")).await.body,
        &data[..]
    );
}

#[tokio::test]
async fn digest_errors() {
    let a = default_app().await;
    let data = b"the real content";
    let wrong = Digest::sha256(b"something else");

    // Monolithic with the wrong digest: refused, nothing stored.
    let r = a
        .post(&format!("/v2/dig/app/blobs/uploads/?digest={wrong}"), data)
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    assert!(r.message().contains("did not match"), "{}", r.message());
    let detail = &r.json()["errors"][0]["detail"];
    assert_eq!(detail["given"], wrong.as_str());
    assert_eq!(detail["computed"], Digest::sha256(data).as_str());
    a.get(&format!("/v2/dig/app/blobs/{wrong}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");
    a.get(&format!("/v2/dig/app/blobs/{}", Digest::sha256(data)))
        .await
        .assert_error(404, "BLOB_UNKNOWN");

    // Malformed: says why.
    let r = a
        .post("/v2/dig/app/blobs/uploads/?digest=sha256:abc", data)
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    assert!(
        r.message().contains("expected 64 hex characters"),
        "{}",
        r.message()
    );

    // PUT of an upload with the wrong digest.
    let location = a.post("/v2/dig/app/blobs/uploads/", b"").await;
    let location = location.header("location").unwrap().to_owned();
    let r = a
        .put(
            &with_query(&location, &format!("digest={wrong}")),
            &[],
            data,
        )
        .await;
    r.assert_error(400, "DIGEST_INVALID");
    a.get(&format!("/v2/dig/app/blobs/{wrong}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");

    // PUT without a digest.
    let location = a.post("/v2/dig/app/blobs/uploads/", b"").await;
    let location = location.header("location").unwrap().to_owned();
    let r = a.put(&path_of(&location), &[], b"x").await;
    r.assert_error(400, "DIGEST_INVALID");
    assert!(
        r.message().contains("digest query parameter"),
        "{}",
        r.message()
    );
}

#[tokio::test]
async fn out_of_order_and_misfit_chunks() {
    let a = default_app().await;
    let data = sample(400);
    let r = a.post("/v2/order/app/blobs/uploads/", b"").await;
    let uuid = r.header("docker-upload-uuid").unwrap().to_owned();
    let location = r.header("location").unwrap().to_owned();
    let r = a
        .patch(
            &path_of(&location),
            &[("Content-Range", "0-99")],
            &data[..100],
        )
        .await;
    assert_eq!(r.status, 202);
    let location = r.header("location").unwrap().to_owned();

    // Not where the upload ends: 416 with the upload as it stands.
    for (range, body) in [("50-60", &data[50..61]), ("150-199", &data[150..200])] {
        let r = a
            .patch(&path_of(&location), &[("Content-Range", range)], body)
            .await;
        r.assert_error(416, "RANGE_INVALID");
        assert_eq!(r.header("range"), Some("0-99"), "{range}");
        assert_eq!(r.header("docker-upload-uuid"), Some(uuid.as_str()));
        assert!(r.header("location").unwrap().contains(&uuid));
    }

    // A Content-Range whose length is not the body's Content-Length.
    let r = a
        .patch(
            &path_of(&location),
            &[("Content-Range", "100-199")],
            &data[100..150],
        )
        .await;
    r.assert_error(416, "RANGE_INVALID");
    assert!(r.message().contains("Content-Length"), "{}", r.message());
    assert_eq!(r.header("range"), Some("0-99"));

    // Not a range at all, or one that ends before it starts.
    for bad in ["not-a-range", "109-100", "100"] {
        let r = a
            .patch(&path_of(&location), &[("Content-Range", bad)], b"ab")
            .await;
        r.assert_error(400, "BLOB_UPLOAD_INVALID");
        assert!(r.message().contains("Content-Range"), "{}", r.message());
    }
    // The `bytes ` prefix some clients write is accepted.
    let r = a
        .patch(
            &path_of(&location),
            &[("Content-Range", "bytes 100-149")],
            &data[100..150],
        )
        .await;
    assert_eq!((r.status, r.header("range")), (202, Some("0-149")));
    let location = r.header("location").unwrap().to_owned();

    // Nothing of the refused chunks was kept.
    let r = a.get(&path_of(&location)).await;
    assert_eq!((r.status, r.header("range")), (204, Some("0-149")));
    let r = a
        .patch(
            &path_of(&location),
            &[("Content-Range", "150-399")],
            &data[150..],
        )
        .await;
    assert_eq!((r.status, r.header("range")), (202, Some("0-399")));
    let digest = Digest::sha256(&data);
    let location = r.header("location").unwrap().to_owned();
    let r = a
        .put(
            &with_query(&location, &format!("digest={digest}")),
            &[],
            b"",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        a.get(&format!("/v2/order/app/blobs/{digest}")).await.body,
        data
    );
}

/// A PATCH with a Content-Range and a body, but no Content-Length (as a
/// `Transfer-Encoding: chunked` request arrives).
fn unsized_patch(path: &str, range: &str, body: &[u8]) -> actix_http::Request {
    let mut req = TestRequest::patch()
        .uri(path)
        .insert_header(("Content-Range", range))
        .set_payload(Bytes::copy_from_slice(body))
        .to_request();
    req.headers_mut().remove(CONTENT_LENGTH);
    req
}

#[tokio::test]
async fn chunks_without_content_length() {
    let a = default_app().await;
    let data = sample(1000);
    let r = a.post("/v2/te/app/blobs/uploads/", b"").await;
    let location = path_of(r.header("location").unwrap());

    // Shorter or longer than the range: 416, nothing appended.
    let r = a
        .send_request(unsized_patch(&location, "0-99", &data[..50]))
        .await;
    r.assert_error(416, "RANGE_INVALID");
    assert_eq!(r.header("range"), Some("0-0"));
    let r = a
        .send_request(unsized_patch(&location, "0-99", &data[..120]))
        .await;
    r.assert_error(416, "RANGE_INVALID");
    assert_eq!(a.get(&location).await.header("range"), Some("0-0"));

    // Exactly the range: appended.
    let r = a
        .send_request(unsized_patch(&location, "0-99", &data[..100]))
        .await;
    assert_eq!((r.status, r.header("range")), (202, Some("0-99")));

    // A huge range with no Content-Length is refused before any read.
    let r = a
        .send_request(unsized_patch(&location, "100-999999999", &data[100..110]))
        .await;
    r.assert_error(411, "BLOB_UPLOAD_INVALID");
    assert_eq!(a.get(&location).await.header("range"), Some("0-99"));
}

#[tokio::test]
async fn unknown_uploads_and_state_checks() {
    let a = default_app().await;
    for r in [
        a.get("/v2/up/app/blobs/uploads/not-an-upload").await,
        a.patch("/v2/up/app/blobs/uploads/not-an-upload", &[], b"x")
            .await,
        a.put(
            &format!(
                "/v2/up/app/blobs/uploads/not-an-upload?digest={}",
                Digest::sha256(b"x")
            ),
            &[],
            b"x",
        )
        .await,
        a.delete("/v2/up/app/blobs/uploads/not-an-upload").await,
    ] {
        r.assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    }

    let r = a.post("/v2/up/app/blobs/uploads/", b"").await;
    let location = path_of(r.header("location").unwrap());
    let uuid = r.header("docker-upload-uuid").unwrap().to_owned();
    assert_eq!(a.patch(&location, &[], b"some bytes").await.status, 202);

    // A tampered state token is refused.
    let tampered = location.replace("_state=", "_state=AAAA");
    a.get(&tampered)
        .await
        .assert_error(400, "BLOB_UPLOAD_INVALID");
    // The token names its repository: another's URL is refused.
    let foreign = location.replace("/v2/up/app/", "/v2/other/app/");
    a.get(&foreign)
        .await
        .assert_error(400, "BLOB_UPLOAD_INVALID");
    // A token signed with another secret is refused.
    let other = app(Setup {
        settings: berth_handlers::Settings {
            secret: b"another secret".to_vec(),
            access_log: false,
            ..berth_handlers::Settings::default()
        },
        ..Setup::default()
    })
    .await;
    let r = other.post("/v2/up/app/blobs/uploads/", b"").await;
    let their = path_of(r.header("location").unwrap());
    let their_state = &their[their.find("_state=").unwrap()..];
    a.get(&format!("/v2/up/app/blobs/uploads/{uuid}?{their_state}"))
        .await
        .assert_error(400, "BLOB_UPLOAD_INVALID");

    // Without a state, the id alone is enough.
    let r = a.get(&format!("/v2/up/app/blobs/uploads/{uuid}")).await;
    assert_eq!((r.status, r.header("range")), (204, Some("0-9")));

    // Cancel: 204, then the upload is unknown.
    let r = a.delete(&location).await;
    assert_eq!(r.status, 204, "{}", r.text());
    a.get(&format!("/v2/up/app/blobs/uploads/{uuid}"))
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
    a.patch(&format!("/v2/up/app/blobs/uploads/{uuid}"), &[], b"x")
        .await
        .assert_error(404, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn cross_repository_mount() {
    let a = default_app().await;
    let data = b"shared layer";
    let digest = a.push_blob("source/app", data).await;

    let r = a
        .post(
            &format!("/v2/target/app/blobs/uploads/?mount={digest}&from=source/app"),
            b"",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert!(
        r.header("location")
            .unwrap()
            .ends_with(&format!("/v2/target/app/blobs/{digest}"))
    );
    assert_eq!(
        a.get(&format!("/v2/target/app/blobs/{digest}")).await.body,
        &data[..]
    );

    // Not in the source (an unknown repository): a plain upload starts.
    let r = a
        .post(
            &format!("/v2/third/app/blobs/uploads/?mount={digest}&from=empty/repo"),
            b"",
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-0"));
    assert!(
        r.header("location")
            .unwrap()
            .contains("/v2/third/app/blobs/uploads/")
    );
    a.get(&format!("/v2/third/app/blobs/{digest}"))
        .await
        .assert_error(404, "BLOB_UNKNOWN");

    // A malformed digest or source: a plain upload too.
    for query in [
        "mount=sha256:nope&from=source/app".to_owned(),
        format!("mount={digest}&from=Bad//Name"),
    ] {
        let r = a
            .post(&format!("/v2/third/app/blobs/uploads/?{query}"), b"")
            .await;
        assert_eq!(r.status, 202, "{query}: {}", r.text());
        assert!(r.header("location").is_some());
    }
}

#[tokio::test]
async fn relative_and_forwarded_urls() {
    let mut setup = Setup::default();
    setup.settings.relative_urls = true;
    let a = app(setup).await;
    let r = a.post("/v2/rel/app/blobs/uploads/", b"").await;
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with("/v2/rel/app/blobs/uploads/"),
        "{location}"
    );

    let a = default_app().await;
    let r = a
        .send(
            TestRequest::post()
                .uri("/v2/fwd/app/blobs/uploads/")
                .insert_header(("X-Forwarded-Proto", "https"))
                .insert_header(("X-Forwarded-Host", "registry.example.com")),
        )
        .await;
    let location = r.header("location").unwrap();
    assert!(
        location.starts_with("https://registry.example.com/v2/fwd/app/blobs/uploads/"),
        "{location}"
    );
}
