//! `berth garbage-collect`: runs beside a live registry, removes what
//! nothing references and keeps what pulls.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Berth;

fn gc(config: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("garbage-collect")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stop_gracefully(b: &mut Berth) {
    let status = Command::new("kill")
        .args(["-TERM", &b.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(b.wait_exit(Duration::from_secs(30)), "berth did not stop");
}

/// A berth on a filesystem root whose collections give no grace period
/// (what the test pushed is fair game as soon as nothing references it).
fn start_without_grace() -> Berth {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut b = Berth::start_with(&format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n  maintenance:\n    gc:\n      delay: 0s\n",
        root.display()
    ));
    b.root = root;
    b.keeping(dir)
}

#[test]
fn garbage_collect_command() {
    let mut b = start_without_grace();
    let (_, kept) = b.push_image("gc/app", "v1", 1);
    let (_, untagged) = b.push_image("gc/app", "v2", 2);
    // Move v2 onto v1's manifest: the second image is now untagged.
    let body = b.get(&format!("/v2/gc/app/manifests/{kept}")).body;
    let r = b.put(
        "/v2/gc/app/manifests/v2",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &body,
    );
    assert_eq!(r.status, 201);
    let orphan = b.push_blob("gc/app", b"an orphan nobody references");
    b.delete(&format!("/v2/gc/app/blobs/{orphan}"));
    // The untagged image's layer answers HEAD (and sits in the server's
    // in-memory descriptor cache).
    let untagged_manifest = b.get(&format!("/v2/gc/app/manifests/{untagged}")).json();
    let layer = untagged_manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(b.head(&format!("/v2/gc/app/blobs/{layer}")).status, 200);
    // Past the grace period (zero, plus the markers' 100 ms).
    std::thread::sleep(Duration::from_millis(400));

    let config = b.config.clone();
    let root = b.root.clone();
    let before = count_files(&root.join("docker"));
    let (ok, stdout, stderr) = gc(&config, &["--delete-untagged", "--dry-run"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("would remove manifest gc/app@{untagged}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("would remove blob {orphan}")),
        "{stdout}"
    );
    assert!(stdout.contains("dry run: nothing was deleted"), "{stdout}");
    assert_eq!(count_files(&root.join("docker")), before);

    // While berth serves the storage: it runs, and the server hears of
    // what went.
    let (ok, stdout, stderr) = gc(&config, &["--delete-untagged", "--quiet"]);
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains("removed manifest"),
        "--quiet prints the summary only"
    );
    assert!(stdout.contains("1 removed"), "{stdout}");
    assert!(count_files(&root.join("docker")) < before, "{stdout}");
    assert_eq!(
        b.head(&format!("/v2/gc/app/blobs/{layer}")).status,
        404,
        "a removed blob must not answer HEAD from a stale cache"
    );
    let r = b.put(
        "/v2/gc/app/manifests/again",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &serde_json::to_vec(&untagged_manifest).unwrap(),
    );
    r.assert_error(400, "MANIFEST_BLOB_UNKNOWN");
    // The old flag is accepted, and says it is not needed.
    let (ok, _, stderr) = gc(&config, &["--force", "--quiet"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("no longer needed"), "{stderr}");
    stop_gracefully(&mut b);

    // What is kept still pulls; what went is gone.
    let b = Berth::start_with(&format!(
        "storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n",
        root.display()
    ));
    assert_eq!(b.get("/v2/gc/app/manifests/v1").status, 200);
    assert_eq!(
        b.get(&format!("/v2/gc/app/manifests/{untagged}")).status,
        404
    );
    let manifest = b.get("/v2/gc/app/manifests/v1").json();
    for layer in manifest["layers"].as_array().unwrap() {
        let digest = layer["digest"].as_str().unwrap();
        assert_eq!(b.get(&format!("/v2/gc/app/blobs/{digest}")).status, 200);
    }

    // A bad configuration fails with its reason.
    let bad = root.with_extension("bad.yml");
    std::fs::write(&bad, "version: 0.2\nstorage:\n  inmemory: {}\n").unwrap();
    let (ok, _, stderr) = gc(&bad, &[]);
    assert!(!ok);
    assert!(stderr.contains("version"), "{stderr}");
}

/// Not on a terminal, the progress goes to stderr as plain counted lines,
/// one per phase; stdout keeps the removed items and the summary, and
/// `--quiet` silences the progress too.
#[test]
fn progress_lines_on_stderr() {
    let mut b = start_without_grace();
    let (_, kept) = b.push_image("progress/a", "v1", 1);
    b.push_image("progress/b", "v1", 2);
    let (_, untagged) = b.push_image("progress/b", "v2", 3);
    // Move progress/b:v2 onto v1's manifest: seed 3's image is untagged.
    let body = b.get("/v2/progress/b/manifests/v1").body;
    let r = b.put(
        "/v2/progress/b/manifests/v2",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        &body,
    );
    assert_eq!(r.status, 201);
    b.push_blob("progress/a", b"an orphan");
    let config = b.config.clone();
    stop_gracefully(&mut b);
    std::thread::sleep(Duration::from_millis(400));

    let progress_lines = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| {
                ["marked ", "marking:", "listed ", "listing blobs:", "swept "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_owned)
            .collect()
    };

    // Three images of three blobs each, and the orphan.
    let (ok, stdout, stderr) = gc(&config, &["--delete-untagged", "--dry-run"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        progress_lines(&stderr),
        ["marked 2 manifests in 2 repositories", "listed 10 blobs"],
        "{stderr}"
    );
    assert!(progress_lines(&stdout).is_empty(), "{stdout}");
    assert!(stdout.contains(&format!("would remove manifest progress/b@{untagged}")));

    let (ok, stdout, stderr) = gc(&config, &["--delete-untagged", "--dry-run", "--quiet"]);
    assert!(ok, "{stderr}");
    assert!(progress_lines(&stderr).is_empty(), "{stderr}");
    assert!(stdout.contains("dry run"), "{stdout}");

    let (ok, stdout, stderr) = gc(&config, &["--delete-untagged"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        progress_lines(&stderr),
        [
            "marked 2 manifests in 2 repositories",
            "listed 10 blobs",
            "swept 1 of 1 manifests",
            // The untagged image's manifest, config and layer; the orphan.
            "swept 4 of 4 blobs",
        ],
        "{stderr}"
    );
    assert!(stdout.contains(&format!("removed manifest progress/b@{untagged}")));
    assert!(stdout.contains("2 manifests kept, 1 removed"), "{stdout}");
    assert!(
        !stdout.contains(&format!("removed blob {kept}")),
        "{stdout}"
    );

    // Nothing is left to sweep.
    let (ok, _, stderr) = gc(&config, &["--delete-untagged"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        progress_lines(&stderr),
        [
            "marked 2 manifests in 2 repositories",
            "listed 6 blobs",
            "swept 0 of 0 manifests",
            "swept 0 of 0 blobs",
        ],
        "{stderr}"
    );
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { count_files(&p) } else { 1 }
                })
                .sum()
        })
        .unwrap_or(0)
}
