//! Retries: idempotent requests after 503, 429 and connection errors;
//! never a POST or a PATCH.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_api::headers::UPLOAD_UUID;
use berth_client::{Client, RetryPolicy};
use berth_core::{CreateOptions, Error, ErrorKind, Repository};
use berth_digest::Digest;
use berth_reference::RepositoryName;
use bytes::Bytes;

use crate::common::{Reply, TestServer, client, data, drain, options};

fn repo_name() -> RepositoryName {
    RepositoryName::parse("flaky").unwrap()
}

/// Answers `failures` times with `failure`, then `success`.
fn flaky(failures: usize, failure: Reply, success: Reply) -> TestServer {
    let count = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |_| {
        if count.fetch_add(1, Ordering::SeqCst) < failures {
            failure.clone()
        } else {
            success.clone()
        }
    })
}

#[tokio::test]
async fn get_succeeds_after_two_503s() {
    let content = data(10_000, 1);
    let digest = Digest::sha256(&content);
    let server = flaky(
        2,
        Reply::json(
            503,
            r#"{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}"#,
        ),
        Reply::status(200).body(content.clone()),
    );
    let repo = client(&server.url).repository(&repo_name());
    let blob = repo.blobs().open(&digest, None).await.unwrap();
    let (bytes, err) = drain(blob.body).await;
    assert!(err.is_none());
    assert_eq!(bytes, content);
    assert_eq!(server.hits("GET", "/v2/flaky/blobs/"), 3);
}

#[tokio::test]
async fn head_and_delete_are_retried_and_429_waits_for_retry_after() {
    let server = flaky(
        1,
        Reply::status(429).header("Retry-After", "1"),
        Reply::status(200)
            .header("Content-Length", "5")
            .header("Content-Type", "application/octet-stream"),
    );
    let repo = client(&server.url).repository(&repo_name());
    let started = Instant::now();
    let d = repo.blobs().stat(&Digest::sha256(b"12345")).await.unwrap();
    assert_eq!(d.size, 5);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was honoured"
    );
    assert_eq!(server.hits("HEAD", "/v2/flaky/blobs/"), 2);

    let server = flaky(2, Reply::status(502), Reply::status(202));
    let repo = client(&server.url).repository(&repo_name());
    repo.manifests()
        .delete(&Digest::sha256(b"m"))
        .await
        .unwrap();
    assert_eq!(server.hits("DELETE", "/v2/flaky/manifests/"), 3);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let server = TestServer::start(|_| Reply::status(503));
    let repo = client(&server.url).repository(&repo_name());
    let err = repo.blobs().stat(&Digest::sha256(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert_eq!(server.hits("HEAD", "/"), 3, "max_attempts is 3");

    // A Retry-After longer than allowed is not waited for.
    let server = TestServer::start(|_| Reply::status(429).header("Retry-After", "3600"));
    let repo = client(&server.url).repository(&repo_name());
    let started = Instant::now();
    let err = repo.blobs().stat(&Digest::sha256(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRequests, "{err:?}");
    assert_eq!(server.hits("HEAD", "/"), 1);
    assert!(started.elapsed() < Duration::from_secs(2));

    // 501 is not retried.
    let server = TestServer::start(|_| Reply::status(501));
    let repo = client(&server.url).repository(&repo_name());
    repo.blobs().stat(&Digest::sha256(b"x")).await.unwrap_err();
    assert_eq!(server.hits("HEAD", "/"), 1);

    // Without retries, one attempt.
    let server = TestServer::start(|_| Reply::status(503));
    let mut opts = options(&server.url);
    opts.retries = RetryPolicy::none();
    let repo = Client::new(opts).unwrap().repository(&repo_name());
    repo.blobs().stat(&Digest::sha256(b"x")).await.unwrap_err();
    assert_eq!(server.hits("HEAD", "/"), 1);
}

#[tokio::test]
async fn connection_errors_are_retried_then_unavailable() {
    // Nothing listens on this port.
    let port = berth_testkit::free_port();
    let repo = client(&format!("http://127.0.0.1:{port}")).repository(&repo_name());
    let started = Instant::now();
    let err = repo.blobs().stat(&Digest::sha256(b"x")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable { service, .. } if service.contains(&port.to_string())),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = client(&format!("http://127.0.0.1:{port}"))
        .ping()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn post_and_patch_are_not_retried() {
    let server = TestServer::start(|_| Reply::status(503));
    let repo = client(&server.url).repository(&repo_name());
    let err = repo
        .blobs()
        .create(CreateOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert_eq!(server.hits("POST", "/"), 1);
    let err = repo
        .blobs()
        .put("application/octet-stream", Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(server.hits("POST", "/"), 2);

    // The upload starts; its PATCH fails once and is not sent again.
    let server = TestServer::start(|request| match request.method.as_str() {
        "POST" => Reply::status(202)
            .header("Location", "/v2/flaky/blobs/uploads/u1")
            .header(UPLOAD_UUID, "u1"),
        _ => Reply::status(503),
    });
    let repo = client(&server.url).repository(&repo_name());
    let berth_core::Created::Upload(mut writer) =
        repo.blobs().create(CreateOptions::default()).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        writer.id(),
        format!("{}/v2/flaky/blobs/uploads/u1", server.url)
    );
    let err = writer
        .write(Bytes::from_static(b"chunk"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(server.hits("PATCH", "/"), 1);
    // Nor the PUT that commits.
    let err = writer.commit(&Digest::sha256(b""), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(server.hits("PUT", "/"), 1);
    let patch = server
        .all()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.header("content-range"), Some("0-4"));
    assert_eq!(
        patch.header("content-type"),
        Some("application/octet-stream")
    );
}
