//! Streaming reads: one chunk read ahead on the blocking pool, or from the
//! page cache on the calling thread.

use super::*;

/// The error of a read that found less than the file's length promised.
pub(super) fn shrank(path: &str) -> DriverError {
    backend(
        "reader",
        path,
        io::Error::new(ErrorKind::UnexpectedEof, "the file shrank while read"),
    )
}

/// The state of a reader's stream.
pub(super) struct ReadState {
    pub(super) inner: Arc<Inner>,
    pub(super) path: String,
    pub(super) next: Next,
    /// Bytes still to read after what `next` holds or is reading.
    pub(super) remaining: u64,
    /// A read found the file not (all) in the page cache: read ahead on
    /// the pool from then on.
    pub(super) cold: bool,
}

impl Drop for ReadState {
    fn drop(&mut self) {
        self.inner.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(super) enum Next {
    /// A chunk read ahead, and the file to read on from.
    Ready(Bytes, File),
    /// A read running on the blocking pool.
    Reading(JoinHandle<(File, io::Result<Bytes>)>),
    /// The file, with no read running (no permit was free to read ahead).
    Idle(File),
    Done,
}

impl ReadState {
    pub(super) async fn next(mut self) -> Option<(Result<Bytes>, ReadState)> {
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
    pub(super) fn read_cached(&mut self, file: &mut File) -> Result<Option<Bytes>> {
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

    pub(super) fn spawn_read(
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
    pub(super) async fn finish(
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
