//! Uploads whose storage operations fail half-way, on every driver: the
//! end of a request (`close`) or a commit fails before or after the
//! driver did the work (an answer lost); the upload resumes from what is
//! really stored, and the repeated request finishes it.

mod common;

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use berth_core::{BlobIngester, BlobProvider, BlobStatter};
use berth_digest::Digest;
use berth_driver::{DriverError, FileInfo, FileWriter, ReadStream, Result, StorageDriver, WalkFn};
use bytes::Bytes;
use common::*;
use futures_util::StreamExt;

const MIB: usize = 1 << 20;

/// Where the next injected failure goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trap {
    /// A writer's `close`, before the driver closes it.
    CloseBefore,
    /// A writer's `close`, after the driver closed it (the answer lost).
    CloseAfter,
    /// A writer's `commit`, after the driver committed it.
    CommitAfter,
    /// A `move_to`, before anything moves.
    Move,
    /// A `put_content` of a repository's layer link, before it is written.
    LayerLink,
}

/// A driver that fails the next operation its trap names, once.
struct Flaky {
    inner: Arc<dyn StorageDriver>,
    trap: Arc<Mutex<Option<Trap>>>,
}

fn spring(trap: &Mutex<Option<Trap>>, which: Trap) -> bool {
    let mut armed = trap.lock().unwrap_or_else(PoisonError::into_inner);
    if *armed == Some(which) {
        *armed = None;
        true
    } else {
        false
    }
}

fn injected(operation: &'static str, path: &str) -> DriverError {
    DriverError::backend("flaky", operation, path, std::io::Error::other("injected"))
}

impl Flaky {
    fn arm(&self, which: Trap) {
        *self.trap.lock().unwrap_or_else(PoisonError::into_inner) = Some(which);
    }

    fn sprung(&self) -> bool {
        self.trap
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }
}

struct FlakyWriter {
    inner: Box<dyn FileWriter>,
    trap: Arc<Mutex<Option<Trap>>>,
    path: String,
}

#[async_trait]
impl FileWriter for FlakyWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.inner.write(data).await
    }
    fn size(&self) -> u64 {
        self.inner.size()
    }
    async fn commit(self: Box<Self>) -> Result<()> {
        self.inner.commit().await?;
        if spring(&self.trap, Trap::CommitAfter) {
            return Err(injected("commit", &self.path));
        }
        Ok(())
    }
    async fn cancel(self: Box<Self>) -> Result<()> {
        self.inner.cancel().await
    }
    async fn close(self: Box<Self>) -> Result<()> {
        if spring(&self.trap, Trap::CloseBefore) {
            return Err(injected("close", &self.path));
        }
        self.inner.close().await?;
        if spring(&self.trap, Trap::CloseAfter) {
            return Err(injected("close", &self.path));
        }
        Ok(())
    }
}

#[async_trait]
impl StorageDriver for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn get_content(&self, path: &str) -> Result<Bytes> {
        self.inner.get_content(path).await
    }
    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        if path.contains("/_layers/") && spring(&self.trap, Trap::LayerLink) {
            return Err(injected("put_content", path));
        }
        self.inner.put_content(path, content).await
    }
    async fn reader(&self, path: &str, offset: u64) -> Result<ReadStream> {
        self.inner.reader(path, offset).await
    }
    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        Ok(Box::new(FlakyWriter {
            inner: self.inner.writer(path, append).await?,
            trap: self.trap.clone(),
            path: path.to_owned(),
        }))
    }
    async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.inner.stat(path).await
    }
    async fn list(&self, path: &str) -> Result<Vec<String>> {
        self.inner.list(path).await
    }
    async fn move_to(&self, source: &str, dest: &str) -> Result<()> {
        if spring(&self.trap, Trap::Move) {
            return Err(injected("move_to", source));
        }
        self.inner.move_to(source, dest).await
    }
    async fn delete(&self, path: &str) -> Result<()> {
        self.inner.delete(path).await
    }
    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        self.inner.redirect_url(path).await
    }
    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> Result<()> {
        self.inner.walk(from, visit).await
    }
}

fn flaky(t: &TestDriver) -> Arc<Flaky> {
    Arc::new(Flaky {
        inner: t.driver.clone(),
        trap: Arc::new(Mutex::new(None)),
    })
}

async fn read_blob(blobs: &berth_storage::RepositoryBlobs, digest: &Digest) -> Vec<u8> {
    let content = blobs.open(digest, None).await.expect("open");
    let mut body = content.body;
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

/// The end of a request fails, before or after the driver closed the
/// writer: the upload resumes at the size the data really has (the hash
/// state for it was saved first), and goes on to the right blob.
async fn failed_close_resumes(t: TestDriver) {
    let driver = flaky(&t);
    let registry = t.registry_on(driver.clone());
    let blobs = registry.blobs(&repo("fail/close"));
    let data = content(4 * MIB, 3);
    let digest = Digest::sha256(&data);
    let mut upload = start(&blobs).await;
    let id = upload.id().to_owned();
    upload.write(data.slice(..MIB)).await.unwrap();
    upload.close().await.unwrap();

    for (trap, range) in [
        (Trap::CloseBefore, MIB..2 * MIB),
        (Trap::CloseAfter, 2 * MIB..3 * MIB),
    ] {
        let mut upload = blobs.resume(&id).await.unwrap();
        assert_eq!(upload.size(), range.start as u64);
        upload.write(data.slice(range.clone())).await.unwrap();
        driver.arm(trap);
        assert!(upload.close().await.is_err(), "{trap:?}");
        assert!(driver.sprung());
        // What is stored: all of the chunk or (closed before) perhaps
        // none of it; the upload goes on from there either way.
        let upload = blobs
            .resume(&id)
            .await
            .unwrap_or_else(|e| panic!("resume after {trap:?}: {e}"));
        let size = upload.size() as usize;
        if trap == Trap::CloseAfter {
            assert_eq!(size, range.end, "{trap:?}");
        } else {
            assert!(size == range.start || size == range.end, "{trap:?}: {size}");
        }
        if size < range.end {
            let mut upload = upload;
            upload.write(data.slice(size..range.end)).await.unwrap();
            upload.close().await.unwrap();
        } else {
            upload.close().await.unwrap();
        }
    }
    let mut upload = blobs.resume(&id).await.unwrap();
    assert_eq!(upload.size(), 3 * MIB as u64);
    upload.write(data.slice(3 * MIB..)).await.unwrap();
    let descriptor = upload.commit(&digest, None).await.unwrap();
    assert_eq!(descriptor.digest, digest);
    assert_eq!(read_blob(&blobs, &digest).await, data);
}

/// A commit fails after the data was committed at the upload's path, or
/// before the move into the blob store, or after it (the link): the
/// upload resumes, and the repeated commit links the right blob; nothing
/// of the upload is left.
async fn failed_commit_repeats(t: TestDriver) {
    let driver = flaky(&t);
    let registry = t.registry_on(driver.clone());
    for (n, trap) in [Trap::CommitAfter, Trap::Move, Trap::LayerLink]
        .into_iter()
        .enumerate()
    {
        let name = repo(&format!("fail/commit-{n}"));
        let blobs = registry.blobs(&name);
        let data = content(3 * MIB + n, 5 + n as u8);
        let digest = Digest::sha256(&data);
        let mut upload = start(&blobs).await;
        let id = upload.id().to_owned();
        upload.write(data.clone()).await.unwrap();
        upload.close().await.unwrap();

        let upload = blobs.resume(&id).await.unwrap();
        driver.arm(trap);
        assert!(upload.commit(&digest, None).await.is_err(), "{trap:?}");
        assert!(driver.sprung());
        assert!(
            blobs.stat(&digest).await.is_err(),
            "{trap:?}: the blob is linked although the commit failed"
        );

        let upload = blobs
            .resume(&id)
            .await
            .unwrap_or_else(|e| panic!("resume after {trap:?}: {e}"));
        assert_eq!(upload.size(), data.len() as u64, "{trap:?}");
        // Nothing more can be appended to it.
        let mut sealed = blobs.resume(&id).await.unwrap();
        let e = sealed.write(Bytes::from_static(b"more")).await.unwrap_err();
        assert!(
            matches!(e, berth_core::Error::BlobUploadInvalid { .. }),
            "{trap:?}: {e}"
        );
        let descriptor = upload.commit(&digest, None).await.unwrap();
        assert_eq!(descriptor.digest, digest, "{trap:?}");
        assert!(
            blobs.resume(&id).await.is_err(),
            "{trap:?}: the upload is gone"
        );
        assert_eq!(read_blob(&blobs, &digest).await, data, "{trap:?}");
    }
}

/// After the link failed, a repeated commit with another digest is
/// refused and removes the upload; the blob the first commit moved is not
/// linked, and a new upload of it links it.
async fn failed_link_then_wrong_digest(t: TestDriver) {
    let driver = flaky(&t);
    let registry = t.registry_on(driver.clone());
    let blobs = registry.blobs(&repo("fail/link"));
    let data = content(2 * MIB + 17, 9);
    let digest = Digest::sha256(&data);
    let mut upload = start(&blobs).await;
    let id = upload.id().to_owned();
    upload.write(data.clone()).await.unwrap();
    upload.close().await.unwrap();
    let upload = blobs.resume(&id).await.unwrap();
    driver.arm(Trap::LayerLink);
    assert!(upload.commit(&digest, None).await.is_err());
    let upload = blobs.resume(&id).await.unwrap();
    let wrong = Digest::sha256(b"something else");
    assert!(upload.commit(&wrong, None).await.is_err());
    assert!(blobs.resume(&id).await.is_err(), "the upload is removed");
    assert!(blobs.stat(&digest).await.is_err(), "the blob is not linked");
    let mut again = start(&blobs).await;
    again.write(data.clone()).await.unwrap();
    again.commit(&digest, None).await.unwrap();
    assert_eq!(read_blob(&blobs, &digest).await, data);
}

on_every_driver!(
    failed_close_resumes,
    failed_commit_repeats,
    failed_link_then_wrong_digest
);
