//! Blobs and uploads on every driver.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use berth_core::{
    BlobDeleter, BlobIngester, BlobProvider, BlobStatter, CreateOptions, Created, Error,
};
use berth_digest::{Algorithm, Digest};
use berth_storage::paths;
use bytes::Bytes;
use common::*;
use futures_util::StreamExt;

async fn read_all(
    blobs: &berth_storage::RepositoryBlobs,
    digest: &Digest,
    range: Option<std::ops::Range<u64>>,
) -> Vec<u8> {
    let content = blobs.open(digest, range).await.expect("open");
    let mut body = content.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

async fn upload_life_cycle(t: TestDriver) {
    let registry = t.registry();
    let name = repo("library/app");
    let blobs = registry.blobs(&name);
    let data = content(3 << 20, 7);
    let digest = Digest::sha256(&data);

    let mut upload = start(&blobs).await;
    let id = upload.id().to_owned();
    assert!(berth_storage::is_valid_upload_id(&id));
    assert_eq!(upload.size(), 0);
    // Uneven chunks, as clients send them.
    for piece in data.chunks(700_001) {
        upload.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    assert_eq!(upload.size(), data.len() as u64);
    upload.close().await.unwrap();

    // Status from a fresh handle: same size, same start time.
    let resumed = blobs.resume(&id).await.unwrap();
    assert_eq!(resumed.size(), data.len() as u64);

    let descriptor = resumed
        .commit(&digest, Some(data.len() as u64))
        .await
        .unwrap();
    assert_eq!(descriptor.digest, digest);
    assert_eq!(descriptor.size, data.len() as i64);

    // Linked, readable whole and in ranges; the upload is gone.
    assert_eq!(blobs.stat(&digest).await.unwrap().size, data.len() as i64);
    assert_eq!(read_all(&blobs, &digest, None).await, data);
    assert_eq!(read_all(&blobs, &digest, Some(10..20)).await, &data[10..20]);
    assert_eq!(
        read_all(&blobs, &digest, Some(100..(3 << 30))).await,
        &data[100..]
    );
    assert!(read_all(&blobs, &digest, Some(5..5)).await.is_empty());
    assert!(matches!(
        blobs.resume(&id).await.map(|_| ()),
        Err(Error::BlobUploadUnknown { .. })
    ));
    assert!(
        files(&*t.driver, &paths::uploads_dir(&name))
            .await
            .is_empty()
    );

    // Exactly Distribution's files.
    let hex = digest.encoded();
    let mut all = files(&*t.driver, "/").await;
    all.sort();
    assert_eq!(
        all,
        vec![
            format!("/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]),
            format!("/docker/registry/v2/repositories/library/app/_layers/sha256/{hex}/link"),
        ]
    );
    assert_eq!(
        &t.driver
            .get_content(&paths::layer_link(&name, &digest))
            .await
            .unwrap()[..],
        digest.as_str().as_bytes()
    );
}

async fn empty_blob(t: TestDriver) {
    let registry = t.registry();
    let blobs = registry.blobs(&repo("empty"));
    let digest = Digest::sha256(b"");
    let upload = start(&blobs).await;
    let d = upload.commit(&digest, Some(0)).await.unwrap();
    assert_eq!(d.size, 0);
    assert_eq!(blobs.get(&digest).await.unwrap().len(), 0);
    assert!(read_all(&blobs, &digest, None).await.is_empty());
}

/// Each request is served by a new process: a fresh `Registry` on the same
/// storage resumes the upload from its saved hash state and never reads
/// back a byte of upload data.
async fn resume_never_rereads(t: TestDriver) {
    let counter = Arc::new(AtomicU64::new(0));
    let counting: Arc<dyn berth_driver::StorageDriver> = Arc::new(CountingDriver {
        inner: t.driver.clone(),
        upload_bytes_read: counter.clone(),
    });
    let name = repo("resume/me");
    let data = content(5 << 20, 3);
    let digest = Digest::sha256(&data);

    let id = {
        let blobs = t.registry_on(counting.clone()).blobs(&name);
        let mut upload = start(&blobs).await;
        upload.write(data.slice(..1 << 20)).await.unwrap();
        let id = upload.id().to_owned();
        upload.close().await.unwrap();
        id
    };
    for range in [(1 << 20)..(3 << 20), (3 << 20)..(5 << 20)] {
        let blobs = t.registry_on(counting.clone()).blobs(&name);
        let mut upload = blobs.resume(&id).await.unwrap();
        assert_eq!(upload.size(), range.start as u64);
        upload.write(data.slice(range)).await.unwrap();
        upload.close().await.unwrap();
    }
    let blobs = t.registry_on(counting.clone()).blobs(&name);
    let upload = blobs.resume(&id).await.unwrap();
    upload.commit(&digest, None).await.unwrap();
    assert_eq!(
        counter.load(Ordering::SeqCst),
        0,
        "upload data was read back"
    );
    assert_eq!(blobs.get(&digest).await.unwrap(), data);
    // Only the latest hash state was kept along the way; all gone now.
    assert!(
        files(&*t.driver, &paths::uploads_dir(&name))
            .await
            .is_empty()
    );
}

async fn hash_states_in_distribution_format(t: TestDriver) {
    let registry = t.registry();
    let name = repo("states");
    let blobs = registry.blobs(&name);
    let data = content(1000, 1);
    let mut upload = start(&blobs).await;
    let id = upload.id().to_owned();
    upload.write(data.clone()).await.unwrap();
    upload.close().await.unwrap();
    let state = t
        .driver
        .get_content(&paths::upload_hash_state(
            &name,
            &id,
            Algorithm::Sha256,
            1000,
        ))
        .await
        .unwrap();
    // Go's crypto/sha256 MarshalBinary: magic, 8 words, block, length.
    assert_eq!(state.len(), 108);
    assert_eq!(&state[..4], b"sha\x03");
    assert_eq!(&state[100..], &1000u64.to_be_bytes());
    let started = t
        .driver
        .get_content(&paths::upload_started_at(&name, &id))
        .await
        .unwrap();
    let started = std::str::from_utf8(&started).unwrap();
    assert!(
        started.ends_with('Z') && started.len() == 20,
        "RFC 3339 seconds: {started}"
    );
}

async fn wrong_digest_leaves_nothing(t: TestDriver) {
    let registry = t.registry();
    let name = repo("wrong");
    let blobs = registry.blobs(&name);
    let data = content(4096, 9);
    let claimed = Digest::sha256(b"something else");
    let mut upload = start(&blobs).await;
    let id = upload.id().to_owned();
    upload.write(data.clone()).await.unwrap();
    match upload.commit(&claimed, None).await {
        Err(Error::DigestMismatch { given, computed }) => {
            assert_eq!(given, claimed);
            assert_eq!(computed, Digest::sha256(&data));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(
        files(&*t.driver, "/").await.is_empty(),
        "nothing may remain"
    );
    assert!(matches!(
        blobs.stat(&claimed).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert!(matches!(
        blobs.resume(&id).await.map(|_| ()),
        Err(Error::BlobUploadUnknown { .. })
    ));

    // A wrong size is refused the same way.
    let mut upload = start(&blobs).await;
    upload.write(data.clone()).await.unwrap();
    assert!(matches!(
        upload.commit(&Digest::sha256(&data), Some(1)).await,
        Err(Error::SizeInvalid {
            expected: 1,
            actual: 4096
        })
    ));
    assert!(
        files(&*t.driver, "/").await.is_empty(),
        "nothing may remain"
    );
}

async fn other_algorithms_commit(t: TestDriver) {
    let registry = t.registry();
    let blobs = registry.blobs(&repo("sha512"));
    let data = content(100_000, 4);
    let digest = Algorithm::Sha512.digest(&data);
    let mut upload = start(&blobs).await;
    upload.write(data.clone()).await.unwrap();
    upload.commit(&digest, None).await.unwrap();
    assert_eq!(blobs.get(&digest).await.unwrap(), data);
    assert!(
        t.driver
            .stat(&paths::blob_data(&digest))
            .await
            .unwrap()
            .path
            .contains("/blobs/sha512/")
    );
}

/// Two repositories upload the same blob at once: one blob, two links.
async fn concurrent_same_blob(t: TestDriver) {
    let registry = t.registry();
    let data = content(2 << 20, 5);
    let digest = Digest::sha256(&data);
    let mut tasks = Vec::new();
    for name in ["one/app", "two/app", "three/app"] {
        let registry = registry.clone();
        let data = data.clone();
        let digest = digest.clone();
        tasks.push(tokio::spawn(async move {
            let blobs = registry.blobs(&repo(name));
            let mut upload = start(&blobs).await;
            for piece in data.chunks(256 << 10) {
                upload.write(Bytes::copy_from_slice(piece)).await.unwrap();
            }
            upload.commit(&digest, None).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let blobs_files = files(&*t.driver, &paths::blobs_root()).await;
    assert_eq!(blobs_files, vec![paths::blob_data(&digest)]);
    for name in ["one/app", "two/app", "three/app"] {
        let blobs = registry.blobs(&repo(name));
        assert_eq!(blobs.get(&digest).await.unwrap(), data);
        assert!(
            files(&*t.driver, &paths::uploads_dir(&repo(name)))
                .await
                .is_empty()
        );
    }
}

async fn mount_and_refusal(t: TestDriver) {
    let registry = t.registry();
    let source = repo("source/app");
    let target = repo("target/app");
    let data = content(10_000, 2);
    let descriptor = registry
        .blobs(&source)
        .put("application/octet-stream", data.clone())
        .await
        .unwrap();
    let digest = descriptor.digest.clone();

    // Linked in the source: mounted, no upload, no bytes copied.
    let before = files(&*t.driver, &paths::blobs_root()).await;
    let target_blobs = registry.blobs(&target);
    match target_blobs
        .create(CreateOptions {
            mount_from: Some((source.clone(), digest.clone())),
        })
        .await
        .unwrap()
    {
        Created::Mounted(d) => assert_eq!(d.digest, digest),
        Created::Upload(u) => panic!("expected a mount, got upload {}", u.id()),
    }
    assert_eq!(files(&*t.driver, &paths::blobs_root()).await, before);
    assert_eq!(target_blobs.get(&digest).await.unwrap(), data);

    // Not linked in the source (though it exists elsewhere): an upload.
    let elsewhere = repo("elsewhere");
    match registry
        .blobs(&elsewhere)
        .create(CreateOptions {
            mount_from: Some((repo("nothing/here"), digest.clone())),
        })
        .await
        .unwrap()
    {
        Created::Upload(u) => u.cancel().await.unwrap(),
        Created::Mounted(_) => panic!("mounted from a repository without the blob"),
    }
    assert!(matches!(
        registry.blobs(&elsewhere).stat(&digest).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert!(
        files(&*t.driver, &paths::uploads_dir(&elsewhere))
            .await
            .is_empty()
    );
}

async fn blob_only_through_link(t: TestDriver) {
    let registry = t.registry();
    let data = content(100, 8);
    let d = registry
        .blobs(&repo("has/it"))
        .put("application/octet-stream", data)
        .await
        .unwrap();
    let other = registry.blobs(&repo("has/not"));
    assert!(matches!(
        other.stat(&d.digest).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert!(matches!(
        other.get(&d.digest).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert!(matches!(
        other.open(&d.digest, None).await,
        Err(Error::BlobUnknown { .. })
    ));
    // The global statter sees it.
    assert_eq!(
        registry.blob_statter().stat(&d.digest).await.unwrap().size,
        100
    );
}

async fn delete_unlinks_only(t: TestDriver) {
    let registry = t.registry();
    let name = repo("del");
    let blobs = registry.blobs(&name);
    let d = blobs
        .put("application/octet-stream", content(10, 1))
        .await
        .unwrap();
    blobs.delete(&d.digest).await.unwrap();
    assert!(matches!(
        blobs.stat(&d.digest).await,
        Err(Error::BlobUnknown { .. })
    ));
    assert!(matches!(
        blobs.delete(&d.digest).await,
        Err(Error::BlobUnknown { .. })
    ));
    // The bytes stay for garbage collection.
    assert!(t.driver.stat(&paths::blob_data(&d.digest)).await.is_ok());

    let no_deletes =
        berth_storage::Registry::new(t.driver.clone(), berth_storage::StorageOptions::default());
    let blobs = no_deletes.blobs(&name);
    let d = blobs
        .put("application/octet-stream", content(11, 1))
        .await
        .unwrap();
    assert!(matches!(
        blobs.delete(&d.digest).await,
        Err(Error::Unsupported { .. })
    ));
    assert!(blobs.stat(&d.digest).await.is_ok());
}

async fn cancel_removes_everything(t: TestDriver) {
    let registry = t.registry();
    let name = repo("cancel");
    let blobs = registry.blobs(&name);
    let mut upload = start(&blobs).await;
    let id = upload.id().to_owned();
    upload.write(content(5000, 1)).await.unwrap();
    upload.close().await.unwrap();
    let upload = blobs.resume(&id).await.unwrap();
    upload.cancel().await.unwrap();
    assert!(files(&*t.driver, "/").await.is_empty());
    assert!(matches!(
        blobs.resume(&id).await.map(|_| ()),
        Err(Error::BlobUploadUnknown { .. })
    ));
}

async fn unknown_and_malformed_upload_ids(t: TestDriver) {
    let registry = t.registry();
    let blobs = registry.blobs(&repo("ids"));
    for id in [
        "00000000-0000-4000-8000-000000000000",
        "../../etc",
        "",
        "a/b",
        "z",
    ] {
        assert!(
            matches!(
                blobs.resume(id).await.map(|_| ()),
                Err(Error::BlobUploadUnknown { .. })
            ),
            "{id:?}"
        );
    }
}

async fn purge_by_age(t: TestDriver) {
    let registry = t.registry();
    let old_repo = repo("purge/old");
    let young_repo = repo("purge/young");
    let mut old = start(&registry.blobs(&old_repo)).await;
    old.write(content(100, 1)).await.unwrap();
    let old_id = old.id().to_owned();
    old.close().await.unwrap();
    let young = start(&registry.blobs(&young_repo)).await;
    let young_id = young.id().to_owned();
    young.close().await.unwrap();
    // Backdate the old upload's start, as Distribution would have written it.
    t.driver
        .put_content(
            &paths::upload_started_at(&old_repo, &old_id),
            Bytes::from_static(b"2020-01-02T03:04:05Z"),
        )
        .await
        .unwrap();

    let dry = registry
        .purge_uploads(Duration::from_secs(7 * 24 * 3600), true)
        .await
        .unwrap();
    assert_eq!(dry.purged.len(), 1);
    assert_eq!(dry.purged[0].repository, "purge/old");
    assert_eq!(dry.purged[0].id, old_id);
    assert_eq!(dry.kept, 1);
    assert!(
        registry.blobs(&old_repo).resume(&old_id).await.is_ok(),
        "dry run removes nothing"
    );

    let report = registry
        .purge_uploads(Duration::from_secs(7 * 24 * 3600), false)
        .await
        .unwrap();
    assert_eq!(report.purged.len(), 1);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(matches!(
        registry.blobs(&old_repo).resume(&old_id).await.map(|_| ()),
        Err(Error::BlobUploadUnknown { .. })
    ));
    assert!(registry.blobs(&young_repo).resume(&young_id).await.is_ok());

    // An empty registry purges nothing, without error.
    let empty = common::inmemory();
    let report = empty
        .registry()
        .purge_uploads(Duration::ZERO, false)
        .await
        .unwrap();
    assert!(report.purged.is_empty());
}

async fn put_small_blob(t: TestDriver) {
    let registry = t.registry();
    let blobs = registry.blobs(&repo("put"));
    let data = Bytes::from_static(b"{\"architecture\":\"amd64\"}");
    let d = blobs
        .put("application/vnd.oci.image.config.v1+json", data.clone())
        .await
        .unwrap();
    assert_eq!(d.media_type, "application/vnd.oci.image.config.v1+json");
    assert_eq!(d.digest, Digest::sha256(&data));
    assert_eq!(blobs.get(&d.digest).await.unwrap(), data);
    // Putting it again is harmless.
    blobs
        .put("application/octet-stream", data.clone())
        .await
        .unwrap();
    assert_eq!(files(&*t.driver, &paths::blobs_root()).await.len(), 1);
}

on_every_driver!(
    upload_life_cycle,
    empty_blob,
    resume_never_rereads,
    hash_states_in_distribution_format,
    wrong_digest_leaves_nothing,
    other_algorithms_commit,
    concurrent_same_blob,
    mount_and_refusal,
    blob_only_through_link,
    delete_unlinks_only,
    cancel_removes_everything,
    unknown_and_malformed_upload_ids,
    purge_by_age,
    put_small_blob,
);
