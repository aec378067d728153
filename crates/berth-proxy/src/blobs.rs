//! Blobs: served from local storage, else fetched once from the upstream
//! while streaming to every client that asked, and stored.
//!
//! # One fetch per blob
//!
//! The first read of a blob that is not here starts a [`Fill`]: a task,
//! independent of the request, that opens the blob upstream, writes each
//! chunk into a local upload and hands it to every follower, then commits
//! the upload with the blob's digest (storage checks it: nothing
//! unverified becomes visible). The fills under way are kept by
//! repository and digest; a read of the same blob while one runs follows
//! it instead of starting another:
//!
//! - a follower that joins before the first chunk has gone out gets every
//!   chunk live, through its own queue;
//! - one that joins later, or whose queue grows past [`MAX_QUEUED`] bytes
//!   because its client reads slower than the upstream sends, stops
//!   receiving chunks, waits for the commit and reads the rest (from
//!   where it was) from local storage.
//!
//! So memory is bounded (a queue per follower, never the blob), a slow
//! client never slows the fetch down, and the upstream sends the blob
//! once. A client that goes away only drops its queue: the fetch goes on
//! and the blob is stored. A fetch that fails (upstream error, a body that
//! does not verify) cancels the upload and ends every follower's stream
//! with the error; nothing is stored.

use std::collections::hash_map::Entry;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use berth_core::{
    BlobContent, BlobDeleter, BlobIngester, BlobProvider, BlobStatter, BlobWriter, ByteStream,
    CreateOptions, Created, Error, ErrorKind, Repository, Result,
};
use berth_digest::Digest;
use berth_manifest::Descriptor;
use berth_storage::RepositoryBlobs;
use bytes::{Bytes, BytesMut};
use futures_util::future::Shared;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use tokio::sync::{mpsc, watch};

use crate::namespace::{BlobKey, RepoCtx, lock, read_only, replay, size_of, upstream_error};
use crate::scheduler::EntryKind;

/// How many bytes may wait in one follower's queue before it is left to
/// read from local storage after the commit.
pub const MAX_QUEUED: u64 = 4 << 20;

/// A shared upstream stat.
pub(crate) type StatFuture =
    Shared<Pin<Box<dyn Future<Output = std::result::Result<Descriptor, Arc<Error>>> + Send>>>;

/// Where a fill is.
#[derive(Clone)]
pub(crate) enum FillState {
    /// Asking the upstream.
    Opening,
    /// Chunks are coming.
    Streaming,
    /// The upstream sent the whole blob and it verified; committing.
    Fetched,
    /// Stored locally.
    Committed(Box<Descriptor>),
    /// Gave up; `verified` when every byte had arrived and verified (only
    /// storing failed).
    Failed { error: Arc<Error>, verified: bool },
}

/// One follower's queue, on the fill's side.
struct Sub {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicU64>,
}

#[derive(Default)]
struct Subscribers {
    list: Vec<Sub>,
    /// Bytes handed out so far.
    sent: u64,
    /// No more chunks will come.
    closed: bool,
}

/// One fetch of one blob from the upstream into local storage.
pub(crate) struct Fill {
    descriptor: Descriptor,
    state: watch::Sender<FillState>,
    subs: Mutex<Subscribers>,
}

impl Fill {
    fn new(descriptor: Descriptor) -> Fill {
        Fill {
            descriptor,
            state: watch::Sender::new(FillState::Opening),
            subs: Mutex::new(Subscribers::default()),
        }
    }

    /// A follower; live when nothing has gone out yet.
    fn follow(&self, blobs: RepositoryBlobs) -> Follower {
        let live = {
            let mut subs = lock(&self.subs);
            if subs.sent == 0 && !subs.closed {
                let (tx, rx) = mpsc::unbounded_channel();
                let queued = Arc::new(AtomicU64::new(0));
                subs.list.push(Sub {
                    tx,
                    queued: queued.clone(),
                });
                Some((rx, queued))
            } else {
                None
            }
        };
        Follower {
            live,
            digest: self.descriptor.digest.clone(),
            state: self.state.subscribe(),
            offset: 0,
            size: size_of(&self.descriptor),
            blobs,
            local: None,
            done: false,
        }
    }

    /// Hands `chunk` to every follower that keeps up.
    fn publish(&self, chunk: &Bytes) {
        let len = chunk.len() as u64;
        let mut subs = lock(&self.subs);
        subs.sent += len;
        subs.list.retain(|sub| {
            let queued = sub.queued.fetch_add(len, Ordering::AcqRel) + len;
            // A follower too far behind reads from storage after the
            // commit; one that went away is forgotten.
            queued <= MAX_QUEUED && sub.tx.send(chunk.clone()).is_ok()
        });
    }

    /// Sets the state; with a final one, ends every follower's queue.
    fn set(&self, state: FillState) {
        let last = !matches!(state, FillState::Opening | FillState::Streaming);
        self.state.send_replace(state);
        if last {
            let mut subs = lock(&self.subs);
            subs.closed = true;
            subs.list.clear();
        }
    }

    fn fail(&self, error: Error, verified: bool) {
        self.set(FillState::Failed {
            error: Arc::new(error),
            verified,
        });
    }

    /// Waits until the upstream has answered: `Err` when it refused.
    async fn opened(&self) -> Result<()> {
        let mut rx = self.state.subscribe();
        loop {
            let state = rx.borrow_and_update().clone();
            match state {
                FillState::Opening => {}
                FillState::Failed { error, .. } => return Err(replay(&error)),
                _ => return Ok(()),
            }
            if rx.changed().await.is_err() {
                return Err(aborted(&self.descriptor.digest));
            }
        }
    }
}

fn aborted(digest: &Digest) -> Error {
    Error::backend(
        format!("fetch {digest} from the upstream"),
        "the fetch was stopped",
    )
}

/// One reader of a fill: live chunks, then (if it fell behind) local
/// storage.
struct Follower {
    live: Option<(mpsc::UnboundedReceiver<Bytes>, Arc<AtomicU64>)>,
    digest: Digest,
    state: watch::Receiver<FillState>,
    /// Bytes given to the reader.
    offset: u64,
    size: u64,
    /// Local storage, for the rest after the commit.
    blobs: RepositoryBlobs,
    local: Option<ByteStream>,
    done: bool,
}

impl Follower {
    async fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(local) = self.local.as_mut() {
                return match local.next().await {
                    Some(Ok(chunk)) => {
                        self.offset += chunk.len() as u64;
                        Some(Ok(chunk))
                    }
                    Some(Err(e)) => {
                        self.done = true;
                        Some(Err(e))
                    }
                    None => {
                        self.done = true;
                        (self.offset != self.size).then(|| {
                            Err(Error::backend(
                                "read a fetched blob",
                                format!("ended at {} of {} bytes", self.offset, self.size),
                            ))
                        })
                    }
                };
            }
            if let Some((rx, queued)) = self.live.as_mut() {
                if let Some(chunk) = rx.recv().await {
                    queued.fetch_sub(chunk.len() as u64, Ordering::AcqRel);
                    self.offset += chunk.len() as u64;
                    return Some(Ok(chunk));
                }
                self.live = None;
            }
            // No more live chunks: the fill ended, or this follower fell
            // behind (or joined late).
            let state = self.state.borrow_and_update().clone();
            let complete = self.offset >= self.size;
            // A complete follower still waits for the commit (the client
            // has every byte already), so that the blob is in storage
            // when its read ends.
            match state {
                FillState::Opening | FillState::Streaming | FillState::Fetched => {
                    if self.state.changed().await.is_err() {
                        self.done = true;
                        return Some(Err(aborted(&self.digest)));
                    }
                }
                FillState::Committed(_) if complete => {
                    self.done = true;
                    return None;
                }
                FillState::Committed(descriptor) => {
                    let range = self.offset..self.size;
                    match self.blobs.open_described(*descriptor, Some(range)).await {
                        Ok(content) => self.local = Some(content.body),
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
                FillState::Failed { error, verified } => {
                    self.done = true;
                    if verified && complete {
                        return None;
                    }
                    return Some(Err(replay(&error)));
                }
            }
        }
    }

    fn into_stream(self) -> ByteStream {
        Box::pin(futures_util::stream::unfold(self, |mut f| async move {
            let item = f.next().await?;
            Some((item, f))
        }))
    }
}

/// The blobs of one proxied repository: a [`berth_core::BlobStore`] that
/// reads through to the upstream and refuses writes.
pub(crate) struct ProxyBlobs {
    ctx: Arc<RepoCtx>,
    /// The digest local storage last said it has: the `open` after a
    /// `stat` (one request) goes straight to storage.
    local_hit: Mutex<Option<Digest>>,
}

impl ProxyBlobs {
    pub(crate) fn new(ctx: Arc<RepoCtx>) -> ProxyBlobs {
        ProxyBlobs {
            ctx,
            local_hit: Mutex::new(None),
        }
    }

    fn key(&self, digest: &Digest) -> BlobKey {
        (self.ctx.name.clone(), digest.clone())
    }

    /// Local storage's descriptor, `None` when it does not have the blob.
    async fn local_stat(&self, digest: &Digest) -> Result<Option<Descriptor>> {
        match self.ctx.local.blobs().stat(digest).await {
            Ok(d) => {
                *lock(&self.local_hit) = Some(digest.clone());
                Ok(Some(d))
            }
            Err(e) if e.kind() == ErrorKind::BlobUnknown => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The upstream's descriptor; concurrent stats of one blob share one
    /// request.
    async fn remote_stat(&self, digest: &Digest) -> Result<Descriptor> {
        let shared = &self.ctx.shared;
        let key = self.key(digest);
        if let Some(fill) = lock(&shared.fills).get(&key) {
            return Ok(fill.descriptor.clone());
        }
        let stat = lock(&shared.stats)
            .entry(key.clone())
            .or_insert_with(|| {
                let remote = self.ctx.remote.clone();
                let metrics = shared.metrics.clone();
                let digest = digest.clone();
                let stat: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
                    metrics.upstream_request();
                    remote.remote_blobs().stat(&digest).await.map_err(|e| {
                        metrics.upstream_failed(&e);
                        Arc::new(upstream_error(e))
                    })
                });
                stat.shared()
            })
            .clone();
        // Forgotten once answered, even if this request goes away first.
        let _forget = Forget {
            stats: &shared.stats,
            key,
        };
        stat.await.map_err(|e| replay(&e))
    }

    /// Streams a blob that is not here: follows the fill under way, or
    /// starts one.
    async fn fill(&self, descriptor: Descriptor) -> Result<BlobContent> {
        let shared = &self.ctx.shared;
        let key = self.key(&descriptor.digest);
        let blobs = shared.local.blobs(&self.ctx.name);
        let (fill, follower) = {
            let mut fills = lock(&shared.fills);
            match fills.entry(key) {
                Entry::Occupied(entry) => {
                    shared.metrics.shared_fetch();
                    let fill = entry.get().clone();
                    let follower = fill.follow(blobs);
                    (fill, follower)
                }
                Entry::Vacant(entry) => {
                    let fill = Arc::new(Fill::new(descriptor.clone()));
                    entry.insert(fill.clone());
                    let follower = fill.follow(blobs);
                    tokio::spawn(run_fill(self.ctx.clone(), fill.clone()));
                    (fill, follower)
                }
            }
        };
        fill.opened().await?;
        Ok(BlobContent {
            range: 0..size_of(&descriptor),
            descriptor,
            body: follower.into_stream(),
        })
    }

    /// A range of a blob that is not here, straight from the upstream
    /// (not stored).
    async fn pass_through(&self, descriptor: Descriptor, range: Range<u64>) -> Result<BlobContent> {
        let metrics = self.ctx.shared.metrics.clone();
        metrics.upstream_request();
        let content = self
            .ctx
            .remote
            .remote_blobs()
            .open_described(descriptor, Some(range))
            .await
            .map_err(|e| {
                metrics.upstream_failed(&e);
                upstream_error(e)
            })?;
        let counted = metrics.clone();
        let body = content
            .body
            .inspect_ok(move |chunk| counted.blob_bytes(chunk.len() as u64))
            .map_err(upstream_error);
        Ok(BlobContent {
            body: Box::pin(body),
            ..content
        })
    }
}

/// Removes a shared stat from the map when dropped.
struct Forget<'a> {
    stats: &'a Mutex<std::collections::HashMap<BlobKey, StatFuture>>,
    key: BlobKey,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.stats).remove(&self.key);
    }
}

/// Fetches the fill's blob from the upstream into local storage.
async fn run_fill(ctx: Arc<RepoCtx>, fill: Arc<Fill>) {
    fetch(&ctx, &fill).await;
    let mut fills = lock(&ctx.shared.fills);
    let key = (ctx.name.clone(), fill.descriptor.digest.clone());
    if fills.get(&key).is_some_and(|f| Arc::ptr_eq(f, &fill)) {
        fills.remove(&key);
    }
}

async fn fetch(ctx: &RepoCtx, fill: &Fill) {
    let shared = &ctx.shared;
    let name = &ctx.name;
    let descriptor = &fill.descriptor;
    let digest = &descriptor.digest;
    let local = shared.local.blobs(name);

    // A fill that ended just before this one started stored it already;
    // another repository may have it.
    match local.stat(digest).await {
        Ok(d) => return fill.set(FillState::Committed(Box::new(d))),
        Err(e) if e.kind() == ErrorKind::BlobUnknown => {}
        Err(e) => return fill.fail(e, false),
    }
    match shared.local.blob_statter().stat(digest).await {
        Ok(mut d) => {
            if let Err(e) = shared.link_blob(name, digest).await {
                return fill.fail(e, false);
            }
            shared.schedule(EntryKind::Blob, name, digest);
            d.digest = digest.clone();
            tracing::debug!(repository = name.as_str(), %digest, "proxy: linked a blob cached for another repository");
            return fill.set(FillState::Committed(Box::new(d)));
        }
        Err(e) if e.kind() == ErrorKind::BlobUnknown => {}
        Err(e) => return fill.fail(e, false),
    }

    shared.metrics.upstream_request();
    shared.metrics.blob_fetch();
    let content = match ctx
        .remote
        .remote_blobs()
        .open_described(descriptor.clone(), None)
        .await
    {
        Ok(content) => content,
        Err(e) => {
            shared.metrics.upstream_failed(&e);
            tracing::warn!(repository = name.as_str(), %digest, error = %e, "proxy: the upstream did not send a blob");
            return fill.fail(upstream_error(e), false);
        }
    };
    let mut upload: Box<dyn BlobWriter> = match local.create(CreateOptions::default()).await {
        Ok(Created::Upload(upload)) => upload,
        Ok(Created::Mounted(_)) => {
            return fill.fail(
                Error::backend("start an upload", "storage mounted instead"),
                false,
            );
        }
        Err(e) => return fill.fail(e, false),
    };
    tracing::debug!(repository = name.as_str(), %digest, size = descriptor.size, "proxy: fetching a blob from the upstream");
    fill.set(FillState::Streaming);
    let mut body = content.body;
    let mut failure = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                shared.metrics.blob_bytes(chunk.len() as u64);
                fill.publish(&chunk);
                if let Err(e) = upload.write(chunk).await {
                    failure = Some(e);
                    break;
                }
            }
            Err(e) => {
                shared.metrics.upstream_failed(&e);
                failure = Some(upstream_error(e));
                break;
            }
        }
    }
    drop(body);
    if let Some(e) = failure {
        tracing::warn!(repository = name.as_str(), %digest, error = %e, "proxy: fetching a blob failed; nothing stored");
        fill.fail(e, false);
        if let Err(e) = upload.cancel().await {
            tracing::warn!(repository = name.as_str(), %digest, error = %e, "proxy: could not cancel an upload");
        }
        return;
    }
    fill.set(FillState::Fetched);
    match upload.commit(digest, Some(size_of(descriptor))).await {
        Ok(stored) => {
            shared.schedule(EntryKind::Blob, name, digest);
            tracing::debug!(repository = name.as_str(), %digest, "proxy: blob stored");
            fill.set(FillState::Committed(Box::new(stored)));
        }
        Err(e) => {
            tracing::warn!(repository = name.as_str(), %digest, error = %e, "proxy: storing a fetched blob failed");
            fill.fail(e, true);
        }
    }
}

#[async_trait]
impl BlobStatter for ProxyBlobs {
    async fn stat(&self, digest: &Digest) -> Result<Descriptor> {
        match self.local_stat(digest).await? {
            Some(d) => Ok(d),
            None => self.remote_stat(digest).await,
        }
    }
}

#[async_trait]
impl BlobProvider for ProxyBlobs {
    async fn get(&self, digest: &Digest) -> Result<Bytes> {
        let descriptor = self.stat(digest).await?;
        let content = self.open_described(descriptor, None).await?;
        let mut out = BytesMut::with_capacity(content.range.end.min(16 << 20) as usize);
        let mut body = content.body;
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }

    async fn open_described(
        &self,
        descriptor: Descriptor,
        range: Option<Range<u64>>,
    ) -> Result<BlobContent> {
        let digest = descriptor.digest.clone();
        let known = lock(&self.local_hit).as_ref() == Some(&digest);
        let here = known || self.local_stat(&digest).await?.is_some();
        if here {
            match self
                .ctx
                .local
                .blobs()
                .open_described(descriptor.clone(), range.clone())
                .await
            {
                Ok(content) => {
                    self.ctx.shared.metrics.blob_hit();
                    return Ok(content);
                }
                // Expired between the stat and now: fetch it again.
                Err(e) if e.kind() == ErrorKind::BlobUnknown => {
                    *lock(&self.local_hit) = None;
                }
                Err(e) => return Err(e),
            }
        }
        self.ctx.shared.metrics.blob_miss();
        let size = size_of(&descriptor);
        match range {
            Some(r) if r.start > 0 || r.end < size => self.pass_through(descriptor, r).await,
            _ => self.fill(descriptor).await,
        }
    }

    async fn redirect_url_described(&self, descriptor: &Descriptor) -> Result<Option<String>> {
        // Only what local storage has can be redirected to.
        if lock(&self.local_hit).as_ref() == Some(&descriptor.digest) {
            return self
                .ctx
                .local
                .blobs()
                .redirect_url_described(descriptor)
                .await;
        }
        Ok(None)
    }
}

#[async_trait]
impl BlobIngester for ProxyBlobs {
    async fn put(&self, _media_type: &str, _content: Bytes) -> Result<Descriptor> {
        Err(read_only("pushing a blob"))
    }

    async fn create(&self, _options: CreateOptions) -> Result<Created> {
        Err(read_only("pushing a blob"))
    }

    async fn resume(&self, _id: &str) -> Result<Box<dyn BlobWriter>> {
        Err(read_only("pushing a blob"))
    }
}

#[async_trait]
impl BlobDeleter for ProxyBlobs {
    async fn delete(&self, _digest: &Digest) -> Result<()> {
        Err(read_only("deleting a blob"))
    }
}
