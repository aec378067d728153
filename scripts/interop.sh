#!/usr/bin/env bash
# Interoperability with real clients and with Distribution, end to end.
#
#   scripts/interop.sh            # run by scripts/test.sh after cargo test
#
# Builds images offline with umoci (from local files: no network), starts
# the berth binary of the test build (target/debug/berth) on free loopback
# ports, and checks with real clients from Debian:
#   - buildah push of an image it built from local files, podman pull and
#     push;
#   - notifications: the events of a skopeo push, pull and delete reach a
#     receiver written against Distribution's documented format
#     (scripts/lib/event_receiver.py) and pass its checks;
#   - htpasswd access control: skopeo --dest-creds/--creds, podman login,
#     push, pull and logout; anonymous and wrong-credential pushes refused,
#     leaving no upload behind;
#   - skopeo copy of a multi-layer OCI image, a two-platform OCI index
#     (--all), a Docker schema 2 image and manifest list (--format v2s2),
#     into berth and back out, digests compared; skopeo inspect, list-tags,
#     delete;
#   - the same skopeo round trip on S3 (Garage) with the Redis cache, when
#     scripts/test.sh provides them (BERTH_TEST_S3_*, BERTH_TEST_REDIS_URL);
#   - two berth processes on one S3 bucket and one Redis: an upload started
#     on one is finished on the other, a manifest pushed to one pulls from
#     the other;
#   - compatibility with Debian's docker-registry (Distribution 2.8): a root
#     written by it is served by berth, and one written by berth is served
#     by it; every image pulls intact.
# Every process it starts is stopped by its PID when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/services.sh
. scripts/lib/services.sh

BERTH=${BERTH_BIN:-$PWD/target/debug/berth}
[ -x "$BERTH" ] || cargo build -p berth
command -v skopeo >/dev/null || apt_install skopeo
command -v umoci >/dev/null || apt_install umoci
command -v docker-registry >/dev/null || apt_install docker-registry
command -v podman >/dev/null || apt_install podman
command -v buildah >/dev/null || apt_install buildah

CHECKS=0
FAILED=0
pass() { CHECKS=$((CHECKS + 1)); log "ok: $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILED=$((FAILED + 1)); log "FAILED: $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@" >"$WORK/check.out" 2>&1; then pass "$what"; else
        fail "$what"
        sed 's/^/    /' "$WORK/check.out" >&2
    fi
}

# --- images, built offline ---------------------------------------------------

LAYOUT="$WORK/layout"

# build_image TAG ARCH SEED: a three-layer image for linux/ARCH.
build_image() {
    local tag=$1 arch=$2 seed=$3 bundle="$WORK/bundle-$1"
    umoci new --image "$LAYOUT:$tag"
    for layer in 1 2 3; do
        rm -rf "$bundle"
        umoci unpack --image "$LAYOUT:$tag" "$bundle" >/dev/null
        echo "layer $layer of $tag ($seed)" >"$bundle/rootfs/layer-$layer.txt"
        head -c $((layer * 150000)) /dev/urandom >"$bundle/rootfs/data-$layer.bin"
        umoci repack --image "$LAYOUT:$tag" "$bundle"
    done
    umoci config --image "$LAYOUT:$tag" --architecture "$arch" --os linux \
        --config.cmd "/layer-1.txt"
    rm -rf "$bundle"
}

# add_index NAME TAG...: an OCI index over the images TAG... in the layout.
add_index() {
    local name=$1
    shift
    python3 - "$LAYOUT" "$name" "$@" <<'PY'
import hashlib, json, os, sys
layout, name, tags = sys.argv[1], sys.argv[2], sys.argv[3:]
index_path = os.path.join(layout, "index.json")
index = json.load(open(index_path))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
entries = []
for tag in tags:
    m = by_tag[tag]
    alg, hexd = m["digest"].split(":")
    manifest = json.load(open(os.path.join(layout, "blobs", alg, hexd)))
    config = manifest["config"]
    calg, chex = config["digest"].split(":")
    arch = json.load(open(os.path.join(layout, "blobs", calg, chex)))["architecture"]
    entries.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                    "platform": {"architecture": arch, "os": "linux"}})
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": entries}, indent=2).encode()
digest = hashlib.sha256(body).hexdigest()
open(os.path.join(layout, "blobs", "sha256", digest), "wb").write(body)
index["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                           "digest": "sha256:" + digest, "size": len(body),
                           "annotations": {"org.opencontainers.image.ref.name": name}})
json.dump(index, open(index_path, "w"))
PY
}

log "building images with umoci"
umoci init --layout "$LAYOUT"
build_image amd64 amd64 1
build_image arm64 arm64 2
add_index multi amd64 arm64

# The digest of a reference's manifest, as its registry or layout serves it.
raw_digest() { skopeo inspect --raw --tls-verify=false "$1" | sha256sum | cut -d' ' -f1; }

# --- berth -------------------------------------------------------------------

# start_berth NAME STORAGE_YAML [EXTRA_YAML]: sets PORT. (Not called in
# $(...): a subshell would lose the PID, and the process would outlive us.)
start_berth() {
    local name=$1 storage=$2 extra=${3:-}
    PORT=$(free_port)
    printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n%b\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n  secret: interop-secret\n%b\n' \
        "$storage" "$PORT" "$extra" >"$WORK/$name.yml"
    "$BERTH" serve "$WORK/$name.yml" >"$WORK/$name.log" 2>&1 &
    PIDS+=("$!")
    if [[ $extra == *auth:* ]]; then
        # With access control /v2/ answers 401 to anonymous requests.
        wait_until 30 "berth $name" sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/v2/ | grep -qx 401"
    else
        wait_until 30 "berth $name" curl -sf "http://127.0.0.1:$PORT/v2/"
    fi
}

# round_trip REGISTRY_HOST: every skopeo check against one berth.
round_trip() {
    local host=$1 out="$WORK/out-${1//[.:]/-}"
    local reg="docker://$host"
    check "$host: copy a multi-layer OCI image in" \
        skopeo copy --dest-tls-verify=false "oci:$LAYOUT:amd64" "$reg/interop/image:v1"
    check "$host: same manifest digest as the layout" \
        test "$(raw_digest "oci:$LAYOUT:amd64")" = "$(raw_digest "$reg/interop/image:v1")"
    check "$host: copy a two-platform index in (--all)" \
        skopeo copy --all --dest-tls-verify=false "oci:$LAYOUT:multi" "$reg/interop/multi:v1"
    check "$host: same index digest" \
        test "$(raw_digest "oci:$LAYOUT:multi")" = "$(raw_digest "$reg/interop/multi:v1")"
    check "$host: copy the index back out (--all)" \
        skopeo copy --all --src-tls-verify=false "$reg/interop/multi:v1" "oci:$out:multi"
    check "$host: the copy out has the same digest" \
        test "$(raw_digest "oci:$out:multi")" = "$(raw_digest "oci:$LAYOUT:multi")"
    check "$host: copy as Docker schema 2 (--format v2s2)" \
        skopeo copy --format v2s2 --dest-tls-verify=false "oci:$LAYOUT:amd64" "$reg/interop/docker:v1"
    check "$host: it is served as Docker schema 2" \
        sh -c "skopeo inspect --raw --tls-verify=false '$reg/interop/docker:v1' | grep -q 'application/vnd.docker.distribution.manifest.v2+json'"
    check "$host: a Docker manifest list (--all --format v2s2)" \
        skopeo copy --all --format v2s2 --dest-tls-verify=false "oci:$LAYOUT:multi" "$reg/interop/dlist:v1"
    check "$host: it is served as a manifest list" \
        sh -c "skopeo inspect --raw --tls-verify=false '$reg/interop/dlist:v1' | grep -q 'application/vnd.docker.distribution.manifest.list.v2+json'"
    check "$host: pull the Docker image back out" \
        skopeo copy --src-tls-verify=false "$reg/interop/docker:v1" "oci:$out:docker"
    check "$host: skopeo inspect reads the config" \
        sh -c "skopeo inspect --tls-verify=false '$reg/interop/image:v1' | grep -q '\"Architecture\": \"amd64\"'"
    check "$host: skopeo list-tags" \
        sh -c "skopeo list-tags --tls-verify=false '$reg/interop/image' | grep -q '\"v1\"'"
    check "$host: skopeo delete" \
        skopeo delete --tls-verify=false "$reg/interop/docker:v1"
    check "$host: the deleted image is gone" \
        sh -c "! skopeo inspect --raw --tls-verify=false '$reg/interop/docker:v1'"
}

log "skopeo against berth on the filesystem driver"
start_berth fs "  filesystem:\n    rootdirectory: $WORK/fs-root"
round_trip "127.0.0.1:$PORT"

log "buildah and podman against berth"
# Their own container storage (vfs: no kernel overlay needed) in $WORK.
export CONTAINERS_STORAGE_CONF="$WORK/storage.conf"
printf '[storage]\ndriver = "vfs"\nrunroot = "%s"\ngraphroot = "%s"\n' \
    "$WORK/cs-run" "$WORK/cs-graph" >"$CONTAINERS_STORAGE_CONF"
export BUILDAH_ISOLATION=chroot
reg="127.0.0.1:$PORT"
echo "built by buildah from local files" >"$WORK/hello.txt"
ctr=$(buildah from scratch)
buildah copy "$ctr" "$WORK/hello.txt" /hello.txt >/dev/null
buildah config --cmd /hello.txt --arch amd64 --os linux "$ctr"
buildah commit -q "$ctr" localhost/interop/buildah:v1 >/dev/null
check "buildah push" \
    buildah push --tls-verify=false localhost/interop/buildah:v1 "docker://$reg/interop/buildah:v1"
check "podman pull" podman pull -q --tls-verify=false "$reg/interop/buildah:v1"
check "podman push" \
    sh -c "podman tag '$reg/interop/buildah:v1' '$reg/interop/podman:v2' && podman push --tls-verify=false '$reg/interop/podman:v2'"
check "podman's push pulls back with skopeo" \
    skopeo copy --src-tls-verify=false "docker://$reg/interop/podman:v2" "oci:$WORK/out-podman:v2"
# Every client above probed the plain port with a TLS handshake first
# (--tls-verify=false): answered 400, and not an error in the log.
check "no ERROR in berth's log after the clients' TLS probes" \
    sh -c "! grep -n ERROR '$WORK/fs.log'"

log "skopeo and podman against berth with htpasswd"
command -v htpasswd >/dev/null || apt_install apache2-utils
htpasswd -B -b -c "$WORK/htpasswd" alice s3cret 2>/dev/null
start_berth htpasswd "  filesystem:\n    rootdirectory: $WORK/auth-root" \
    "auth:\n  htpasswd:\n    realm: interop\n    path: $WORK/htpasswd"
reg="127.0.0.1:$PORT"
check "anonymous push is refused" \
    sh -c "! skopeo copy --dest-tls-verify=false 'oci:$LAYOUT:amd64' 'docker://$reg/auth/image:v1'"
check "skopeo copy --dest-creds" \
    skopeo copy --dest-tls-verify=false --dest-creds alice:s3cret "oci:$LAYOUT:amd64" "docker://$reg/auth/image:v1"
check "a push with wrong credentials is refused" \
    sh -c "! skopeo copy --dest-tls-verify=false --dest-creds alice:wrong 'oci:$LAYOUT:multi' 'docker://$reg/auth/image:v2'"
check "and leaves no upload behind (the repository exists; its _uploads is empty)" \
    sh -c "test -d '$WORK/auth-root/docker/registry/v2/repositories/auth/image' && test -z \"\$(find '$WORK/auth-root' -path '*/_uploads/*')\""
check "the image reads back with --creds, same digest" \
    test "$(skopeo inspect --raw --tls-verify=false --creds alice:s3cret "docker://$reg/auth/image:v1" | sha256sum | cut -d' ' -f1)" = "$(raw_digest "oci:$LAYOUT:amd64")"
export REGISTRY_AUTH_FILE="$WORK/podman-auth.json"
check "podman login" podman login --tls-verify=false -u alice -p s3cret "$reg"
check "podman push after login" \
    sh -c "podman tag 'localhost/interop/buildah:v1' '$reg/auth/podman:v1' && podman push --tls-verify=false '$reg/auth/podman:v1'"
check "podman pull after login" podman pull -q --tls-verify=false "$reg/auth/image:v1"
check "podman logout" podman logout "$reg"
check "podman pull after logout is refused" \
    sh -c "! podman pull -q --tls-verify=false '$reg/auth/podman:v1'"
unset REGISTRY_AUTH_FILE

log "notifications to a receiver written against Distribution's documented format"
EVENTS_PORT=$(free_port)
python3 scripts/lib/event_receiver.py "$EVENTS_PORT" "$WORK/events.jsonl" &
PIDS+=("$!")
wait_until 10 "event receiver" sh -c "curl -s -o /dev/null http://127.0.0.1:$EVENTS_PORT/"
start_berth events "  filesystem:\n    rootdirectory: $WORK/events-root" \
    "notifications:\n  endpoints:\n    - name: documented\n      url: http://127.0.0.1:$EVENTS_PORT/events\n  spool:\n    directory: $WORK/events-spool"
reg="127.0.0.1:$PORT"
skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:amd64" "docker://$reg/events/image:v1"
skopeo copy -q --src-tls-verify=false "docker://$reg/events/image:v1" "oci:$WORK/out-events:v1"
skopeo delete --tls-verify=false "docker://$reg/events/image:v1"
manifest_digest="sha256:$(raw_digest "oci:$LAYOUT:amd64")"
# events_seen ACTION DIGEST: the receiver accepted such an event.
events_seen() {
    python3 - "$WORK/events.jsonl" "$1" "$2" <<'PY'
import json, sys
path, action, digest = sys.argv[1:]
events = [json.loads(l) for l in open(path)]
sys.exit(0 if any(e.get("action") == action and e["target"].get("digest") == digest for e in events) else 1)
PY
}
check "the receiver got the manifest push" wait_until 20 "manifest push event" events_seen push "$manifest_digest"
check "and its pull" wait_until 20 "manifest pull event" events_seen pull "$manifest_digest"
check "and its delete" wait_until 20 "manifest delete event" events_seen delete "$manifest_digest"
# every_blob_pushed DIGEST...: each came as a push event.
every_blob_pushed() {
    local d
    for d in "$@"; do events_seen push "$d" || return 1; done
}
# shellcheck disable=SC2046 # one digest a word
check "every blob push came as an event" every_blob_pushed $(skopeo inspect --raw "oci:$LAYOUT:amd64" |
    python3 -c 'import json, sys; m = json.load(sys.stdin); print(m["config"]["digest"], *[l["digest"] for l in m["layers"]])')
check "no event broke the documented format" sh -c "! grep -q '\"error\"' '$WORK/events.jsonl'"

if [ -n "${BERTH_TEST_S3_ENDPOINT:-}" ] && [ -n "${BERTH_TEST_REDIS_URL:-}" ]; then
    redis_addr=${BERTH_TEST_REDIS_URL#redis://}
    redis_addr=${redis_addr%/}
    s3_root="/interop-$(hex 6)"
    s3_storage="  s3:\n    region: $BERTH_TEST_S3_REGION\n    regionendpoint: $BERTH_TEST_S3_ENDPOINT\n    forcepathstyle: true\n    bucket: $BERTH_TEST_S3_BUCKET\n    rootdirectory: $s3_root\n    accesskey: $BERTH_TEST_S3_ACCESS_KEY\n    secretkey: $BERTH_TEST_S3_SECRET_KEY\n  redirect:\n    disable: true\n  cache:\n    blobdescriptor: redis"
    redis_section="redis:\n  addr: $redis_addr"
    log "skopeo against berth on S3 with the Redis cache"
    start_berth s3a "$s3_storage" "$redis_section"
    S3A=$PORT
    start_berth s3b "$s3_storage" "$redis_section"
    S3B=$PORT
    round_trip "127.0.0.1:$S3A"

    log "two berth processes on one bucket and one Redis"
    check "a manifest pushed to one pulls from the other" \
        test "$(raw_digest "docker://127.0.0.1:$S3A/interop/multi:v1")" = "$(raw_digest "docker://127.0.0.1:$S3B/interop/multi:v1")"
    check "an image pushed to one copies out of the other" \
        skopeo copy --all --src-tls-verify=false "docker://127.0.0.1:$S3A/interop/multi:v1" "oci:$WORK/out-b:multi"
    data="$WORK/split.bin"
    head -c 3000000 /dev/urandom >"$data"
    digest="sha256:$(sha256sum "$data" | cut -d' ' -f1)"
    head -c 1000000 "$data" >"$WORK/part1"
    tail -c +1000001 "$data" >"$WORK/part2"
    location=$(curl -sf -D - -o /dev/null -X POST "http://127.0.0.1:$S3A/v2/interop/split/blobs/uploads/" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    # The same URL path and state, sent to the other node.
    location_b=$(echo "$location" | sed "s/127.0.0.1:$S3A/127.0.0.1:$S3B/")
    check "an upload started on one node takes a chunk on the other" \
        curl -sf -X PATCH --data-binary "@$WORK/part1" -H 'Content-Type: application/octet-stream' "$location_b"
    next=$(curl -s -D - -o /dev/null "$location_b" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    check "and is finished on the first" \
        curl -sf -X PUT --data-binary "@$WORK/part2" "$(echo "$next" | sed "s/127.0.0.1:$S3B/127.0.0.1:$S3A/")&digest=$digest"
    check "the blob is whole on both nodes" \
        sh -c "curl -sf http://127.0.0.1:$S3B/v2/interop/split/blobs/$digest | cmp - '$data' && curl -sf http://127.0.0.1:$S3A/v2/interop/split/blobs/$digest | cmp - '$data'"
else
    if [ "${BERTH_TEST_REQUIRE_SERVICES:-}" = 1 ]; then
        fail "S3 and Redis are required (BERTH_TEST_REQUIRE_SERVICES=1) but not configured"
    else
        log "skipped: S3 and Redis checks (no BERTH_TEST_S3_ENDPOINT / BERTH_TEST_REDIS_URL)"
    fi
fi

# --- Distribution, both ways -------------------------------------------------

# start_distribution NAME ROOT: docker-registry on ROOT; sets PORT.
start_distribution() {
    local name=$1 root=$2
    PORT=$(free_port)
    printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' \
        "$root" "$PORT" >"$WORK/$name.yml"
    docker-registry serve "$WORK/$name.yml" >"$WORK/$name.log" 2>&1 &
    PIDS+=("$!")
    wait_until 30 "docker-registry $name" curl -sf "http://127.0.0.1:$PORT/v2/"
}

# push_all HOST: the OCI image, the index and a Docker image.
push_all() {
    skopeo copy --dest-tls-verify=false "oci:$LAYOUT:amd64" "docker://$1/compat/image:v1" &&
        skopeo copy --all --dest-tls-verify=false "oci:$LAYOUT:multi" "docker://$1/compat/multi:v1" &&
        skopeo copy --format v2s2 --dest-tls-verify=false "oci:$LAYOUT:arm64" "docker://$1/compat/docker:v1"
}

# pulls_intact FROM_HOST REFERENCE_HOST: every image pulls from FROM_HOST,
# with the digests REFERENCE_HOST serves.
pulls_intact() {
    local out="$WORK/pull-${1//[.:]/-}" image
    for image in compat/image:v1 compat/multi:v1 compat/docker:v1; do
        skopeo copy --all --src-tls-verify=false "docker://$1/$image" "oci:$out:${image//[\/:]/-}" || return 1
        [ "$(raw_digest "docker://$1/$image")" = "$(raw_digest "docker://$2/$image")" ] || return 1
    done
}

log "compatibility with Debian's docker-registry (Distribution 2.8)"
DIST_ROOT="$WORK/dist-root"
BERTH_ROOT="$WORK/berth-root"
start_distribution dist1 "$DIST_ROOT"
D1=$PORT
check "push to docker-registry" push_all "127.0.0.1:$D1"
start_berth on-dist-root "  filesystem:\n    rootdirectory: $DIST_ROOT"
B1=$PORT
check "berth serves the root docker-registry wrote" pulls_intact "127.0.0.1:$B1" "127.0.0.1:$D1"

start_berth berth-writes "  filesystem:\n    rootdirectory: $BERTH_ROOT"
B2=$PORT
check "push to berth" push_all "127.0.0.1:$B2"
start_distribution dist2 "$BERTH_ROOT"
D2=$PORT
check "docker-registry serves the root berth wrote" pulls_intact "127.0.0.1:$D2" "127.0.0.1:$B2"

# --- garbage collection: berth garbage-collect against Distribution's --------
#
# One root written by berth through skopeo: images sharing layers, an index
# whose children were pushed by digest, a Docker schema 2 copy, tags moved
# (leaving untagged manifests), an image deleted by digest, an orphan blob.
# With berth stopped, four copies of it are collected: by `berth
# garbage-collect` and by `docker-registry garbage-collect`, with and
# without --delete-untagged. The blob files (and revision links) left must
# be Distribution's, except for the one deliberate difference
# (docs/garbage-collection.md): with --delete-untagged Distribution 2.8.2
# deletes the untagged children of a tagged index, berth keeps them. Then
# berth serves each of its collected copies and every kept image pulls with
# skopeo, with the digest it had before.

log "garbage collection: berth garbage-collect against docker-registry garbage-collect"
build_image gc-loose amd64 4
build_image gc-deleted amd64 5
GC_ROOT="$WORK/gc-root"
# No grace period (as the collections below): Distribution has none.
start_berth gc "  filesystem:\n    rootdirectory: $GC_ROOT\n  maintenance:\n    gc:\n      delay: 0s"
GC_PID=${PIDS[-1]}
reg="docker://127.0.0.1:$PORT"
check "gc: copy an OCI image in" \
    skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:amd64" "$reg/gc/image:v1"
check "gc: copy a two-platform index in (--all)" \
    skopeo copy -q --all --dest-tls-verify=false "oci:$LAYOUT:multi" "$reg/gc/multi:v1"
check "gc: copy the same image as Docker schema 2 (shared layers)" \
    skopeo copy -q --format v2s2 --dest-tls-verify=false "oci:$LAYOUT:amd64" "$reg/gc/docker:v1"
# gc/image:v2 moves from arm64 to amd64: arm64's manifest in gc/image is
# untagged; its config and layers stay referenced by gc/multi's child only.
check "gc: tag arm64 as gc/image:v2" \
    skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:arm64" "$reg/gc/image:v2"
check "gc: move gc/image:v2 to amd64" \
    skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:amd64" "$reg/gc/image:v2"
# gc/loose:v1 moves off an image whose blobs nothing else references.
check "gc: tag an image of its own as gc/loose:v1" \
    skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:gc-loose" "$reg/gc/loose:v1"
check "gc: move gc/loose:v1 to amd64" \
    skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:amd64" "$reg/gc/loose:v1"
check "gc: push an image to delete" \
    skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:gc-deleted" "$reg/gc/deleted:v1"
check "gc: delete it by digest" \
    skopeo delete --tls-verify=false "$reg/gc/deleted@sha256:$(raw_digest "oci:$LAYOUT:gc-deleted")"
head -c 100000 /dev/urandom >"$WORK/gc-orphan.bin"
GC_ORPHAN=$(sha256sum "$WORK/gc-orphan.bin" | cut -d' ' -f1)
check "gc: push an orphan blob" \
    curl -sf -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$WORK/gc-orphan.bin" \
    "http://127.0.0.1:$PORT/v2/gc/orphan/blobs/uploads/?digest=sha256:$GC_ORPHAN"

GC_KEPT=(gc/image:v1 gc/image:v2 gc/multi:v1 gc/docker:v1 gc/loose:v1)
GC_UNTAGGED=("gc/image@sha256:$(raw_digest "oci:$LAYOUT:arm64")"
    "gc/loose@sha256:$(raw_digest "oci:$LAYOUT:gc-loose")")
declare -A GC_DIGEST
for ref in "${GC_KEPT[@]}"; do GC_DIGEST[$ref]=$(raw_digest "$reg/$ref"); done
check "gc: the untagged manifests are still there before the collection" \
    sh -c "skopeo inspect --raw --tls-verify=false '$reg/${GC_UNTAGGED[0]}' >/dev/null && skopeo inspect --raw --tls-verify=false '$reg/${GC_UNTAGGED[1]}' >/dev/null"

# Compared on a quiet root: berth is stopped, so both collections see
# the same storage.
kill "$GC_PID"
wait "$GC_PID" || true

# blob_files ROOT / revision_links ROOT: relative paths, sorted.
blob_files() { (cd "$1" && find . -path '*/blobs/*/data' | sort); }
revision_links() { (cd "$1" && find . -path '*/_manifests/revisions/*/link' | sort); }
all_files() { (cd "$1" && find . -type f -path './docker/*' | sort); }
# only_in LISTER A B: what LISTER lists under A and not under B.
only_in() { comm -23 <("$1" "$2") <("$1" "$3"); }
# same_as LISTER A B: LISTER lists the same under A and B (else the diff).
same_as() { diff <("$1" "$2") <("$1" "$3"); }
# blob_path DIGEST_HEX / revision_path REPOSITORY DIGEST_HEX: as find prints them.
blob_path() { echo "./docker/registry/v2/blobs/sha256/${1:0:2}/$1/data"; }
revision_path() { echo "./docker/registry/v2/repositories/$1/_manifests/revisions/sha256/$2/link"; }
# image_blobs LAYOUT_TAG: the config and layers of a layout image, as paths.
image_blobs() {
    local d
    for d in $(skopeo inspect --raw "oci:$LAYOUT:$1" |
        python3 -c 'import json, sys; m = json.load(sys.stdin); print(m["config"]["digest"], *[l["digest"] for l in m["layers"]])'); do
        blob_path "${d#sha256:}"
    done
}
# collect WHO MODE: WHO's garbage-collect on its copy of the root; the
# output also goes to $WORK/gc-WHO-MODE.log.
collect() {
    local flags=() cfg="$WORK/gc-$1-$2.yml"
    [ "$2" = untagged ] && flags=(--delete-untagged)
    if [ "$1" = berth ]; then
        "$BERTH" garbage-collect "${flags[@]}" "$cfg" 2>&1 | tee "$WORK/gc-$1-$2.log"
    else
        docker-registry garbage-collect "${flags[@]}" "$cfg" 2>&1 | tee "$WORK/gc-$1-$2.log"
    fi
}
for mode in keep untagged; do
    for who in berth dist; do
        cp -a "$GC_ROOT" "$WORK/gc-$who-$mode"
        printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n' \
            "$WORK/gc-$who-$mode" >"$WORK/gc-$who-$mode.yml"
        # berth's grace period: none, as the node that wrote the root
        # (markers are read in buckets of the writer's refresh period).
        [ "$who" = berth ] && printf '  maintenance:\n    gc:\n      delay: 0s\n' >>"$WORK/gc-$who-$mode.yml"
        check "gc: $who garbage-collect ($mode)" collect "$who" "$mode"
    done
done
check "gc: berth reports its progress on stderr (not a terminal: plain lines)" \
    sh -c "grep -Eq '^marked [0-9]+ manifests in [0-9]+ repositories\$' '$WORK/gc-berth-untagged.log' && grep -Eq '^swept [0-9]+ of [0-9]+ blobs\$' '$WORK/gc-berth-untagged.log'"
# absent ROOT PATH...: none of the PATHs is left under ROOT.
absent() {
    local root=$1 f
    shift
    for f in "$@"; do
        [ ! -e "$root/$f" ] || {
            echo "$root/$f is still there"
            return 1
        }
    done
}
for copy in berth-keep dist-keep berth-untagged dist-untagged; do
    # shellcheck disable=SC2046 # one path a word
    check "gc: $copy: the orphan and the deleted image's blobs went" \
        absent "$WORK/gc-$copy" "$(blob_path "$GC_ORPHAN")" \
        "$(blob_path "$(raw_digest "oci:$LAYOUT:gc-deleted")")" $(image_blobs gc-deleted)
done
check "gc: without --delete-untagged, the same blob files as docker-registry" \
    same_as blob_files "$WORK/gc-berth-keep" "$WORK/gc-dist-keep"
check "gc: without --delete-untagged, every file the same as docker-registry's" \
    same_as all_files "$WORK/gc-berth-keep" "$WORK/gc-dist-keep"
check "gc: with --delete-untagged, berth removes every blob docker-registry removes" \
    test -z "$(only_in blob_files "$WORK/gc-dist-untagged" "$WORK/gc-berth-untagged")"
# What only berth keeps: the config and layers of gc/multi's arm64 child
# (amd64's are kept by the tagged gc/image:v1 in both), and the revision
# links of both children.
check "gc: with --delete-untagged, berth keeps only the index's children's blobs more" \
    diff <(only_in blob_files "$WORK/gc-berth-untagged" "$WORK/gc-dist-untagged") <(image_blobs arm64 | sort)
check "gc: with --delete-untagged, the same revision links but the index's children" \
    diff <(only_in revision_links "$WORK/gc-berth-untagged" "$WORK/gc-dist-untagged") \
    <({ revision_path gc/multi "$(raw_digest "oci:$LAYOUT:amd64")"
        revision_path gc/multi "$(raw_digest "oci:$LAYOUT:arm64")"; } | sort)
check "gc: with --delete-untagged, no revision link berth keeps is one docker-registry removed otherwise" \
    test -z "$(only_in revision_links "$WORK/gc-dist-untagged" "$WORK/gc-berth-untagged")"
for copy in berth-untagged dist-untagged; do
    # shellcheck disable=SC2046 # one path a word
    check "gc: $copy: the untagged image's own blobs went" \
        absent "$WORK/gc-$copy" "$(blob_path "$(raw_digest "oci:$LAYOUT:gc-loose")")" $(image_blobs gc-loose)
done
for copy in berth-keep dist-keep; do
    # shellcheck disable=SC2046 # one path a word
    check "gc: $copy: the untagged image's blobs stay" \
        sh -c 'root=$1; shift; for f; do test -e "$root/$f" || exit 1; done' _ "$WORK/gc-$copy" \
        "$(blob_path "$(raw_digest "oci:$LAYOUT:gc-loose")")" $(image_blobs gc-loose)
done

# gc_pulls HOST: every kept image copies out of HOST whole (--all: an
# index with its children), with the digest it had before the collection.
gc_pulls() {
    local ref out="$WORK/gc-pull-${1//[.:]/-}"
    for ref in "${GC_KEPT[@]}"; do
        skopeo copy -q --all --src-tls-verify=false "docker://$1/$ref" "oci:$out:${ref//[\/:]/-}" || return 1
        [ "$(raw_digest "docker://$1/$ref")" = "${GC_DIGEST[$ref]}" ] || {
            echo "$ref: the digest changed"
            return 1
        }
    done
}
# gc_untagged_pull HOST: the untagged manifests copy out of HOST by digest.
gc_untagged_pull() {
    local i=0 ref out="$WORK/gc-untagged-${1//[.:]/-}"
    for ref in "${GC_UNTAGGED[@]}"; do
        i=$((i + 1))
        skopeo copy -q --src-tls-verify=false "docker://$1/$ref" "oci:$out:untagged-$i" || return 1
    done
}
# gc_untagged_gone HOST: none of them is there any more.
gc_untagged_gone() {
    local ref
    for ref in "${GC_UNTAGGED[@]}"; do
        if skopeo inspect --raw --tls-verify=false "docker://$1/$ref" >/dev/null 2>&1; then
            echo "$ref is still served"
            return 1
        fi
    done
}
start_berth gc-after-keep "  filesystem:\n    rootdirectory: $WORK/gc-berth-keep"
check "gc: after berth garbage-collect, every image pulls with its digest" gc_pulls "127.0.0.1:$PORT"
check "gc: and the untagged manifests too" gc_untagged_pull "127.0.0.1:$PORT"
kill "${PIDS[-1]}"
start_berth gc-after-untagged "  filesystem:\n    rootdirectory: $WORK/gc-berth-untagged"
check "gc: after berth garbage-collect --delete-untagged, every tagged image pulls with its digest" \
    gc_pulls "127.0.0.1:$PORT"
check "gc: and the untagged manifests are gone" gc_untagged_gone "127.0.0.1:$PORT"
kill "${PIDS[-1]}"

# --- online garbage collection under skopeo, then Distribution ------------
# berth collects every second (grace period 2 s, untagged manifests too)
# while skopeo pushes, re-tags and deletes; then Distribution serves the
# root and every live image pulls, and the deleted images' blobs are gone.
log "online garbage collection under skopeo pushes, then docker-registry on the root"
ONLINE_ROOT="$WORK/online-root"
# (At info level, for the runs' log lines.)
REGISTRY_LOG_LEVEL=info start_berth online "  filesystem:\n    rootdirectory: $ONLINE_ROOT\n  maintenance:\n    gc:\n      enabled: true\n      interval: 1s\n      delay: 2s\n      deleteuntagged: true"
ONLINE_PID=${PIDS[-1]}
reg="127.0.0.1:$PORT"
for i in 1 2 3; do build_image "online-$i" amd64 $((20 + i)); done
ONLINE_KEPT=(online/image:v1 online/multi:v1 online/docker:v1 online/moved:v1)
online_pushes() {
    local round
    for round in 1 2 3 4; do
        skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:amd64" "docker://$reg/online/image:v1" &&
            skopeo copy -q --all --dest-tls-verify=false "oci:$LAYOUT:multi" "docker://$reg/online/multi:v1" &&
            skopeo copy -q --format v2s2 --dest-tls-verify=false "oci:$LAYOUT:arm64" "docker://$reg/online/docker:v1" &&
            # online/moved:v1 goes from an image of its own to amd64: the
            # first becomes untagged, and its blobs garbage.
            skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:online-$((round % 3 + 1))" "docker://$reg/online/moved:v1" &&
            skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:amd64" "docker://$reg/online/moved:v1" &&
            # An image pushed and deleted by digest.
            skopeo copy -q --dest-tls-verify=false "oci:$LAYOUT:online-$(((round + 1) % 3 + 1))" "docker://$reg/online/deleted:v$round" &&
            skopeo delete --tls-verify=false "docker://$reg/online/deleted@sha256:$(raw_digest "oci:$LAYOUT:online-$(((round + 1) % 3 + 1))")" ||
            return 1
        sleep 1
    done
}
check "online gc: skopeo pushes, re-tags and deletes while berth collects every second" online_pushes
declare -A ONLINE_DIGEST
for ref in "${ONLINE_KEPT[@]}"; do ONLINE_DIGEST[$ref]=$(raw_digest "docker://$reg/$ref"); done
# Past the grace period, two more runs.
online_runs() { grep -c 'garbage collection done' "$WORK/online.log"; }
sleep 3
ONLINE_RUNS=$(online_runs)
check "online gc: two runs complete after the load" \
    wait_until 60 "two more runs" sh -c "[ \$(grep -c 'garbage collection done' '$WORK/online.log') -ge $((ONLINE_RUNS + 2)) ]"
check "online gc: berth logged no ERROR" sh -c "! grep -q ERROR '$WORK/online.log'"
kill "$ONLINE_PID"
wait "$ONLINE_PID" || true
# online_gone: no blob of the three images of their own is left (each was
# untagged or deleted, and amd64/arm64 share none of their layers).
online_gone() {
    local i f
    for i in 1 2 3; do
        for f in $(image_blobs "online-$i") "$(blob_path "$(raw_digest "oci:$LAYOUT:online-$i")")"; do
            [ ! -e "$ONLINE_ROOT/$f" ] || {
                echo "$f is still there"
                return 1
            }
        done
    done
}
check "online gc: the untagged and deleted images' blobs went" online_gone
start_distribution online-dist "$ONLINE_ROOT"
online_pulls() {
    local ref out="$WORK/online-pull"
    for ref in "${ONLINE_KEPT[@]}"; do
        skopeo copy -q --all --src-tls-verify=false "docker://127.0.0.1:$PORT/$ref" "oci:$out:${ref//[\/:]/-}" || return 1
        [ "$(raw_digest "docker://127.0.0.1:$PORT/$ref")" = "${ONLINE_DIGEST[$ref]}" ] || {
            echo "$ref: the digest changed"
            return 1
        }
    done
}
check "online gc: docker-registry serves the root and every live image pulls whole" online_pulls
kill "${PIDS[-1]}"

echo "interop: $((CHECKS - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
