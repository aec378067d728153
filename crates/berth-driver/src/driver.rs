//! The `StorageDriver` trait.

use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;

use crate::Result;

/// A stream of bytes read from storage.
pub type ReadStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send + 'static>>;

/// What [`StorageDriver::stat`] tells about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The path.
    pub path: String,
    /// The content size in bytes (0 for a directory).
    pub size: u64,
    /// When the content was last written (for a directory: best effort).
    pub modified: SystemTime,
    /// Whether the path is a directory (has children) rather than content.
    pub is_dir: bool,
}

/// What a [`StorageDriver::walk`] visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Go on (into this entry, if it is a directory).
    Continue,
    /// Do not descend into this directory (same as `Continue` for files).
    SkipDir,
    /// End the walk now, successfully.
    Stop,
}

/// What the direct children of a directory were when it was listed.
///
/// Two equal versions of one directory mean the same children; a driver
/// hands one out only when it can promise that (see
/// [`StorageDriver::list_if_changed`]). The parts are the driver's own
/// (the filesystem's are the directory's device, inode, times, link count
/// and size).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListVersion([u64; 6]);

impl ListVersion {
    /// A version made of a driver's own `parts`.
    pub fn new(parts: [u64; 6]) -> ListVersion {
        ListVersion(parts)
    }
}

/// The answer of [`StorageDriver::list_if_changed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The directory's children are those of the version the caller knows.
    Unchanged,
    /// The children, as [`StorageDriver::list`] gives them, and their
    /// version when the driver can vouch for one.
    Changed {
        /// The full paths of the children, sorted.
        entries: Vec<String>,
        /// What to pass as `known` next time; `None` when the driver
        /// cannot tell a later change from this listing.
        version: Option<ListVersion>,
    },
}

/// A walk visitor: called once per entry, in lexicographic order, parents
/// before their children.
pub type WalkFn<'a> = dyn FnMut(&FileInfo) -> Walk + Send + 'a;

/// The primitive operations the registry needs from a storage backend.
///
/// Paths follow the rules of [`validate_path`](crate::validate_path); a
/// driver checks every path it is handed before touching its backend.
/// Content is a file at a path; a directory exists while some file lies
/// below it (creating a file creates its parents; deleting the last file
/// below a directory removes it).
///
/// # Contract (checked by the driver test suite)
/// - `get_content` / `reader` / `stat` / `list` / `move_to` / `delete` of
///   a path with nothing stored answer [`PathNotFound`](crate::DriverError::PathNotFound).
/// - `put_content` replaces the whole content atomically: a reader sees
///   the old content or the new, never a mix.
/// - `reader(path, offset)` streams from `offset`; `offset` equal to the
///   size gives an empty stream, past the size is
///   [`InvalidOffset`](crate::DriverError::InvalidOffset).
/// - `writer(path, false)` starts new content; `writer(path, true)`
///   continues content written earlier by a writer that was
///   [`close`](FileWriter::close)d and not committed
///   (`PathNotFound` when there is none). What a writer wrote is not
///   visible at `path` until [`commit`](FileWriter::commit).
/// - `list(dir)` gives the full paths of `dir`'s direct children, files and
///   directories, sorted.
/// - `move_to(from, to)` replaces `to` with `from`'s content and removes
///   `from`.
/// - `delete(path)` removes a file, or a directory and everything below
///   it — and nothing else (deleting `/a` leaves `/ab`).
/// - `walk(from)` visits every entry below `from` in lexicographic order.
#[async_trait]
pub trait StorageDriver: Send + Sync + 'static {
    /// The driver's name, for logs and metrics (`filesystem`, `s3`, …).
    fn name(&self) -> &'static str;

    /// The whole content at `path`. For small content only.
    async fn get_content(&self, path: &str) -> Result<Bytes>;

    /// Stores `content` at `path`, replacing what was there, atomically.
    async fn put_content(&self, path: &str, content: Bytes) -> Result<()>;

    /// Streams the content at `path` from `offset`.
    async fn reader(&self, path: &str, offset: u64) -> Result<ReadStream>;

    /// A writer for `path`: new content, or with `append` the continuation
    /// of an uncommitted writer that was closed.
    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>>;

    /// Information about `path`.
    async fn stat(&self, path: &str) -> Result<FileInfo>;

    /// The full paths of the direct children of directory `path`, sorted.
    async fn list(&self, path: &str) -> Result<Vec<String>>;

    /// [`list`](Self::list), unless the children of `path` are still those
    /// of version `known` (which an earlier call gave): then
    /// [`Listing::Unchanged`]. It lets a caller keep a listing and check it
    /// cheaply. The default always lists and gives no version.
    async fn list_if_changed(&self, path: &str, known: Option<&ListVersion>) -> Result<Listing> {
        let _ = known;
        Ok(Listing::Changed {
            entries: self.list(path).await?,
            version: None,
        })
    }

    /// Moves the content at `source` to `dest`, replacing `dest`.
    async fn move_to(&self, source: &str, dest: &str) -> Result<()>;

    /// Deletes `path` and everything below it.
    async fn delete(&self, path: &str) -> Result<()>;

    /// A URL a client can GET the content at `path` from directly, or
    /// `None` when the driver has no such URLs. The default checks the
    /// path (an invalid one is [`InvalidPath`](crate::DriverError::InvalidPath))
    /// and answers `None`.
    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        crate::validate_path(path)?;
        Ok(None)
    }

    /// Visits every entry below `from` (not `from` itself) in lexicographic
    /// order, parents before children. A driver with a cheaper way than
    /// `list` + `stat` per entry overrides it.
    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> Result<()> {
        walk_by_listing(self, from, visit).await.map(|_| ())
    }

    /// [`walk`](Self::walk) with a visitor the driver may move to another
    /// thread: a driver whose walk blocks (the filesystem) walks the whole
    /// tree in one blocking task instead of one hand-off per directory.
    /// The visitor keeps its results in state it shares with the caller.
    async fn walk_owned(&self, from: &str, mut visit: Box<OwnedWalkFn>) -> Result<()> {
        self.walk(from, &mut *visit).await
    }
}

/// A walk visitor that owns its state: see [`StorageDriver::walk_owned`].
pub type OwnedWalkFn = dyn FnMut(&FileInfo) -> Walk + Send + 'static;

/// Appends content to a path; nothing is visible at the path until
/// [`commit`](FileWriter::commit).
#[async_trait]
pub trait FileWriter: Send {
    /// Appends `data`.
    async fn write(&mut self, data: Bytes) -> Result<()>;
    /// Bytes written so far, including those of earlier writers this one
    /// continues.
    fn size(&self) -> u64;
    /// Makes the content visible at the path and ends the writer.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Discards everything written, leaving nothing behind.
    async fn cancel(self: Box<Self>) -> Result<()>;
    /// Ends this writer, keeping what it wrote for `writer(path, true)`.
    async fn close(self: Box<Self>) -> Result<()>;
}

/// Walks by `list` and `stat`, depth first in lexicographic order.
/// Answers `false` when the visitor stopped the walk.
pub async fn walk_by_listing<D: StorageDriver + ?Sized>(
    driver: &D,
    from: &str,
    visit: &mut WalkFn<'_>,
) -> Result<bool> {
    // An explicit stack instead of recursion: async recursion would need a
    // boxed future per level.
    let mut stack: Vec<std::vec::IntoIter<String>> = vec![driver.list(from).await?.into_iter()];
    while let Some(children) = stack.last_mut() {
        let Some(child) = children.next() else {
            stack.pop();
            continue;
        };
        let info = match driver.stat(&child).await {
            Ok(info) => info,
            // Deleted since it was listed: nothing to visit.
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        match visit(&info) {
            Walk::Stop => return Ok(false),
            Walk::SkipDir => {}
            Walk::Continue if info.is_dir => match driver.list(&child).await {
                Ok(grandchildren) => stack.push(grandchildren.into_iter()),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            },
            Walk::Continue => {}
        }
    }
    Ok(true)
}
