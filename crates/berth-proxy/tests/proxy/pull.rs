//! Pulls through the proxy: what is fetched, what is served from the
//! cache, what an outage changes.

use std::sync::atomic::Ordering;

use berth_core::{CreateOptions, ErrorKind, Namespace, PageRequest, PutOptions, Repository};
use berth_proxy::ProxyOptions;
use berth_reference::{RepositoryName, Tag};
use bytes::Bytes;

use crate::common::{Upstream, data, drain, proxy, tempdir};

fn name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap()
}

#[tokio::test]
async fn pull_by_tag_then_from_the_cache() {
    let upstream = Upstream::start();
    let (manifest, config, layer) = upstream.add_image("library/app", "v1", data(300_000, 1));
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("library/app")).unwrap();

    // The tag: asked upstream, recorded locally.
    let d = repo.tags().get(&tag("v1")).await.unwrap();
    assert_eq!(d.digest, manifest);
    assert_eq!(upstream.count("HEAD /v2/library/app/manifests/v1"), 1);
    let local = proxy.local().repository(&name("library/app"));

    // The manifest: fetched once, then from the cache.
    let m = repo.manifests().get(&manifest).await.unwrap();
    assert_eq!(m.digest(), &manifest);
    let m2 = repo.manifests().get(&manifest).await.unwrap();
    assert_eq!(m2.payload(), m.payload());
    assert_eq!(upstream.count("GET /v2/library/app/manifests/"), 1);
    assert!(local.manifests().exists(&manifest).await.unwrap());
    assert_eq!(local.tags().get(&tag("v1")).await.unwrap().digest, manifest);

    // The blobs: fetched once while streaming, then from the cache.
    for digest in [&config, &layer] {
        for _ in 0..2 {
            let desc = repo.blobs().stat(digest).await.unwrap();
            let content = repo.blobs().open_described(desc, None).await.unwrap();
            let (bytes, err) = drain(content.body).await;
            assert!(err.is_none(), "{err:?}");
            assert_eq!(&berth_digest::Digest::sha256(&bytes), digest);
        }
    }
    assert_eq!(upstream.count("GET /v2/library/app/blobs/"), 2);
    assert_eq!(upstream.count("HEAD /v2/library/app/blobs/"), 2);
    assert_eq!(local.blobs().stat(&layer).await.unwrap().size, 300_000);
    let stats = proxy.metrics().snapshot();
    assert_eq!((stats.blob_hits, stats.blob_misses), (2, 2));
    assert_eq!((stats.manifest_hits, stats.manifest_misses), (1, 1));
    assert_eq!(
        stats.blob_bytes_from_upstream,
        300_000 + repo.blobs().stat(&config).await.unwrap().size as u64
    );
    assert_eq!(stats.manifest_bytes_from_upstream, m.size() as u64);
    assert_eq!(stats.upstream_errors, 0);
    assert_eq!(stats.blob_fetches, 2);

    // `get` reads through the same path.
    assert_eq!(repo.blobs().get(&layer).await.unwrap().len(), 300_000);
    assert_eq!(upstream.count("GET /v2/library/app/blobs/"), 2);

    // The catalog is what is cached.
    let catalog = proxy.catalog(PageRequest::default()).await.unwrap();
    assert_eq!(catalog.items, ["library/app"]);
}

#[tokio::test]
async fn a_tag_moved_upstream_is_followed() {
    let upstream = Upstream::start();
    let (first, ..) = upstream.add_image("app", "latest", data(1000, 1));
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    let d = repo.tags().get(&tag("latest")).await.unwrap();
    repo.manifests().get(&d.digest).await.unwrap();
    assert_eq!(d.digest, first);

    let (second, ..) = upstream.add_image("app", "latest", data(1000, 2));
    assert_ne!(first, second);
    let d = repo.tags().get(&tag("latest")).await.unwrap();
    assert_eq!(d.digest, second);
    assert_eq!(
        repo.manifests().get(&second).await.unwrap().digest(),
        &second
    );
    let local = proxy.local().repository(&name("app"));
    assert_eq!(
        local.tags().get(&tag("latest")).await.unwrap().digest,
        second
    );
    // The old manifest stays cached by digest.
    assert!(local.manifests().exists(&first).await.unwrap());
}

#[tokio::test]
async fn an_outage_serves_the_cache_and_says_what_is_missing() {
    let upstream = Upstream::start();
    let (manifest, _, layer) = upstream.add_image("app", "v1", data(5000, 3));
    let (other, _, other_layer) = upstream.add_image("app", "v2", data(5000, 4));
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    let d = repo.tags().get(&tag("v1")).await.unwrap();
    repo.manifests().get(&d.digest).await.unwrap();
    let desc = repo.blobs().stat(&layer).await.unwrap();
    drain(repo.blobs().open_described(desc, None).await.unwrap().body).await;

    upstream.state.down.store(true, Ordering::SeqCst);
    let repo = proxy.repository(&name("app")).unwrap();
    assert_eq!(repo.tags().get(&tag("v1")).await.unwrap().digest, manifest);
    assert_eq!(
        repo.manifests().get(&manifest).await.unwrap().digest(),
        &manifest
    );
    let desc = repo.blobs().stat(&layer).await.unwrap();
    let (bytes, err) = drain(repo.blobs().open_described(desc, None).await.unwrap().body).await;
    assert!(err.is_none());
    assert_eq!(bytes, data(5000, 3));

    // What is not cached: a clear error naming the upstream.
    for err in [
        repo.tags().get(&tag("v2")).await.unwrap_err(),
        repo.manifests().get(&other).await.unwrap_err(),
        repo.blobs().stat(&other_layer).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(
            err.to_string().starts_with("upstream registry 127.0.0.1:"),
            "{err}"
        );
    }
    // Tags list: the cached tags.
    let tags = repo.tags().list(PageRequest::default()).await.unwrap();
    assert_eq!(tags.items, ["v1"]);
    assert!(proxy.metrics().snapshot().upstream_errors >= 4);

    // Back up: the upstream answers again.
    upstream.state.down.store(false, Ordering::SeqCst);
    let tags = repo.tags().list(PageRequest::default()).await.unwrap();
    assert_eq!(tags.items, ["v1", "v2"]);
}

/// A referrer pulled through the proxy is indexed like a pushed one: with
/// the upstream down, the subject's referrers list it.
#[tokio::test]
async fn referrers_pulled_through_are_listed_in_an_outage() {
    let upstream = Upstream::start();
    let (subject, config, _) = upstream.add_image("app", "v1", data(2000, 5));
    let signature = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": 2},
        "layers": [],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": 10},
    });
    let referrer = upstream.add_manifest("app", "sig", signature.to_string().as_bytes());
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    // Fetched by digest; its config is not here, and need not be.
    repo.manifests().get(&referrer).await.unwrap();

    upstream.state.down.store(true, Ordering::SeqCst);
    let listed = repo.referrers().referrers(&subject, None).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].digest, referrer);
    assert_eq!(
        listed[0].artifact_type.as_deref(),
        Some("application/vnd.example.signature")
    );
}

#[tokio::test]
async fn unknown_content_is_unknown() {
    let upstream = Upstream::start();
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    let digest = berth_digest::Digest::sha256(b"nothing");
    let err = repo.blobs().stat(&digest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BlobUnknown);
    let err = repo.manifests().get(&digest).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ManifestUnknown);
    let err = repo.tags().get(&tag("nope")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ManifestUnknown);
    assert!(!repo.manifests().exists(&digest).await.unwrap());
    // "Not found" is no upstream error.
    assert_eq!(proxy.metrics().snapshot().upstream_errors, 0);
}

#[tokio::test]
async fn pushes_and_deletes_are_unsupported() {
    let upstream = Upstream::start();
    let (manifest, _, layer) = upstream.add_image("app", "v1", data(100, 5));
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    let m = repo.manifests().get(&manifest).await.unwrap();
    let unsupported = |e: berth_core::Error| {
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("pull-through cache"), "{e}");
    };
    unsupported(
        repo.blobs()
            .put("application/octet-stream", Bytes::from_static(b"x"))
            .await
            .unwrap_err(),
    );
    unsupported(
        repo.blobs()
            .create(CreateOptions::default())
            .await
            .unwrap_err(),
    );
    unsupported(repo.blobs().resume("abc").await.err().unwrap());
    unsupported(repo.blobs().delete(&layer).await.unwrap_err());
    unsupported(
        repo.manifests()
            .put(&m, PutOptions::default())
            .await
            .unwrap_err(),
    );
    unsupported(repo.manifests().delete(&manifest).await.unwrap_err());
    unsupported(
        repo.tags()
            .tag(&tag("v2"), &m.descriptor())
            .await
            .unwrap_err(),
    );
    unsupported(repo.tags().untag(&tag("v1")).await.unwrap_err());
    unsupported(proxy.remove_repository(&name("app")).await.unwrap_err());
    // Nothing was sent upstream for any of them.
    assert_eq!(upstream.count("PUT"), 0);
    assert_eq!(upstream.count("POST"), 0);
    assert_eq!(upstream.count("DELETE"), 0);
}

#[tokio::test]
async fn a_range_of_an_uncached_blob_passes_through() {
    let upstream = Upstream::start();
    let blob = data(10_000, 6);
    let digest = upstream.add_blob(blob.clone());
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    let desc = repo.blobs().stat(&digest).await.unwrap();
    let content = repo
        .blobs()
        .open_described(desc.clone(), Some(100..200))
        .await
        .unwrap();
    assert_eq!(content.range, 100..200);
    let (bytes, err) = drain(content.body).await;
    assert!(err.is_none());
    assert_eq!(bytes, &blob[100..200]);
    // Not stored; the whole blob is, once read whole.
    let local = proxy.local().repository(&name("app"));
    assert!(local.blobs().stat(&digest).await.is_err());
    let content = repo.blobs().open_described(desc, None).await.unwrap();
    assert_eq!(drain(content.body).await.0, blob);
    assert!(local.blobs().stat(&digest).await.is_ok());
    // Ranges of a cached blob come from storage.
    let desc = repo.blobs().stat(&digest).await.unwrap();
    let content = repo.blobs().open_described(desc, Some(5..9)).await.unwrap();
    assert_eq!(drain(content.body).await.0, &blob[5..9]);
    assert_eq!(upstream.count("GET /v2/app/blobs/"), 2);
}
