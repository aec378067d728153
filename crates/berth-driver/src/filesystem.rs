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
/// Distribution's configuration (`storage: filesystem: ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk now, without waiting: the sync at the end of the upload then
/// finds most of it written. Only a hint; durability still comes from
/// that sync.
fn start_writeback(file: &File, offset: u64, len: usize) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return;
    };
    // SAFETY: a valid descriptor (borrowed from `file`) and plain integers;
    // the call reads no memory of ours.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// A directory's [`ListVersion`]: where it is and when and how it last
/// changed.
fn dir_version(md: &fs::Metadata) -> ListVersion {
    use std::os::unix::fs::MetadataExt;
    let ns = |s: i64, n: i64| {
        (s as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(n as u64)
    };
    ListVersion::new([
        md.dev(),
        md.ino(),
        ns(md.mtime(), md.mtime_nsec()),
        ns(md.ctime(), md.ctime_nsec()),
        md.nlink(),
        md.size(),
    ])
}

/// Whether the directory was last changed at least [`SETTLED`] before
/// `now` (a time in the future, from a skewed clock, is not).
fn settled(md: &fs::Metadata, now: SystemTime) -> bool {
    use std::os::unix::fs::MetadataExt;
    let changed = std::time::UNIX_EPOCH
        + std::time::Duration::new(md.ctime().max(0) as u64, md.ctime_nsec().max(0) as u32);
    let latest = md.modified().map_or(changed, |m| m.max(changed));
    now.duration_since(latest).is_ok_and(|age| age >= SETTLED)
}

fn is_not_found(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// An error of an operation that looks `path` up: a missing file (or a
/// file where a directory should be) is `PathNotFound`.
fn lookup_error(operation: &'static str, path: &str, e: io::Error) -> DriverError {
    if is_not_found(&e) {
        DriverError::not_found(NAME, path)
    } else {
        DriverError::backend(NAME, operation, path, e)
    }
}

fn backend(operation: &'static str, path: &str, e: io::Error) -> DriverError {
    DriverError::backend(NAME, operation, path, e)
}

fn is_a_directory(operation: &'static str, path: &str) -> DriverError {
    backend(
        operation,
        path,
        io::Error::new(ErrorKind::IsADirectory, "the path is a directory"),
    )
}

fn file_info(path: String, md: &fs::Metadata) -> FileInfo {
    let is_dir = md.is_dir();
    FileInfo {
        path,
        size: if is_dir { 0 } else { md.len() },
        modified: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        is_dir,
    }
}

/// Runs `f`; when it fails because `dir` is missing (or was just removed
/// by a concurrent delete), creates `dir` and tries again.
fn in_dir<T>(dir: &Path, mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut attempt = 0;
    loop {
        match f() {
            Err(e) if e.kind() == ErrorKind::NotFound && attempt < RETRIES => {
                attempt += 1;
                fs::create_dir_all(dir)?;
            }
            result => return result,
        }
    }
}

/// Opens a regular file for reading; anything else is not content.
fn open_content(operation: &'static str, path: &str, full: &Path) -> Result<(File, u64)> {
    let file = File::open(full).map_err(|e| lookup_error(operation, path, e))?;
    let md = file
        .metadata()
        .map_err(|e| lookup_error(operation, path, e))?;
    if !md.is_file() {
        return Err(DriverError::not_found(NAME, path));
    }
    Ok((file, md.len()))
}

/// Reads up to `len` bytes (fewer only at the end of the file), waiting
/// for the disk when it must.
fn read_chunk(file: &mut File, len: usize) -> io::Result<Bytes> {
    let mut buf = Vec::with_capacity(len);
    loop {
        match read_into(file, &mut buf, 0) {
            Ok(0) => break,
            Ok(_) if buf.len() == len => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Bytes::from(buf))
}

/// Reads up to `len` bytes at `file`'s position, only if that needs no
/// wait for the disk (`preadv2` with `RWF_NOWAIT`): `None` when it would
/// block, or when the kernel or file system cannot say (`RWF_NOWAIT` is
/// Linux 4.14+); a short chunk when the page cache holds only the start;
/// empty at the end of the file.
fn read_cached(file: &mut File, len: usize) -> io::Result<Option<Bytes>> {
    let mut buf = Vec::with_capacity(len);
    match read_into(file, &mut buf, libc::RWF_NOWAIT) {
        Ok(_) => Ok(Some(Bytes::from(buf))),
        Err(e) => match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL | libc::EINTR) => {
                Ok(None)
            }
            _ => Err(e),
        },
    }
}

/// One `read` (`preadv2` when there are `flags`) at `file`'s position,
/// which it moves, into `buf`'s spare capacity: straight into
/// uninitialised memory, as zeroing the buffer first would cost a pass
/// over it and `read_to_end`'s growing probe reads make eight calls per
/// MiB. Returns the bytes read (0 at the end of the file).
fn read_into(file: &File, buf: &mut Vec<u8>, flags: libc::c_int) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let spare = buf.spare_capacity_mut();
    let iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len(),
    };
    // SAFETY: `iov` describes `buf`'s spare capacity, which only the
    // kernel writes; the descriptor is borrowed from `file` for the call.
    // `preadv2`'s offset -1 reads at (and moves) the file's position.
    let read = unsafe {
        if flags == 0 {
            libc::read(file.as_raw_fd(), iov.iov_base, iov.iov_len)
        } else {
            libc::preadv2(file.as_raw_fd(), &iov, 1, -1, flags)
        }
    };
    let read = usize::try_from(read).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the kernel initialised the first `read` (≤ spare) bytes
    // after the current length.
    unsafe { buf.set_len(buf.len() + read.min(iov.iov_len)) };
    Ok(read)
}

/// A name for a temporary file no other writer uses.
fn temp_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{TEMP_PREFIX}{:x}-{:x}-{nanos:x}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `content` to a new temporary file in `dir`, syncs it and renames
/// it to `target` (blocking).
fn write_atomically(dir: &Path, target: &Path, content: &[u8]) -> io::Result<()> {
    let (temp, mut file) = in_dir(dir, || {
        // A name clash (another process, same pid) just takes another name.
        let mut attempt = 0;
        loop {
            let temp = dir.join(temp_name());
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Err(e) if e.kind() == ErrorKind::AlreadyExists && attempt < RETRIES => {
                    attempt += 1;
                }
                result => return result.map(|f| (temp, f)),
            }
        }
    })?;
    let written = file
        .write_all(content)
        .and_then(|()| file.sync_data())
        .and_then(|()| {
            drop(file);
            fs::rename(&temp, target)
        });
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// The staged file of a writer for `full`.
fn staged_file(full: &Path) -> Option<PathBuf> {
    let name = full.file_name()?.to_str()?;
    Some(full.with_file_name(format!("{name}{STAGED_SUFFIX}")))
}

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
        validate_path(source)?;
        validate_path(dest)?;
        if source == "/" || dest == "/" {
            return Err(DriverError::InvalidPath {
                path: if source == "/" { source } else { dest }.to_owned(),
                reason: "the root cannot be moved or replaced",
            });
        }
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

/// Removes a file, a symlink or a directory tree (blocking).
fn remove_any(full: &Path) -> io::Result<()> {
    let md = fs::symlink_metadata(full)?;
    if !md.is_dir() {
        return fs::remove_file(full);
    }
    // A writer creating files below it meanwhile makes this fail with
    // "directory not empty"; another pass removes those too.
    let mut attempt = 0;
    loop {
        match fs::remove_dir_all(full) {
            Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty && attempt < RETRIES => {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// The next read's size: `max`, or what is left if that is less.
fn chunk_len(remaining: u64, max: usize) -> usize {
    usize::try_from(remaining).map_or(max, |r| r.min(max))
}

/// Where a depth-first walk is: the entries still to visit at each level
/// down from where it started. Listing a directory is the caller's, on
/// whichever thread it walks.
struct DepthFirst {
    stack: Vec<std::vec::IntoIter<FileInfo>>,
}

impl DepthFirst {
    fn new(top: Vec<FileInfo>) -> DepthFirst {
        DepthFirst {
            stack: vec![top.into_iter()],
        }
    }

    /// Visits entries in order until `visit` enters a directory (its path,
    /// for the caller to list and hand to [`DepthFirst::descend`]); `None`
    /// when every entry was visited or `visit` stopped the walk.
    fn next_dir(&mut self, visit: &mut WalkFn<'_>) -> Option<String> {
        while let Some(entries) = self.stack.last_mut() {
            let Some(info) = entries.next() else {
                self.stack.pop();
                continue;
            };
            match visit(&info) {
                Walk::Stop => {
                    self.stack.clear();
                    return None;
                }
                Walk::Continue if info.is_dir => return Some(info.path),
                Walk::Continue | Walk::SkipDir => {}
            }
        }
        None
    }

    /// Goes on inside the directory `next_dir` returned, given its
    /// listing; one deleted since it was seen is skipped.
    fn descend(&mut self, listing: Result<Vec<FileInfo>>) -> Result<()> {
        match listing {
            Ok(children) => self.stack.push(children.into_iter()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }
}

/// The error of a read that found less than the file's length promised.
fn shrank(path: &str) -> DriverError {
    backend(
        "reader",
        path,
        io::Error::new(ErrorKind::UnexpectedEof, "the file shrank while read"),
    )
}

/// The state of a reader's stream.
struct ReadState {
    inner: Arc<Inner>,
    path: String,
    next: Next,
    /// Bytes still to read after what `next` holds or is reading.
    remaining: u64,
    /// A read found the file not (all) in the page cache: read ahead on
    /// the pool from then on.
    cold: bool,
}

impl Drop for ReadState {
    fn drop(&mut self) {
        self.inner.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

enum Next {
    /// A chunk read ahead, and the file to read on from.
    Ready(Bytes, File),
    /// A read running on the blocking pool.
    Reading(JoinHandle<(File, io::Result<Bytes>)>),
    /// The file, with no read running (no permit was free to read ahead).
    Idle(File),
    Done,
}

impl ReadState {
    async fn next(mut self) -> Option<(Result<Bytes>, ReadState)> {
        let (chunk, file) = match std::mem::replace(&mut self.next, Next::Done) {
            Next::Done => return None,
            Next::Ready(chunk, file) => (chunk, file),
            Next::Idle(mut file) => match self.read_cached(&mut file) {
                Ok(Some(chunk)) => (chunk, file),
                Ok(None) => {
                    // Not (all) in the page cache: from now on, read ahead.
                    self.cold = true;
                    let permit = match self.inner.permit("reader", &self.path).await {
                        Ok(permit) => permit,
                        Err(e) => return Some((Err(e), self)),
                    };
                    let handle = self.spawn_read(file, permit);
                    match self.finish(handle).await {
                        Ok(read) => read,
                        Err(e) => return Some((Err(e), self)),
                    }
                }
                Err(e) => return Some((Err(e), self)),
            },
            Next::Reading(handle) => match self.finish(handle).await {
                Ok(read) => read,
                Err(e) => return Some((Err(e), self)),
            },
        };
        if chunk.is_empty() {
            // Content is replaced by rename, never truncated in place: an
            // empty read is the end of an empty file.
            return None;
        }
        self.next = if self.remaining == 0 {
            Next::Done
        } else if !self.cold && self.inner.streams.load(Ordering::Relaxed) >= self.inner.cores {
            // Every core already has a stream to serve, and the file is in
            // the page cache: read the next chunk on the next poll, on this
            // thread, without a trip to the pool.
            Next::Idle(file)
        } else {
            // Read ahead on the pool while the consumer handles this
            // chunk (the disk's wait, or a core with nothing else to do,
            // overlaps the sending), if a permit is free right now.
            match self.inner.permits.clone().try_acquire_owned() {
                Ok(permit) => Next::Reading(self.spawn_read(file, permit)),
                Err(_) => Next::Idle(file),
            }
        };
        Some((Ok(chunk), self))
    }

    /// The next chunk if the page cache holds (some of) it, read on this
    /// thread without blocking; `None` when it would wait for the disk.
    fn read_cached(&mut self, file: &mut File) -> Result<Option<Bytes>> {
        let len = chunk_len(self.remaining, CACHED_CHUNK);
        match read_cached(file, len) {
            Ok(Some(chunk)) if chunk.is_empty() => Err(shrank(&self.path)),
            Ok(Some(chunk)) => {
                self.remaining -= chunk.len() as u64;
                Ok(Some(chunk))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(backend("reader", &self.path, e)),
        }
    }

    fn spawn_read(
        &mut self,
        mut file: File,
        permit: OwnedSemaphorePermit,
    ) -> JoinHandle<(File, io::Result<Bytes>)> {
        let len = chunk_len(self.remaining, READ_CHUNK);
        self.remaining -= len as u64;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let read = read_chunk(&mut file, len);
            (file, read)
        })
    }

    /// Waits for a read; an empty one is an error (the file shrank).
    async fn finish(
        &mut self,
        handle: JoinHandle<(File, io::Result<Bytes>)>,
    ) -> Result<(Bytes, File)> {
        let (file, read) = handle
            .await
            .map_err(|e| DriverError::backend(NAME, "reader", &self.path, e))?;
        let chunk = read.map_err(|e| backend("reader", &self.path, e))?;
        if chunk.is_empty() {
            return Err(shrank(&self.path));
        }
        Ok((chunk, file))
    }
}

/// A writer of the filesystem driver: appends to `<name>~partial` beside
/// the target.
///
/// Small writes are gathered (as `Bytes`, uncopied) up to 1 MiB before
/// they go to the file. A writer dropped without `close`, `commit` or
/// `cancel` still writes what it gathered, so the staged file always holds
/// every byte a finished `write` call accepted.
struct FsWriter {
    driver: FilesystemDriver,
    path: String,
    full: PathBuf,
    staged: PathBuf,
    /// `None` only while a blocking call has it, or after a failed one.
    file: Option<File>,
    size: u64,
    pending: Vec<Bytes>,
    pending_len: usize,
}

impl FsWriter {
    fn take_file(&mut self, operation: &'static str) -> Result<File> {
        self.file.take().ok_or_else(|| {
            backend(
                operation,
                &self.path,
                io::Error::other("the writer failed earlier"),
            )
        })
    }

    /// Writes what is gathered, then (if `sync`) syncs the file.
    async fn flush(&mut self, operation: &'static str, sync: bool) -> Result<()> {
        if self.pending.is_empty() && !sync {
            return Ok(());
        }
        let mut file = self.take_file(operation)?;
        let pending = std::mem::take(&mut self.pending);
        let len = std::mem::take(&mut self.pending_len);
        let start = self.size - len as u64;
        let p = self.path.clone();
        let file = self
            .driver
            .blocking(operation, &self.path, move || {
                for chunk in &pending {
                    file.write_all(chunk)
                        .map_err(|e| backend(operation, &p, e))?;
                }
                if sync {
                    file.sync_data().map_err(|e| backend(operation, &p, e))?;
                } else {
                    start_writeback(&file, start, len);
                }
                Ok(file)
            })
            .await?;
        self.file = Some(file);
        Ok(())
    }
}

#[async_trait]
impl FileWriter for FsWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let len = data.len();
        self.pending.push(data);
        self.pending_len += len;
        self.size += len as u64;
        if len >= DIRECT_WRITE || self.pending_len >= WRITE_BUFFER {
            self.flush("write", false).await?;
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.size
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.flush("commit", true).await?;
        let file = self.take_file("commit")?;
        let (staged, full, p) = (self.staged.clone(), self.full.clone(), self.path.clone());
        self.driver
            .blocking("commit", &self.path, move || {
                drop(file);
                fs::rename(&staged, &full).map_err(|e| backend("commit", &p, e))
            })
            .await
    }

    async fn cancel(mut self: Box<Self>) -> Result<()> {
        self.pending.clear();
        self.pending_len = 0;
        let file = self.file.take();
        let inner = self.driver.inner.clone();
        let (staged, p) = (self.staged.clone(), self.path.clone());
        self.driver
            .blocking("cancel", &self.path, move || {
                drop(file);
                match fs::remove_file(&staged) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(backend("cancel", &p, e)),
                }
                inner.remove_empty_parents(&p);
                Ok(())
            })
            .await
    }

    async fn close(mut self: Box<Self>) -> Result<()> {
        self.flush("close", true).await
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // Only a writer dropped mid-way (not closed, committed or
        // cancelled) has gathered bytes here: write them, so what was
        // accepted is kept. At most `WRITE_BUFFER` bytes, to the page cache.
        if let Some(file) = self.file.as_mut() {
            for chunk in self.pending.drain(..) {
                if file.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
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
