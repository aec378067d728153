#!/usr/bin/env bash
# Runs every berth test on a fresh Debian machine.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -p NAME    # extra arguments go to `cargo test`
#
# It installs what is missing (Debian packages), starts the services the
# tests talk to on free loopback ports, exports their addresses, runs the
# format and lint checks and `cargo test --workspace`, and stops what it
# started, by PID, however it exits.
#
# Programs the tests run themselves: docker-registry (Debian's CNCF
# Distribution 2.8), redis-server; and, in scripts/interop.sh, skopeo,
# podman, buildah and umoci (images are built offline from local files).
#
# Services and the variables the tests read:
#   Redis  -> BERTH_TEST_REDIS_URL   (redis://127.0.0.1:PORT/)
#   S3     -> BERTH_TEST_S3_ENDPOINT (http://127.0.0.1:PORT), BERTH_TEST_S3_REGION,
#             BERTH_TEST_S3_ACCESS_KEY, BERTH_TEST_S3_SECRET_KEY,
#             BERTH_TEST_S3_BUCKET — a single-node Garage (crates.io `garage`)
# It also sets BERTH_TEST_REQUIRE_SERVICES=1: a test that needs a service
# then fails (it does not skip) when its variable is missing or the service
# does not answer. Without that variable (a plain `cargo test`), such tests
# say they were skipped. Set the variables yourself to use a Redis or an S3
# you already run; then none is started.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=lib/services.sh
. scripts/lib/services.sh

# --- the run ---------------------------------------------------------------

command -v python3 >/dev/null || apt_install python3
command -v curl >/dev/null || apt_install curl
# Distribution 2.8, which the compatibility tests compare berth with.
command -v docker-registry >/dev/null || apt_install docker-registry
command -v skopeo >/dev/null || apt_install skopeo
command -v umoci >/dev/null || apt_install umoci
command -v podman >/dev/null || apt_install podman
command -v buildah >/dev/null || apt_install buildah
command -v htpasswd >/dev/null || apt_install apache2-utils
start_redis
start_garage
export BERTH_TEST_REQUIRE_SERVICES=1

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test --workspace"
cargo test --workspace --locked "$@"

# The end-to-end checks with real clients run the binary that cargo test
# just built (target/debug/berth): one build profile for both.
log "interoperability: skopeo, docker-registry, S3 and Redis (scripts/interop.sh)"
BERTH_BIN="$PWD/target/debug/berth" bash scripts/interop.sh

log "all tests passed"
