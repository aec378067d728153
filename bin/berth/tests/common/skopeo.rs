//! Running Debian's skopeo from the end-to-end tests.

use std::process::{Command, Output, Stdio};

use berth_digest::Digest;

/// `skopeo ARGS`, its output collected.
pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo")
}

/// `skopeo ARGS`, which must succeed.
pub fn skopeo_ok(args: &[&str]) {
    let out = skopeo(args);
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The digest of the manifest `skopeo inspect --raw ARGS` reads.
pub fn raw_digest(args: &[&str]) -> Digest {
    let out = skopeo(&[&["inspect", "--raw"][..], args].concat());
    assert!(
        out.status.success(),
        "skopeo inspect {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Digest::sha256(&out.stdout)
}
