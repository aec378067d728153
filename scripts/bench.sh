#!/usr/bin/env bash
# Runs berth's benchmarks and prints each against its reference in the same
# run (absolute numbers drift on shared machines; ratios are what count).
#
# Now: the digester against `openssl speed -evp sha256` (needs `openssl`).
# Results are also written as JSON under target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench

command -v openssl >/dev/null || {
    echo "bench.sh: openssl is needed (apt-get install openssl)" >&2
    exit 1
}

echo "== digester: berth-digest vs openssl speed -evp sha256"
BERTH_BENCH_JSON="$PWD/target/bench/digest.json" cargo bench -p berth-digest --bench digester
cat target/bench/digest.json
