//! What the driver test suite cannot see: resuming across driver
//! instances (a restart), part sizes, multipart copy, batched deletes,
//! listing across pages, presigned URLs, parameter errors and error
//! messages — against the S3 server of `BERTH_TEST_S3_*`.

mod common;
#[allow(unused_imports)]
use common::S3EnvExt;

use std::collections::BTreeSet;
use std::time::Duration;

use berth_driver::testsuite::pattern;
use berth_driver::{DriverError, FileInfo, StorageDriver, Walk};
use berth_driver_s3::{S3Driver, S3Parameters, TAIL_SUFFIX};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};

const MIB: usize = 1 << 20;

macro_rules! s3_or_skip {
    ($name:literal) => {
        match common::s3_env($name) {
            Some(env) => env,
            None => return,
        }
    };
}

/// Parameters with 5 MiB parts.
fn small_parts(env: &common::S3Env) -> S3Parameters {
    let mut p = env.params();
    p.chunksize = 5 << 20;
    p
}

async fn read_all(driver: &dyn StorageDriver, path: &str) -> Bytes {
    let mut stream = driver
        .reader(path, 0)
        .await
        .unwrap_or_else(|e| panic!("reader {path}: {e}"));
    let mut out = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("read {path}: {e}")));
    }
    out.freeze()
}

#[track_caller]
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

/// Writes `data` in pieces of the given sizes, cycled.
async fn write_pieces(w: &mut dyn berth_driver::FileWriter, data: &Bytes, sizes: &[usize]) {
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= data.len() {
            break;
        }
        let end = data.len().min(at + size);
        w.write(data.slice(at..end))
            .await
            .unwrap_or_else(|e| panic!("write: {e}"));
        at = end;
    }
}

/// The part sizes of the key's one in-progress upload.
async fn in_progress_parts(driver: &S3Driver, key: &str) -> Vec<i64> {
    let client = driver.client();
    let uploads = client
        .list_multipart_uploads()
        .bucket(driver.bucket())
        .prefix(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListMultipartUploads: {e}"));
    let ids: Vec<&str> = uploads
        .uploads()
        .iter()
        .filter(|u| u.key() == Some(key))
        .filter_map(|u| u.upload_id())
        .collect();
    assert_eq!(ids.len(), 1, "in-progress uploads of {key}");
    let parts = client
        .list_parts()
        .bucket(driver.bucket())
        .key(key)
        .upload_id(ids[0])
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListParts: {e}"));
    parts
        .parts()
        .iter()
        .map(|p| p.size().unwrap_or(-1))
        .collect()
}

async fn uploads_below(driver: &S3Driver, prefix: &str) -> usize {
    driver
        .client()
        .list_multipart_uploads()
        .bucket(driver.bucket())
        .prefix(prefix)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListMultipartUploads: {e}"))
        .uploads()
        .len()
}

/// 12 MiB in odd pieces through a 5 MiB-part writer: parts of exactly
/// 5 MiB and 5 MiB before commit, the last 2 MiB as the third at commit
/// (Garage would take smaller parts: the driver must cut them itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_exactly_chunksize() {
    let env = s3_or_skip!("parts_are_exactly_chunksize");
    let (driver, _cleanup) = env.driver(small_parts(&env)).await;
    let path = "/parts/data";
    let key = driver.key(path);
    let data = pattern(12 * MIB, 1);

    let mut w = driver.writer(path, false).await.unwrap();
    write_pieces(
        &mut *w,
        &data,
        &[1, 999_999, 3 * MIB + 7, 65_536, 2 * MIB - 3],
    )
    .await;
    assert_eq!(w.size(), data.len() as u64);
    w.close().await.unwrap();
    assert_eq!(in_progress_parts(&driver, &key).await, [5 << 20, 5 << 20]);
    // The 2 MiB that make no part wait in the tail object, unlisted.
    let tail = driver
        .client()
        .head_object()
        .bucket(driver.bucket())
        .key(format!("{key}{TAIL_SUFFIX}"))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.content_length(), Some(2 << 20));
    assert_eq!(driver.list("/parts").await.unwrap(), Vec::<String>::new());

    let w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), data.len() as u64);
    w.commit().await.unwrap();
    assert_same(&driver.get_content(path).await.unwrap(), &data, "content");
    // Three parts: the last is the 2 MiB.
    let last = driver
        .client()
        .head_object()
        .bucket(driver.bucket())
        .key(&key)
        .part_number(3)
        .send()
        .await
        .unwrap();
    assert_eq!(last.content_length(), Some(2 << 20));
    assert_eq!(last.parts_count(), Some(3));
    // Nothing left behind: no upload, no tail.
    assert_eq!(uploads_below(&driver, &key).await, 0);
    assert_eq!(driver.list("/parts").await.unwrap(), ["/parts/data"]);
    assert!(
        driver
            .client()
            .head_object()
            .bucket(driver.bucket())
            .key(format!("{key}{TAIL_SUFFIX}"))
            .send()
            .await
            .is_err(),
        "the tail object is gone after commit"
    );
}

/// Write more than a part plus a tail, close, drop the driver; a new
/// driver (a restarted process) resumes with the right size, the rest is
/// written, and the content is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_close_in_a_new_driver() {
    let env = s3_or_skip!("resume_after_close_in_a_new_driver");
    let params = small_parts(&env);
    let (driver, _cleanup) = env.driver(params.clone()).await;
    let path = "/r/_uploads/1/data";
    let data = pattern(23 * MIB + 11, 2);
    let (first, second, third) = (11 * MIB + 5, 16 * MIB + 1, 23 * MIB + 11);

    let mut w = driver.writer(path, false).await.unwrap();
    write_pieces(&mut *w, &data.slice(..first), &[MIB + 3]).await;
    w.close().await.unwrap();
    drop(driver);

    // Restart: a new client, a new driver.
    let driver = S3Driver::new(params.clone()).await.unwrap();
    let mut w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), first as u64, "size on resume");
    write_pieces(&mut *w, &data.slice(first..second), &[700_000]).await;
    w.close().await.unwrap();
    drop(driver);

    let driver = S3Driver::new(params).await.unwrap();
    let mut w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), second as u64, "size on second resume");
    w.write(data.slice(second..third)).await.unwrap();
    w.commit().await.unwrap();
    assert_same(&read_all(&driver, path).await, &data, "content");
    assert!(matches!(
        driver.writer(path, true).await,
        Err(DriverError::PathNotFound { .. })
    ));
}

/// A crash: the writer and the driver dropped without `close`. Resuming
/// goes on from the last close — exactly, even when whole parts were
/// uploaded since (they are left out and overwritten) — so a caller that
/// recorded its state at each close (the registry's hash state) finds the
/// data as it was then; writing the rest from there gives exact content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_crash() {
    let env = s3_or_skip!("resume_after_a_crash");
    let params = small_parts(&env);
    let (driver, _cleanup) = env.driver(params.clone()).await;
    let path = "/crash/data";
    let data = pattern(30 * MIB + 3, 3);

    // Close with a tail after 7 MiB (one part + 2 MiB).
    let mut w = driver.writer(path, false).await.unwrap();
    w.write(data.slice(..7 * MIB)).await.unwrap();
    w.close().await.unwrap();

    // Crash after a small write: no new part, the closed state stands.
    let mut w = driver.writer(path, true).await.unwrap();
    w.write(data.slice(7 * MIB..8 * MIB)).await.unwrap();
    drop(w);
    drop(driver);
    let driver = S3Driver::new(params.clone()).await.unwrap();
    let w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 7 * MIB as u64, "the last close survives");
    drop(w);

    // Crash after writes that filled parts (the tail's bytes went into
    // the first of them): still the last close.
    let mut w = driver.writer(path, true).await.unwrap();
    write_pieces(&mut *w, &data.slice(7 * MIB..19 * MIB), &[MIB + 1]).await;
    drop(w);
    drop(driver);
    // Let the part in flight at the crash land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let driver = S3Driver::new(params).await.unwrap();
    let key = driver.key(path);
    assert!(
        in_progress_parts(&driver, &key).await.len() >= 2,
        "parts were uploaded after the last close"
    );
    let mut w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 7 * MIB as u64, "resumed at the last close");
    w.write(data.slice(7 * MIB..)).await.unwrap();
    w.commit().await.unwrap();
    assert_same(&read_all(&driver, path).await, &data, "content");
    assert_eq!(uploads_below(&driver, &key).await, 0);
}

/// A writer that created an upload and sent a part but never closed (as
/// a registry request that failed half-way leaves it: a failed writer
/// refuses `close`): resuming goes on from the tail the last close stored,
/// which had no upload yet; the newer upload is stale and goes at the
/// commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_failed_writer() {
    let env = s3_or_skip!("resume_after_a_failed_writer");
    let params = small_parts(&env);
    let (driver, _cleanup) = env.driver(params.clone()).await;
    let path = "/failed/data";
    let key = driver.key(path);
    let data = pattern(16 * MIB + 5, 7);

    // A first close before any part: only the tail.
    let mut w = driver.writer(path, false).await.unwrap();
    w.write(data.slice(..3 * MIB)).await.unwrap();
    w.close().await.unwrap();
    // Then a writer that sends a part and dies before its close: its
    // upload is stale, the closed state is the 3 MiB tail.
    let mut w = driver.writer(path, true).await.unwrap();
    w.write(data.slice(3 * MIB..9 * MIB)).await.unwrap();
    drop(w);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(uploads_below(&driver, &key).await, 1);
    let mut w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 3 * MIB as u64);
    w.write(data.slice(3 * MIB..12 * MIB)).await.unwrap();
    w.close().await.unwrap();

    let mut w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 12 * MIB as u64);
    w.write(data.slice(12 * MIB..)).await.unwrap();
    w.commit().await.unwrap();
    assert_same(&read_all(&driver, path).await, &data, "content");
    // The stale upload went at the commit.
    assert_eq!(uploads_below(&driver, &key).await, 0);
}

/// A writer that never filled a part: close keeps it in the tail alone,
/// resume and commit make a single object; `writer(path, false)` throws
/// away a closed writer's upload and tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_writers_and_restart() {
    let env = s3_or_skip!("small_writers_and_restart");
    let (driver, _cleanup) = env.driver(small_parts(&env)).await;
    let path = "/small/data";
    let key = driver.key(path);

    let mut w = driver.writer(path, false).await.unwrap();
    w.write(pattern(6 * MIB, 4)).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(uploads_below(&driver, &key).await, 1);

    // A new writer discards the closed one, upload and all.
    let mut w = driver.writer(path, false).await.unwrap();
    assert_eq!(uploads_below(&driver, &key).await, 0);
    w.write(Bytes::from_static(b"abc")).await.unwrap();
    w.close().await.unwrap();
    let mut w = driver.writer(path, true).await.unwrap();
    assert_eq!(w.size(), 3);
    w.write(Bytes::from_static(b"def")).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(driver.get_content(path).await.unwrap(), "abcdef");
    assert_eq!(driver.list("/small").await.unwrap(), ["/small/data"]);
}

/// Above `multipartcopythresholdsize`, `move_to` copies in
/// `multipartcopychunksize` pieces; the content is exact, the source gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_copy() {
    let env = s3_or_skip!("multipart_copy");
    let mut params = env.params();
    params.multipartcopythresholdsize = 5 << 20;
    params.multipartcopychunksize = 5 << 20;
    params.multipartcopymaxconcurrency = 2;
    let (driver, _cleanup) = env.driver(params).await;
    let data = pattern(12 * MIB + 3, 5);
    driver.put_content("/mc/src", data.clone()).await.unwrap();
    driver.move_to("/mc/src", "/mc/dst/moved").await.unwrap();
    assert_same(&read_all(&driver, "/mc/dst/moved").await, &data, "moved");
    assert!(matches!(
        driver.stat("/mc/src").await,
        Err(DriverError::PathNotFound { .. })
    ));
    let head = driver
        .client()
        .head_object()
        .bucket(driver.bucket())
        .key(driver.key("/mc/dst/moved"))
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.parts_count(), Some(3), "copied in three pieces");
    assert_eq!(head.content_length(), Some(5 << 20));

    // At the threshold: one CopyObject.
    let small = pattern(5 * MIB, 6);
    driver
        .put_content("/mc/small", small.clone())
        .await
        .unwrap();
    driver.move_to("/mc/small", "/mc/small2").await.unwrap();
    assert_same(
        &driver.get_content("/mc/small2").await.unwrap(),
        &small,
        "moved",
    );
}

/// 1,100 objects in one directory: `list` and `walk` page through them
/// (walk skipping a big directory jumps past it), `delete` removes them in
/// batches, and leaves the sibling `/bulk-x` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_objects() {
    let env = s3_or_skip!("many_objects");
    let (driver, _cleanup) = env.driver(env.params()).await;
    let paths: Vec<String> = (0..1100).map(|i| format!("/bulk/d/{i:04}")).collect();
    futures_util::stream::iter(paths.iter())
        .map(|p| driver.put_content(p, Bytes::from(p.clone())))
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    for p in ["/bulk/a", "/bulk/d-1/x", "/bulk/e", "/bulk-x"] {
        driver
            .put_content(p, Bytes::from_static(b"x"))
            .await
            .unwrap();
    }

    let listed = driver.list("/bulk/d").await.unwrap();
    assert_eq!(listed, paths);
    assert_eq!(
        driver.list("/bulk").await.unwrap(),
        ["/bulk/a", "/bulk/d", "/bulk/d-1", "/bulk/e"]
    );

    let mut seen = Vec::new();
    driver
        .walk("/", &mut |info: &FileInfo| {
            seen.push(info.path.clone());
            Walk::Continue
        })
        .await
        .unwrap();
    let mut want = vec![
        "/bulk".to_owned(),
        "/bulk/a".to_owned(),
        "/bulk/d".to_owned(),
    ];
    want.extend(paths.iter().cloned());
    want.extend(
        ["/bulk/d-1", "/bulk/d-1/x", "/bulk/e", "/bulk-x"]
            .iter()
            .map(|s| s.to_string()),
    );
    assert_eq!(seen, want, "walk order across pages");

    let mut seen = Vec::new();
    driver
        .walk("/", &mut |info: &FileInfo| {
            seen.push(info.path.clone());
            if info.path == "/bulk/d" {
                Walk::SkipDir
            } else {
                Walk::Continue
            }
        })
        .await
        .unwrap();
    assert_eq!(
        seen,
        [
            "/bulk",
            "/bulk/a",
            "/bulk/d",
            "/bulk/d-1",
            "/bulk/d-1/x",
            "/bulk/e",
            "/bulk-x"
        ]
    );

    // An upload left below the directory goes with it.
    let mut w = driver.writer("/bulk/d/upload", false).await.unwrap();
    w.write(pattern(11 * MIB, 7)).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(uploads_below(&driver, &driver.key("/bulk/d/")).await, 1);

    driver.delete("/bulk/d").await.unwrap();
    assert!(matches!(
        driver.list("/bulk/d").await,
        Err(DriverError::PathNotFound { .. })
    ));
    assert_eq!(uploads_below(&driver, &driver.key("/bulk/d/")).await, 0);
    assert_eq!(
        driver.list("/bulk").await.unwrap(),
        ["/bulk/a", "/bulk/d-1", "/bulk/e"]
    );
    assert_eq!(driver.get_content("/bulk-x").await.unwrap(), "x");
}

/// The presigned URL serves the content to a plain HTTP GET (curl).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_url_is_fetchable() {
    let env = s3_or_skip!("redirect_url_is_fetchable");
    let (driver, _cleanup) = env.driver(env.params()).await;
    let data = pattern(100_000, 8);
    driver
        .put_content("/blob/data", data.clone())
        .await
        .unwrap();
    let url = driver.redirect_url("/blob/data").await.unwrap().unwrap();
    assert!(url.contains("X-Amz-Expires=1200"), "20 minutes: {url}");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--fail",
                "--max-time",
                "30",
                &url,
            ])
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same(&out.stdout, &data, "fetched");
}

/// Every error names the operation and the path, and the S3 error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_failed() {
    let env = s3_or_skip!("errors_say_what_failed");
    let mut params = env.params();
    params.bucket = "berth-no-such-bucket".into();
    let (driver, _cleanup) = env.driver(params).await;
    let e = driver.get_content("/a/b").await.unwrap_err();
    assert!(matches!(e, DriverError::Backend { .. }), "{e}");
    let message = e.to_string();
    assert!(
        message.starts_with("s3: GetObject /a/b: HTTP 404 NoSuchBucket"),
        "{message}"
    );
    let e = driver.list("/a").await.unwrap_err().to_string();
    assert!(
        e.starts_with("s3: ListObjectsV2 /a: HTTP 404 NoSuchBucket"),
        "{e}"
    );
}

/// Bad parameters are refused before anything is sent, naming the
/// parameter and the value.
#[tokio::test]
async fn parameter_errors() {
    let mut p = S3Parameters::new("b");
    p.region = Some("us-east-1".into());
    p.chunksize = 4 << 20;
    assert_eq!(
        S3Driver::new(p).await.unwrap_err().to_string(),
        "s3 storage parameter chunksize: 4194304 is below the minimum part size of S3 \
         multipart uploads, 5242880 (5 MiB)"
    );

    let p = S3Parameters {
        region: Some("us-east-1".into()),
        ..S3Parameters::default()
    };
    assert_eq!(
        S3Driver::new(p).await.unwrap_err().to_string(),
        "s3 storage parameter bucket: required, and not given"
    );

    let e = serde_json::from_str::<S3Parameters>(
        r#"{"bucket": "b", "region": "us-east-1", "encrypt": "aes"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(r#"s3 storage parameter encrypt: expected true or false, got "aes""#),
        "{e}"
    );

    let mut p = S3Parameters::new("b");
    p.regionendpoint = Some("https://minio.example:9000".into());
    p.skipverify = true;
    assert!(
        S3Driver::new(p)
            .await
            .unwrap_err()
            .to_string()
            .starts_with("s3 storage parameter skipverify: true is not supported")
    );

    // Unknown keys are kept (and warned about), not fatal.
    let p: S3Parameters =
        serde_json::from_str(r#"{"bucket": "b", "region": "r", "fancy": true}"#).unwrap();
    assert_eq!(p.unknown, ["fancy"]);
    assert!(S3Driver::new(p).await.is_ok());
}

/// Tail objects and uploads stay out of sight: list, stat and walk show
/// nothing of a closed writer; the directory holding it lists empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_state_is_invisible() {
    let env = s3_or_skip!("staged_state_is_invisible");
    let (driver, _cleanup) = env.driver(small_parts(&env)).await;
    let mut w = driver.writer("/s/u/data", false).await.unwrap();
    w.write(pattern(7 * MIB, 9)).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(driver.list("/s/u").await.unwrap(), Vec::<String>::new());
    assert!(driver.stat("/s/u/data").await.unwrap_err().is_not_found());
    let mut files = BTreeSet::new();
    driver
        .walk("/", &mut |info: &FileInfo| {
            if !info.is_dir {
                files.insert(info.path.clone());
            }
            Walk::Continue
        })
        .await
        .unwrap();
    assert!(files.is_empty(), "{files:?}");
    let w = driver.writer("/s/u/data", true).await.unwrap();
    assert_eq!(w.size(), 7 * MIB as u64);
    w.cancel().await.unwrap();
    assert!(driver.list("/").await.unwrap().is_empty());
    assert_eq!(uploads_below(&driver, &driver.key("/s/")).await, 0);
}

/// The optional settings reach the server and work: a `useragent`
/// suffix, no storage class, checksums on every request and response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_settings() {
    let env = s3_or_skip!("optional_settings");
    let mut params = small_parts(&env);
    params.useragent = Some("berth-test/0.1 (ci)".into());
    params.storageclass = "NONE".into();
    params.checksumcalculation = berth_driver_s3::ChecksumMode::WhenSupported;
    params.checksumvalidation = berth_driver_s3::ChecksumMode::WhenSupported;
    let (driver, _cleanup) = env.driver(params).await;
    let data = pattern(11 * MIB, 10);
    let mut w = driver.writer("/opt/data", false).await.unwrap();
    w.write(data.clone()).await.unwrap();
    w.commit().await.unwrap();
    assert_same(
        &driver.get_content("/opt/data").await.unwrap(),
        &data,
        "content",
    );
    driver
        .put_content("/opt/small", Bytes::from_static(b"s"))
        .await
        .unwrap();
    driver.delete("/opt").await.unwrap();
}
