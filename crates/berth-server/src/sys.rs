//! The process-level calls into glibc's allocator: the crate's only
//! unsafe code, each call with its SAFETY argument.

/// Gives every thread glibc's one main malloc arena (unless
/// `MALLOC_ARENA_MAX` says otherwise). By default glibc hands threads up
/// to eight arenas per core; each keeps the top of its heap (megabytes,
/// after 1 MiB body chunks) mapped, and `malloc_trim` cannot hand that
/// part back, so a registry that served a burst from many blocking threads
/// sat at several times its idle size (65 MB against 15 MB after the
/// benchmark's load). The main arena's top is returned by the idle trim;
/// the per-thread caches in front of the arena keep the small allocations
/// off its lock, and the benchmark's throughput did not move. Called
/// before any thread starts.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: a plain tuning call, made before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Hands the heap's free pages back to the system (glibc's `malloc_trim`).
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it takes their
    // locks and may be called from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
