# Shared helpers of scripts/test.sh and scripts/bench.sh: installing
# Debian packages, free loopback ports, and starting Redis and S3 (Garage)
# for the tests, stopping them by PID on exit.
#
# Source it after setting `set -euo pipefail`; it defines WORK (a temporary
# directory removed on exit) and PIDS (started processes, killed on exit).

WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth.XXXXXX")
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

GARAGE_VERSION=2.5.0

# hex N: N random bytes as hex digits.
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

start_garage() {
    if [ -n "${BERTH_TEST_S3_ENDPOINT:-}" ]; then
        log "using S3 at $BERTH_TEST_S3_ENDPOINT"
        return 0
    fi
    if ! command -v garage >/dev/null; then
        # A debug build compiles in a fraction of the release build's time
        # and is fast enough for tests; later runs reuse the binary.
        log "installing garage $GARAGE_VERSION (cargo install --debug)"
        cargo install "garage@$GARAGE_VERSION" --locked --debug --quiet
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    local s3_port rpc_port dir="$WORK/garage"
    s3_port=$(free_port)
    rpc_port=$(free_port)
    mkdir -p "$dir/meta" "$dir/data"
    {
        echo "metadata_dir = \"$dir/meta\""
        echo "data_dir = \"$dir/data\""
        echo 'db_engine = "sqlite"'
        echo 'replication_factor = 1'
        echo "rpc_bind_addr = \"127.0.0.1:$rpc_port\""
        echo "rpc_public_addr = \"127.0.0.1:$rpc_port\""
        echo "rpc_secret = \"$(hex 32)\""
        echo '[s3_api]'
        echo 's3_region = "garage"'
        echo "api_bind_addr = \"127.0.0.1:$s3_port\""
        echo 'root_domain = ".s3.garage.localhost"'
    } >"$dir/garage.toml"
    export BERTH_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
    export BERTH_TEST_S3_REGION=garage
    export BERTH_TEST_S3_BUCKET=berth-test
    # Garage key ids are "GK" and 24 hex digits; secrets are 64 hex digits.
    BERTH_TEST_S3_ACCESS_KEY="GK$(hex 12)"
    BERTH_TEST_S3_SECRET_KEY="$(hex 32)"
    export BERTH_TEST_S3_ACCESS_KEY BERTH_TEST_S3_SECRET_KEY
    GARAGE_DEFAULT_ACCESS_KEY=$BERTH_TEST_S3_ACCESS_KEY \
        GARAGE_DEFAULT_SECRET_KEY=$BERTH_TEST_S3_SECRET_KEY \
        GARAGE_DEFAULT_BUCKET=$BERTH_TEST_S3_BUCKET \
        garage -c "$dir/garage.toml" server --single-node --default-bucket \
        >"$WORK/garage.log" 2>&1 &
    PIDS+=("$!")
    # The S3 port answers before the bucket exists; the log says when it does.
    wait_until 60 "garage" grep -q "Creating default bucket" "$WORK/garage.log"
    wait_until 30 "garage S3 API" curl -s -o /dev/null "$BERTH_TEST_S3_ENDPOINT/"
    log "Garage S3 on $BERTH_TEST_S3_ENDPOINT (pid $!)"
}
