//! The documentation agrees with the code: the crate map of
//! docs/architecture.md is what `scripts/crate-map.py` generates from the
//! workspace (`cargo metadata`).

use std::path::{Path, PathBuf};
use std::process::Command;

const BEGIN: &str = "<!-- crate-map:begin -->\n";
const END: &str = "<!-- crate-map:end -->";
const REGENERATE: &str = "python3 scripts/crate-map.py --write";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("bin/berth is two levels below the workspace root")
        .to_path_buf()
}

#[test]
fn crate_map_is_current() {
    let root = workspace_root();
    let out = Command::new("python3")
        .arg(root.join("scripts/crate-map.py"))
        .current_dir(&root)
        .output()
        .expect("python3 runs scripts/crate-map.py");
    assert!(
        out.status.success(),
        "scripts/crate-map.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("the table is UTF-8");
    assert!(generated.starts_with("| layer | crate |"), "{generated}");

    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let documented = doc
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(table, _)| table)
        .unwrap_or_else(|| {
            panic!("docs/architecture.md lacks the {BEGIN:?} … {END:?} markers; add them and run {REGENERATE}")
        });
    if documented != generated {
        panic!(
            "the crate map in docs/architecture.md is out of date (- documented, + generated):\n{}\nregenerate it with: {REGENERATE}",
            diff(documented, &generated)
        );
    }
}

/// A line diff of `old` and `new`: common lines indented, the others
/// marked `-` (only in `old`) or `+` (only in `new`).
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out += &format!("- {}\n", a[i]);
            i += 1;
        } else {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        }
    }
    out
}

#[test]
fn diff_marks_changed_lines() {
    assert_eq!(
        diff("a\nb\nc\n", "a\nB\nc\nd\n"),
        "  a\n- b\n+ B\n  c\n+ d\n"
    );
}
