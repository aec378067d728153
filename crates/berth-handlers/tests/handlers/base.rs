//! `/v2/`, unknown paths and methods, request ids, configured headers.

use actix_web::test::TestRequest;

use crate::common::{Setup, app, default_app};

#[tokio::test]
async fn base_answers_the_api_version() {
    let a = default_app().await;
    for path in ["/v2/", "/v2"] {
        let r = a.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.text(), "{}");
        assert_eq!(
            r.header("docker-distribution-api-version"),
            Some("registry/2.0")
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
    }
    assert_eq!(a.head("/v2/").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let a = default_app().await;
    for path in ["/v1/", "/v2/a/unknown/x", "/", "/v2/a/blobs/"] {
        let r = a.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.text(), "404 page not found\n");
        // Every answer carries the version header, even a 404 of no route.
        assert_eq!(
            r.header("docker-distribution-api-version"),
            Some("registry/2.0")
        );
    }
    // A known endpoint with a method it does not have.
    a.post("/v2/a/tags/list", b"")
        .await
        .assert_error(405, "UNSUPPORTED");
    a.delete("/v2/_catalog")
        .await
        .assert_error(405, "UNSUPPORTED");
    a.send(TestRequest::put().uri("/v2/"))
        .await
        .assert_error(405, "UNSUPPORTED");
    a.patch("/v2/a/blobs/uploads/", &[], b"")
        .await
        .assert_error(405, "UNSUPPORTED");
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let a = default_app().await;
    let r = a.get_with("/v2/", &[("X-Request-Id", "handlers-1")]).await;
    assert_eq!(r.header("x-request-id"), Some("handlers-1"));
    let made = a.get("/v2/").await;
    let id = made.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_ne!(
        a.get("/v2/").await.header("x-request-id"),
        Some(id),
        "each request has its own id"
    );
    // Too long to be echoed: replaced.
    let long = "x".repeat(129);
    let r = a.get_with("/v2/", &[("X-Request-Id", &long)]).await;
    assert_ne!(r.header("x-request-id"), Some(long.as_str()));
}

#[tokio::test]
async fn configured_headers_and_prefix() {
    let mut setup = Setup::default();
    setup.settings.prefix = "/registry".into();
    setup
        .settings
        .headers
        .insert("X-Content-Type-Options".into(), vec!["nosniff".into()]);
    let a = app(setup).await;
    let r = a.get("/registry/v2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    // Outside the prefix: no route.
    assert_eq!(a.get("/v2/").await.status, 404);
    // Errors carry the configured headers too.
    let r = a.get("/registry/v2/app/manifests/missing").await;
    r.assert_error(404, "MANIFEST_UNKNOWN");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}
