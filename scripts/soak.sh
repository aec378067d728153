#!/usr/bin/env bash
# Soak: SOAK_MINUTES (30) of mixed load against one berth on the filesystem
# driver with the Redis descriptor cache, its RSS and open file descriptors
# sampled every SOAK_SAMPLE_SECONDS (60). Not part of scripts/test.sh.
#
#   scripts/soak.sh                                   # release build, 30 min
#   BERTH_BIN=target/debug/berth SOAK_MINUTES=2 SOAK_SAMPLE_SECONDS=15 scripts/soak.sh
#
# The load (scripts/lib/soak.py, SOAK_WORKERS workers, default 4) pushes
# (monolithic, chunked, mounts), pulls (manifests by tag and digest, blobs
# whole, HEAD and ranges, every body checked), deletes (tags, manifests,
# blob links), lists catalog and tags with pagination, over 16 repositories,
# checking every answer against a model of what the registry holds; at the
# end it compares the whole registry with the model.
#
# Pass: no error of the load or of the final check, no 5xx and no Redis
# error in berth's metrics, no ERROR line in its log, no upload left in
# storage, berth alive throughout, and flat after warm-up: the last sample's
# RSS and fd count at most 1.2 x those of the first sample at or after
# SOAK_WARMUP_SECONDS (60: the sample at minute 1). Exits 1 otherwise.
#
# Environment: BERTH_BIN (a berth binary; when unset, the release binary is
# built first: several minutes on two cores), SOAK_MINUTES (30),
# SOAK_SAMPLE_SECONDS (60), SOAK_WARMUP_SECONDS (60), SOAK_WORKERS (4),
# SOAK_SEED (the load's random seed), SOAK_OUT (target/soak: soak.json,
# load.json, samples.tsv, metrics.txt, berth.log, load.log).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/services.sh
. scripts/lib/services.sh

MINUTES=${SOAK_MINUTES:-30}
INTERVAL=${SOAK_SAMPLE_SECONDS:-60}
WARMUP=${SOAK_WARMUP_SECONDS:-60}
WORKERS=${SOAK_WORKERS:-4}
OUT=${SOAK_OUT:-$PWD/target/soak}
TOTAL=$((MINUTES * 60))
mkdir -p "$OUT"
rm -f "$OUT"/{soak.json,load.json,samples.tsv,metrics.txt,berth.log,load.log,progress.json}

if [ -z "${BERTH_BIN:-}" ]; then
    log "building the release binary (fat LTO: several minutes on two cores)"
    cargo build --release -p berth --locked
    BERTH_BIN=$PWD/target/release/berth
fi
# A copy: a build in the same tree during the run cannot change it.
cp "$BERTH_BIN" "$WORK/berth"
version=$("$WORK/berth" version 2>/dev/null | head -n1 || true)
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || commit="$commit+changes"

# Always a Redis of our own: a shared one may hold another root's entries.
unset BERTH_TEST_REDIS_URL
start_redis
redis_addr=${BERTH_TEST_REDIS_URL#redis://}
redis_addr=${redis_addr%/}

port=$(free_port)
debug_port=$(free_port)
root="$WORK/root"
cat >"$WORK/berth.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $root
  cache:
    blobdescriptor: redis
  delete:
    enabled: true
redis:
  addr: $redis_addr
http:
  addr: 127.0.0.1:$port
  secret: soak-$(hex 16)
  debug:
    addr: 127.0.0.1:$debug_port
    prometheus:
      enabled: true
EOF
"$WORK/berth" serve "$WORK/berth.yml" >"$OUT/berth.log" 2>&1 &
berth_pid=$!
PIDS+=("$berth_pid")
wait_until 60 "berth" curl -sf "http://127.0.0.1:$port/v2/"
log "$version ($commit) on 127.0.0.1:$port (pid $berth_pid), debug on :$debug_port"

# sample SECONDS: one line of samples.tsv: seconds since the start, RSS (KiB),
# open fds, threads, CPU ticks (user + system), 1-minute load average, the
# storage's size (KiB), requests done by the load so far.
sample() {
    local rss fds threads cpu load1 disk requests=0
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$berth_pid/status")
    threads=$(awk '/^Threads:/ { print $2 }' "/proc/$berth_pid/status")
    fds=$(find "/proc/$berth_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
    # Fields 14 and 15 of stat, counted after the command's closing paren.
    cpu=$(sed 's/.*) //' "/proc/$berth_pid/stat" | awk '{ print $12 + $13 }')
    load1=$(cut -d' ' -f1 /proc/loadavg)
    # du complains (and fails) when files go while it counts: not an error.
    disk=$( (du -sk "$root" 2>/dev/null || true) | cut -f1 | head -n1)
    if [ -s "$OUT/progress.json" ]; then
        requests=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["requests"])' \
            "$OUT/progress.json" 2>/dev/null || echo 0)
    fi
    printf '%s %s %s %s %s %s %s %s\n' "$1" "$rss" "$fds" "$threads" "$cpu" "$load1" \
        "${disk:-0}" "$requests" >>"$OUT/samples.tsv"
}

# now_us: microseconds since the epoch.
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

alive=yes
samples=$((TOTAL / INTERVAL))
log "soak: $MINUTES min, $WORKERS workers, a sample every $INTERVAL s; load log in $OUT/load.log"
start=$(now_us)
sample 0
python3 scripts/lib/soak.py load --url "http://127.0.0.1:$port" --seconds "$TOTAL" \
    --workers "$WORKERS" --json "$OUT/load.json" --progress "$OUT/progress.json" \
    ${SOAK_SEED:+--seed "$SOAK_SEED"} 2>"$OUT/load.log" &
load_pid=$!
PIDS+=("$load_pid")
for ((i = 1; i <= samples; i++)); do
    due=$((start + i * INTERVAL * 1000000))
    wait_us=$((due - $(now_us)))
    [ "$wait_us" -le 0 ] || sleep "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"
    if ! kill -0 "$berth_pid" 2>/dev/null; then
        log "berth exited during the run"
        alive=no
        break
    fi
    sample "$((i * INTERVAL))"
    log "$(awk '{ printf "minute %.2f: RSS %.1f MiB, %d fds, %d requests", $1 / 60, $2 / 1024, $3, $8 }' \
        <(tail -n1 "$OUT/samples.tsv"))"
done
load_rc=0
wait "$load_pid" || load_rc=$?
log "the load exited with $load_rc"
if kill -0 "$berth_pid" 2>/dev/null; then
    # Once more, idle after the final check (shown, not judged).
    sample "$((TOTAL + ($(now_us) - start - TOTAL * 1000000) / 1000000 + 1))"
    curl -sf "http://127.0.0.1:$debug_port/metrics" >"$OUT/metrics.txt" || true
else
    alive=no
fi

uploads=$(find "$root" -type d -path '*/_uploads/*' -prune 2>/dev/null | wc -l)
# Deletes remove links only: the blob store keeps every content pushed.
v2="$root/docker/registry/v2"
blob_files=$(find "$v2/blobs" -type f -name data 2>/dev/null | wc -l)
blob_kib=$( (du -sk "$v2/blobs" 2>/dev/null || echo 0) | cut -f1 | head -n1)
repo_kib=$( (du -sk "$v2/repositories" 2>/dev/null || echo 0) | cut -f1 | head -n1)
binary_sha=$(sha256sum "$WORK/berth" | cut -d' ' -f1)
log_errors=$(grep -cE '^[^ ]+ +ERROR ' "$OUT/berth.log" || true)
log_warnings=$(grep -cE '^[^ ]+ +WARN ' "$OUT/berth.log" || true)
machine="$(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"

report_rc=0
python3 scripts/lib/soak.py report --samples "$OUT/samples.tsv" --load "$OUT/load.json" \
    --metrics "$OUT/metrics.txt" --seconds "$TOTAL" --sample-seconds "$INTERVAL" \
    --warmup "$WARMUP" --log-errors "$log_errors" --log-warnings "$log_warnings" \
    --uploads "$uploads" --alive "$alive" --blob-files "$blob_files" --blob-kib "$blob_kib" \
    --repo-kib "$repo_kib" --binary-sha256 "$binary_sha" \
    --command "SOAK_MINUTES=$MINUTES SOAK_SAMPLE_SECONDS=$INTERVAL SOAK_WORKERS=$WORKERS scripts/soak.sh" \
    --binary "$BERTH_BIN" --version "$version" --commit "$commit" --machine "$machine" \
    --json "$OUT/soak.json" || report_rc=$?
log "results in $OUT/soak.json"
# The trap removes $WORK: after a 30-minute run, about 100,000 blobs.
log "removing the storage ($blob_files blobs): this can take minutes"
exit "$report_rc"
