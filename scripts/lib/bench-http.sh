# The HTTP benchmark of scripts/bench.sh (`scripts/bench.sh http`): berth and
# Debian's docker-registry (CNCF Distribution 2.8) side by side, same data,
# same load, interleaved A B A B; medians and ratios.
#
# Sourced by scripts/bench.sh after scripts/lib/services.sh. Needs the
# release build of berth, docker-registry, wrk, skopeo and umoci.
#
# HEAD requests are not measured: wrk waits for the body a HEAD response's
# Content-Length announces, and never completes them.

bench_http() {
    local berth_bin="$PWD/target/release/berth" rounds=${BERTH_BENCH_ROUNDS:-3}
    local duration=${BERTH_BENCH_SECONDS:-10} connections=64
    cargo build --release -p berth
    for tool in docker-registry wrk skopeo umoci; do
        command -v "$tool" >/dev/null || apt_install "$tool"
    done

    # One small image, built offline.
    local layout="$WORK/bench-layout" bundle="$WORK/bench-bundle"
    umoci init --layout "$layout"
    umoci new --image "$layout:v1"
    umoci unpack --image "$layout:v1" "$bundle" >/dev/null
    head -c 1048576 /dev/urandom >"$bundle/rootfs/data.bin"
    umoci repack --image "$layout:v1" "$bundle"
    umoci config --image "$layout:v1" --architecture amd64 --os linux
    head -c 1024 /dev/urandom >"$WORK/small.bin"
    local small="sha256:$(sha256sum "$WORK/small.bin" | cut -d' ' -f1)"

    # start NAME CMD... : starts a server on $PORT (chosen by the caller).
    local -A url pid
    for server in berth distribution; do
        local port
        port=$(free_port)
        printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: 127.0.0.1:%s\n  secret: bench\n' \
            "$WORK/root-$server" "$port" >"$WORK/$server.yml"
        if [ "$server" = berth ]; then
            "$berth_bin" serve "$WORK/$server.yml" >"$WORK/$server.log" 2>&1 &
        else
            docker-registry serve "$WORK/$server.yml" >"$WORK/$server.log" 2>&1 &
        fi
        pid[$server]=$!
        PIDS+=("$!")
        url[$server]="http://127.0.0.1:$port"
        wait_until 30 "$server" curl -sf "${url[$server]}/v2/"
    done
    local digest
    for server in berth distribution; do
        skopeo copy -q --dest-tls-verify=false "oci:$layout:v1" "docker://${url[$server]#http://}/bench/app:v1"
        curl -sf -X POST --data-binary "@$WORK/small.bin" \
            -H 'Content-Type: application/octet-stream' \
            "${url[$server]}/v2/bench/app/blobs/uploads/?digest=$small" >/dev/null
        digest=$(skopeo inspect --raw --tls-verify=false "docker://${url[$server]#http://}/bench/app:v1" | sha256sum | cut -d' ' -f1)
    done
    local idle_berth idle_dist
    idle_berth=$(rss_kib "${pid[berth]}")
    idle_dist=$(rss_kib "${pid[distribution]}")

    local accept='application/vnd.oci.image.manifest.v1+json'
    cat >"$WORK/accept.lua" <<LUA
wrk.headers["Accept"] = "$accept"
LUA
    local -A results
    local name round server out rps
    for round in $(seq 1 "$rounds"); do
        for name in manifest_get small_get; do
            local order=(berth distribution)
            [ $((round % 2)) -eq 0 ] && order=(distribution berth)
            for server in "${order[@]}"; do
                case $name in
                manifest_get) out=$(wrk -t2 -c$connections -d"${duration}s" -s "$WORK/accept.lua" "${url[$server]}/v2/bench/app/manifests/v1") ;;
                small_get) out=$(wrk -t2 -c$connections -d"${duration}s" "${url[$server]}/v2/bench/app/blobs/$small") ;;
                esac
                rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
                if echo "$out" | grep -q "Non-2xx"; then
                    log "$server $name: errors in the run"
                    echo "$out" >&2
                fi
                results[$name.$server]="${results[$name.$server]:-} $rps"
                log "round $round: $server $name: $rps req/s"
            done
        done
    done
    local peak_berth peak_dist
    peak_berth=$(hwm_kib "${pid[berth]}")
    peak_dist=$(hwm_kib "${pid[distribution]}")

    echo
    echo "HTTP benchmark: $rounds rounds of ${duration}s, $connections connections, wrk -t2 (medians)"
    printf '%-14s %14s %14s %8s\n' measure berth distribution ratio
    for name in manifest_get small_get; do
        local b d
        b=$(median ${results[$name.berth]})
        d=$(median ${results[$name.distribution]})
        printf '%-14s %14s %14s %8s\n' "$name req/s" "$b" "$d" "$(ratio "$b" "$d")"
    done
    printf '%-14s %14s %14s %8s\n' "idle RSS KiB" "$idle_berth" "$idle_dist" "$(ratio "$idle_berth" "$idle_dist")"
    printf '%-14s %14s %14s %8s\n' "peak RSS KiB" "$peak_berth" "$peak_dist" "$(ratio "$peak_berth" "$peak_dist")"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { python3 -c "print(f'{float($1)/float($2):.2f}' if float($2) else 'n/a')"; }
