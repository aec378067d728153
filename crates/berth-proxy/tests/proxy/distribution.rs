//! With Debian's `docker-registry` (Distribution 2.8): as the upstream,
//! and as the other reader and writer of `scheduler-state.json`.

use std::time::{Duration, Instant, SystemTime};

use berth_core::Namespace;
use berth_digest::Digest;
use berth_proxy::{EntryKind, ProxyOptions, STATE_PATH};
use berth_reference::{RepositoryName, Tag};
use berth_testkit::DockerRegistry;

use crate::common::{data, files_with, proxy, tempdir};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes a one-layer image tagged `v1` to `registry`; answers (manifest,
/// layer) digests.
fn push_image(registry: &DockerRegistry, repo: &str, layer: &[u8]) -> (Digest, Digest) {
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let config_digest = Digest::sha256(config);
    let layer_digest = Digest::sha256(layer);
    registry.push_blob(repo, config, config_digest.as_str(), 0);
    registry.push_blob(repo, layer, layer_digest.as_str(), 1 << 20);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    let digest = registry.push_manifest(repo, "v1", OCI_MANIFEST, manifest.as_bytes());
    (Digest::parse(&digest).unwrap(), layer_digest)
}

#[tokio::test]
async fn pulls_through_from_distribution() {
    let dir = tempdir();
    let Some(upstream) = DockerRegistry::start(&dir.path().join("upstream")) else {
        return;
    };
    let layer = data(3 << 20, 1);
    let (manifest, layer_digest) = push_image(&upstream, "team/app", &layer);
    let proxy = proxy(
        &dir.path().join("cache"),
        &upstream.url,
        ProxyOptions::default(),
    )
    .await;
    let repo = proxy
        .repository(&RepositoryName::parse("team/app").unwrap())
        .unwrap();
    let d = repo.tags().get(&Tag::parse("v1").unwrap()).await.unwrap();
    assert_eq!(d.digest, manifest);
    let m = repo.manifests().get(&manifest).await.unwrap();
    assert_eq!(m.digest(), &manifest);
    assert_eq!(repo.blobs().get(&layer_digest).await.unwrap(), layer);
    // Second time round: all local.
    let before = proxy.metrics().snapshot();
    repo.manifests().get(&manifest).await.unwrap();
    assert_eq!(repo.blobs().get(&layer_digest).await.unwrap(), layer);
    let after = proxy.metrics().snapshot();
    assert_eq!(after.upstream_requests, before.upstream_requests);
    assert_eq!(after.blob_hits, before.blob_hits + 1);
    assert_eq!(after.manifest_hits, before.manifest_hits + 1);
}

/// Polls `f` for up to `secs` seconds.
fn wait(what: &str, secs: u64, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// berth's schedule is Distribution's: Distribution removes what berth
/// scheduled, and berth takes over what Distribution scheduled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_is_shared_with_distribution() {
    let dir = tempdir();
    let Some(upstream) = DockerRegistry::start(&dir.path().join("upstream")) else {
        return;
    };
    let (manifest, layer) = push_image(&upstream, "app", &data(100_000, 2));
    let cache = dir.path().join("cache");
    let state = cache.join(STATE_PATH.trim_start_matches('/'));

    // berth fetches with a 3 s TTL and stops before it runs out.
    let options = ProxyOptions {
        ttl: Some(Duration::from_secs(3)),
        ..ProxyOptions::default()
    };
    let berth = proxy(&cache, &upstream.url, options).await;
    let repo = berth
        .repository(&RepositoryName::parse("app").unwrap())
        .unwrap();
    let d = repo.tags().get(&Tag::parse("v1").unwrap()).await.unwrap();
    repo.manifests().get(&d.digest).await.unwrap();
    repo.blobs().get(&layer).await.unwrap();
    berth.shutdown().await.unwrap();
    drop(repo);
    drop(berth);
    assert!(!files_with(&cache, layer.encoded()).is_empty());

    let expiry_of = |key: &str| {
        std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v[key]["ExpiryData"].as_str().map(str::to_owned))
    };
    let key = format!("app@{layer}");
    let berths = expiry_of(&key).expect("berth wrote its schedule");

    // Distribution, as a proxy on the same root, removes them on time.
    let Some(distribution) =
        DockerRegistry::start_with(&cache, &format!("proxy:\n  remoteurl: {}\n", upstream.url))
    else {
        return;
    };
    wait("Distribution to expire berth's entries", 20, || {
        files_with(&cache, layer.encoded()).is_empty()
            && files_with(&cache, &format!("revisions/sha256/{}", manifest.encoded())).is_empty()
    });

    // Distribution fetches and schedules (a week, its 2.8 default)...
    let (status, body) = distribution.get_blob("app", layer.as_str());
    assert_eq!(status, 200);
    assert_eq!(Digest::sha256(&body), layer);
    wait("Distribution to write its schedule", 20, || {
        expiry_of(&key).is_some_and(|e| e != berths)
    });
    drop(distribution);

    // ...and berth takes the schedule over.
    let berth = proxy(&cache, &upstream.url, ProxyOptions::default()).await;
    let entries = berth.scheduler().unwrap().entries();
    let entry = entries
        .iter()
        .find(|e| e.key() == key)
        .unwrap_or_else(|| panic!("{key} in {entries:?}"));
    assert_eq!(entry.kind, EntryKind::Blob);
    assert!(entry.expiry > SystemTime::now() + Duration::from_secs(6 * 24 * 3600));
}
