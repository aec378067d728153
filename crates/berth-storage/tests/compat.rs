//! Layout compatibility with Distribution, both ways: Debian's
//! `docker-registry` (Distribution 2.8) writes a root that berth reads, and
//! serves a root that berth wrote. Same bytes, same digests.

mod common;

use std::sync::Arc;

use berth_core::{BlobIngester, BlobProvider, BlobStatter, CreateOptions, Created};
use berth_digest::Digest;
use berth_driver::FilesystemDriver;
use berth_storage::{Registry, StorageOptions};
use berth_testkit::DockerRegistry;
use bytes::Bytes;
use common::{content, repo, start};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn berth_on(root: &std::path::Path) -> Registry {
    Registry::new(
        Arc::new(FilesystemDriver::new(root)),
        StorageOptions {
            delete_enabled: true,
            redirect: false,
            cache: None,
            ..StorageOptions::default()
        },
    )
}

/// (repository, content, chunk size for the push: 0 is monolithic)
fn blobs() -> Vec<(&'static str, Bytes, usize)> {
    vec![
        ("compat/small", content(1024, 1), 0),
        ("compat/chunked", content(3 << 20, 2), 1 << 20),
        ("compat/empty", Bytes::new(), 0),
        ("library/deep/name/here", content(100_000, 3), 40_000),
        // The same blob as the first, in another repository.
        ("compat/shared", content(1024, 1), 0),
    ]
}

#[test]
fn berth_reads_what_distribution_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    {
        let Some(distribution) = DockerRegistry::start(&root) else {
            return;
        };
        for (name, data, chunk) in blobs() {
            let digest = Digest::sha256(&data);
            let answered = distribution.push_blob(name, &data, digest.as_str(), chunk);
            assert_eq!(answered, digest.as_str());
        }
    } // docker-registry stops here

    runtime().block_on(async {
        let registry = berth_on(&root);
        for (name, data, _) in blobs() {
            let digest = Digest::sha256(&data);
            let blobs = registry.blobs(&repo(name));
            let d = blobs.stat(&digest).await.unwrap();
            assert_eq!(d.size, data.len() as i64, "{name}");
            assert_eq!(blobs.get(&digest).await.unwrap(), data, "{name}");
        }
        // berth can build on it: mount a Distribution blob elsewhere.
        let digest = Digest::sha256(&content(1024, 1));
        let target = registry.blobs(&repo("berth/mounted"));
        match target
            .create(CreateOptions {
                mount_from: Some((repo("compat/small"), digest.clone())),
            })
            .await
            .unwrap()
        {
            Created::Mounted(d) => assert_eq!(d.digest, digest),
            Created::Upload(_) => panic!("mount of a Distribution blob fell back to an upload"),
        }
    });
}

#[test]
fn distribution_serves_what_berth_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    runtime().block_on(async {
        let registry = berth_on(&root);
        for (name, data, chunk) in blobs() {
            let blobs = registry.blobs(&repo(name));
            let digest = Digest::sha256(&data);
            let mut upload = start(&blobs).await;
            let id = upload.id().to_owned();
            if chunk == 0 {
                upload.write(data.clone()).await.unwrap();
            } else {
                // One request per chunk, each resuming the upload.
                upload.close().await.unwrap();
                for piece in data.chunks(chunk) {
                    let mut upload = blobs.resume(&id).await.unwrap();
                    upload.write(Bytes::copy_from_slice(piece)).await.unwrap();
                    upload.close().await.unwrap();
                }
                upload = blobs.resume(&id).await.unwrap();
            }
            upload
                .commit(&digest, Some(data.len() as u64))
                .await
                .unwrap();
        }
    });

    let Some(distribution) = DockerRegistry::start(&root) else {
        return;
    };
    for (name, data, _) in blobs() {
        let digest = Digest::sha256(&data);
        let (status, body) = distribution.get_blob(name, digest.as_str());
        assert_eq!(status, 200, "{name}");
        assert_eq!(Digest::sha256(&body), digest, "{name}");
        assert_eq!(body, data, "{name}");
    }
    // A repository that does not have the blob: unknown there too.
    let (status, _) =
        distribution.get_blob("compat/other", Digest::sha256(&content(1024, 1)).as_str());
    assert_eq!(status, 404);
}
