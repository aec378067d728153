//! The `inmemory` driver: content in a sorted map, for tests.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

use crate::{
    DriverError, FileInfo, FileWriter, ReadStream, Result, StorageDriver, is_within, parent,
    validate_path,
};

const NAME: &str = "inmemory";

/// How much of a stored content one item of a [`ReadStream`] carries.
const READ_CHUNK: usize = 1 << 20;

/// A storage driver that keeps everything in memory (Distribution's
/// `inmemory` driver). Nothing persists; for tests and experiments.
///
/// Files live in a sorted map from path to content behind a lock;
/// directories are implied by the paths of the files below them. A writer
/// keeps its bytes to itself until [`commit`](FileWriter::commit), and a
/// [`close`](FileWriter::close)d writer's bytes are kept aside (not at the
/// path) for `writer(path, true)`. Content is shared as [`Bytes`], so reads
/// copy nothing.
///
/// Clones share the same store.
///
/// ```
/// use berth_driver::{InMemoryDriver, StorageDriver};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let driver = InMemoryDriver::new();
/// driver.put_content("/a/b", "hello".into()).await?;
/// assert_eq!(driver.get_content("/a/b").await?, "hello");
/// assert_eq!(driver.list("/a").await?, ["/a/b"]);
/// assert!(driver.stat("/a").await?.is_dir);
/// # Ok::<(), berth_driver::DriverError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryDriver {
    store: Arc<RwLock<Store>>,
}

#[derive(Debug, Default)]
struct Store {
    /// Committed content by path.
    files: BTreeMap<String, Entry>,
    /// What closed, uncommitted writers wrote, by path.
    staged: HashMap<String, Bytes>,
}

#[derive(Debug, Clone)]
struct Entry {
    content: Bytes,
    modified: SystemTime,
}

/// What lies at a path.
enum Kind {
    File,
    Dir,
    Nothing,
}

impl Store {
    fn kind(&self, path: &str) -> Kind {
        if path == "/" {
            return Kind::Dir;
        }
        if self.files.contains_key(path) {
            return Kind::File;
        }
        if self.first_below(path).is_some() {
            Kind::Dir
        } else {
            Kind::Nothing
        }
    }

    /// The first file strictly below directory `dir`.
    fn first_below(&self, dir: &str) -> Option<(&String, &Entry)> {
        let prefix = dir_prefix(dir);
        self.files
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .next()
            .filter(|(k, _)| k.starts_with(&prefix))
    }

    /// The paths of the files at or below `path`.
    fn paths_within(&self, path: &str) -> Vec<String> {
        if path == "/" {
            return self.files.keys().cloned().collect();
        }
        let mut out = Vec::new();
        if self.files.contains_key(path) {
            out.push(path.to_owned());
        }
        let prefix = dir_prefix(path);
        out.extend(
            self.files
                .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone()),
        );
        out
    }

    /// Refuses to store a file at `path` where the filesystem driver could
    /// not either: below a file, or over a directory.
    fn check_can_store(&self, path: &str, operation: &'static str) -> Result<()> {
        let mut ancestor = parent(path);
        while ancestor != "/" {
            if self.files.contains_key(ancestor) {
                return Err(conflict(operation, path, "a parent is a file"));
            }
            ancestor = parent(ancestor);
        }
        if path == "/" || self.first_below(path).is_some() {
            return Err(conflict(operation, path, "the path is a directory"));
        }
        Ok(())
    }
}

/// `dir` with a trailing `/`, the prefix of everything below it.
fn dir_prefix(dir: &str) -> String {
    if dir == "/" {
        "/".to_owned()
    } else {
        format!("{dir}/")
    }
}

fn conflict(operation: &'static str, path: &str, what: &'static str) -> DriverError {
    DriverError::backend(
        NAME,
        operation,
        path,
        std::io::Error::new(std::io::ErrorKind::AlreadyExists, what),
    )
}

impl InMemoryDriver {
    /// An empty store.
    pub fn new() -> InMemoryDriver {
        InMemoryDriver::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Store> {
        // A panic while the lock was held cannot leave the maps half
        // updated (every update is a single insert or remove), so a
        // poisoned lock is still good to use.
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    fn content(&self, path: &str) -> Result<Bytes> {
        validate_path(path)?;
        self.read()
            .files
            .get(path)
            .map(|e| e.content.clone())
            .ok_or_else(|| DriverError::not_found(NAME, path))
    }
}

#[async_trait]
impl StorageDriver for InMemoryDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        self.content(path)
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        validate_path(path)?;
        let mut store = self.write();
        store.check_can_store(path, "put_content")?;
        store.files.insert(
            path.to_owned(),
            Entry {
                content,
                modified: SystemTime::now(),
            },
        );
        Ok(())
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ReadStream> {
        let content = self.content(path)?;
        let start = usize::try_from(offset)
            .ok()
            .filter(|&o| o <= content.len())
            .ok_or_else(|| DriverError::InvalidOffset {
                driver: NAME,
                path: path.to_owned(),
                offset,
            })?;
        let rest = content.slice(start..);
        let chunks: Vec<Result<Bytes>> = (0..rest.len())
            .step_by(READ_CHUNK)
            .map(|at| Ok(rest.slice(at..rest.len().min(at + READ_CHUNK))))
            .collect();
        Ok(Box::pin(futures_util::stream::iter(chunks)))
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        validate_path(path)?;
        let mut store = self.write();
        let mut writer = InMemoryWriter {
            store: self.store.clone(),
            path: path.to_owned(),
            chunks: Vec::new(),
            size: 0,
        };
        if append {
            let staged = store
                .staged
                .get(path)
                .cloned()
                .ok_or_else(|| DriverError::not_found(NAME, path))?;
            writer.size = staged.len() as u64;
            writer.chunks.push(staged);
        } else {
            store.staged.remove(path);
        }
        Ok(Box::new(writer))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        validate_path(path)?;
        let store = self.read();
        if let Some(entry) = store.files.get(path) {
            return Ok(FileInfo {
                path: path.to_owned(),
                size: entry.content.len() as u64,
                modified: entry.modified,
                is_dir: false,
            });
        }
        let prefix = dir_prefix(path);
        let mut below = store
            .files
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(&prefix))
            .peekable();
        if below.peek().is_none() && path != "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        // A directory's time is that of the newest file below it.
        let modified = below
            .map(|(_, e)| e.modified)
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Ok(FileInfo {
            path: path.to_owned(),
            size: 0,
            modified,
            is_dir: true,
        })
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        validate_path(path)?;
        let store = self.read();
        let prefix = dir_prefix(path);
        let mut children = Vec::new();
        let mut from = Bound::Included(prefix.clone());
        // Each step finds the next child and then jumps past everything
        // below it, so listing costs one look-up per child.
        while let Some((key, _)) = store
            .files
            .range::<String, _>((from.clone(), Bound::Unbounded))
            .next()
        {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            match rest.split_once('/') {
                // A file: go on with the next key.
                None => {
                    from = Bound::Excluded(key.clone());
                    children.push(key.clone());
                }
                // A directory: every key below `child/` sorts before
                // `child0` ('0' follows '/'), so jump there.
                Some((name, _)) => {
                    let child = format!("{prefix}{name}");
                    from = Bound::Included(format!("{child}0"));
                    children.push(child);
                }
            }
        }
        if children.is_empty() && path != "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        // Keys order `a-b` before `a/x`; names order `a` before `a-b`.
        children.sort_unstable();
        children.dedup();
        Ok(children)
    }

    async fn move_to(&self, source: &str, dest: &str) -> Result<()> {
        crate::path::validate_move(source, dest)?;
        let mut store = self.write();
        match store.kind(source) {
            Kind::Nothing => Err(DriverError::not_found(NAME, source)),
            _ if source == dest => Ok(()),
            Kind::File => {
                store.check_can_store(dest, "move")?;
                if let Some(mut entry) = store.files.remove(source) {
                    entry.modified = SystemTime::now();
                    store.files.insert(dest.to_owned(), entry);
                }
                Ok(())
            }
            Kind::Dir => {
                if is_within(dest, source) {
                    return Err(conflict(
                        "move",
                        dest,
                        "cannot move a directory into itself",
                    ));
                }
                if !matches!(store.kind(dest), Kind::Nothing) {
                    return Err(conflict("move", dest, "the destination exists"));
                }
                let mut ancestor = parent(dest);
                while ancestor != "/" {
                    if store.files.contains_key(ancestor) {
                        return Err(conflict("move", dest, "a parent is a file"));
                    }
                    ancestor = parent(ancestor);
                }
                for old in store.paths_within(source) {
                    if let Some(entry) = store.files.remove(&old) {
                        let new = format!("{dest}{}", &old[source.len()..]);
                        store.files.insert(new, entry);
                    }
                }
                Ok(())
            }
        }
    }

    async fn delete(&self, path: &str) -> Result<()> {
        validate_path(path)?;
        let mut store = self.write();
        let doomed = store.paths_within(path);
        if doomed.is_empty() && path != "/" {
            return Err(DriverError::not_found(NAME, path));
        }
        for p in doomed {
            store.files.remove(&p);
        }
        // Staged writes below a deleted directory go with it.
        if path == "/" {
            store.staged.clear();
        } else {
            let dir = dir_prefix(path);
            store.staged.retain(|p, _| !p.starts_with(&dir));
        }
        Ok(())
    }

    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        validate_path(path)?;
        Ok(None)
    }
}

/// A writer of the in-memory driver: its bytes stay with it until commit.
struct InMemoryWriter {
    store: Arc<RwLock<Store>>,
    path: String,
    chunks: Vec<Bytes>,
    size: u64,
}

impl InMemoryWriter {
    /// Everything written, as one buffer (no copy when there is one chunk).
    fn take_content(&mut self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.pop().unwrap_or_default(),
            _ => {
                let mut all = BytesMut::with_capacity(usize::try_from(self.size).unwrap_or(0));
                for chunk in self.chunks.drain(..) {
                    all.extend_from_slice(&chunk);
                }
                all.freeze()
            }
        }
    }

    fn lock(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl FileWriter for InMemoryWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if !data.is_empty() {
            self.size += data.len() as u64;
            self.chunks.push(data);
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let content = self.take_content();
        let mut store = self.lock();
        store.check_can_store(&self.path, "commit")?;
        store.staged.remove(&self.path);
        store.files.insert(
            self.path.clone(),
            Entry {
                content,
                modified: SystemTime::now(),
            },
        );
        Ok(())
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        self.lock().staged.remove(&self.path);
        Ok(())
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        let content = self.take_content();
        self.lock().staged.insert(self.path.clone(), content);
        Ok(())
    }
}
