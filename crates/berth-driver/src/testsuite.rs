//! The driver test suite: the [`StorageDriver`] contract as executable
//! checks, run unchanged by every driver (feature `testsuite`).
//!
//! A driver's test file hands [`driver_test_suite!`](crate::driver_test_suite)
//! a factory that makes a fresh, empty driver; the macro expands to one
//! `#[test]` per case, each calling the `pub async fn` of the same name in
//! this module on its own tokio runtime (multi-threaded, two workers, all
//! drivers enabled), so failures are reported case by case:
//!
//! ```
//! use std::sync::Arc;
//! use berth_driver::{InMemoryDriver, StorageDriver};
//!
//! async fn driver() -> Arc<dyn StorageDriver> {
//!     Arc::new(InMemoryDriver::new())
//! }
//!
//! berth_driver::driver_test_suite!(driver);
//! # fn main() {}
//! ```
//!
//! The factory returns anything that is a [`TestFixture`]: the driver
//! itself (`Arc<dyn StorageDriver>` or `Arc<D>`), or a pair of the driver
//! and a guard kept alive until the case ends (a `tempfile::TempDir`, a
//! handle that removes an S3 prefix on drop, …). Each case starts from an
//! empty store and uses short paths such as `/a/b`: a driver that shares a
//! backend between cases gives each a fresh root (an S3 driver: a fresh key
//! prefix).
//!
//! Ordering is checked exactly: `list` is sorted by full path, and `walk`
//! visits depth first with each directory's entries sorted, which is the
//! full paths' order when `/` sorts before every other character (so
//! `/a/x` comes before `/a-b`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::{DriverError, FileInfo, FileWriter, Listing, Result, StorageDriver, Walk};

/// How long one case may take before it fails.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(300);

/// What a suite factory returns: something that gives the driver under
/// test and lives as long as the case.
pub trait TestFixture: Send + 'static {
    /// The driver under test.
    fn driver(&self) -> Arc<dyn StorageDriver>;
}

impl TestFixture for Arc<dyn StorageDriver> {
    fn driver(&self) -> Arc<dyn StorageDriver> {
        self.clone()
    }
}

impl<D: StorageDriver> TestFixture for Arc<D> {
    fn driver(&self) -> Arc<dyn StorageDriver> {
        self.clone()
    }
}

/// A driver and a guard (dropped after the case).
impl<G: Send + 'static> TestFixture for (Arc<dyn StorageDriver>, G) {
    fn driver(&self) -> Arc<dyn StorageDriver> {
        self.0.clone()
    }
}

/// Runs one case on a fresh runtime with a fresh driver from `factory`,
/// within [`CASE_TIMEOUT`]. Panics (fails the test) when the case fails.
pub fn run_case<F, Fut, X, C, CaseFut>(factory: F, case: C)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = X>,
    X: TestFixture,
    C: FnOnce(Arc<dyn StorageDriver>) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start a tokio runtime: {e}"));
    runtime.block_on(async {
        let fixture = factory().await;
        let driver = fixture.driver();
        if tokio::time::timeout(CASE_TIMEOUT, case(driver))
            .await
            .is_err()
        {
            panic!("the case did not finish within {CASE_TIMEOUT:?}");
        }
        drop(fixture);
    });
}

/// Expands to one `#[test]` per case of the [driver test
/// suite](crate::testsuite), each run on a fresh driver from `factory`.
///
/// `factory` is an expression callable with no arguments that returns a
/// future of a [`TestFixture`](crate::testsuite::TestFixture), typically
/// the name of an `async fn() -> Arc<dyn StorageDriver>`. Invoke the macro
/// once per module (it defines functions named after the cases).
#[macro_export]
macro_rules! driver_test_suite {
    ($factory:expr $(,)?) => {
        $crate::__driver_test_suite_cases! {
            ($factory)
            invalid_paths
            valid_paths
            empty_content
            small_content
            large_content_put
            large_content_writer
            writer_close_resume
            writer_resume_missing
            writer_restart_discards_staged
            reader_offsets
            not_found
            list_children
            list_missing
            list_root
            list_if_changed
            move_file
            move_overwrite
            move_missing_source
            delete_recursive
            delete_prefix_siblings
            stat_files_and_dirs
            put_overwrite
            concurrent_writers
            concurrent_put_atomic
            walk_order
            walk_skip_and_stop
            cancel_leaves_nothing
            uncommitted_invisible
            redirect_url
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __driver_test_suite_cases {
    (($factory:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::testsuite::run_case($factory, $crate::testsuite::$case);
            }
        )*
    };
}

// ---------------------------------------------------------------------------
// Helpers

/// Deterministic bytes that differ at every offset (xorshift), so a read
/// from a wrong offset never matches by chance.
pub fn pattern(len: usize, seed: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(len + 8);
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out.freeze()
}

#[track_caller]
fn ok<T>(result: Result<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

#[track_caller]
fn err<T>(result: Result<T>, what: &str) -> DriverError {
    match result {
        Ok(_) => panic!("{what}: expected an error, got Ok"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_not_found<T>(result: Result<T>, what: &str) {
    let e = err(result, what);
    assert!(
        matches!(e, DriverError::PathNotFound { .. }),
        "{what}: expected PathNotFound, got {e}"
    );
}

#[track_caller]
fn assert_invalid_path<T>(result: Result<T>, what: &str) {
    let e = err(result, what);
    assert!(
        matches!(e, DriverError::InvalidPath { .. }),
        "{what}: expected InvalidPath, got {e}"
    );
}

#[track_caller]
fn assert_invalid_offset<T>(result: Result<T>, what: &str) {
    let e = err(result, what);
    assert!(
        matches!(e, DriverError::InvalidOffset { .. }),
        "{what}: expected InvalidOffset, got {e}"
    );
}

/// Asserts two contents are equal, reporting the first difference rather
/// than megabytes of bytes.
#[track_caller]
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: content differs: got {} bytes, want {}; first difference at offset {at}",
        got.len(),
        want.len()
    );
}

/// Reads the content at `path` from `offset` through `reader`.
async fn read_from(driver: &dyn StorageDriver, path: &str, offset: u64) -> Result<Bytes> {
    let mut stream = driver.reader(path, offset).await?;
    let mut out = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out.freeze())
}

async fn put(driver: &dyn StorageDriver, path: &str, content: impl Into<Bytes>) {
    ok(
        driver.put_content(path, content.into()).await,
        &format!("put_content {path}"),
    );
}

async fn assert_content(driver: &dyn StorageDriver, path: &str, want: &[u8]) {
    let got = ok(
        driver.get_content(path).await,
        &format!("get_content {path}"),
    );
    assert_same(&got, want, &format!("get_content {path}"));
}

async fn list(driver: &dyn StorageDriver, path: &str) -> Vec<String> {
    ok(driver.list(path).await, &format!("list {path}"))
}

/// The entries a walk from `from` visits, in order.
async fn walked(driver: &dyn StorageDriver, from: &str) -> Vec<FileInfo> {
    let mut seen = Vec::new();
    ok(
        driver
            .walk(from, &mut |info: &FileInfo| {
                seen.push(info.clone());
                Walk::Continue
            })
            .await,
        &format!("walk {from}"),
    );
    seen
}

/// `list(dir)` must not show `path`: either `dir` is not found or its
/// listing lacks `path`.
async fn assert_not_listed(driver: &dyn StorageDriver, dir: &str, path: &str) {
    match driver.list(dir).await {
        Ok(children) => assert!(
            !children.iter().any(|c| c == path),
            "list {dir} shows {path}, which is not committed: {children:?}"
        ),
        Err(e) if e.is_not_found() => {}
        Err(e) => panic!("list {dir}: unexpected error: {e}"),
    }
}

/// Writes `data` through `writer` in pieces of the given sizes (cycled),
/// checking `size` after each.
async fn write_chunks(writer: &mut dyn FileWriter, data: &Bytes, sizes: &[usize], what: &str) {
    let start = writer.size();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= data.len() {
            break;
        }
        let end = data.len().min(at + size.max(&1));
        ok(writer.write(data.slice(at..end)).await, what);
        at = end;
        assert_eq!(writer.size(), start + at as u64, "{what}: size after write");
    }
}

fn expected_walk(files: &[&str], from: &str) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for file in files {
        let mut p = *file;
        while p != from && p != "/" {
            if crate::is_within(p, from) && !all.iter().any(|a| a == p) {
                all.push(p.to_owned());
            }
            p = crate::parent(p);
        }
    }
    // Depth first with sorted siblings == sorting with '/' lowest.
    all.sort_by_key(|p| p.replace('/', "\0"));
    all
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
/// More than several 5 MiB multipart parts.
const LARGE: usize = 20 * MIB;
/// Uneven write sizes, straddling 5 MiB part boundaries.
const UNEVEN: &[usize] = &[
    1,
    7,
    4095,
    65_537,
    MIB + 3,
    5 * MIB + 17,
    3 * MIB,
    2,
    6 * MIB - 1,
    333_333,
];

/// Paths every operation must refuse with `InvalidPath`.
pub const INVALID_PATHS: &[&str] = &[
    "",
    "a",
    "a/b",
    "../x",
    "//",
    "//etc/passwd",
    "/a/",
    "/a//b",
    "/.",
    "/..",
    "/a/..",
    "/a/.",
    "/../x",
    "/a/../../x",
    "/a/./b",
    "/a b",
    "/a\\b",
    "/a\\..\\..\\x",
    "/a\0b",
    "/etc/passwd\0",
    "/\u{e9}",
    "/a\u{2024}\u{2024}/x",
    "/\u{ff0e}\u{ff0e}/x",
    "/a:b",
    "/a~b",
    "/a#b",
    "/a%2e%2e/x",
    "/a\nb",
    "/data~partial",
    "/\u{202e}x",
];

/// Odd but valid paths every driver must store.
pub const VALID_PATHS: &[&str] = &[
    "/a",
    "/A-Z_0.9",
    "/...",
    "/.hidden/x",
    "/-/_/.x",
    "/a-/-b",
    "/0/1/2/3/4/5/6/7/8/9/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t",
    "/docker/registry/v2/repositories/library/ubuntu/_uploads/6f0d9e4a-1b2c-4d3e-8f9a-0b1c2d3e4f5a/data",
    "/long/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

// ---------------------------------------------------------------------------
// Cases

/// Every operation refuses every invalid path with `InvalidPath`, and
/// changes nothing.
pub async fn invalid_paths(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/valid/file", "x").await;
    for &p in INVALID_PATHS {
        assert_invalid_path(d.get_content(p).await, &format!("get_content {p:?}"));
        assert_invalid_path(
            d.put_content(p, Bytes::from_static(b"y")).await,
            &format!("put_content {p:?}"),
        );
        assert_invalid_path(d.reader(p, 0).await, &format!("reader {p:?}"));
        assert_invalid_path(d.writer(p, false).await, &format!("writer {p:?}"));
        assert_invalid_path(d.writer(p, true).await, &format!("writer(append) {p:?}"));
        assert_invalid_path(d.stat(p).await, &format!("stat {p:?}"));
        assert_invalid_path(d.list(p).await, &format!("list {p:?}"));
        assert_invalid_path(
            d.move_to(p, "/valid/moved").await,
            &format!("move_to from {p:?}"),
        );
        assert_invalid_path(
            d.move_to("/valid/file", p).await,
            &format!("move_to to {p:?}"),
        );
        assert_invalid_path(d.delete(p).await, &format!("delete {p:?}"));
        assert_invalid_path(d.redirect_url(p).await, &format!("redirect_url {p:?}"));
        assert_invalid_path(
            d.walk(p, &mut |_: &FileInfo| Walk::Continue).await,
            &format!("walk {p:?}"),
        );
    }
    assert_content(d, "/valid/file", b"x").await;
    assert_eq!(list(d, "/").await, ["/valid"]);
    assert_eq!(list(d, "/valid").await, ["/valid/file"]);
}

/// Odd but valid paths store, list, stat and delete like any other.
pub async fn valid_paths(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    for &p in VALID_PATHS {
        put(d, p, p.as_bytes().to_vec()).await;
    }
    for &p in VALID_PATHS {
        assert_content(d, p, p.as_bytes()).await;
        let info = ok(d.stat(p).await, &format!("stat {p}"));
        assert_eq!(info.size, p.len() as u64, "stat {p}");
        assert!(!info.is_dir, "stat {p}: a file");
        let dir = crate::parent(p);
        assert!(
            list(d, dir).await.iter().any(|c| c == p),
            "list {dir} shows {p}"
        );
    }
    for &p in VALID_PATHS {
        ok(d.delete(p).await, &format!("delete {p}"));
        assert_not_found(
            d.get_content(p).await,
            &format!("get_content {p} after delete"),
        );
    }
    assert_eq!(list(d, "/").await, Vec::<String>::new());
}

/// Empty content through `put_content` and through a writer.
pub async fn empty_content(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/empty/put", Bytes::new()).await;
    assert_content(d, "/empty/put", b"").await;
    let info = ok(d.stat("/empty/put").await, "stat /empty/put");
    assert_eq!((info.size, info.is_dir), (0, false), "stat /empty/put");
    let read = ok(
        read_from(d, "/empty/put", 0).await,
        "reader /empty/put at 0",
    );
    assert!(read.is_empty(), "reader of empty content");
    assert_invalid_offset(d.reader("/empty/put", 1).await, "reader /empty/put at 1");

    let w = ok(d.writer("/empty/nothing", false).await, "writer");
    assert_eq!(w.size(), 0);
    ok(w.commit().await, "commit of nothing");
    assert_content(d, "/empty/nothing", b"").await;

    let mut w = ok(d.writer("/empty/zero", false).await, "writer");
    ok(w.write(Bytes::new()).await, "write of nothing");
    assert_eq!(w.size(), 0);
    ok(w.commit().await, "commit");
    assert_content(d, "/empty/zero", b"").await;
    assert_eq!(
        list(d, "/empty").await,
        ["/empty/nothing", "/empty/put", "/empty/zero"]
    );
}

/// One byte and 1 KiB, through both ways in and both ways out.
pub async fn small_content(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    for (name, data) in [("one", pattern(1, 1)), ("kib", pattern(KIB, 2))] {
        let put_path = format!("/small/{name}-put");
        put(d, &put_path, data.clone()).await;

        let writer_path = format!("/small/{name}-writer");
        let mut w = ok(d.writer(&writer_path, false).await, "writer");
        ok(w.write(data.clone()).await, "write");
        assert_eq!(w.size(), data.len() as u64);
        ok(w.commit().await, "commit");

        for path in [&put_path, &writer_path] {
            assert_content(d, path, &data).await;
            let read = ok(read_from(d, path, 0).await, "reader at 0");
            assert_same(&read, &data, &format!("reader {path} at 0"));
            let read = ok(read_from(d, path, 1).await, "reader at 1");
            assert_same(&read, &data[1..], &format!("reader {path} at 1"));
            let info = ok(d.stat(path).await, "stat");
            assert_eq!(info.size, data.len() as u64, "stat {path}");
            assert_eq!(info.path, *path, "stat {path}: path");
        }
    }
}

/// 20 MiB through `put_content`, read back whole and from offsets.
pub async fn large_content_put(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let data = pattern(LARGE, 3);
    put(d, "/large/put", data.clone()).await;
    assert_content(d, "/large/put", &data).await;
    for offset in [
        0,
        1,
        5 * MIB - 1,
        5 * MIB + 1,
        LARGE / 2 + 3,
        LARGE - 1,
        LARGE,
    ] {
        let read = ok(
            read_from(d, "/large/put", offset as u64).await,
            &format!("reader at {offset}"),
        );
        assert_same(&read, &data[offset..], &format!("reader at {offset}"));
    }
    let info = ok(d.stat("/large/put").await, "stat");
    assert_eq!(info.size, LARGE as u64);
}

/// 20 MiB through a writer in uneven pieces, read back whole and from
/// offsets.
pub async fn large_content_writer(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let data = pattern(LARGE, 4);
    let mut w = ok(d.writer("/large/writer", false).await, "writer");
    write_chunks(&mut *w, &data, UNEVEN, "write").await;
    assert_eq!(w.size(), LARGE as u64);
    ok(w.commit().await, "commit");
    assert_content(d, "/large/writer", &data).await;
    for offset in [0, 7, 5 * MIB, 10 * MIB + 5, LARGE - 2] {
        let read = ok(
            read_from(d, "/large/writer", offset as u64).await,
            &format!("reader at {offset}"),
        );
        assert_same(&read, &data[offset..], &format!("reader at {offset}"));
    }
    assert_eq!(ok(d.stat("/large/writer").await, "stat").size, LARGE as u64);
}

/// Write, close, resume (size reported), write more, close, resume,
/// commit: the content is exactly everything written, in order.
pub async fn writer_close_resume(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let path = "/resume/data";
    let first = pattern(3, 5);
    let second = pattern(6 * MIB + 5, 6);
    let third = pattern(2, 7);

    let mut w = ok(d.writer(path, false).await, "writer");
    ok(w.write(first.clone()).await, "write");
    ok(w.close().await, "close");
    assert_not_found(d.stat(path).await, "stat after close");

    let mut w = ok(d.writer(path, true).await, "resume");
    assert_eq!(w.size(), first.len() as u64, "size on resume");
    write_chunks(&mut *w, &second, &[MIB + 1, 4 * MIB], "write").await;
    ok(w.close().await, "close");
    assert_not_found(d.get_content(path).await, "get_content after close");

    let mut w = ok(d.writer(path, true).await, "resume");
    let so_far = (first.len() + second.len()) as u64;
    assert_eq!(w.size(), so_far, "size on second resume");
    ok(w.write(third.clone()).await, "write");
    assert_eq!(w.size(), so_far + third.len() as u64);
    ok(w.commit().await, "commit");

    let want = [&first[..], &second[..], &third[..]].concat();
    assert_content(d, path, &want).await;
    assert_eq!(ok(d.stat(path).await, "stat").size, want.len() as u64);
    assert_not_found(d.writer(path, true).await, "resume after commit");
}

/// Resuming where nothing was closed is `PathNotFound`, also where
/// committed content exists.
pub async fn writer_resume_missing(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    assert_not_found(d.writer("/nothing/here", true).await, "resume of nothing");
    put(d, "/committed", "content").await;
    assert_not_found(
        d.writer("/committed", true).await,
        "resume of committed content",
    );
    assert_content(d, "/committed", b"content").await;
}

/// `writer(path, false)` starts afresh, discarding a closed writer's bytes.
pub async fn writer_restart_discards_staged(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let path = "/restart/data";
    let mut w = ok(d.writer(path, false).await, "writer");
    ok(w.write(Bytes::from_static(b"abc")).await, "write");
    ok(w.close().await, "close");

    let mut w = ok(d.writer(path, false).await, "new writer");
    assert_eq!(w.size(), 0, "a new writer starts empty");
    ok(w.write(Bytes::from_static(b"z")).await, "write");
    ok(w.close().await, "close");

    let mut w = ok(d.writer(path, true).await, "resume");
    assert_eq!(w.size(), 1, "resume continues the newest writer");
    ok(w.write(Bytes::from_static(b"y")).await, "write");
    ok(w.commit().await, "commit");
    assert_content(d, path, b"zy").await;
}

/// `reader` at 0, in the middle, at the size (empty) and past it
/// (`InvalidOffset`).
pub async fn reader_offsets(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let size = 3 * MIB + 7;
    let data = pattern(size, 8);
    put(d, "/offsets", data.clone()).await;
    for offset in [0, 1, MIB, MIB + 1, size / 2, size - 1] {
        let read = ok(
            read_from(d, "/offsets", offset as u64).await,
            &format!("reader at {offset}"),
        );
        assert_same(&read, &data[offset..], &format!("reader at {offset}"));
    }
    let read = ok(
        read_from(d, "/offsets", size as u64).await,
        "reader at size",
    );
    assert!(read.is_empty(), "reader at the size reads nothing");
    for offset in [size as u64 + 1, size as u64 + 1_000_000, u64::MAX] {
        assert_invalid_offset(
            d.reader("/offsets", offset).await,
            &format!("reader at {offset}"),
        );
    }
}

/// Every operation on a path with nothing stored is `PathNotFound`.
pub async fn not_found(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/present/file", "x").await;
    for p in [
        "/missing",
        "/present/missing",
        "/present/file/below",
        "/missing/deep/path",
    ] {
        assert_not_found(d.get_content(p).await, &format!("get_content {p}"));
        assert_not_found(d.reader(p, 0).await, &format!("reader {p}"));
        assert_not_found(d.stat(p).await, &format!("stat {p}"));
        assert_not_found(d.list(p).await, &format!("list {p}"));
        assert_not_found(d.move_to(p, "/dest").await, &format!("move_to {p}"));
        assert_not_found(d.delete(p).await, &format!("delete {p}"));
        assert_not_found(d.writer(p, true).await, &format!("resume {p}"));
        assert_not_found(
            d.walk(p, &mut |_: &FileInfo| Walk::Continue).await,
            &format!("walk {p}"),
        );
    }
    // A directory has no content; a file has no children.
    assert_not_found(
        d.get_content("/present").await,
        "get_content of a directory",
    );
    assert_not_found(d.reader("/present", 0).await, "reader of a directory");
    assert_not_found(d.list("/present/file").await, "list of a file");
    assert_not_found(d.stat("/dest").await, "stat of a failed move's destination");
    assert_eq!(list(d, "/").await, ["/present"]);
    assert_content(d, "/present/file", b"x").await;
}

/// `list` gives direct children only, files and directories, sorted, as
/// full paths.
pub async fn list_children(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    for p in [
        "/l/a", "/l/b/c", "/l/b/d/e", "/l/c-d", "/l/ab", "/l/a-b/x", "/l/a.b", "/l/a0",
    ] {
        put(d, p, p.as_bytes().to_vec()).await;
    }
    assert_eq!(
        list(d, "/l").await,
        [
            "/l/a", "/l/a-b", "/l/a.b", "/l/a0", "/l/ab", "/l/b", "/l/c-d"
        ]
    );
    assert_eq!(list(d, "/l/b").await, ["/l/b/c", "/l/b/d"]);
    assert_eq!(list(d, "/l/b/d").await, ["/l/b/d/e"]);
    assert_eq!(list(d, "/l/a-b").await, ["/l/a-b/x"]);
    assert_eq!(list(d, "/").await, ["/l"]);
}

/// Listing a missing directory, or a file, is `PathNotFound`.
pub async fn list_missing(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    assert_not_found(d.list("/nope").await, "list of a missing directory");
    put(d, "/x/y", "y").await;
    assert_not_found(d.list("/x/nope").await, "list of a missing directory");
    assert_not_found(d.list("/x/y").await, "list of a file");
    assert_not_found(d.list("/x/yy").await, "list of a missing sibling");
}

/// The root lists empty when nothing is stored, and its children after.
pub async fn list_root(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    assert_eq!(list(d, "/").await, Vec::<String>::new(), "empty root");
    put(d, "/r2/x", "x").await;
    put(d, "/r1", "1").await;
    assert_eq!(list(d, "/").await, ["/r1", "/r2"]);
    ok(d.delete("/r2/x").await, "delete");
    ok(d.delete("/r1").await, "delete");
    assert_eq!(list(d, "/").await, Vec::<String>::new(), "emptied root");
}

/// `list_if_changed` lists as `list` does; given back the version it
/// handed out, it answers `Unchanged` only while the children are the same
/// (whether a driver hands out versions at all is its choice).
pub async fn list_if_changed(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let changed = |listing: Listing, what: &str| match listing {
        Listing::Changed { entries, version } => (entries, version),
        Listing::Unchanged => panic!("{what}: Unchanged, but nothing was known"),
    };
    put(d, "/c/a/x", "x").await;
    put(d, "/c/b", "b").await;
    let (entries, version) = changed(ok(d.list_if_changed("/c", None).await, "first"), "first");
    assert_eq!(entries, ["/c/a", "/c/b"]);
    assert_eq!(entries, list(d, "/c").await);
    put(d, "/c/c/y", "y").await;
    match ok(
        d.list_if_changed("/c", version.as_ref()).await,
        "after an add",
    ) {
        Listing::Changed { entries, .. } => assert_eq!(entries, ["/c/a", "/c/b", "/c/c"]),
        Listing::Unchanged => panic!("a child was added, the listing says Unchanged"),
    }
    let (_, version) = changed(ok(d.list_if_changed("/c", None).await, "again"), "again");
    ok(d.delete("/c/a").await, "delete");
    match ok(
        d.list_if_changed("/c", version.as_ref()).await,
        "after a delete",
    ) {
        Listing::Changed { entries, .. } => assert_eq!(entries, ["/c/b", "/c/c"]),
        Listing::Unchanged => panic!("a child was deleted, the listing says Unchanged"),
    }
    assert_not_found(
        d.list_if_changed("/nope", None).await,
        "a missing directory",
    );
    assert_not_found(d.list_if_changed("/c/b", None).await, "a file");
}

/// `move_to` puts the content at the destination (creating its parents)
/// and removes the source (and its emptied parents).
pub async fn move_file(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    for (name, data) in [("small", pattern(KIB, 9)), ("big", pattern(6 * MIB, 10))] {
        let src = format!("/m/src/{name}/deep/f");
        let dst = format!("/m/dst/{name}/new/f");
        put(d, &src, data.clone()).await;
        ok(d.move_to(&src, &dst).await, &format!("move {src} to {dst}"));
        assert_content(d, &dst, &data).await;
        assert_eq!(ok(d.stat(&dst).await, "stat").size, data.len() as u64);
        assert_not_found(d.get_content(&src).await, "source after move");
        assert_not_found(d.stat(&src).await, "source after move");
    }
    assert_eq!(
        list(d, "/m").await,
        ["/m/dst"],
        "emptied source directories"
    );
    assert_eq!(list(d, "/m/dst").await, ["/m/dst/big", "/m/dst/small"]);
}

/// `move_to` onto existing content replaces it wholly.
pub async fn move_overwrite(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/mo/a", "new").await;
    put(d, "/mo/b", pattern(64 * KIB, 11)).await;
    ok(d.move_to("/mo/a", "/mo/b").await, "move over");
    assert_content(d, "/mo/b", b"new").await;
    assert_eq!(ok(d.stat("/mo/b").await, "stat").size, 3);
    assert_not_found(d.get_content("/mo/a").await, "source after move");
    assert_eq!(list(d, "/mo").await, ["/mo/b"]);
}

/// Moving nothing is `PathNotFound` and changes nothing.
pub async fn move_missing_source(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/mm/b", "keep").await;
    assert_not_found(d.move_to("/mm/a", "/mm/b").await, "move of nothing over b");
    assert_content(d, "/mm/b", b"keep").await;
    assert_not_found(d.move_to("/mm/none", "/mm/new/c").await, "move of nothing");
    assert_not_found(d.stat("/mm/new/c").await, "destination of a failed move");
    assert_not_found(d.stat("/mm/new").await, "destination of a failed move");
    assert_eq!(list(d, "/mm").await, ["/mm/b"]);
}

/// `delete` of a directory removes everything below it; deleting the last
/// file below a directory removes it too.
pub async fn delete_recursive(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let doomed = ["/d/x/1", "/d/x/y/2", "/d/x/y/z/3", "/d/x/y/z/4"];
    for p in doomed {
        put(d, p, p.as_bytes().to_vec()).await;
    }
    put(d, "/d/keep", "keep").await;
    ok(d.delete("/d/x").await, "delete /d/x");
    for p in doomed {
        assert_not_found(d.stat(p).await, &format!("stat {p} after delete"));
        assert_not_found(d.get_content(p).await, &format!("get {p} after delete"));
    }
    assert_not_found(d.stat("/d/x").await, "stat of a deleted directory");
    assert_not_found(d.list("/d/x/y").await, "list of a deleted directory");
    assert_eq!(list(d, "/d").await, ["/d/keep"]);
    assert_eq!(
        walked(d, "/")
            .await
            .into_iter()
            .map(|i| i.path)
            .collect::<Vec<_>>(),
        ["/d", "/d/keep"]
    );

    ok(d.delete("/d/keep").await, "delete a file");
    assert_not_found(d.delete("/d/keep").await, "delete it again");
    assert_not_found(d.list("/d").await, "list of an emptied directory");
    assert_eq!(list(d, "/").await, Vec::<String>::new());
}

/// Deleting `/p/a` leaves `/p/ab`, `/p/a-b`, `/p/a.b` and `/p/a0` alone.
pub async fn delete_prefix_siblings(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let kept = [
        "/p/ab",
        "/p/a-b/f",
        "/p/a.b",
        "/p/a0/x",
        "/p/b",
        "/p/ab-c/d",
    ];
    for p in ["/p/a/f", "/p/a/g/h"].iter().chain(&kept) {
        put(d, p, p.as_bytes().to_vec()).await;
    }
    ok(d.delete("/p/a").await, "delete /p/a");
    for p in kept {
        assert_content(d, p, p.as_bytes()).await;
    }
    assert_not_found(d.stat("/p/a").await, "deleted directory");
    assert_eq!(
        list(d, "/p").await,
        ["/p/a-b", "/p/a.b", "/p/a0", "/p/ab", "/p/ab-c", "/p/b"]
    );
    ok(d.delete("/p/ab").await, "delete the file /p/ab");
    assert_content(d, "/p/ab-c/d", b"/p/ab-c/d").await;
    assert_eq!(
        list(d, "/p").await,
        ["/p/a-b", "/p/a.b", "/p/a0", "/p/ab-c", "/p/b"]
    );
}

/// `stat` of files (size, not a directory, recent time) and directories.
pub async fn stat_files_and_dirs(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/s/f", pattern(1234, 12)).await;
    put(d, "/s/d/e/f", "x").await;
    let info = ok(d.stat("/s/f").await, "stat /s/f");
    assert_eq!(info.path, "/s/f");
    assert_eq!(info.size, 1234);
    assert!(!info.is_dir, "/s/f is a file");
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    assert!(
        info.modified > now - hour && info.modified < now + hour,
        "modified time {:?} is not near now {now:?}",
        info.modified
    );
    for dir in ["/s", "/s/d", "/s/d/e", "/"] {
        let info = ok(d.stat(dir).await, &format!("stat {dir}"));
        assert!(info.is_dir, "{dir} is a directory");
        assert_eq!(info.size, 0, "a directory's size");
        assert_eq!(info.path, dir);
    }
}

/// `put_content` over existing content replaces all of it.
pub async fn put_overwrite(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/o", pattern(KIB, 13)).await;
    put(d, "/o", "abc").await;
    assert_content(d, "/o", b"abc").await;
    assert_eq!(ok(d.stat("/o").await, "stat").size, 3);
    put(d, "/o", Bytes::new()).await;
    assert_content(d, "/o", b"").await;
    let big = pattern(2 * MIB + 1, 14);
    put(d, "/o", big.clone()).await;
    assert_content(d, "/o", &big).await;
    put(d, "/o", "x").await;
    assert_content(d, "/o", b"x").await;
    assert_eq!(list(d, "/").await, ["/o"]);
}

/// Eight writers to different paths at once all land intact.
pub async fn concurrent_writers(driver: Arc<dyn StorageDriver>) {
    let mut tasks = Vec::new();
    for i in 0..8u64 {
        let driver = driver.clone();
        tasks.push(tokio::spawn(async move {
            let path = format!("/c/{i}/data");
            let data = pattern(MIB + i as usize * 4099, 100 + i);
            let mut w = ok(driver.writer(&path, false).await, "writer");
            write_chunks(&mut *w, &data, &[64 * KIB + i as usize, 300 * KIB], "write").await;
            ok(w.commit().await, "commit");
            (path, data)
        }));
    }
    let mut written = Vec::new();
    for task in tasks {
        match task.await {
            Ok(done) => written.push(done),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    for (path, data) in &written {
        assert_content(&*driver, path, data).await;
    }
    assert_eq!(list(&*driver, "/c").await.len(), 8);
}

/// Concurrent `put_content` of two contents to one path while readers
/// read: a reader sees one content or the other, never a mix.
pub async fn concurrent_put_atomic(driver: Arc<dyn StorageDriver>) {
    let a = pattern(256 * KIB, 15);
    let b = pattern(300 * KIB + 1, 16);
    let path = "/atomic";
    put(&*driver, path, a.clone()).await;
    let mut tasks = Vec::new();
    for content in [a.clone(), b.clone()] {
        let driver = driver.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                ok(
                    driver.put_content(path, content.clone()).await,
                    "put_content",
                );
            }
        }));
    }
    for _ in 0..2 {
        let (driver, a, b) = (driver.clone(), a.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let got = ok(driver.get_content(path).await, "get_content");
                assert!(got == a || got == b, "read a mix of two writes");
                let got = ok(read_from(&*driver, path, 0).await, "reader");
                assert!(got == a || got == b, "streamed a mix of two writes");
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    assert_eq!(list(&*driver, "/").await, ["/atomic"]);
}

const WALK_FILES: &[&str] = &[
    "/w/a/c",
    "/w/a/d/e",
    "/w/a-b/x",
    "/w/a.b",
    "/w/a0",
    "/w/b/f",
    "/w/b/g/h/i",
    "/top",
];

/// `walk` visits everything below the start once, depth first, each
/// directory's entries sorted, parents before children; files with their
/// sizes.
pub async fn walk_order(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    for p in WALK_FILES {
        put(d, p, p.as_bytes().to_vec()).await;
    }
    for from in ["/w", "/", "/w/b"] {
        let seen = walked(d, from).await;
        let paths: Vec<&str> = seen.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, expected_walk(WALK_FILES, from), "walk from {from}");
        for info in &seen {
            let is_file = WALK_FILES.contains(&info.path.as_str());
            assert_eq!(info.is_dir, !is_file, "walk: is_dir of {}", info.path);
            if is_file {
                assert_eq!(info.size, info.path.len() as u64, "walk: size");
            }
        }
    }
    assert_not_found(
        d.walk("/w/none", &mut |_: &FileInfo| Walk::Continue).await,
        "walk of a missing directory",
    );
}

/// `walk` honours `SkipDir` (the directory is visited, its entries not) and
/// `Stop` (nothing after, and the walk succeeds).
pub async fn walk_skip_and_stop(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    for p in WALK_FILES {
        put(d, p, p.as_bytes().to_vec()).await;
    }
    let all = expected_walk(WALK_FILES, "/w");

    let mut seen = Vec::new();
    ok(
        d.walk("/w", &mut |info: &FileInfo| {
            seen.push(info.path.clone());
            if info.path == "/w/a" || info.path == "/w/b/g" {
                Walk::SkipDir
            } else {
                Walk::Continue
            }
        })
        .await,
        "walk with SkipDir",
    );
    let want: Vec<&String> = all
        .iter()
        .filter(|p| !crate::is_within(p, "/w/a") || *p == "/w/a")
        .filter(|p| !crate::is_within(p, "/w/b/g") || *p == "/w/b/g")
        .collect();
    assert_eq!(seen.iter().collect::<Vec<_>>(), want, "walk with SkipDir");

    // `walk_owned` visits the same entries, with a visitor it may move.
    let owned = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = owned.clone();
    ok(
        d.walk_owned(
            "/w",
            Box::new(move |info: &FileInfo| {
                sink.lock().unwrap().push(info.path.clone());
                if info.path == "/w/a" || info.path == "/w/b/g" {
                    Walk::SkipDir
                } else {
                    Walk::Continue
                }
            }),
        )
        .await,
        "walk_owned with SkipDir",
    );
    assert_eq!(
        owned.lock().unwrap().iter().collect::<Vec<_>>(),
        want,
        "walk_owned with SkipDir"
    );

    let mut seen = Vec::new();
    ok(
        d.walk("/w", &mut |info: &FileInfo| {
            seen.push(info.path.clone());
            if info.path == "/w/a.b" {
                Walk::Stop
            } else {
                Walk::Continue
            }
        })
        .await,
        "walk with Stop",
    );
    let stop_at = all.iter().position(|p| p == "/w/a.b").unwrap_or(all.len());
    assert_eq!(seen, all[..=stop_at.min(all.len() - 1)], "walk with Stop");

    // SkipDir on a file is Continue.
    let mut seen = 0;
    ok(
        d.walk("/w", &mut |_: &FileInfo| {
            seen += 1;
            Walk::SkipDir
        })
        .await,
        "walk skipping everything",
    );
    assert_eq!(seen, 5, "only /w's own entries are visited");
}

/// `cancel` leaves nothing: no content, no listing, nothing to resume;
/// content committed earlier at the path is untouched.
pub async fn cancel_leaves_nothing(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let path = "/cx/dir/f";
    let data = pattern(MIB + 5, 17);

    let mut w = ok(d.writer(path, false).await, "writer");
    write_chunks(&mut *w, &data, &[100 * KIB], "write").await;
    ok(w.cancel().await, "cancel");
    assert_not_found(d.stat(path).await, "stat after cancel");
    assert_not_found(d.writer(path, true).await, "resume after cancel");
    assert_eq!(
        list(d, "/").await,
        Vec::<String>::new(),
        "root after cancel"
    );

    let mut w = ok(d.writer(path, false).await, "writer");
    ok(w.write(data.clone()).await, "write");
    ok(w.close().await, "close");
    let mut w = ok(d.writer(path, true).await, "resume");
    ok(w.write(Bytes::from_static(b"more")).await, "write");
    ok(w.cancel().await, "cancel after resume");
    assert_not_found(d.stat(path).await, "stat after cancel");
    assert_not_found(d.writer(path, true).await, "resume after cancel");
    assert_eq!(
        list(d, "/").await,
        Vec::<String>::new(),
        "root after cancel"
    );

    put(d, "/cy/f", "old").await;
    let mut w = ok(d.writer("/cy/f", false).await, "writer over content");
    ok(w.write(Bytes::from_static(b"new content")).await, "write");
    ok(w.cancel().await, "cancel");
    assert_content(d, "/cy/f", b"old").await;
    assert_eq!(list(d, "/").await, ["/cy"]);
}

/// What a writer wrote is invisible until commit (also after close), and
/// visible after; earlier content stays visible until then.
pub async fn uncommitted_invisible(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    let path = "/u/d/f";
    let mut w = ok(d.writer(path, false).await, "writer");
    ok(w.write(Bytes::from_static(b"hello")).await, "write");
    for when in ["while writing", "after close"] {
        assert_not_found(d.stat(path).await, &format!("stat {when}"));
        assert_not_found(d.get_content(path).await, &format!("get_content {when}"));
        assert_not_found(d.reader(path, 0).await, &format!("reader {when}"));
        assert_not_listed(d, "/u/d", path).await;
        let files: Vec<String> = walked(d, "/")
            .await
            .into_iter()
            .filter(|i| !i.is_dir)
            .map(|i| i.path)
            .collect();
        assert!(files.is_empty(), "walk {when} shows files: {files:?}");
        if when == "while writing" {
            ok(w.close().await, "close");
            w = ok(d.writer(path, true).await, "resume");
        }
    }
    ok(w.write(Bytes::from_static(b" world")).await, "write");
    ok(w.commit().await, "commit");
    assert_content(d, path, b"hello world").await;
    assert_eq!(list(d, "/u/d").await, ["/u/d/f"]);

    put(d, "/u/g", "old").await;
    let mut w = ok(d.writer("/u/g", false).await, "writer over content");
    ok(w.write(Bytes::from_static(b"new")).await, "write");
    assert_content(d, "/u/g", b"old").await;
    assert_eq!(ok(d.stat("/u/g").await, "stat").size, 3);
    ok(w.close().await, "close");
    assert_content(d, "/u/g", b"old").await;
    let w = ok(d.writer("/u/g", true).await, "resume");
    ok(w.commit().await, "commit");
    assert_content(d, "/u/g", b"new").await;
}

/// `redirect_url` answers `None` or a non-empty URL, for present and
/// missing content alike (a missing path may also be `PathNotFound`).
pub async fn redirect_url(driver: Arc<dyn StorageDriver>) {
    let d = &*driver;
    put(d, "/redirect/blob", "x").await;
    match ok(d.redirect_url("/redirect/blob").await, "redirect_url") {
        None => {}
        Some(url) => assert!(!url.is_empty(), "redirect_url gave an empty URL"),
    }
    match d.redirect_url("/redirect/missing").await {
        Ok(None) => {}
        Ok(Some(url)) => assert!(!url.is_empty(), "redirect_url gave an empty URL"),
        Err(e) if e.is_not_found() => {}
        Err(e) => panic!("redirect_url of a missing path: {e}"),
    }
}
