#!/usr/bin/env bash
# Online garbage collection under load, for longer than the test suite's
# 120 s: the tests of bin/berth/tests/gc_online.rs (two berth nodes on one
# filesystem root with in-memory descriptor caches, and two on S3 with a
# Redis descriptor cache, collecting every second while threads push, pull
# and delete images), run side by side.
#
#   scripts/gc-torture.sh                           # 900 s of load per test
#   scripts/gc-torture.sh 3600                      # an hour
#   scripts/gc-torture.sh 600 torture_filesystem    # one of the tests
#
# It starts Redis and S3 (Garage) as scripts/test.sh does, unless
# BERTH_TEST_REDIS_URL and BERTH_TEST_S3_* already name running ones, and
# requires them (BERTH_TEST_REQUIRE_SERVICES=1): a missing service fails
# the run instead of skipping its test. Each test prints its seed; set
# BERTH_GC_TORTURE_SEED to replay a run's choices. On failure the nodes'
# logs are kept under target/tmp/gc-torture-*.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib/services.sh
. scripts/lib/services.sh

SECS=${1:-900}
FILTER=${2:-torture_}
case $SECS in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS] [TEST-NAME-FILTER]" >&2
    exit 2
    ;;
esac

command -v python3 >/dev/null || apt_install python3
command -v curl >/dev/null || apt_install curl
start_redis
start_garage
export BERTH_TEST_REQUIRE_SERVICES=1
export BERTH_GC_TORTURE_SECS=$SECS

log "gc torture: $SECS s of load per test (cargo test -p berth --test gc_online $FILTER)"
cargo test -p berth --locked --test gc_online "$FILTER" -- --nocapture
