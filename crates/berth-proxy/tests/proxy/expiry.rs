//! The TTL scheduler: content goes when its time is up, comes back on the
//! next pull, and the schedule survives a restart.

use std::time::{Duration, Instant, SystemTime};

use berth_core::{Namespace, Repository};
use berth_proxy::{EntryKind, ProxyOptions, STATE_PATH};
use berth_reference::{RepositoryName, Tag};

use crate::common::{Upstream, data, files_with, proxy, tempdir};

fn name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

fn options(ttl: Duration) -> ProxyOptions {
    ProxyOptions {
        ttl: Some(ttl),
        save_interval: Duration::from_millis(50),
        ..ProxyOptions::default()
    }
}

/// Pulls the image tagged `v1` of `app` through `proxy`.
async fn pull(proxy: &berth_proxy::ProxyNamespace) {
    let repo = proxy.repository(&name("app")).unwrap();
    let d = repo.tags().get(&Tag::parse("v1").unwrap()).await.unwrap();
    let m = repo.manifests().get(&d.digest).await.unwrap();
    for blob in m.blob_references() {
        repo.blobs().get(&blob.digest).await.unwrap();
    }
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn expired_content_is_removed_and_comes_back() {
    let upstream = Upstream::start();
    let (manifest, config, layer) = upstream.add_image("app", "v1", data(50_000, 1));
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, options(Duration::from_secs(2))).await;
    pull(&proxy).await;
    let scheduler = proxy.scheduler().unwrap();
    let entries = scheduler.entries();
    assert_eq!(entries.len(), 3);
    let manifests: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Manifest)
        .collect();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].digest, manifest);
    assert_eq!(manifests[0].key(), format!("app@{manifest}"));

    // The schedule is on the driver, in Distribution's format.
    let state = dir.path().join(STATE_PATH.trim_start_matches('/'));
    wait_for("the state file", async || {
        std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.as_object().is_some_and(|o| o.len() == 3))
    })
    .await;
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let key = format!("app@{layer}");
    assert_eq!(json[&key]["Key"], key.as_str());
    assert_eq!(json[&key]["EntryType"], 0);
    assert_eq!(json[&format!("app@{manifest}")]["EntryType"], 1);
    assert!(json[&key]["ExpiryData"].as_str().unwrap().ends_with('Z'));

    // Then they go: links, tag, blob data.
    let local = proxy.local().repository(&name("app"));
    wait_for("expiry", async || {
        let stats = proxy.metrics().snapshot();
        (stats.expired_blobs, stats.expired_manifests) == (2, 1)
    })
    .await;
    assert!(scheduler.is_empty());
    assert!(local.blobs().stat(&layer).await.is_err());
    assert!(local.blobs().stat(&config).await.is_err());
    assert!(!local.manifests().exists(&manifest).await.unwrap());
    assert!(local.tags().get(&Tag::parse("v1").unwrap()).await.is_err());
    assert!(files_with(dir.path(), layer.encoded()).is_empty());
    wait_for("the emptied state file", async || {
        std::fs::read(&state).is_ok_and(|b| b == b"{}")
    })
    .await;

    // The next pull fetches them again.
    pull(&proxy).await;
    assert_eq!(upstream.count("GET /v2/app/blobs/"), 4);
    assert_eq!(upstream.count("GET /v2/app/manifests/"), 2);
    assert_eq!(scheduler.len(), 3);
}

#[tokio::test]
async fn the_schedule_survives_a_restart() {
    let upstream = Upstream::start();
    upstream.add_image("app", "v1", data(1000, 2));
    let dir = tempdir();
    let first = proxy(
        dir.path(),
        &upstream.url,
        options(Duration::from_secs(3600)),
    )
    .await;
    pull(&first).await;
    let before = first.scheduler().unwrap().entries();
    first.shutdown().await.unwrap();
    drop(first);

    let second = proxy(
        dir.path(),
        &upstream.url,
        options(Duration::from_secs(3600)),
    )
    .await;
    let after = second.scheduler().unwrap().entries();
    assert_eq!(after, before, "the same entries, the same times");
    assert!(
        after
            .iter()
            .all(|e| e.expiry > SystemTime::now() + Duration::from_secs(3500))
    );
}

#[tokio::test]
async fn entries_due_while_stopped_are_removed_at_start() {
    let upstream = Upstream::start();
    let (_, _, layer) = upstream.add_image("app", "v1", data(1000, 3));
    let dir = tempdir();
    let first = proxy(
        dir.path(),
        &upstream.url,
        options(Duration::from_secs(3600)),
    )
    .await;
    pull(&first).await;
    first.shutdown().await.unwrap();
    drop(first);
    // Another process (Distribution, or an older berth) wrote expiries in
    // the past, with its own time zone.
    let state = dir.path().join(STATE_PATH.trim_start_matches('/'));
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    for entry in json.as_object_mut().unwrap().values_mut() {
        entry["ExpiryData"] = "2020-01-01T01:00:00.5+01:00".into();
    }
    std::fs::write(&state, json.to_string()).unwrap();

    let second = proxy(
        dir.path(),
        &upstream.url,
        options(Duration::from_secs(3600)),
    )
    .await;
    let scheduler = second.scheduler().unwrap();
    wait_for("expiry at start", async || {
        second.metrics().snapshot().expired_blobs == 2
    })
    .await;
    assert!(scheduler.is_empty());
    let local = second.local().repository(&name("app"));
    assert!(local.blobs().stat(&layer).await.is_err());
}

#[tokio::test]
async fn a_ttl_of_zero_keeps_content() {
    let upstream = Upstream::start();
    upstream.add_image("app", "v1", data(1000, 4));
    let dir = tempdir();
    let proxy = proxy(
        dir.path(),
        &upstream.url,
        ProxyOptions::with_config_ttl(Some(Duration::ZERO)),
    )
    .await;
    assert!(proxy.scheduler().is_none());
    pull(&proxy).await;
    proxy.shutdown().await.unwrap();
    assert!(!dir.path().join(STATE_PATH.trim_start_matches('/')).exists());
    assert_eq!(
        ProxyOptions::with_config_ttl(None).ttl,
        Some(berth_proxy::DEFAULT_TTL)
    );
}
