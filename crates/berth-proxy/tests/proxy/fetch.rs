//! Fetching blobs: one fetch for concurrent readers, bounded queues,
//! readers that go away or fall behind, bodies that do not verify.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use berth_core::{ErrorKind, Namespace, Repository};
use berth_proxy::{MAX_QUEUED, ProxyOptions};
use berth_reference::RepositoryName;
use futures_util::StreamExt;

use crate::common::{Upstream, data, drain, files_with, proxy, tempdir};

fn name(s: &str) -> RepositoryName {
    RepositoryName::parse(s).unwrap()
}

/// Waits (bounded) until local storage has the blob.
async fn wait_stored(
    proxy: &berth_proxy::ProxyNamespace,
    repo: &str,
    digest: &berth_digest::Digest,
) {
    let local = proxy.local().repository(&name(repo));
    let deadline = Instant::now() + Duration::from_secs(20);
    while local.blobs().stat(digest).await.is_err() {
        assert!(Instant::now() < deadline, "{digest} was never stored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_share_one_fetch() {
    let upstream = Upstream::start();
    let blob = data(8 << 20, 7);
    let digest = upstream.add_blob(blob.clone());
    // About 0.3 s upstream, so that the readers overlap.
    upstream.state.chunk.store(64 << 10, Ordering::SeqCst);
    upstream.state.pause_us.store(2_000, Ordering::SeqCst);
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;

    let mut readers = Vec::new();
    for i in 0..8u64 {
        let proxy = proxy.clone();
        let digest = digest.clone();
        readers.push(tokio::spawn(async move {
            // Some start late, some read slowly.
            tokio::time::sleep(Duration::from_millis(i * 20)).await;
            let repo = proxy.repository(&name("app")).unwrap();
            let desc = repo.blobs().stat(&digest).await.unwrap();
            let mut body = repo.blobs().open_described(desc, None).await.unwrap().body;
            let mut out = Vec::new();
            while let Some(chunk) = body.next().await {
                out.extend_from_slice(&chunk.unwrap());
                if i % 3 == 0 {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            out
        }));
    }
    for reader in readers {
        assert!(reader.await.unwrap() == blob, "a reader got other bytes");
    }
    assert_eq!(
        upstream.count("GET /v2/app/blobs/"),
        1,
        "one fetch upstream"
    );
    assert!(upstream.count("HEAD /v2/app/blobs/") <= 2);
    let stats = proxy.metrics().snapshot();
    assert_eq!(stats.blob_fetches, 1);
    assert_eq!(stats.blob_bytes_from_upstream, 8 << 20);
    assert_eq!(stats.blob_misses + stats.blob_hits, 8);
    assert!(stats.shared_fetches < stats.blob_misses);
    assert_eq!(proxy.fetches_in_flight(), 0);
    assert!(files_with(dir.path(), "_uploads").is_empty());
}

#[tokio::test]
async fn a_reader_that_goes_away_does_not_stop_the_fetch() {
    let upstream = Upstream::start();
    let blob = data(4 << 20, 8);
    let digest = upstream.add_blob(blob.clone());
    upstream.state.chunk.store(64 << 10, Ordering::SeqCst);
    upstream.state.pause_us.store(1_000, Ordering::SeqCst);
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    let desc = repo.blobs().stat(&digest).await.unwrap();
    let mut body = repo.blobs().open_described(desc, None).await.unwrap().body;
    body.next().await.unwrap().unwrap();
    drop(body);
    drop(repo);
    wait_stored(&proxy, "app", &digest).await;
    let local = proxy.local().repository(&name("app"));
    assert_eq!(local.blobs().get(&digest).await.unwrap(), blob);
    assert_eq!(upstream.count("GET /v2/app/blobs/"), 1);
}

#[tokio::test]
async fn a_slow_reader_catches_up_from_storage() {
    let upstream = Upstream::start();
    let blob = data(4 * MAX_QUEUED as usize, 9);
    let digest = upstream.add_blob(blob.clone());
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let repo = proxy.repository(&name("app")).unwrap();
    let desc = repo.blobs().stat(&digest).await.unwrap();
    let mut body = repo.blobs().open_described(desc, None).await.unwrap().body;
    let first = body.next().await.unwrap().unwrap();
    // Read nothing while the whole blob arrives: the queue overflows and
    // the rest comes from storage.
    wait_stored(&proxy, "app", &digest).await;
    let (rest, err) = drain(body).await;
    assert!(err.is_none(), "{err:?}");
    let mut all = first.to_vec();
    all.extend_from_slice(&rest);
    assert!(all == blob, "other bytes");
    assert_eq!(upstream.count("GET /v2/app/blobs/"), 1);
}

#[tokio::test]
async fn a_corrupt_or_short_body_is_not_stored() {
    let upstream = Upstream::start();
    let blob = data(1 << 20, 10);
    let digest = upstream.add_blob(blob.clone());
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let local = proxy.local().repository(&name("app"));

    for fault in [&upstream.state.corrupt, &upstream.state.truncate] {
        fault.store(true, Ordering::SeqCst);
        let repo = proxy.repository(&name("app")).unwrap();
        let desc = repo.blobs().stat(&digest).await.unwrap();
        // The fault shows either when the body is opened (a short body
        // can be read to its end before the first chunk is handed over)
        // or when the stream ends.
        let err = match repo.blobs().open_described(desc, None).await {
            Ok(content) => {
                let (bytes, err) = drain(content.body).await;
                assert!(bytes.len() <= blob.len());
                err.expect("the stream ends with an error")
            }
            Err(err) => err,
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::DigestInvalid | ErrorKind::Unavailable
            ),
            "{err}"
        );
        // Nothing visible, nothing left behind.
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.fetches_in_flight() > 0 {
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(local.blobs().stat(&digest).await.is_err());
        assert!(files_with(dir.path(), "_uploads").is_empty());
        assert!(files_with(dir.path(), digest.encoded()).is_empty());
        fault.store(false, Ordering::SeqCst);
    }
    assert!(proxy.metrics().snapshot().upstream_errors >= 2);

    // Once the upstream behaves, the blob is fetched and stored.
    let repo = proxy.repository(&name("app")).unwrap();
    assert_eq!(repo.blobs().get(&digest).await.unwrap(), blob);
    wait_stored(&proxy, "app", &digest).await;
}

#[tokio::test]
async fn a_blob_cached_for_another_repository_is_linked_not_fetched() {
    let upstream = Upstream::start();
    let blob = data(100_000, 11);
    let digest = upstream.add_blob(blob.clone());
    let dir = tempdir();
    let proxy = proxy(dir.path(), &upstream.url, ProxyOptions::default()).await;
    let a = proxy.repository(&name("a")).unwrap();
    assert_eq!(a.blobs().get(&digest).await.unwrap(), blob);
    wait_stored(&proxy, "a", &digest).await;

    let b = proxy.repository(&name("b")).unwrap();
    assert_eq!(b.blobs().get(&digest).await.unwrap(), blob);
    // b's HEAD went upstream (does b have it there?), its GET did not.
    assert_eq!(upstream.count("HEAD /v2/b/blobs/"), 1);
    assert_eq!(upstream.count("GET /v2/b/blobs/"), 0);
    let local = proxy.local().repository(&name("b"));
    assert!(local.blobs().stat(&digest).await.is_ok());
    assert_eq!(proxy.scheduler().unwrap().len(), 2);
}
