//! The system calls the filesystem driver makes beyond `std`: the only
//! unsafe code of the crate, each call with its SAFETY argument.

use super::*;

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk now, without waiting: the sync at the end of the upload then
/// finds most of it written. Only a hint; durability still comes from
/// that sync.
pub(super) fn start_writeback(file: &File, offset: u64, len: usize) {
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

/// One `read` (`preadv2` when there are `flags`) at `file`'s position,
/// which it moves, into `buf`'s spare capacity: straight into
/// uninitialised memory, as zeroing the buffer first would cost a pass
/// over it and `read_to_end`'s growing probe reads make eight calls per
/// MiB. Returns the bytes read (0 at the end of the file).
pub(super) fn read_into(file: &File, buf: &mut Vec<u8>, flags: libc::c_int) -> io::Result<usize> {
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
