//! The `filesystem` driver: content as files under a root directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::{
    DriverError, FileInfo, FileWriter, ListVersion, Listing, OwnedWalkFn, ReadStream, Result,
    StorageDriver, Walk, WalkFn, is_valid_component, join, parent, validate_path,
};

const NAME: &str = "filesystem";

/// Distribution's default `rootdirectory`.
pub const DEFAULT_ROOT_DIRECTORY: &str = "/var/lib/registry";
/// Distribution's default `maxthreads`.
pub const DEFAULT_MAX_THREADS: usize = 100;
/// The smallest `maxthreads`; smaller values are raised to it (as
/// Distribution does).
pub const MIN_MAX_THREADS: usize = 25;

/// What a writer's staged content is called, beside the final file:
/// `<name>~partial`. `~` is not allowed in a path component, so the staged
/// file is never listed and never collides with content.
pub const STAGED_SUFFIX: &str = "~partial";
/// How `put_content`'s temporary files begin: `#put~<pid>-<seq>-<nanos>`,
/// in the final file's directory; never a valid path component.
pub const TEMP_PREFIX: &str = "#put~";

/// How much one read ahead on the blocking pool takes (the most one item
/// of a [`ReadStream`] carries). Measured against 512 KiB and 2 MiB: with
/// one stream per core or fewer, fewer pool hand-offs win.
const READ_CHUNK: usize = 1 << 20;
/// How much one page-cache read on a server thread takes. Measured against
/// 64 KiB–1 MiB with four streams on two cores: ~10% less CPU per GB than
/// 1 MiB, as each chunk is still in the core's cache when the HTTP layer
/// copies it out and sends it; smaller chunks cost more in polls.
const CACHED_CHUNK: usize = 256 << 10;
/// Writes at least this big go straight to the file.
const DIRECT_WRITE: usize = 256 << 10;
/// Smaller writes are gathered (without copying) up to this much.
const WRITE_BUFFER: usize = 1 << 20;
/// How long a directory must have been left alone before a listing of it
/// gets a [`ListVersion`]: more than the coarsest timestamp granularity of
/// the file systems we run on, so that any later change gives the
/// directory a later time than the one in the version.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);
/// How often an operation is retried when a concurrent delete removed the
/// directory it was about to use.
const RETRIES: usize = 8;

/// The parameters of the filesystem driver, under the names of
/// Distribution's configuration (`storage: filesystem: ...`), which
/// [`read`](FilesystemParameters::read) reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FilesystemParameters {
    /// The directory everything is stored under (default
    /// [`DEFAULT_ROOT_DIRECTORY`]). Created on demand. A relative
    /// directory is relative to the process's working directory.
    pub rootdirectory: PathBuf,
    /// The most blocking filesystem operations (each a task on tokio's
    /// blocking pool) the driver runs at once; more wait their turn.
    /// Default [`DEFAULT_MAX_THREADS`]; values below [`MIN_MAX_THREADS`]
    /// are raised to it.
    pub maxthreads: usize,
}

impl Default for FilesystemParameters {
    fn default() -> Self {
        FilesystemParameters {
            rootdirectory: PathBuf::from(DEFAULT_ROOT_DIRECTORY),
            maxthreads: DEFAULT_MAX_THREADS,
        }
    }
}

impl FilesystemParameters {
    /// The defaults, with `rootdirectory` set.
    pub fn new(rootdirectory: impl Into<PathBuf>) -> Self {
        FilesystemParameters {
            rootdirectory: rootdirectory.into(),
            ..Self::default()
        }
    }
}

/// A storage driver on a local filesystem (Distribution's `filesystem`
/// driver, with the same on-disk layout).
///
/// Storage path `/a/b` is the file `<rootdirectory>/a/b`, built by joining
/// validated components (so no path ever leaves the root). Directories are
/// created on demand and removed when a delete or move leaves them empty.
///
/// - `put_content` writes a temporary file (named [`TEMP_PREFIX`]`…`) in
///   the target's directory, syncs it and renames it over the target: a
///   reader sees the old content or the new one, never part of either.
/// - A writer writes `<name>`[`STAGED_SUFFIX`] beside the target;
///   `commit` syncs and renames it onto the target, `close` syncs and keeps
///   it for `writer(path, true)`, `cancel` removes it. The target's
///   directory exists (empty, as far as `list` shows) while a writer is
///   open.
/// - Reads stream in 1 MiB chunks, one read ahead of the consumer.
/// - Every blocking filesystem call runs on tokio's blocking pool, at most
///   `maxthreads` at a time.
///
/// ```
/// use berth_driver::{FilesystemDriver, StorageDriver};
///
/// # let dir = tempfile::tempdir()?;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let driver = FilesystemDriver::new(dir.path());
/// driver.put_content("/docker/registry/v2/x", "hello".into()).await?;
/// assert_eq!(std::fs::read(dir.path().join("docker/registry/v2/x"))?, b"hello");
///
/// let mut w = driver.writer("/upload/data", false).await?;
/// w.write("abc".into()).await?;
/// w.close().await?; // kept aside, not visible at the path yet
/// let mut w = driver.writer("/upload/data", true).await?;
/// assert_eq!(w.size(), 3);
/// w.write("def".into()).await?;
/// w.commit().await?;
/// assert_eq!(driver.get_content("/upload/data").await?, "abcdef");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FilesystemDriver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    max_threads: usize,
    permits: Arc<Semaphore>,
    /// Read streams open now.
    streams: AtomicUsize,
    /// The cores the process may use: with at least as many streams open,
    /// reading ahead on other threads buys no parallelism.
    cores: usize,
}

impl FilesystemDriver {
    /// A driver storing under `rootdirectory`, with the default
    /// `maxthreads`. Nothing is touched on disk until the first operation.
    pub fn new(rootdirectory: impl Into<PathBuf>) -> FilesystemDriver {
        FilesystemDriver::with_parameters(FilesystemParameters::new(rootdirectory))
    }

    /// A driver with the given parameters (`maxthreads` is raised to
    /// [`MIN_MAX_THREADS`] if lower).
    pub fn with_parameters(parameters: FilesystemParameters) -> FilesystemDriver {
        let max_threads = parameters
            .maxthreads
            .clamp(MIN_MAX_THREADS, Semaphore::MAX_PERMITS);
        FilesystemDriver {
            inner: Arc::new(Inner {
                root: parameters.rootdirectory,
                max_threads,
                permits: Arc::new(Semaphore::new(max_threads)),
                streams: AtomicUsize::new(0),
                cores: std::thread::available_parallelism().map_or(1, usize::from),
            }),
        }
    }

    /// The root directory.
    pub fn root_directory(&self) -> &Path {
        &self.inner.root
    }

    /// The effective `maxthreads`.
    pub fn max_threads(&self) -> usize {
        self.inner.max_threads
    }

    /// The file of a storage path, which must be valid already.
    fn full(&self, path: &str) -> PathBuf {
        self.inner.full(path)
    }

    /// Runs `f` on the blocking pool once a permit is free.
    async fn blocking<T, F>(&self, operation: &'static str, path: &str, f: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.inner.permit(operation, path).await?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| DriverError::backend(NAME, operation, path, e))?
    }

    /// The entries of directory `dir` with valid names, stat'ed, sorted.
    async fn list_infos(&self, dir: &str) -> Result<Vec<FileInfo>> {
        let inner = self.inner.clone();
        let dir = dir.to_owned();
        let context = dir.clone();
        self.blocking("walk", &context, move || inner.list_infos(&dir))
            .await
    }
}

impl Inner {
    /// The entries of directory `dir` with valid names, stat'ed, sorted
    /// (blocking).
    fn list_infos(&self, dir: &str) -> Result<Vec<FileInfo>> {
        let names = self.read_dir_names(dir, "walk")?;
        let mut infos = Vec::with_capacity(names.len());
        for name in names {
            let path = join(dir, &name);
            match fs::metadata(self.full(&path)) {
                Ok(md) => infos.push(file_info(path, &md)),
                // Deleted since it was listed.
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(DriverError::backend(NAME, "walk", &path, e)),
            }
        }
        Ok(infos)
    }

    /// The depth-first walk of [`StorageDriver::walk`], all of it on this
    /// thread (blocking).
    fn walk_blocking(&self, from: &str, visit: &mut WalkFn<'_>) -> Result<()> {
        let mut walk = DepthFirst::new(self.list_infos(from)?);
        while let Some(dir) = walk.next_dir(visit) {
            walk.descend(self.list_infos(&dir))?;
        }
        Ok(())
    }

    fn full(&self, path: &str) -> PathBuf {
        let mut full = self.root.clone();
        for component in path.split('/').filter(|c| !c.is_empty()) {
            full.push(component);
        }
        full
    }

    async fn permit(&self, operation: &'static str, path: &str) -> Result<OwnedSemaphorePermit> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| DriverError::backend(NAME, operation, path, e))
    }

    /// The valid child names of `dir`, sorted (blocking).
    fn read_dir_names(&self, dir: &str, operation: &'static str) -> Result<Vec<String>> {
        let entries = match fs::read_dir(self.full(dir)) {
            Ok(entries) => entries,
            // The root exists before anything is stored in it.
            Err(e) if dir == "/" && e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(lookup_error(operation, dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| DriverError::backend(NAME, operation, dir, e))?;
            if let Some(name) = entry.file_name().to_str()
                && is_valid_component(name)
            {
                names.push(name.to_owned());
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// [`StorageDriver::list_if_changed`] (blocking). A version is the
    /// directory's stat: adding or removing a child changes its times (and
    /// for a subdirectory its link count). A listing only gets a version
    /// when the directory had been left alone for [`SETTLED`] before it
    /// was read and did not change while it was read; so a change after
    /// that stamps a later time, even on a file system whose clock ticks
    /// coarsely, and is never mistaken for no change.
    fn list_if_changed(&self, dir: &str, known: Option<&ListVersion>) -> Result<Listing> {
        let full = self.full(dir);
        let now = SystemTime::now();
        let version = fs::metadata(&full)
            .ok()
            .filter(|md| md.is_dir() && settled(md, now))
            .map(|md| dir_version(&md));
        if version.is_some() && version.as_ref() == known {
            return Ok(Listing::Unchanged);
        }
        let names = self.read_dir_names(dir, "list")?;
        let version = version
            .filter(|v| fs::metadata(&full).is_ok_and(|md| md.is_dir() && dir_version(&md) == *v));
        Ok(Listing::Changed {
            entries: names.iter().map(|name| join(dir, name)).collect(),
            version,
        })
    }

    /// Removes the directories above `path` that are left empty, up to
    /// (not including) the root (blocking, best effort).
    fn remove_empty_parents(&self, path: &str) {
        let mut dir = parent(path);
        while dir != "/" {
            if fs::remove_dir(self.full(dir)).is_err() {
                break;
            }
            dir = parent(dir);
        }
    }
}

mod files;
mod read;
mod settings;
#[allow(unsafe_code)]
mod sys;
mod walk;
mod writer;

use files::*;
use read::*;
use sys::*;
use walk::*;
use writer::*;

#[async_trait]
impl StorageDriver for FilesystemDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get_content(&self, path: &str) -> Result<Bytes> {
        validate_path(path)?;
        let full = self.full(path);
        let p = path.to_owned();
        self.blocking("get_content", path, move || {
            let (mut file, len) = open_content("get_content", &p, &full)?;
            let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            file.read_to_end(&mut buf)
                .map_err(|e| backend("get_content", &p, e))?;
            Ok(Bytes::from(buf))
        })
        .await
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<()> {
        validate_path(path)?;
        if path == "/" {
            return Err(is_a_directory("put_content", path));
        }
        let full = self.full(path);
        let p = path.to_owned();
        self.blocking("put_content", path, move || {
            let dir = full.parent().unwrap_or(&full);
            write_atomically(dir, &full, &content).map_err(|e| backend("put_content", &p, e))
        })
        .await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ReadStream> {
        validate_path(path)?;
        let full = self.full(path);
        let p = path.to_owned();
        // Open, seek and read the first chunk in one trip to the pool.
        let (file, first, remaining) = self
            .blocking("reader", path, move || {
                let (mut file, len) = open_content("reader", &p, &full)?;
                if offset > len {
                    return Err(DriverError::InvalidOffset {
                        driver: NAME,
                        path: p,
                        offset,
                    });
                }
                let mut remaining = len - offset;
                if offset > 0 {
                    file.seek(SeekFrom::Start(offset))
                        .map_err(|e| backend("reader", &p, e))?;
                }
                let first = read_chunk(&mut file, chunk_len(remaining, READ_CHUNK))
                    .map_err(|e| backend("reader", &p, e))?;
                remaining -= first.len() as u64;
                Ok((file, first, remaining))
            })
            .await?;
        self.inner.streams.fetch_add(1, Ordering::Relaxed);
        let state = ReadState {
            inner: self.inner.clone(),
            path: path.to_owned(),
            next: Next::Ready(first, file),
            remaining,
            cold: false,
        };
        Ok(Box::pin(futures_util::stream::unfold(
            state,
            ReadState::next,
        )))
    }

    async fn writer(&self, path: &str, append: bool) -> Result<Box<dyn FileWriter>> {
        validate_path(path)?;
        let full = self.full(path);
        let Some(staged) = staged_file(&full).filter(|_| path != "/") else {
            return Err(is_a_directory("writer", path));
        };
        let p = path.to_owned();
        let staged_path = staged.clone();
        let (file, size) = self
            .blocking("writer", path, move || {
                if append {
                    let file = OpenOptions::new()
                        .append(true)
                        .open(&staged_path)
                        .map_err(|e| lookup_error("writer", &p, e))?;
                    let size = file.metadata().map_err(|e| backend("writer", &p, e))?.len();
                    Ok((file, size))
                } else {
                    let dir = staged_path.parent().unwrap_or(&staged_path);
                    let file = in_dir(dir, || {
                        OpenOptions::new()
                            .write(true)
                            .create(true)
                            .truncate(true)
                            .open(&staged_path)
                    })
                    .map_err(|e| backend("writer", &p, e))?;
                    Ok((file, 0))
                }
            })
            .await?;
        Ok(Box::new(FsWriter {
            driver: self.clone(),
            path: path.to_owned(),
            full,
            staged,
            file: Some(file),
            size,
            pending: Vec::new(),
            pending_len: 0,
        }))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo> {
        validate_path(path)?;
        let full = self.full(path);
        let p = path.to_owned();
        self.blocking("stat", path, move || match fs::metadata(&full) {
            Ok(md) => Ok(file_info(p, &md)),
            // The root is a directory even before it is created.
            Err(e) if p == "/" && e.kind() == ErrorKind::NotFound => Ok(FileInfo {
                path: p,
                size: 0,
                modified: SystemTime::UNIX_EPOCH,
                is_dir: true,
            }),
            Err(e) => Err(lookup_error("stat", &p, e)),
        })
        .await
    }

    async fn list(&self, path: &str) -> Result<Vec<String>> {
        validate_path(path)?;
        let inner = self.inner.clone();
        let p = path.to_owned();
        self.blocking("list", path, move || {
            let names = inner.read_dir_names(&p, "list")?;
            Ok(names.iter().map(|name| join(&p, name)).collect())
        })
        .await
    }

    async fn list_if_changed(&self, path: &str, known: Option<&ListVersion>) -> Result<Listing> {
        validate_path(path)?;
        let inner = self.inner.clone();
        let p = path.to_owned();
        let known = known.cloned();
        self.blocking("list", path, move || {
            inner.list_if_changed(&p, known.as_ref())
        })
        .await
    }

    async fn move_to(&self, source: &str, dest: &str) -> Result<()> {
        crate::path::validate_move(source, dest)?;
        let inner = self.inner.clone();
        let (from, to) = (source.to_owned(), dest.to_owned());
        self.blocking("move", source, move || {
            let src = inner.full(&from);
            let dst = inner.full(&to);
            fs::symlink_metadata(&src).map_err(|e| lookup_error("move", &from, e))?;
            if from == to {
                return Ok(());
            }
            let dst_dir = dst.parent().unwrap_or(&dst);
            let mut attempt = 0;
            let moved = loop {
                match fs::rename(&src, &dst) {
                    Err(e) if e.kind() == ErrorKind::NotFound && attempt < RETRIES => {
                        // The source went meanwhile, or the destination's
                        // directory is missing: create it and try again.
                        if fs::symlink_metadata(&src).is_err() {
                            break Err(DriverError::not_found(NAME, &from));
                        }
                        attempt += 1;
                        if let Err(e) = fs::create_dir_all(dst_dir) {
                            break Err(backend("move", &to, e));
                        }
                    }
                    result => break result.map_err(|e| backend("move", &to, e)),
                }
            };
            if moved.is_ok() {
                inner.remove_empty_parents(&from);
            } else {
                inner.remove_empty_parents(&to);
            }
            moved
        })
        .await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        validate_path(path)?;
        let inner = self.inner.clone();
        let p = path.to_owned();
        self.blocking("delete", path, move || {
            if p == "/" {
                // Everything below the root, but not the root itself.
                let entries = match fs::read_dir(&inner.root) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                    Err(e) => return Err(backend("delete", &p, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| backend("delete", &p, e))?;
                    remove_any(&entry.path()).map_err(|e| backend("delete", &p, e))?;
                }
                return Ok(());
            }
            let full = inner.full(&p);
            fs::symlink_metadata(&full).map_err(|e| lookup_error("delete", &p, e))?;
            remove_any(&full).map_err(|e| lookup_error("delete", &p, e))?;
            inner.remove_empty_parents(&p);
            Ok(())
        })
        .await
    }

    async fn redirect_url(&self, path: &str) -> Result<Option<String>> {
        validate_path(path)?;
        Ok(None)
    }

    /// One trip to the blocking pool per directory (list and stat its
    /// entries together), rather than one per entry.
    async fn walk(&self, from: &str, visit: &mut WalkFn<'_>) -> Result<()> {
        validate_path(from)?;
        let mut walk = DepthFirst::new(self.list_infos(from).await?);
        while let Some(dir) = walk.next_dir(visit) {
            walk.descend(self.list_infos(&dir).await)?;
        }
        Ok(())
    }

    /// The whole walk in one blocking task (one permit), not one hand-off
    /// to the blocking pool per directory.
    async fn walk_owned(&self, from: &str, mut visit: Box<OwnedWalkFn>) -> Result<()> {
        validate_path(from)?;
        let inner = self.inner.clone();
        let dir = from.to_owned();
        self.blocking("walk", from, move || inner.walk_blocking(&dir, &mut *visit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn maxthreads_is_a_bound() {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = FilesystemDriver::new(dir.path());
        assert_eq!(d.max_threads(), DEFAULT_MAX_THREADS);
        // Take every permit: an operation must wait, not run.
        let held = d
            .inner
            .permits
            .clone()
            .acquire_many_owned(DEFAULT_MAX_THREADS as u32)
            .await
            .expect("permits");
        let waiting = tokio::time::timeout(Duration::from_millis(200), d.stat("/")).await;
        assert!(waiting.is_err(), "ran without a permit");
        drop(held);
        let done = tokio::time::timeout(Duration::from_secs(10), d.stat("/")).await;
        assert!(matches!(done, Ok(Ok(info)) if info.is_dir));
    }

    #[test]
    fn paths_map_by_components() {
        let d = FilesystemDriver::new("/srv/root");
        assert_eq!(d.full("/"), Path::new("/srv/root"));
        assert_eq!(d.full("/a/b.c/d"), Path::new("/srv/root/a/b.c/d"));
        assert_eq!(
            staged_file(&d.full("/a/data")),
            Some(PathBuf::from("/srv/root/a/data~partial"))
        );
        assert!(!is_valid_component(&temp_name()));
        assert!(temp_name().starts_with(TEMP_PREFIX));
        assert_ne!(temp_name(), temp_name());
    }
}
