//! The application under test: berth's handlers over the in-memory driver,
//! driven through actix-web's test service (no socket, no binary).

use std::sync::Arc;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::{App, test, web};
use berth_auth::AccessController;
use berth_digest::Digest;
use berth_driver::{InMemoryDriver, StorageDriver};
use berth_handlers::{AppState, Settings};
use berth_manifest::ManifestRegistry;
use berth_storage::{Registry, StorageOptions};
use bytes::Bytes;
use serde_json::json;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// How to build the application.
pub struct Setup {
    /// `storage.delete.enabled` (off by default, as in Distribution).
    pub delete_enabled: bool,
    /// Distribution's `redirect` storage middleware base URL.
    pub redirect_base_url: Option<String>,
    pub settings: Settings,
    pub access: Option<Arc<dyn AccessController>>,
    /// The storage; a fresh in-memory driver when `None` (share one to
    /// see another application's content).
    pub driver: Option<Arc<dyn StorageDriver>>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            delete_enabled: false,
            redirect_base_url: None,
            settings: Settings {
                secret: b"handlers-test-secret".to_vec(),
                access_log: false,
                ..Settings::default()
            },
            access: None,
            driver: None,
        }
    }
}

/// A response, read whole.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body's size as the HTTP layer would announce it in
    /// `Content-Length` (a HEAD response has the GET's size, no bytes).
    pub size: Option<u64>,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The first error's message.
    pub fn message(&self) -> String {
        self.json()["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts a v2 error: the status, a JSON body whose only error has
    /// `code`, the JSON content type and the API version header.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Resp {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        let body = self.json();
        let errors = body["errors"].as_array().expect("an errors array");
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["code"], code, "{body}");
        assert!(errors[0]["message"].is_string(), "{body}");
        assert_eq!(
            self.header("docker-distribution-api-version"),
            Some("registry/2.0")
        );
        self
    }
}

/// The path and query of a URL the application handed out (absolute or
/// not), to send the next request to.
pub fn path_of(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest[rest.find('/').unwrap_or(rest.len())..].to_owned(),
        None => url.to_owned(),
    }
}

/// `url` with one more query parameter.
pub fn with_query(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{}{sep}{param}", path_of(url))
}

/// The application, as actix-web's test service.
pub struct TestApp<S> {
    service: S,
}

/// Builds the application as berth-server does, over a fresh in-memory
/// driver.
pub async fn app(
    setup: Setup,
) -> TestApp<
    impl Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
> {
    let manifests = ManifestRegistry::new();
    let registry = Registry::new(
        setup
            .driver
            .unwrap_or_else(|| Arc::new(InMemoryDriver::new())),
        StorageOptions {
            delete_enabled: setup.delete_enabled,
            redirect: true,
            cache: None,
            manifests: manifests.clone(),
            redirect_base_url: setup.redirect_base_url,
            protection: None,
        },
    );
    let state = AppState::new(Arc::new(registry), manifests, setup.settings);
    let state = match setup.access {
        Some(access) => state.with_access_controller(access),
        None => state,
    };
    let state = web::Data::new(state);
    let service = test::init_service(App::new().configure(berth_handlers::configure(state))).await;
    TestApp { service }
}

/// The default application.
pub async fn default_app() -> TestApp<
    impl Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
> {
    app(Setup::default()).await
}

impl<S> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    /// Sends a request built by actix-web's `TestRequest`.
    pub async fn send(&self, req: test::TestRequest) -> Resp {
        self.send_request(req.to_request()).await
    }

    /// Sends an already built request (e.g. with headers removed).
    pub async fn send_request(&self, req: actix_http::Request) -> Resp {
        let response = test::call_service(&self.service, req).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let size = match response.response().body().size() {
            BodySize::Sized(n) => Some(n),
            BodySize::None => Some(0),
            BodySize::Stream => None,
        };
        let body = test::read_body(response).await;
        Resp {
            status,
            headers,
            size,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(test::TestRequest::get().uri(path)).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        let mut req = test::TestRequest::get().uri(path);
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        self.send(req).await
    }

    pub async fn head(&self, path: &str) -> Resp {
        self.send(
            test::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri(path),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(test::TestRequest::delete().uri(path)).await
    }

    pub async fn post(&self, path: &str, body: &[u8]) -> Resp {
        self.send(
            test::TestRequest::post()
                .uri(path)
                .set_payload(Bytes::copy_from_slice(body)),
        )
        .await
    }

    pub async fn patch(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = test::TestRequest::patch()
            .uri(path)
            .set_payload(Bytes::copy_from_slice(body));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        self.send(req).await
    }

    pub async fn put(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut req = test::TestRequest::put()
            .uri(path)
            .set_payload(Bytes::copy_from_slice(body));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        self.send(req).await
    }

    /// Pushes `data` to `repo` in one request; answers its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Digest::sha256(data);
        let r = self
            .post(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"), data)
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        digest
    }

    /// Pushes an OCI image manifest (with its config and one layer, both
    /// made from `seed`) under `tag`; answers the manifest and its digest.
    pub async fn push_image(&self, repo: &str, tag: &str, seed: u8) -> (Vec<u8>, Digest) {
        let manifest = self.image_manifest(repo, seed).await;
        let digest = Digest::sha256(&manifest);
        let r = self
            .put(
                &format!("/v2/{repo}/manifests/{tag}"),
                &[("Content-Type", OCI_MANIFEST)],
                &manifest,
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
        (manifest, digest)
    }

    /// Pushes the blobs of an image made from `seed` and answers its
    /// manifest, not pushed.
    pub async fn image_manifest(&self, repo: &str, seed: u8) -> Vec<u8> {
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "seed": seed,
        }))
        .unwrap();
        let layer: Vec<u8> = (0..1000u32).map(|i| (i as u8) ^ seed).collect();
        let config_digest = self.push_blob(repo, &config).await;
        let layer_digest = self.push_blob(repo, &layer).await;
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer.len()}],
        }))
        .unwrap()
    }
}
