//! Replays every seed and every regression input through its target:
//! what `scripts/test.sh` runs of the fuzzing (seconds, on the stable
//! toolchain). A crash the fuzzer found is kept under
//! `regressions/<target>/` and stays fixed here.

use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_and_regression_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for (name, target) in berth_fuzz::TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz_targets/{name}.rs is missing"
        );
        let seeds = inputs(&root.join("seeds").join(name));
        assert!(!seeds.is_empty(), "seeds/{name}/ has no inputs");
        let regressions = inputs(&root.join("regressions").join(name));
        for file in seeds.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("an input");
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} fails", file.display());
            total += 1;
        }
    }
    eprintln!(
        "replayed {total} inputs through {} targets",
        berth_fuzz::TARGETS.len()
    );
}

#[test]
fn every_fuzz_target_binary_is_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in inputs(&root.join("fuzz_targets")) {
        let stem = file.file_stem().and_then(|s| s.to_str()).expect("a name");
        assert!(
            berth_fuzz::TARGETS.iter().any(|(name, _)| *name == stem),
            "fuzz_targets/{stem}.rs is not in berth_fuzz::TARGETS"
        );
    }
}
