//! The driver test suite on the filesystem driver, and what only the
//! filesystem driver promises: files on disk in the layout, staging and
//! temporary names, no way out of the root.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use berth_driver::testsuite::{INVALID_PATHS, pattern};
use berth_driver::{
    DriverError, FileInfo, FilesystemDriver, FilesystemParameters, StorageDriver, Walk,
};
use bytes::Bytes;
use futures_util::StreamExt;
use tempfile::TempDir;

async fn driver() -> (Arc<dyn StorageDriver>, TempDir) {
    let dir = TempDir::new().expect("temp dir");
    // A root that does not exist yet: the driver creates it on demand.
    let driver = FilesystemDriver::new(dir.path().join("root"));
    (Arc::new(driver), dir)
}

berth_driver::driver_test_suite!(driver);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every file and directory below `dir`, with file contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            let key = path.strip_prefix(dir).expect("below").display().to_string();
            let md = fs::symlink_metadata(&path).expect("metadata");
            if md.is_dir() {
                out.insert(key, None);
                stack.push(path);
            } else {
                out.insert(key, Some(fs::read(&path).expect("read")));
            }
        }
    }
    out
}

/// Every file and directory below the root, as relative paths.
fn on_disk(root: &Path) -> Vec<String> {
    if !root.exists() {
        return Vec::new();
    }
    snapshot(root).into_keys().collect()
}

fn assert_invalid<T>(result: berth_driver::Result<T>, what: &str) {
    match result {
        Err(DriverError::InvalidPath { .. }) => {}
        Err(e) => panic!("{what}: expected InvalidPath, got {e}"),
        Ok(_) => panic!("{what}: expected InvalidPath, got Ok"),
    }
}

/// Crafted paths never reach outside the root (nor change anything in it).
#[test]
fn crafted_paths_stay_inside_the_root() {
    let base = TempDir::new().expect("temp dir");
    let root = base.path().join("root");
    fs::create_dir_all(root.join("a/b")).expect("mkdir");
    fs::write(root.join("a/b/file"), "inside").expect("write");
    fs::create_dir_all(base.path().join("outside")).expect("mkdir");
    fs::write(base.path().join("outside/secret"), "secret").expect("write");
    fs::write(base.path().join("x"), "beside the root").expect("write");
    let before = snapshot(base.path());

    let long_traversal = format!("/{}x", "../".repeat(2000));
    let mut crafted: Vec<String> = INVALID_PATHS.iter().map(|p| p.to_string()).collect();
    crafted.extend(
        [
            "/../outside/secret",
            "/a/../../outside/secret",
            "/a/b/../../../x",
            "/./x",
            "/a/b/..",
            "../../outside",
            "..",
            ".",
            "/",
            "/\0",
            "/a/b/file\0/../../../x",
            "/a/b\\..\\..\\..\\x",
            "\\outside\\secret",
            "C:\\outside",
            "/a/b/file/",
            "/a/\u{2215}..\u{2215}x",
            "/a/\u{2e}\u{2e}\u{2f}x",
            "/a/\u{ff0f}..",
            "/a/%2F..%2Fx",
            "/~/x",
            "/$HOME",
            "/a/b/file~partial",
            "/a/#put~1",
            "/\u{0430}",
            "/a\u{200b}",
        ]
        .iter()
        .map(|p| p.to_string()),
    );
    crafted.push(long_traversal);
    crafted.push(format!("/{}/..", "a".repeat(5000)));

    runtime().block_on(async {
        let d = FilesystemDriver::new(&root);
        for p in &crafted {
            let p = p.as_str();
            // "/" is valid (the root): only mutating it must be refused or harmless.
            if p == "/" {
                assert_invalid(d.move_to("/", "/a/x").await, "move the root");
                assert_invalid(d.move_to("/a/b/file", "/").await, "move onto the root");
                assert!(d.put_content("/", Bytes::from_static(b"x")).await.is_err());
                assert!(d.writer("/", false).await.is_err());
                continue;
            }
            assert_invalid(d.get_content(p).await, &format!("get_content {p:?}"));
            assert_invalid(
                d.put_content(p, Bytes::from_static(b"pwned")).await,
                &format!("put_content {p:?}"),
            );
            assert_invalid(d.reader(p, 0).await, &format!("reader {p:?}"));
            assert_invalid(d.writer(p, false).await, &format!("writer {p:?}"));
            assert_invalid(d.writer(p, true).await, &format!("resume {p:?}"));
            assert_invalid(d.stat(p).await, &format!("stat {p:?}"));
            assert_invalid(d.list(p).await, &format!("list {p:?}"));
            assert_invalid(d.move_to(p, "/a/c").await, &format!("move from {p:?}"));
            assert_invalid(d.move_to("/a/b/file", p).await, &format!("move to {p:?}"));
            assert_invalid(d.delete(p).await, &format!("delete {p:?}"));
            assert_invalid(d.redirect_url(p).await, &format!("redirect_url {p:?}"));
            assert_invalid(
                d.walk(p, &mut |_: &FileInfo| Walk::Continue).await,
                &format!("walk {p:?}"),
            );
        }
    });

    assert_eq!(snapshot(base.path()), before, "something changed on disk");
}

/// Names too long for the filesystem fail cleanly, inside the root.
#[test]
fn overlong_names_fail_cleanly() {
    let base = TempDir::new().expect("temp dir");
    let root = base.path().join("root");
    fs::create_dir_all(&root).expect("mkdir");
    let before = snapshot(base.path());
    runtime().block_on(async {
        let d = FilesystemDriver::new(&root);
        let long = format!("/{}", "a".repeat(300));
        let deep = format!("/a{}", "/b".repeat(3000));
        for p in [long.as_str(), deep.as_str()] {
            assert!(d.put_content(p, Bytes::from_static(b"x")).await.is_err());
            assert!(d.writer(p, false).await.is_err());
            assert!(d.get_content(p).await.is_err());
            assert!(d.stat(p).await.is_err());
            assert!(d.delete(p).await.is_err());
        }
        // What a failed write created on the way is inside the root; clean it.
        let _ = d.delete("/a").await;
    });
    assert_eq!(snapshot(base.path()), before);
}

/// Content is a plain file at the mapped path; no temporary or staged
/// file survives a put, a commit or a cancel; directories go when emptied.
#[test]
fn layout_on_disk() {
    let base = TempDir::new().expect("temp dir");
    let root = base.path().join("root");
    runtime().block_on(async {
        let d = FilesystemDriver::new(&root);
        let blob = "/docker/registry/v2/blobs/sha256/ab/abcdef/data";
        d.put_content(blob, Bytes::from_static(b"blob"))
            .await
            .expect("put");
        assert_eq!(
            fs::read(root.join("docker/registry/v2/blobs/sha256/ab/abcdef/data")).expect("read"),
            b"blob"
        );
        // Only the file and its directories: no temporary file left.
        assert_eq!(
            on_disk(&root),
            [
                "docker",
                "docker/registry",
                "docker/registry/v2",
                "docker/registry/v2/blobs",
                "docker/registry/v2/blobs/sha256",
                "docker/registry/v2/blobs/sha256/ab",
                "docker/registry/v2/blobs/sha256/ab/abcdef",
                "docker/registry/v2/blobs/sha256/ab/abcdef/data",
            ]
        );

        // A writer stages beside the target.
        let upload = "/docker/registry/v2/repositories/r/_uploads/u1/data";
        let staged = root.join("docker/registry/v2/repositories/r/_uploads/u1/data~partial");
        let mut w = d.writer(upload, false).await.expect("writer");
        w.write(pattern(3 << 20, 1)).await.expect("write");
        w.write(Bytes::from_static(b"tail")).await.expect("write");
        w.close().await.expect("close");
        assert_eq!(fs::metadata(&staged).expect("staged").len(), (3 << 20) + 4);
        assert!(
            !root
                .join("docker/registry/v2/repositories/r/_uploads/u1/data")
                .exists()
        );
        assert_eq!(
            d.list("/docker/registry/v2/repositories/r/_uploads/u1")
                .await
                .expect("list"),
            Vec::<String>::new(),
            "the staged file is not listed"
        );
        let w = d.writer(upload, true).await.expect("resume");
        w.commit().await.expect("commit");
        assert!(
            !staged.exists(),
            "the staged file is renamed away by commit"
        );

        d.move_to(upload, "/docker/registry/v2/blobs/sha256/cd/cdef/data")
            .await
            .expect("move");
        // The emptied upload directories went, up to the last non-empty one.
        assert!(!root.join("docker/registry/v2/repositories").exists());

        let mut w = d.writer("/x/y/z", false).await.expect("writer");
        w.write(Bytes::from_static(b"gone")).await.expect("write");
        w.cancel().await.expect("cancel");
        assert!(
            !root.join("x").exists(),
            "cancel removes emptied directories"
        );

        d.delete("/docker").await.expect("delete");
        assert_eq!(on_disk(&root), Vec::<String>::new());
        assert!(root.exists(), "the root itself stays");
    });
}

/// Files that are not valid path components (another tool's, our own
/// bookkeeping) are never listed or walked; empty directories are.
#[test]
fn listing_hides_foreign_names() {
    let base = TempDir::new().expect("temp dir");
    let root = base.path().join("root");
    fs::create_dir_all(root.join("dir/empty")).expect("mkdir");
    for name in [
        "dir/file",
        "dir/x~partial",
        "dir/#put~1-2-3",
        "dir/with space",
        "dir/é",
    ] {
        fs::write(root.join(name), "x").expect("write");
    }
    runtime().block_on(async {
        let d = FilesystemDriver::new(&root);
        assert_eq!(
            d.list("/dir").await.expect("list"),
            ["/dir/empty", "/dir/file"]
        );
        let mut seen = Vec::new();
        d.walk("/", &mut |i: &FileInfo| {
            seen.push((i.path.clone(), i.is_dir));
            Walk::Continue
        })
        .await
        .expect("walk");
        assert_eq!(
            seen,
            [
                ("/dir".to_owned(), true),
                ("/dir/empty".to_owned(), true),
                ("/dir/file".to_owned(), false)
            ]
        );
        // Deleting the directory takes the foreign files with it.
        d.delete("/dir").await.expect("delete");
        assert_eq!(on_disk(&root), Vec::<String>::new());
    });
}

/// A writer dropped mid-way keeps every byte it accepted for a resume.
#[test]
fn dropped_writer_keeps_accepted_bytes() {
    let base = TempDir::new().expect("temp dir");
    runtime().block_on(async {
        let d = FilesystemDriver::new(base.path());
        let mut w = d.writer("/up/data", false).await.expect("writer");
        let mut want = Vec::new();
        for i in 0..10u8 {
            let chunk = Bytes::from(vec![i; 1000 + usize::from(i)]);
            want.extend_from_slice(&chunk);
            w.write(chunk).await.expect("write");
        }
        drop(w);
        let w = d.writer("/up/data", true).await.expect("resume");
        assert_eq!(w.size(), want.len() as u64);
        w.commit().await.expect("commit");
        assert_eq!(d.get_content("/up/data").await.expect("get"), want);
    });
}

/// Distribution's roots work as they are: files written by another
/// process read back, empty directories it left list as directories.
#[test]
fn reads_a_distribution_root() {
    let base = TempDir::new().expect("temp dir");
    let root = base.path();
    let link = "docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/current/link";
    fs::create_dir_all(root.join(link).parent().expect("parent")).expect("mkdir");
    fs::write(root.join(link), "sha256:abc").expect("write");
    fs::create_dir_all(root.join("docker/registry/v2/repositories/library/ubuntu/_uploads"))
        .expect("mkdir");
    runtime().block_on(async {
        let d = FilesystemDriver::new(root);
        assert_eq!(
            d.get_content(&format!("/{link}")).await.expect("get"),
            "sha256:abc"
        );
        assert_eq!(
            d.list("/docker/registry/v2/repositories/library/ubuntu")
                .await
                .expect("list"),
            [
                "/docker/registry/v2/repositories/library/ubuntu/_manifests",
                "/docker/registry/v2/repositories/library/ubuntu/_uploads"
            ]
        );
        let info = d
            .stat("/docker/registry/v2/repositories/library/ubuntu/_uploads")
            .await
            .expect("stat");
        assert!(info.is_dir);
    });
}

/// Reads come in bounded chunks, and a stream keeps reading the content
/// it opened even when the path is replaced meanwhile.
#[test]
fn reader_chunks_and_snapshot() {
    let base = TempDir::new().expect("temp dir");
    runtime().block_on(async {
        let d = FilesystemDriver::new(base.path());
        let data = pattern((5 << 20) + 3, 2);
        d.put_content("/f", data.clone()).await.expect("put");
        let mut stream = d.reader("/f", 0).await.expect("reader");
        let first = stream.next().await.expect("a chunk").expect("read");
        assert!(
            !first.is_empty() && first.len() <= 1 << 20,
            "{}",
            first.len()
        );
        d.put_content("/f", Bytes::from_static(b"replaced"))
            .await
            .expect("put");
        let mut read = first.to_vec();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("read");
            assert!(chunk.len() <= 1 << 20);
            read.extend_from_slice(&chunk);
        }
        assert!(read == data, "the stream read the content it opened");
        assert_eq!(d.get_content("/f").await.expect("get"), "replaced");
    });
}

#[test]
fn parameters() {
    let p = FilesystemParameters::default();
    assert_eq!(p.rootdirectory, Path::new("/var/lib/registry"));
    assert_eq!(p.maxthreads, 100);
    let d = FilesystemDriver::with_parameters(FilesystemParameters {
        maxthreads: 3,
        ..FilesystemParameters::new("/tmp/x")
    });
    assert_eq!(d.max_threads(), 25, "raised to the minimum");
    assert_eq!(d.root_directory(), Path::new("/tmp/x"));
    assert_eq!(d.name(), "filesystem");
    let d = FilesystemDriver::with_parameters(FilesystemParameters {
        maxthreads: 1000,
        ..FilesystemParameters::default()
    });
    assert_eq!(d.max_threads(), 1000);
}

/// With every permit taken, operations wait rather than fail; they go on
/// when one is free.
#[test]
fn maxthreads_bounds_blocking_work() {
    let base = TempDir::new().expect("temp dir");
    runtime().block_on(async {
        let d = FilesystemDriver::with_parameters(FilesystemParameters {
            maxthreads: 25,
            ..FilesystemParameters::new(base.path())
        });
        // 200 concurrent puts through 25 permits all complete.
        let mut tasks = Vec::new();
        for i in 0..200 {
            let d = d.clone();
            tasks.push(tokio::spawn(async move {
                d.put_content(&format!("/many/{i}"), Bytes::from(vec![1; 100]))
                    .await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("put");
        }
        assert_eq!(d.list("/many").await.expect("list").len(), 200);
    });
}

/// Content where a directory is, or below a file, is refused with a
/// backend error; nothing is changed and no temporary file is left.
#[test]
fn file_and_directory_conflicts() {
    let base = TempDir::new().expect("temp dir");
    let root = base.path().join("root");
    runtime().block_on(async {
        let d = FilesystemDriver::new(&root);
        d.put_content("/f", Bytes::from_static(b"file"))
            .await
            .expect("put");
        d.put_content("/dir/x", Bytes::from_static(b"x"))
            .await
            .expect("put");
        let before = snapshot(&root);
        let backend = |r: berth_driver::Result<()>, what: &str| match r {
            Err(DriverError::Backend { .. }) => {}
            other => panic!("{what}: expected a backend error, got {other:?}"),
        };
        backend(
            d.put_content("/f/below", Bytes::from_static(b"y")).await,
            "put below a file",
        );
        backend(
            d.put_content("/dir", Bytes::from_static(b"y")).await,
            "put over a directory",
        );
        assert!(
            d.writer("/f/below", false).await.is_err(),
            "writer below a file"
        );
        let mut w = d.writer("/dir", false).await.expect("writer");
        w.write(Bytes::from_static(b"y")).await.expect("write");
        backend(w.commit().await, "commit over a directory");
        backend(
            d.move_to("/f", "/dir").await,
            "move a file over a directory",
        );
        // The failed commit leaves its staged file (for a resume); cancel it.
        d.writer("/dir", true)
            .await
            .expect("resume")
            .cancel()
            .await
            .expect("cancel");
        assert_eq!(
            snapshot(&root),
            before,
            "nothing changed, no temporary left"
        );
        d.delete("/").await.expect("delete everything");
        assert_eq!(on_disk(&root), Vec::<String>::new());
        assert!(root.exists());
        d.delete("/").await.expect("delete of an empty root");
    });
}

/// A directory left alone gets a listing version; any change of its
/// children afterwards — even one undone at once — is seen as a change,
/// and changes deeper down are not.
#[test]
fn list_versions_see_every_change_of_the_children() {
    use berth_driver::Listing;
    runtime().block_on(async {
        let dir = TempDir::new().expect("temp dir");
        let d = FilesystemDriver::new(dir.path());
        for p in ["/t/a/x", "/t/b"] {
            d.put_content(p, Bytes::from_static(b"x"))
                .await
                .expect("put");
        }
        let list = |known: Option<berth_driver::ListVersion>| {
            let d = &d;
            async move { d.list_if_changed("/t", known.as_ref()).await.expect("list") }
        };
        // Just written: no version yet (a change in the same clock tick
        // could not be told apart).
        let Listing::Changed { version: None, .. } = list(None).await else {
            panic!("a directory changed just now got a version");
        };
        std::thread::sleep(std::time::Duration::from_millis(2_200));
        let Listing::Changed {
            entries,
            version: Some(version),
        } = list(None).await
        else {
            panic!("a settled directory got no version");
        };
        assert_eq!(entries, ["/t/a", "/t/b"]);
        assert_eq!(list(Some(version.clone())).await, Listing::Unchanged);
        // Below a child: not a change of the children.
        d.put_content("/t/a/x", Bytes::from_static(b"y"))
            .await
            .expect("put");
        d.put_content("/t/a/z", Bytes::from_static(b"z"))
            .await
            .expect("put");
        assert_eq!(list(Some(version.clone())).await, Listing::Unchanged);
        // A child added and removed again: a change.
        d.put_content("/t/c/y", Bytes::from_static(b"c"))
            .await
            .expect("put");
        d.delete("/t/c").await.expect("delete");
        let Listing::Changed {
            entries,
            version: again,
        } = list(Some(version)).await
        else {
            panic!("an add and a delete went unseen");
        };
        assert_eq!(entries, ["/t/a", "/t/b"]);
        assert_eq!(again, None, "changed just now, yet a version");
        // Replaced by another directory of the same name.
        std::thread::sleep(std::time::Duration::from_millis(2_200));
        let Listing::Changed {
            version: Some(version),
            ..
        } = list(None).await
        else {
            panic!("no version after settling");
        };
        d.delete("/t").await.expect("delete");
        d.put_content("/t/a/x", Bytes::from_static(b"x"))
            .await
            .expect("put");
        d.put_content("/t/b", Bytes::from_static(b"x"))
            .await
            .expect("put");
        assert!(matches!(list(Some(version)).await, Listing::Changed { .. }));
    });
}

/// A file read partly from the page cache and partly from the disk, by
/// one stream and by as many at once as there are cores (when the reader
/// takes cached chunks on its own thread): the bytes come out whole and in
/// order either way.
#[test]
fn reads_mix_page_cache_and_disk() {
    use std::os::fd::AsRawFd;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    runtime().block_on(async {
        let dir = TempDir::new().expect("temp dir");
        let d = FilesystemDriver::new(dir.path());
        let content = pattern(5 << 20, 7);
        d.put_content("/big", content.clone()).await.expect("put");
        let file = fs::File::open(dir.path().join("big")).expect("open");
        file.sync_all().expect("sync");
        for streams in [1, cores.max(2)] {
            for (from, len) in [(0, 0), (1 << 20, 2 << 20), (3 << 20, 0)] {
                // Evict (clean) pages: reads of them must go to the disk.
                // SAFETY: a valid descriptor and plain integers.
                let advised = unsafe {
                    libc::posix_fadvise(file.as_raw_fd(), from, len, libc::POSIX_FADV_DONTNEED)
                };
                assert_eq!(advised, 0);
                let mut open = Vec::new();
                for _ in 0..streams {
                    open.push(d.reader("/big", 12_345).await.expect("reader"));
                }
                for stream in open {
                    let chunks: Vec<Bytes> =
                        stream.map(|c| c.expect("chunk")).collect::<Vec<_>>().await;
                    let read: Vec<u8> = chunks.concat();
                    assert_eq!(read.len(), content.len() - 12_345);
                    assert!(read == content[12_345..], "the bytes differ");
                }
            }
        }
    });
}
