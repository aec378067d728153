//! Blocking helpers on files and directories: metadata to driver values,
//! errors, opening and reading content, atomic writes, removal.

use super::*;

/// A directory's [`ListVersion`]: where it is and when and how it last
/// changed.
pub(super) fn dir_version(md: &fs::Metadata) -> ListVersion {
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
pub(super) fn settled(md: &fs::Metadata, now: SystemTime) -> bool {
    use std::os::unix::fs::MetadataExt;
    let changed = std::time::UNIX_EPOCH
        + std::time::Duration::new(md.ctime().max(0) as u64, md.ctime_nsec().max(0) as u32);
    let latest = md.modified().map_or(changed, |m| m.max(changed));
    now.duration_since(latest).is_ok_and(|age| age >= SETTLED)
}

pub(super) fn is_not_found(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// An error of an operation that looks `path` up: a missing file (or a
/// file where a directory should be) is `PathNotFound`.
pub(super) fn lookup_error(operation: &'static str, path: &str, e: io::Error) -> DriverError {
    if is_not_found(&e) {
        DriverError::not_found(NAME, path)
    } else {
        DriverError::backend(NAME, operation, path, e)
    }
}

pub(super) fn backend(operation: &'static str, path: &str, e: io::Error) -> DriverError {
    DriverError::backend(NAME, operation, path, e)
}

pub(super) fn is_a_directory(operation: &'static str, path: &str) -> DriverError {
    backend(
        operation,
        path,
        io::Error::new(ErrorKind::IsADirectory, "the path is a directory"),
    )
}

pub(super) fn file_info(path: String, md: &fs::Metadata) -> FileInfo {
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
pub(super) fn in_dir<T>(dir: &Path, mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
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
pub(super) fn open_content(
    operation: &'static str,
    path: &str,
    full: &Path,
) -> Result<(File, u64)> {
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
pub(super) fn read_chunk(file: &mut File, len: usize) -> io::Result<Bytes> {
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
pub(super) fn read_cached(file: &mut File, len: usize) -> io::Result<Option<Bytes>> {
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

/// A name for a temporary file no other writer uses.
pub(super) fn temp_name() -> String {
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
pub(super) fn write_atomically(dir: &Path, target: &Path, content: &[u8]) -> io::Result<()> {
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
pub(super) fn staged_file(full: &Path) -> Option<PathBuf> {
    let name = full.file_name()?.to_str()?;
    Some(full.with_file_name(format!("{name}{STAGED_SUFFIX}")))
}

/// Removes a file, a symlink or a directory tree (blocking).
pub(super) fn remove_any(full: &Path) -> io::Result<()> {
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
pub(super) fn chunk_len(remaining: u64, max: usize) -> usize {
    usize::try_from(remaining).map_or(max, |r| r.min(max))
}
