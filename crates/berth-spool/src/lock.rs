//! The directory's `LOCK` file, held with `flock(LOCK_EX)` while a
//! process owns the queue.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long `open` waits for another process to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Takes the directory's lock, waiting a little for a previous owner that
/// is shutting down. The lock is held as long as the file is open.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match try_lock(&file) {
            Ok(true) => return Ok(file),
            Ok(false) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(false) => {
                return Err(Error::Locked {
                    path: dir.to_owned(),
                });
            }
            Err(e) => return Err(Error::io(&path, e)),
        }
    }
}

// `File::try_lock` (the same flock(2)) needs Rust 1.89; the workspace's
// minimum is 1.88.
#[cfg(unix)]
#[allow(unsafe_code)]
fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock(2) on the descriptor `file` owns, which stays open for
    // the duration of the call; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<bool> {
    Ok(true)
}
