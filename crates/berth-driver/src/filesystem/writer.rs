//! The appending writer: a staged file beside the target, committed by
//! rename.

use super::*;

/// A writer of the filesystem driver: appends to `<name>~partial` beside
/// the target.
///
/// Small writes are gathered (as `Bytes`, uncopied) up to 1 MiB before
/// they go to the file. A writer dropped without `close`, `commit` or
/// `cancel` still writes what it gathered, so the staged file always holds
/// every byte a finished `write` call accepted.
pub(super) struct FsWriter {
    pub(super) driver: FilesystemDriver,
    pub(super) path: String,
    pub(super) full: PathBuf,
    pub(super) staged: PathBuf,
    /// `None` only while a blocking call has it, or after a failed one.
    pub(super) file: Option<File>,
    pub(super) size: u64,
    pub(super) pending: Vec<Bytes>,
    pub(super) pending_len: usize,
}

impl FsWriter {
    pub(super) fn take_file(&mut self, operation: &'static str) -> Result<File> {
        self.file.take().ok_or_else(|| {
            backend(
                operation,
                &self.path,
                io::Error::other("the writer failed earlier"),
            )
        })
    }

    /// Writes what is gathered, then (if `sync`) syncs the file.
    pub(super) async fn flush(&mut self, operation: &'static str, sync: bool) -> Result<()> {
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
