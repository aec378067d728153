#!/usr/bin/env bash
# Builds berth's fuzz targets (fuzz/) with cargo-fuzz and runs them.
# Not part of CI: scripts/test.sh only replays the seeds and regressions
# (`cargo test -p berth-fuzz`).
#
#   scripts/fuzz.sh                      # every target, the issue's times
#   scripts/fuzz.sh reference manifest   # these targets
#   FUZZ_SECONDS=60 scripts/fuzz.sh      # every target for 60 s each
#   FUZZ_JOBS=2 scripts/fuzz.sh          # two targets at a time
#
# Each target runs for FUZZ_SECONDS, or by default 30 minutes for
# reference, manifest and config and 10 minutes for the others. The
# corpus grows in target/fuzz/corpus/<target> (seeded from
# fuzz/seeds/<target>); a crash is written to target/fuzz/artifacts/<target>/
# and should become a file in fuzz/regressions/<target>/ with its fix.
# Logs go to target/fuzz/logs/<target>.log; the last line of each run
# (executions, coverage, corpus) is printed at the end.
#
# The build needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and,
# on a stable toolchain, RUSTC_BOOTSTRAP=1 for the instrumentation flags
# (this script sets it for the fuzz build only). LTO is off for it:
# sanitizer coverage does not link with the release profile's fat LTO.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(reference digest manifest upload_state ranges authorization htpasswd config spool hash_state pagination)
[ "$#" -gt 0 ] && TARGETS=("$@")
OUT=target/fuzz
mkdir -p "$OUT/logs"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
echo "==> building the fuzz targets (address sanitizer, debug assertions)" >&2
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 RUSTC_BOOTSTRAP=1 \
    cargo fuzz build --features libfuzzer --debug-assertions
BIN=target/x86_64-unknown-linux-gnu/release

seconds_for() {
    if [ -n "${FUZZ_SECONDS:-}" ]; then
        echo "$FUZZ_SECONDS"
        return
    fi
    case $1 in
        reference | manifest | config) echo 1800 ;;
        *) echo 600 ;;
    esac
}

run_target() {
    local target=$1 seconds
    seconds=$(seconds_for "$target")
    mkdir -p "$OUT/corpus/$target" "$OUT/artifacts/$target"
    echo "==> $target for ${seconds}s" >&2
    # -max_len: inputs up to 64 KiB (manifests and configurations are
    # larger than libFuzzer's default of 4 KiB).
    "$BIN/$target" -max_total_time="$seconds" -max_len=65536 -timeout=20 \
        -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$target/" \
        "$OUT/corpus/$target" "fuzz/seeds/$target" >"$OUT/logs/$target.log" 2>&1 || true
}

JOBS=${FUZZ_JOBS:-1}
running=0
for target in "${TARGETS[@]}"; do
    run_target "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

status=0
for target in "${TARGETS[@]}"; do
    log="$OUT/logs/$target.log"
    crashes=$(find "$OUT/artifacts/$target" -type f | wc -l)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    printf '%-14s execs %-10s crashes %s  %s\n' "$target" "${execs:-?}" "$crashes" "$last"
    [ "$crashes" -eq 0 ] || status=1
done
exit "$status"
