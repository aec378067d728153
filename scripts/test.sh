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
# Services and the variables the tests read:
#   Redis  -> BERTH_TEST_REDIS_URL   (redis://127.0.0.1:PORT/)
# A test that needs a service fails (it does not skip) when its variable is
# set but the service does not answer. Set BERTH_TEST_REDIS_URL yourself to
# use a Redis you already run; then none is started.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-test.XXXXXX")
PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

cleanup() {
    local pid
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- installing ------------------------------------------------------------

APT_UPDATED=0
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PACKAGE... : installs the packages that are not installed yet.
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$APT_UPDATED" -eq 0 ]; then
        log "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    log "installing ${missing[*]}"
    # RUNLEVEL=1 keeps the packages' own services from starting: the tests
    # start their own instances on free ports.
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- services --------------------------------------------------------------

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS DESCRIPTION COMMAND... : retries COMMAND until it works.
wait_until() {
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "$what did not come up; its log:"
            cat "$WORK"/*.log >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

start_redis() {
    if [ -n "${BERTH_TEST_REDIS_URL:-}" ]; then
        log "using Redis at $BERTH_TEST_REDIS_URL"
        return 0
    fi
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        apt_install redis-server redis-tools
    local port
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$WORK" >"$WORK/redis.log" 2>&1 &
    PIDS+=("$!")
    wait_until 30 "redis-server" redis-cli -h 127.0.0.1 -p "$port" ping
    export BERTH_TEST_REDIS_URL="redis://127.0.0.1:$port/"
    log "Redis on 127.0.0.1:$port (pid $!)"
}

# --- the run ---------------------------------------------------------------

command -v python3 >/dev/null || apt_install python3
start_redis

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo test --workspace"
cargo test --workspace --locked "$@"

log "all tests passed"
