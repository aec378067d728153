# The HTTP benchmark of scripts/bench.sh (`scripts/bench.sh http`): berth
# (release build) and Debian's docker-registry (CNCF Distribution 2.8) side
# by side on loopback, seeded alike through the HTTP API, measured in one run
# interleaved A B A B, with nginx and `openssl speed` as ceilings. The work is
# done by scripts/lib/bench_http.py; this installs what it needs and runs it.
# docs/benchmarks.md says what it measures and how.
#
# Sourced by scripts/bench.sh after scripts/lib/services.sh.
#
# Needs: python3 (standard library), curl, openssl, docker-registry and
# nginx-light (Debian), oha (crates.io; `cargo install` builds it once, a few
# minutes).
#
# Environment: BERTH_BENCH_ROUNDS (3), BERTH_BENCH_SECONDS (10 per test),
# BERTH_BENCH_STARTUPS (5), BERTH_BENCH_PUSHES (2 per measurement),
# BERTH_BENCH_HTTP_JSON (target/bench/http.json).

OHA_VERSION=1.16.0

bench_http() {
    local pkgs=() tool
    for tool in python3 curl openssl docker-registry; do
        command -v "$tool" >/dev/null || pkgs+=("$tool")
    done
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || pkgs+=(nginx-light)
    [ "${#pkgs[@]}" -eq 0 ] || apt_install "${pkgs[@]}"
    export PATH="$PATH:/usr/sbin:$HOME/.cargo/bin"
    if ! command -v oha >/dev/null; then
        log "installing oha $OHA_VERSION (cargo install; once)"
        cargo install "oha@$OHA_VERSION" --locked --quiet
    fi
    cargo build --release -p berth
    BERTH_BIN="$PWD/target/release/berth" WORK="$WORK" \
        BERTH_BENCH_HTTP_JSON="${BERTH_BENCH_HTTP_JSON:-$PWD/target/bench/http.json}" \
        python3 scripts/lib/bench_http.py
}
