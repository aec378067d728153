//! Who may do what: an access controller (berth-auth's `silly`, and one
//! written here to refuse chosen accesses), and read-only mode.

use std::sync::Arc;

use actix_web::test::TestRequest;
use async_trait::async_trait;
use berth_auth::{Access, AccessController, AuthError, Challenge, Grant, SillyOptions};
use berth_driver::{InMemoryDriver, StorageDriver};
use serde_json::json;

use crate::common::{OCI_MANIFEST, Setup, app, path_of};

fn silly_setup() -> Setup {
    Setup {
        access: Some(
            berth_auth::silly(SillyOptions {
                realm: "https://auth.example/token".into(),
                service: "berth-test".into(),
            })
            .unwrap(),
        ),
        ..Setup::default()
    }
}

#[tokio::test]
async fn silly_challenges_without_authorization() {
    let a = app(silly_setup()).await;

    // `/v2/`: authentication only, no scope.
    let r = a.get("/v2/").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="https://auth.example/token",service="berth-test""#)
    );

    // A read asks for pull on the repository; the error names it.
    let r = a.get("/v2/app/tags/list").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="https://auth.example/token",service="berth-test",scope="repository:app:pull""#
        )
    );
    assert_eq!(
        r.json()["errors"][0]["detail"],
        json!([{"Type": "repository", "Class": "", "Name": "app", "Action": "pull"}])
    );

    // A write asks for pull and push; a delete for delete; the catalog
    // for registry:catalog:*.
    let r = a.post("/v2/team/app/blobs/uploads/", b"").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="https://auth.example/token",service="berth-test",scope="repository:team/app:pull repository:team/app:push""#
        )
    );
    let r = a.delete("/v2/app/manifests/v1").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(r#"scope="repository:app:delete""#)
    );
    let r = a.get("/v2/_catalog").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(r#"scope="registry:catalog:*""#)
    );
    // An empty header is no credential.
    let r = a.get_with("/v2/", &[("Authorization", "")]).await;
    r.assert_error(401, "UNAUTHORIZED");

    // Access control comes before routing to the repository: an invalid
    // name is challenged, not judged.
    a.get("/v2/Bad/Name/tags/list")
        .await
        .assert_error(401, "UNAUTHORIZED");
    // An unknown path is no endpoint: 404, unchallenged.
    assert_eq!(a.get("/v1/").await.status, 404);
}

#[tokio::test]
async fn silly_lets_any_authorization_in() {
    let a = app(silly_setup()).await;
    let auth = [("Authorization", "Bearer anything")];
    let r = a.get_with("/v2/", &auth).await;
    assert_eq!(r.status, 200);
    assert!(r.header("www-authenticate").is_none());

    // A push with the header on every request.
    let data = b"layer";
    let digest = berth_digest::Digest::sha256(data);
    let mut req = TestRequest::post()
        .uri(&format!("/v2/app/blobs/uploads/?digest={digest}"))
        .set_payload(&data[..]);
    req = req.insert_header(auth[0]);
    let r = a.send(req).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = a.get_with(&format!("/v2/app/blobs/{digest}"), &auth).await;
    assert_eq!((r.status, &r.body[..]), (200, &data[..]));
    // Without it, the same blob is challenged.
    a.get(&format!("/v2/app/blobs/{digest}"))
        .await
        .assert_error(401, "UNAUTHORIZED");
}

/// Grants everything to `Bearer owner`; to `Bearer outsider`, everything
/// but access to `secret/app`; challenges anyone else; cannot decide for
/// `Bearer broken`.
struct Gate;

#[async_trait]
impl AccessController for Gate {
    async fn authorize(
        &self,
        request: &berth_auth::Request<'_>,
        access: &[Access],
    ) -> Result<Grant, AuthError> {
        let challenge = || {
            AuthError::Challenge(Challenge::basic(
                "gate",
                "access to this resource is refused",
            ))
        };
        match request.authorization {
            Some("Bearer owner") => Ok(Grant::user("owner")),
            Some("Bearer outsider") => {
                if access.iter().any(|a| a.resource.name == "secret/app") {
                    Err(challenge())
                } else {
                    Ok(Grant::user("outsider"))
                }
            }
            Some("Bearer broken") => Err(AuthError::Internal("the gate is stuck".into())),
            _ => Err(challenge()),
        }
    }
}

#[tokio::test]
async fn a_mount_needs_pull_on_its_source() {
    let a = app(Setup {
        access: Some(Arc::new(Gate)),
        ..Setup::default()
    })
    .await;
    let data = b"secret layer";
    let digest = berth_digest::Digest::sha256(data);
    let r = a
        .send(
            TestRequest::post()
                .uri(&format!("/v2/secret/app/blobs/uploads/?digest={digest}"))
                .insert_header(("Authorization", "Bearer owner"))
                .set_payload(&data[..]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    let mount = format!("/v2/mine/app/blobs/uploads/?mount={digest}&from=secret/app");
    // The outsider may push to mine/app but not pull secret/app: a plain
    // upload starts, the blob is not mounted.
    let r = a
        .send(
            TestRequest::post()
                .uri(&mount)
                .insert_header(("Authorization", "Bearer outsider")),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(
        r.header("location")
            .unwrap()
            .contains("/v2/mine/app/blobs/uploads/")
    );
    let r = a
        .send(
            TestRequest::get()
                .uri(&format!("/v2/mine/app/blobs/{digest}"))
                .insert_header(("Authorization", "Bearer outsider")),
        )
        .await;
    r.assert_error(404, "BLOB_UNKNOWN");
    // The owner mounts it.
    let r = a
        .send(
            TestRequest::post()
                .uri(&mount)
                .insert_header(("Authorization", "Bearer owner")),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // A Basic challenge is passed on as the controller wrote it.
    let r = a.get("/v2/mine/app/tags/list").await;
    r.assert_error(401, "UNAUTHORIZED");
    assert_eq!(r.header("www-authenticate"), Some(r#"Basic realm="gate""#));

    // A controller that cannot decide: a bare 400, nothing said.
    let r = a
        .send(
            TestRequest::get()
                .uri("/v2/mine/app/tags/list")
                .insert_header(("Authorization", "Bearer broken")),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.is_empty(), "{}", r.text());
}

#[tokio::test]
async fn read_only_refuses_writes() {
    let driver: Arc<dyn StorageDriver> = Arc::new(InMemoryDriver::new());
    let writable = app(Setup {
        driver: Some(driver.clone()),
        ..Setup::default()
    })
    .await;
    let (manifest, digest) = writable.push_image("ro/app", "v1", 1).await;
    let upload = writable.post("/v2/ro/app/blobs/uploads/", b"").await;
    let upload = path_of(upload.header("location").unwrap());

    let mut setup = Setup {
        driver: Some(driver),
        delete_enabled: true,
        ..Setup::default()
    };
    setup.settings.read_only = true;
    let a = app(setup).await;

    // Reads are served.
    let r = a.get("/v2/ro/app/manifests/v1").await;
    assert_eq!((r.status, &r.body[..]), (200, &manifest[..]));
    assert_eq!(a.get("/v2/ro/app/tags/list").await.status, 200);
    assert_eq!(a.get("/v2/_catalog").await.status, 200);
    assert_eq!(a.get("/v2/").await.status, 200);
    assert_eq!(a.get(&upload).await.status, 204);

    // Every write is refused, whatever it is.
    let blob = berth_digest::Digest::sha256(b"x");
    for r in [
        a.post("/v2/ro/app/blobs/uploads/", b"").await,
        a.post(&format!("/v2/ro/app/blobs/uploads/?digest={blob}"), b"x")
            .await,
        a.patch(&upload, &[], b"more").await,
        a.put(&format!("{upload}&digest={blob}"), &[], b"x").await,
        a.delete(&upload).await,
        a.put(
            "/v2/ro/app/manifests/v2",
            &[("Content-Type", OCI_MANIFEST)],
            &manifest,
        )
        .await,
        a.delete(&format!("/v2/ro/app/manifests/{digest}")).await,
        a.delete("/v2/ro/app/manifests/v1").await,
    ] {
        let r = r.assert_error(405, "UNSUPPORTED");
        assert!(r.message().contains("read-only"), "{}", r.message());
    }
    // Nothing changed.
    assert_eq!(a.get("/v2/ro/app/manifests/v1").await.status, 200);
    assert_eq!(
        a.get(&upload).await.header("range"),
        Some("0-0"),
        "the upload has nothing more"
    );
}
