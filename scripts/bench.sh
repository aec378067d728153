#!/usr/bin/env bash
# Runs berth's benchmarks, each against its reference in the same run
# (absolute numbers drift on shared machines; ratios are what count).
#
#   scripts/bench.sh             # all of them
#   scripts/bench.sh digest fs   # some: digest fs push catalog gc s3 http
#
#   digest   the digester vs `openssl speed -evp sha256`
#   fs       1 GiB through the filesystem driver vs dd on the same disk
#   push     a 1 GiB local push vs dd and the digester alone
#   catalog  10,000 repositories and 10,000 tags vs Debian's docker-registry
#   gc       garbage collection (--delete-untagged) of 10,000 and 100,000
#            blobs on the filesystem and 10,000 on Garage vs docker-registry
#            garbage-collect: objects/s and peak RSS
#   s3       1 GiB through the S3 driver vs the bare SDK, on Garage
#   http     berth (release build) vs docker-registry over HTTP: manifest
#            GET/HEAD, blob HEAD, 1 KiB and 512 MiB blob GETs, pushes,
#            catalog and tag list, startup, RSS, CPU per request or per GB;
#            nginx and openssl as ceilings (scripts/lib/bench_http.py)
#
# Installs what is missing (openssl, docker-registry; garage for s3 and gc;
# for http also nginx-light, curl and oha) and starts Garage on a free
# loopback port for the s3 and gc benchmarks. Results go to the terminal;
# the digester's also to target/bench/digest.json, the HTTP benchmark's to
# target/bench/http.json.
# The HTTP benchmark takes BERTH_BENCH_ROUNDS (3), BERTH_BENCH_SECONDS (10)
# and BERTH_BENCH_HTTP_JSON; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/services.sh
. scripts/lib/services.sh
# shellcheck source=lib/bench-http.sh
. scripts/lib/bench-http.sh
mkdir -p target/bench

selected=("$@")
[ "${#selected[@]}" -eq 0 ] && selected=(digest fs push catalog gc s3 http)

for bench in "${selected[@]}"; do
    case $bench in
    digest)
        command -v openssl >/dev/null || apt_install openssl
        log "digester: berth-digest vs openssl speed -evp sha256"
        BERTH_BENCH_JSON="$PWD/target/bench/digest.json" \
            cargo bench -p berth-digest --bench digester
        ;;
    fs)
        log "filesystem driver vs dd"
        cargo bench -p berth-driver --bench filesystem
        ;;
    push)
        log "local push vs dd and the digester"
        cargo bench -p berth-storage --bench push
        ;;
    catalog)
        command -v docker-registry >/dev/null || apt_install docker-registry
        log "catalog and tag listing vs docker-registry"
        cargo bench -p berth-storage --bench catalog
        ;;
    gc)
        command -v docker-registry >/dev/null || apt_install docker-registry
        start_garage
        log "garbage collection vs docker-registry garbage-collect"
        cargo bench -p berth-storage --bench gc
        ;;
    s3)
        start_garage
        log "S3 driver vs the bare SDK on Garage"
        cargo bench -p berth-driver-s3 --bench s3
        ;;
    http)
        log "HTTP: berth vs docker-registry"
        bench_http
        ;;
    *)
        echo "bench.sh: unknown benchmark $bench (digest fs push catalog gc s3 http)" >&2
        exit 2
        ;;
    esac
done
