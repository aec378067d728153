//! SIGTERM during a large upload: the request in flight is finished (or
//! fails cleanly), nothing is half-stored, and the upload can be completed
//! after a restart on the same storage.

mod common;

use std::io::Read;
use std::time::Duration;

use berth_digest::{Algorithm, Digester};
use common::Berth;

const SIZE: u64 = 256 << 20;

/// A reader of `SIZE` deterministic bytes.
struct Pattern {
    at: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((SIZE - self.at) as usize);
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = ((self.at + i as u64) % 251) as u8;
        }
        self.at += n as u64;
        Ok(n)
    }
}

#[test]
fn sigterm_during_a_256_mib_upload() {
    let mut first = Berth::start_with("  draintimeout: 60s\n");
    let root = first.root.clone();
    let r = first.post("/v2/drain/app/blobs/uploads/", b"");
    assert_eq!(r.status, 202);
    let location = first.url(r.header("location").unwrap());
    let uuid = r.header("docker-upload-uuid").unwrap().to_owned();

    let patch_location = location.clone();
    let upload = std::thread::spawn(move || {
        berth_testkit::http()
            .patch(&patch_location)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Length", &SIZE.to_string())
            .send(ureq::SendBody::from_reader(&mut Pattern { at: 0 }))
    });
    // Let the body get going, then ask the server to stop.
    std::thread::sleep(Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let answered = upload.join().unwrap();
    assert!(
        first.wait_exit(Duration::from_secs(90)),
        "berth did not stop"
    );

    // Nothing of the blob is visible in the registry's blob store.
    let blobs = root.join("docker/registry/v2/blobs");
    let stored: Vec<_> = walk(&blobs);
    assert!(stored.is_empty(), "half-stored blob data: {stored:?}");

    // Restart on the same storage and finish the upload.
    let second = Berth::start_with(&format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n",
        root.display()
    ));
    let status = second.get(&format!("/v2/drain/app/blobs/uploads/{uuid}"));
    let mut digester = Digester::new(Algorithm::Sha256);
    let mut reader = Pattern { at: 0 };
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        digester.update(&buf[..n]);
    }
    let digest = digester.finish();
    match (&answered, status.status) {
        // The PATCH finished before the server stopped: resume and commit.
        (Ok(resp), 204) if resp.status().as_u16() == 202 => {
            eprintln!("the PATCH was drained to its end; finishing the upload after the restart");
            assert_eq!(
                status.header("range"),
                Some(format!("0-{}", SIZE - 1).as_str())
            );
            let r = second.put(
                &format!("/v2/drain/app/blobs/uploads/{uuid}?digest={digest}"),
                &[],
                b"",
            );
            assert_eq!(r.status, 201, "{}", r.text());
            let blob = second.head(&format!("/v2/drain/app/blobs/{digest}"));
            assert_eq!(
                blob.header("content-length"),
                Some(SIZE.to_string().as_str())
            );
        }
        // Cut off: the upload reports what it holds, or is refused as
        // interrupted; either way the client starts over, and nothing is
        // stored as a blob.
        (_, 204 | 400 | 404) => {
            eprintln!(
                "the PATCH was cut off ({answered:?}); upload status {}",
                status.status
            );
            let blob = second.get(&format!("/v2/drain/app/blobs/{digest}"));
            assert_eq!(blob.status, 404);
        }
        (answered, code) => panic!("unexpected: PATCH {answered:?}, status {code}"),
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
