#!/usr/bin/env python3
"""The load of scripts/soak.sh: a few workers pushing, pulling, deleting and
listing against one registry for a fixed time, every answer checked against
a model of what the registry holds.

Standard library only. Each worker keeps one HTTP/1.1 connection and does a
weighted mix of operations, each a sequence of requests on one repository
(two for mounts) held under that repository's lock, so that the model is
exact and every answer can be checked exactly:

  push      an image: per layer a HEAD (does the repository have it?), then
            a cross-repository mount or an upload (one monolithic POST,
            POST + PUT, or POST + PATCHes + PUT, the PATCHes with and
            without Content-Range, with Content-Length or chunked), the
            config, and the manifest (OCI or Docker schema 2) by tag or by
            digest
  retag     GET a manifest by digest and PUT its bytes under another tag
  pull      GET/HEAD the manifest by tag and by digest, then GET (sha256 and
            size checked), HEAD or Range GET (bytes compared) every blob
  negative  a deleted manifest, an unknown tag, an unlinked blob: 404s
  delete    a tag, a manifest by digest (its tags go with it), a blob link
  upload    an upload cancelled halfway (DELETE, then GET is 404); a mount
            from a repository that does not hold the blob (202, cancelled)
  tags      the tag list, paginated with `n` and `last` (Link followed)
  catalog   the catalog, paginated; checked for every repository nobody
            touched while it was read

Layers come mostly from a bounded pool of contents (sizes log-uniform from
1 byte to 4 MiB) shared by all repositories, so that the same blob is
committed into several repositories at once; a quarter are small unique
ones (up to 256 KiB). Each repository holds at most MAX_MANIFESTS manifests
and MAX_LAYERS layer links: a push over the bound becomes a delete, so
deletes keep up with pushes and what the repositories link stays bounded.
Deletes are soft (links only; bytes go in garbage collection), so the blob
store still grows by what is new in each push: its config, its manifest and
its unique layers.

Every request is counted by kind; every status the model does not expect,
every wrong header or body, and every exception is an error. A 404 is
expected exactly when the model says the thing is not there (the generator
deleted it, or never pushed it). After an error in an operation the model of
its repositories can no longer be trusted: they are set aside ("tainted")
for the rest of the run, so one fault is reported once, not as a cascade.

At the end (load stopped, nothing in flight) a final check compares the
whole registry with the model: every repository's tags, manifests and blob
links, and the catalog.

Usage: soak.py load --url http://127.0.0.1:PORT --seconds N --workers W
                    --json OUT [--progress FILE] [--seed S]
       soak.py report ...   (scripts/soak.sh's table and verdict from its
                             samples, this load's result and berth's metrics)
"""

import argparse
import hashlib
import http.client
import json
import math
import os
import random
import sys
import threading
import time
import traceback
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
ACCEPT = ", ".join([
    OCI_MANIFEST, DOCKER_MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])

# Nested names, and names whose plain string order differs from the
# catalog's component-wise order ("soak/alpha-x" < "soak/alpha/sub" as
# strings, but after it as paths).
REPOSITORIES = [
    "soak/alpha", "soak/alpha/sub", "soak/alpha/sub/deep", "soak/alpha-x",
    "soak/alpha.y", "soak/alpha_z", "soak/beta", "soak/gamma", "soak/delta",
    "soak/epsilon", "soak/eta", "soak/theta", "soak/iota/kappa", "solo",
    "zeta/one", "zeta/two",
]
TAGS = ["latest", "v1", "v2", "v3", "1.0.0", "1.0", "stable", "edge", "dev", "rc_1"]

MAX_MANIFESTS = 8
MAX_LAYERS = 24
POOL = 160                 # shared layer contents
MAX_BLOB = 4 << 20         # pooled layers: 1 byte .. 4 MiB
MAX_UNIQUE = 256 << 10     # unique layers: 1 byte .. 256 KiB
PIECE = 64 << 10           # chunked transfer-encoding pieces

WEIGHTS = {
    "push": 12, "retag": 2, "pull": 30, "negative": 3, "delete_tag": 3,
    "delete_manifest": 4, "delete_blob": 5, "cancel_upload": 1,
    "mount_miss": 1, "tags": 6, "catalog": 3,
}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def log_uniform(rng, top):
    return max(1, min(top, int(math.exp(rng.uniform(0, math.log(top))))))


def path_key(name):
    return name.split("/")


class Failed(Exception):
    """An answer the model did not expect (already counted as an error)."""


# --- content -----------------------------------------------------------------

class Content:
    """Blob contents as functions of small specs, so nothing large is kept:
    the pool (shared by every repository), unique layers and configs."""

    def __init__(self, salt):
        self.salt = salt
        self.lock = threading.Lock()
        self.pool = {}      # index -> (digest, size)
        self.specs = {}     # digest -> spec
        self.unique = 0

    def _generate(self, spec):
        kind = spec[0]
        if kind == "bytes":
            return spec[1]
        rng = random.Random(f"{self.salt}/{kind}/{spec[1]}")
        size = log_uniform(rng, MAX_BLOB if kind == "pool" else MAX_UNIQUE)
        return rng.randbytes(size)

    def data(self, digest):
        return self._generate(self.specs[digest])

    def pooled(self, index):
        with self.lock:
            known = self.pool.get(index)
        if known:
            return known
        data = self._generate(("pool", index))
        known = (sha256(data), len(data))
        with self.lock:
            self.pool[index] = known
            self.specs[known[0]] = ("pool", index)
        return known

    def new_unique(self):
        with self.lock:
            self.unique += 1
            n = self.unique
        data = self._generate(("uniq", n))
        digest = sha256(data)
        with self.lock:
            self.specs[digest] = ("uniq", n)
        return digest, len(data)

    def new_bytes(self, data):
        digest = sha256(data)
        with self.lock:
            self.specs[digest] = ("bytes", data)
        return digest, len(data)


# --- the model ---------------------------------------------------------------

class Manifest:
    def __init__(self, media_type, body, blobs):
        self.media_type = media_type
        self.body = body
        self.blobs = blobs      # [(digest, size)]: config first, then layers


class Repo:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.gen = 0            # odd while an operation holds the lock
        self.layers = {}        # digest -> size: blob links
        self.manifests = {}     # digest -> Manifest: revision links
        self.tags = {}          # tag -> digest
        self.gone = []          # manifests deleted (recent ones)
        self.tainted = False
        self.descendants = []   # repositories below this one

    def has_content(self):
        return bool(self.layers or self.manifests or self.tags)


class Model:
    def __init__(self, names):
        self.repos = [Repo(n) for n in names]
        self.by_name = {r.name: r for r in self.repos}
        for r in self.repos:
            r.descendants = [o for o in self.repos if o.name.startswith(r.name + "/")]

    def lock(self, repos):
        return Held(repos)


class Held:
    """Holds the locks of some repositories (in name order: no deadlock)."""

    def __init__(self, repos):
        self.repos = sorted(set(repos), key=lambda r: r.name)

    def __enter__(self):
        for r in self.repos:
            r.lock.acquire()
            r.gen += 1
        return self

    def __exit__(self, kind, value, tb):
        for r in reversed(self.repos):
            r.gen += 1
            r.lock.release()
        return False


# --- statistics --------------------------------------------------------------

class Stats:
    RESERVOIR = 4000

    def __init__(self):
        self.lock = threading.Lock()
        self.kinds = {}
        self.samples = []
        self.errors = 0
        self.requests = 0
        self.rng = random.Random(1)

    def _kind(self, kind):
        k = self.kinds.get(kind)
        if k is None:
            k = self.kinds[kind] = {"requests": 0, "errors": 0, "seconds": 0.0,
                                    "max": 0.0, "bytes_out": 0, "bytes_in": 0, "lat": []}
        return k

    def record(self, kind, seconds, sent, received):
        with self.lock:
            k = self._kind(kind)
            k["requests"] += 1
            self.requests += 1
            k["seconds"] += seconds
            k["max"] = max(k["max"], seconds)
            k["bytes_out"] += sent
            k["bytes_in"] += received
            lat = k["lat"]
            if len(lat) < self.RESERVOIR:
                lat.append(seconds)
            else:
                i = self.rng.randrange(k["requests"])
                if i < self.RESERVOIR:
                    lat[i] = seconds

    def error(self, kind, message):
        with self.lock:
            self._kind(kind)["errors"] += 1
            self.errors += 1
            if len(self.samples) < 100:
                self.samples.append(f"{time.strftime('%H:%M:%S')} {kind}: {message}")
        print(f"soak: ERROR {kind}: {message}", file=sys.stderr, flush=True)

    def summary(self, seconds):
        out = {}
        with self.lock:
            for kind in sorted(self.kinds):
                k = self.kinds[kind]
                lat = sorted(k["lat"])

                def pct(p, lat=lat):
                    return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None
                out[kind] = {
                    "requests": k["requests"], "errors": k["errors"],
                    "per_second": round(k["requests"] / seconds, 2) if seconds else 0,
                    "mean_ms": round(k["seconds"] / k["requests"] * 1000, 2) if k["requests"] else None,
                    "p50_ms": pct(0.50), "p99_ms": pct(0.99),
                    "max_ms": round(k["max"] * 1000, 1),
                    "mib_out": round(k["bytes_out"] / 2**20, 1),
                    "mib_in": round(k["bytes_in"] / 2**20, 1),
                }
        return out


# --- HTTP --------------------------------------------------------------------

class Client:
    def __init__(self, host, port, stats, prefix=""):
        self.host, self.port, self.stats, self.prefix = host, port, stats, prefix
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, kind, method, target, body=None, headers=None, expect=(200,),
                code=None, chunked=False):
        """One request; returns (status, headers, body). An unexpected status,
        or an error code other than `code` in a 4xx body, is an error."""
        kind = self.prefix + kind
        headers = dict(headers or {})
        sent = 0
        if chunked:
            data = body or b""
            sent = len(data)
            body = (data[i:i + PIECE] for i in range(0, len(data), PIECE))
        elif body is not None:
            sent = len(body)
        start = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            self.conn.request(method, target, body=body, headers=headers,
                              encode_chunked=chunked)
            resp = self.conn.getresponse()
            data = resp.read()
        except Exception as e:  # noqa: BLE001 - any failure is an error
            self.close()
            self.stats.error(kind, f"{method} {target}: {e!r}")
            raise Failed() from e
        elapsed = time.monotonic() - start
        self.stats.record(kind, elapsed, sent, len(data))
        got = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close:
            self.close()
        if resp.status not in expect:
            self.stats.error(kind, f"{method} {target}: {resp.status}, expected "
                             f"{'/'.join(map(str, expect))}: {data[:300]!r}")
            raise Failed()
        if code is not None and resp.status >= 400 and method != "HEAD":
            try:
                found = json.loads(data)["errors"][0]["code"]
            except (ValueError, KeyError, IndexError, TypeError):
                found = None
            if found != code:
                self.stats.error(kind, f"{method} {target}: {resp.status} with code "
                                 f"{found!r}, expected {code}: {data[:300]!r}")
                raise Failed()
        return resp.status, got, data

    def check(self, kind, ok, message):
        if not ok:
            self.stats.error(self.prefix + kind, message)
            raise Failed()


def target_of(location):
    """The path and query of a Location (absolute or not)."""
    parts = urllib.parse.urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def with_query(target, key, value):
    sep = "&" if "?" in target else "?"
    return f"{target}{sep}{key}={urllib.parse.quote(value, safe='')}"


def next_link(headers):
    """The target of a `Link: <…>; rel="next"` header, or None."""
    link = headers.get("link")
    if not link:
        return None
    start, end = link.find("<"), link.find(">")
    if start < 0 or end < start or 'rel="next"' not in link:
        return "malformed"
    return target_of(link[start + 1:end])


# --- the operations ------------------------------------------------------------

class Worker:
    def __init__(self, index, args, model, content, stats, stop):
        self.index = index
        self.model = model
        self.content = content
        self.stats = stats
        self.stop = stop
        self.rng = random.Random(f"{args.seed}/worker/{index}")
        url = urllib.parse.urlsplit(args.url)
        self.c = Client(url.hostname, url.port, stats)
        self.pushed = 0

    # -- helpers --

    def live(self):
        return [r for r in self.model.repos if not r.tainted]

    def pick(self, repos):
        return self.rng.choice(repos) if repos else None

    def layer_for(self):
        if self.rng.random() < 0.75:
            return self.content.pooled(self.rng.randrange(POOL))
        return self.content.new_unique()

    def head_blob(self, repo, digest, size, kind="blob.head"):
        if digest in repo.layers:
            _, h, _ = self.c.request(kind, "HEAD", f"/v2/{repo.name}/blobs/{digest}")
            self.c.check(kind, h.get("content-length") == str(size),
                         f"HEAD {repo.name}@{digest}: Content-Length {h.get('content-length')}, expected {size}")
            self.c.check(kind, h.get("docker-content-digest") == digest,
                         f"HEAD {repo.name}@{digest}: Docker-Content-Digest {h.get('docker-content-digest')}")
        else:
            self.c.request(kind, "HEAD", f"/v2/{repo.name}/blobs/{digest}", expect=(404,))

    def created(self, kind, repo, headers, digest):
        self.c.check(kind, headers.get("docker-content-digest") == digest,
                     f"{repo.name}: Docker-Content-Digest {headers.get('docker-content-digest')}, expected {digest}")
        self.c.check(kind, target_of(headers.get("location", "")) == f"/v2/{repo.name}/blobs/{digest}",
                     f"{repo.name}: Location {headers.get('location')} for {digest}")

    def start_upload(self, repo, kind="blob.post"):
        _, h, _ = self.c.request(kind, "POST", f"/v2/{repo.name}/blobs/uploads/", expect=(202,))
        loc = h.get("location")
        self.c.check(kind, bool(loc) and bool(h.get("docker-upload-uuid")),
                     f"POST {repo.name} upload: Location {loc!r}, uuid {h.get('docker-upload-uuid')!r}")
        return target_of(loc)

    def upload(self, repo, digest, data):
        """Pushes `data` into `repo` by one of the upload flows."""
        name = repo.name
        how = self.rng.random()
        if how < 0.25:
            _, h, _ = self.c.request(
                "blob.post.monolithic", "POST",
                with_query(f"/v2/{name}/blobs/uploads/", "digest", digest), body=data,
                headers={"Content-Type": "application/octet-stream"}, expect=(201,))
            self.created("blob.post.monolithic", repo, h, digest)
            return
        loc = self.start_upload(repo)
        if how < 0.5:
            _, h, _ = self.c.request(
                "blob.put", "PUT", with_query(loc, "digest", digest), body=data,
                headers={"Content-Type": "application/octet-stream"}, expect=(201,))
            self.created("blob.put", repo, h, digest)
            return
        # Chunked: cut points, the last piece possibly sent with the PUT.
        cuts = sorted(self.rng.sample(range(1, len(data)), min(len(data) - 1, self.rng.randint(0, 3))))
        pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        final = pieces.pop() if self.rng.random() < 0.3 else b""
        offset = 0
        for piece in pieces:
            style = self.rng.randrange(4)
            headers = {"Content-Type": "application/octet-stream"}
            if style in (0, 3):
                headers["Content-Range"] = f"{offset}-{offset + len(piece) - 1}"
            _, h, _ = self.c.request("blob.patch", "PATCH", loc, body=piece, headers=headers,
                                     expect=(202,), chunked=style >= 2)
            offset += len(piece)
            self.c.check("blob.patch", h.get("range") == f"0-{offset - 1}",
                         f"PATCH {name}: Range {h.get('range')!r}, expected 0-{offset - 1}")
            self.c.check("blob.patch", bool(h.get("location")), f"PATCH {name}: no Location")
            loc = target_of(h["location"])
            if self.rng.random() < 0.15:
                _, h, _ = self.c.request("upload.status", "GET", loc, expect=(204,))
                self.c.check("upload.status", h.get("range") == f"0-{offset - 1}",
                             f"GET upload {name}: Range {h.get('range')!r}, expected 0-{offset - 1}")
        _, h, _ = self.c.request(
            "blob.put", "PUT", with_query(loc, "digest", digest), body=final,
            headers={"Content-Type": "application/octet-stream"}, expect=(201,))
        self.created("blob.put", repo, h, digest)

    def ensure_blob(self, repo, digest, size, source):
        """What a client does: HEAD, then mount or upload when missing."""
        self.head_blob(repo, digest, size)
        if digest in repo.layers:
            return
        if source is not None and digest in source.layers and self.rng.random() < 0.8:
            _, h, _ = self.c.request(
                "blob.mount", "POST",
                f"/v2/{repo.name}/blobs/uploads/?mount={digest}&from={source.name}", expect=(201,))
            self.created("blob.mount", repo, h, digest)
        else:
            self.upload(repo, digest, self.content.data(digest))
        repo.layers[digest] = size

    def manifest_path(self, repo, reference):
        return f"/v2/{repo.name}/manifests/{reference}"

    def get_manifest(self, repo, reference, digest, method="GET", kind="manifest.get"):
        m = repo.manifests[digest]
        _, h, body = self.c.request(kind, method, self.manifest_path(repo, reference),
                                    headers={"Accept": ACCEPT})
        self.c.check(kind, h.get("docker-content-digest") == digest,
                     f"{method} {repo.name}:{reference}: digest {h.get('docker-content-digest')}, expected {digest}")
        self.c.check(kind, h.get("content-type") == m.media_type,
                     f"{method} {repo.name}:{reference}: Content-Type {h.get('content-type')}, expected {m.media_type}")
        self.c.check(kind, h.get("content-length") == str(len(m.body)),
                     f"{method} {repo.name}:{reference}: Content-Length {h.get('content-length')}, expected {len(m.body)}")
        if method == "GET":
            self.c.check(kind, body == m.body,
                         f"GET {repo.name}:{reference}: body differs from the bytes pushed ({sha256(body)})")
        return body

    def put_manifest(self, repo, reference, m, digest):
        """PUT; 201 when every blob is linked in the repository, else 400."""
        if all(d in repo.layers for d, _ in m.blobs):
            _, h, _ = self.c.request("manifest.put", "PUT", self.manifest_path(repo, reference),
                                     body=m.body, headers={"Content-Type": m.media_type},
                                     expect=(201,))
            self.c.check("manifest.put", h.get("docker-content-digest") == digest,
                         f"PUT {repo.name}:{reference}: digest {h.get('docker-content-digest')}, expected {digest}")
            repo.manifests[digest] = m
            if not reference.startswith("sha256:"):
                repo.tags[reference] = digest
            if digest in repo.gone:
                repo.gone.remove(digest)
            return True
        self.c.request("manifest.put", "PUT", self.manifest_path(repo, reference), body=m.body,
                       headers={"Content-Type": m.media_type}, expect=(400,),
                       code="MANIFEST_BLOB_UNKNOWN")
        return False

    # -- operations --

    def op_push(self, repo, source):
        if len(repo.manifests) >= MAX_MANIFESTS:
            return self.op_delete_manifest(repo)
        if len(repo.layers) >= MAX_LAYERS:
            return self.op_delete_blob(repo)
        layers = []
        for _ in range(self.rng.randint(1, 3)):
            d, s = self.layer_for()
            if d not in (x for x, _ in layers):
                layers.append((d, s))
        for d, s in layers:
            self.ensure_blob(repo, d, s, source)
        self.pushed += 1
        docker = self.rng.random() < 0.25
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": [f"SOAK={self.index}.{self.pushed}", f"REPO={repo.name}"]},
            "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
        }, separators=(",", ":")).encode()
        cd, cs = self.content.new_bytes(config)
        self.ensure_blob(repo, cd, cs, None)
        media = DOCKER_MANIFEST if docker else OCI_MANIFEST
        body = json.dumps({
            "schemaVersion": 2,
            "mediaType": media,
            "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, "digest": cd, "size": cs},
            "layers": [{"mediaType": DOCKER_LAYER if docker else OCI_LAYER, "digest": d, "size": s}
                       for d, s in layers],
        }, indent=self.rng.choice([None, 2])).encode()
        digest = sha256(body)
        m = Manifest(media, body, [(cd, cs)] + layers)
        reference = self.rng.choice(TAGS) if self.rng.random() < 0.8 else digest
        self.put_manifest(repo, reference, m, digest)

    def op_retag(self, repo, _source):
        if not repo.manifests:
            return self.op_negative(repo)
        digest = self.rng.choice(sorted(repo.manifests))
        m = repo.manifests[digest]
        self.get_manifest(repo, digest, digest)
        self.put_manifest(repo, self.rng.choice(TAGS), m, digest)

    def op_pull(self, repo, _source):
        if repo.tags:
            tag = self.rng.choice(sorted(repo.tags))
            digest = repo.tags[tag]
            self.get_manifest(repo, tag, digest)
            if self.rng.random() < 0.3:
                self.get_manifest(repo, tag, digest, method="HEAD", kind="manifest.head")
        elif repo.manifests:
            digest = self.rng.choice(sorted(repo.manifests))
        else:
            return self.op_negative(repo)
        self.get_manifest(repo, digest, digest)
        for d, s in repo.manifests[digest].blobs:
            path = f"/v2/{repo.name}/blobs/{d}"
            if d not in repo.layers:
                self.c.request("blob.get", "GET", path, expect=(404,), code="BLOB_UNKNOWN")
                continue
            how = self.rng.random()
            if how < 0.55:
                _, h, body = self.c.request("blob.get", "GET", path)
                self.c.check("blob.get", len(body) == s and sha256(body) == d,
                             f"GET {repo.name}@{d}: {len(body)} bytes of {sha256(body)}, expected {s}")
                self.c.check("blob.get", h.get("docker-content-digest") == d,
                             f"GET {repo.name}@{d}: Docker-Content-Digest {h.get('docker-content-digest')}")
            elif how < 0.75:
                self.head_blob(repo, d, s)
            elif how < 0.97:
                a = self.rng.randrange(s)
                form = self.rng.randrange(3)
                if form == 0:
                    b = self.rng.randrange(a, s)
                    spec = f"bytes={a}-{b}"
                elif form == 1:
                    b = s - 1
                    spec = f"bytes={a}-"
                else:
                    n = self.rng.randint(1, s)
                    a, b = s - n, s - 1
                    spec = f"bytes=-{n}"
                _, h, body = self.c.request("blob.get.range", "GET", path,
                                            headers={"Range": spec}, expect=(206,))
                want = self.content.data(d)[a:b + 1]
                self.c.check("blob.get.range", body == want,
                             f"GET {repo.name}@{d} {spec}: {len(body)} bytes, not bytes {a}-{b} of the blob")
                self.c.check("blob.get.range", h.get("content-range") == f"bytes {a}-{b}/{s}",
                             f"GET {repo.name}@{d} {spec}: Content-Range {h.get('content-range')!r}")
            else:
                _, h, _ = self.c.request("blob.get.range", "GET", path,
                                         headers={"Range": f"bytes={s}-"}, expect=(416,))
                self.c.check("blob.get.range", h.get("content-range") == f"bytes */{s}",
                             f"GET {repo.name}@{d} bytes={s}-: Content-Range {h.get('content-range')!r}")

    def op_negative(self, repo, _source=None):
        how = self.rng.randrange(3)
        gone = [d for d in repo.gone if d not in repo.manifests]
        if how == 0 and gone:
            self.c.request("manifest.get", "GET", self.manifest_path(repo, self.rng.choice(gone)),
                           headers={"Accept": ACCEPT}, expect=(404,), code="MANIFEST_UNKNOWN")
        elif how <= 1:
            absent = [t for t in TAGS if t not in repo.tags]
            if absent:
                self.c.request("manifest.get", "GET", self.manifest_path(repo, self.rng.choice(absent)),
                               headers={"Accept": ACCEPT}, expect=(404,), code="MANIFEST_UNKNOWN")
        else:
            d, s = self.content.pooled(self.rng.randrange(POOL))
            self.head_blob(repo, d, s)

    def op_delete_tag(self, repo, _source):
        if not repo.tags or self.rng.random() < 0.1:
            absent = [t for t in TAGS if t not in repo.tags]
            self.c.request("tag.delete", "DELETE", self.manifest_path(repo, self.rng.choice(absent)),
                           expect=(404,), code="MANIFEST_UNKNOWN")
            return
        tag = self.rng.choice(sorted(repo.tags))
        digest = repo.tags[tag]
        self.c.request("tag.delete", "DELETE", self.manifest_path(repo, tag), expect=(202,))
        del repo.tags[tag]
        self.c.request("manifest.get", "GET", self.manifest_path(repo, tag),
                       headers={"Accept": ACCEPT}, expect=(404,), code="MANIFEST_UNKNOWN")
        self.get_manifest(repo, digest, digest, method="HEAD", kind="manifest.head")

    def op_delete_manifest(self, repo, _source=None):
        if not repo.manifests:
            gone = [d for d in repo.gone if d not in repo.manifests]
            if gone:
                self.c.request("manifest.delete", "DELETE", self.manifest_path(repo, self.rng.choice(gone)),
                               expect=(404,), code="MANIFEST_UNKNOWN")
            return
        digest = self.rng.choice(sorted(repo.manifests))
        self.c.request("manifest.delete", "DELETE", self.manifest_path(repo, digest), expect=(202,))
        del repo.manifests[digest]
        tags = [t for t, d in repo.tags.items() if d == digest]
        for t in tags:
            del repo.tags[t]
        repo.gone.append(digest)
        del repo.gone[:-32]
        self.c.request("manifest.head", "HEAD", self.manifest_path(repo, digest),
                       headers={"Accept": ACCEPT}, expect=(404,))
        if tags:
            self.c.request("manifest.get", "GET", self.manifest_path(repo, self.rng.choice(tags)),
                           headers={"Accept": ACCEPT}, expect=(404,), code="MANIFEST_UNKNOWN")

    def op_delete_blob(self, repo, _source=None):
        if not repo.layers or self.rng.random() < 0.05:
            d, _ = self.content.pooled(self.rng.randrange(POOL))
            if d not in repo.layers:
                self.c.request("blob.delete", "DELETE", f"/v2/{repo.name}/blobs/{d}",
                               expect=(404,), code="BLOB_UNKNOWN")
            return
        # Mostly blobs no manifest of the repository uses any more.
        used = {d for m in repo.manifests.values() for d, _ in m.blobs}
        unused = sorted(d for d in repo.layers if d not in used)
        d = self.rng.choice(unused if unused and self.rng.random() < 0.8 else sorted(repo.layers))
        size = repo.layers[d]
        self.c.request("blob.delete", "DELETE", f"/v2/{repo.name}/blobs/{d}", expect=(202,))
        del repo.layers[d]
        self.head_blob(repo, d, size)

    def op_cancel_upload(self, repo, _source):
        loc = self.start_upload(repo)
        data = self.content.data(self.content.pooled(self.rng.randrange(POOL))[0])
        data = data[:self.rng.randint(1, len(data))]
        _, h, _ = self.c.request("blob.patch", "PATCH", loc, body=data,
                                 headers={"Content-Type": "application/octet-stream"}, expect=(202,))
        loc = target_of(h.get("location", loc))
        self.c.request("upload.delete", "DELETE", loc, expect=(204,))
        self.c.request("upload.status", "GET", loc, expect=(404,), code="BLOB_UPLOAD_UNKNOWN")

    def op_mount_miss(self, repo, source):
        if source is None:
            return self.op_negative(repo)
        candidates = [self.content.pooled(i) for i in self.rng.sample(range(POOL), 8)]
        candidates = [(d, s) for d, s in candidates if d not in source.layers and d not in repo.layers]
        if not candidates:
            return self.op_negative(repo)
        d, s = candidates[0]
        _, h, _ = self.c.request(
            "blob.mount", "POST", f"/v2/{repo.name}/blobs/uploads/?mount={d}&from={source.name}",
            expect=(202,))
        self.c.check("blob.mount", bool(h.get("location")), f"mount miss {repo.name}: no Location")
        self.c.request("upload.delete", "DELETE", target_of(h["location"]), expect=(204,))
        self.head_blob(repo, d, s)

    def exists_as_directory(self, repo):
        """Whether `repo`'s directory exists: True/False, or None when a
        repository below it is busy (its directory may come and go)."""
        below = repo.descendants
        if repo.has_content():
            return True
        if any(r.gen % 2 or r.tainted for r in below):
            return None
        return any(r.has_content() for r in below)

    def op_tags(self, repo, _source):
        """Under the repository's lock: the exact tag list, paginated."""
        below = [(r, r.gen) for r in repo.descendants]
        expected_dir = self.exists_as_directory(repo)
        n = self.rng.choice([None, None, 1, 2, 3, 5])
        target = f"/v2/{repo.name}/tags/list" + (f"?n={n}" if n else "")
        want = sorted(repo.tags)
        got = []
        pages = 0
        while target:
            status, h, body = self.c.request("tags.list", "GET", target, expect=(200, 404),
                                             code="NAME_UNKNOWN")
            stable = all(r.gen == g for r, g in below)
            if status == 404:
                self.c.check("tags.list", pages == 0 and not repo.has_content() and
                             (expected_dir is not True or not stable),
                             f"GET {target}: 404, but the repository holds {len(repo.layers)} blob links, "
                             f"{len(repo.manifests)} manifests, {len(repo.tags)} tags")
                return
            pages += 1
            page = json.loads(body)
            self.c.check("tags.list", page.get("name") == repo.name and isinstance(page.get("tags"), list),
                         f"GET {target}: body {body[:200]!r}")
            tags = page["tags"]
            self.c.check("tags.list", n is None or len(tags) <= n, f"GET {target}: {len(tags)} tags, n={n}")
            got += tags
            target = next_link(h)
            self.c.check("tags.list", target != "malformed", f"GET tags {repo.name}: Link {h.get('link')!r}")
            if target:
                self.c.check("tags.list", n is not None and len(tags) == n and len(got) < len(want),
                             f"GET tags {repo.name}: Link {h.get('link')!r} after {len(got)} of {len(want)}")
            self.c.check("tags.list", pages <= len(TAGS) + 1, f"GET tags {repo.name}: pages do not end")
        self.c.check("tags.list", got == want, f"tags of {repo.name}: {got}, expected {want}")
        if not want and expected_dir is False and all(r.gen == g for r, g in below):
            self.c.check("tags.list", False,
                         f"GET tags {repo.name}: 200 [], but nothing is left in or below it (expected 404)")

    def op_catalog(self):
        """Without locks: exact for every repository nobody touched meanwhile."""
        before = {r.name: r.gen for r in self.model.repos}
        n = self.rng.choice([None, 1, 2, 3, 5, 10])
        catalog_pages(self.c, self.model, n, before)


def catalog_pages(c, model, n, before):
    target = "/v2/_catalog" + (f"?n={n}" if n else "")
    names = []
    pages = 0
    while target:
        _, h, body = c.request("catalog", "GET", target)
        pages += 1
        page = json.loads(body).get("repositories")
        c.check("catalog", isinstance(page, list), f"GET {target}: body {body[:200]!r}")
        c.check("catalog", n is None or len(page) <= n, f"GET {target}: {len(page)} names, n={n}")
        for name in page:
            c.check("catalog", name in model.by_name, f"GET {target}: unknown repository {name!r}")
            c.check("catalog", not names or path_key(names[-1]) < path_key(name),
                    f"GET {target}: {name!r} after {names[-1] if names else None!r} (out of order or twice)")
            names.append(name)
        target = next_link(h)
        c.check("catalog", target != "malformed", f"GET catalog: Link {h.get('link')!r}")
        if target:
            c.check("catalog", n is not None and len(page) == n,
                    f"GET catalog: Link {h.get('link')!r} on a page of {len(page)} (n={n})")
        c.check("catalog", pages <= len(model.repos) + 1, "GET catalog: pages do not end")
    seen = set(names)
    for r in model.repos:
        g = before[r.name]
        if g % 2 or r.gen != g or r.tainted:
            continue
        c.check("catalog", (r.name in seen) == r.has_content(),
                f"catalog: {r.name} {'listed' if r.name in seen else 'missing'}, but it holds "
                f"{len(r.layers)} blob links, {len(r.manifests)} manifests, {len(r.tags)} tags")


def run_worker(w, deadline):
    ops = list(WEIGHTS)
    weights = [WEIGHTS[o] for o in ops]
    while time.monotonic() < deadline and not w.stop.is_set():
        op = w.rng.choices(ops, weights)[0]
        involved = []
        try:
            if op == "catalog":
                w.op_catalog()
                continue
            live = w.live()
            repo = w.pick(live)
            if repo is None:
                time.sleep(0.1)
                continue
            source = None
            if op in ("push", "mount_miss"):
                source = w.pick([r for r in live if r is not repo])
            involved = [repo] + ([source] if source else [])
            with w.model.lock(involved):
                if any(r.tainted for r in involved):
                    continue
                getattr(w, "op_" + op)(repo, source)
        except Failed:
            for r in involved:
                r.tainted = True
        except Exception:  # noqa: BLE001 - a bug here or a garbled answer
            w.stats.error("exception", f"{op}: {traceback.format_exc(limit=4)}")
            for r in involved:
                r.tainted = True
            w.c.close()
    w.c.close()


def final_check(args, model, content, stats):
    """Load stopped: the whole registry against the model."""
    w = Worker(0, args, model, content, stats, threading.Event())
    w.c.prefix = "final "
    for repo in model.repos:
        if repo.tainted:
            continue
        try:
            w.op_tags(repo, None)
            for tag, digest in sorted(repo.tags.items()):
                w.get_manifest(repo, tag, digest)
            for digest in sorted(repo.manifests):
                w.get_manifest(repo, digest, digest)
            for d in repo.gone:
                if d not in repo.manifests:
                    w.c.request("manifest.head", "HEAD", w.manifest_path(repo, d),
                                headers={"Accept": ACCEPT}, expect=(404,))
            for d, s in sorted(repo.layers.items()):
                w.head_blob(repo, d, s)
        except Failed:
            repo.tainted = True
    try:
        before = {r.name: r.gen for r in model.repos}
        catalog_pages(w.c, model, None, before)
        catalog_pages(w.c, model, 2, before)
    except Failed:
        pass
    w.c.close()


def when(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def load(args):
    model = Model(REPOSITORIES)
    content = Content(args.seed)
    stats = Stats()
    # The model starts empty: so must the registry.
    url = urllib.parse.urlsplit(args.url)
    probe = Client(url.hostname, url.port, stats, prefix="start ")
    try:
        probe.request("base", "GET", "/v2/")
        _, _, body = probe.request("catalog", "GET", "/v2/_catalog")
        probe.check("catalog", json.loads(body).get("repositories") == [],
                    f"the registry is not empty: {body[:200]!r}")
    except Failed:
        return 1
    finally:
        probe.close()

    probes = stats.requests
    stop = threading.Event()
    started = time.time()
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    workers = [Worker(i, args, model, content, stats, stop) for i in range(args.workers)]
    threads = [threading.Thread(target=run_worker, args=(w, deadline), daemon=True) for w in workers]
    for t in threads:
        t.start()
    last_report = t0
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            now = time.monotonic()
            if args.progress:
                tmp = args.progress + ".tmp"
                with open(tmp, "w") as f:
                    json.dump({"seconds": round(now - t0, 1), "requests": stats.requests,
                               "errors": stats.errors}, f)
                os.replace(tmp, args.progress)
            if now - last_report >= 60:
                last_report = now
                print(f"soak: {now - t0:.0f} s, {stats.requests} requests, "
                      f"{stats.errors} errors", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - t0
    load_requests, load_errors = stats.requests, stats.errors
    ended = time.time()
    final_check(args, model, content, stats)

    kinds = stats.summary(elapsed)
    result = {
        "started": when(started), "ended": when(ended), "seconds": round(elapsed, 1),
        "workers": args.workers, "seed": args.seed,
        "requests": load_requests - probes, "errors": load_errors,
        "per_second": round((load_requests - probes) / elapsed, 1),
        "final_check_requests": stats.requests - load_requests,
        "final_check_errors": stats.errors - load_errors,
        "start_requests": probes,
        "kinds": {k: v for k, v in kinds.items() if not k.startswith(("final ", "start "))},
        "final_check": {k[6:]: {"requests": v["requests"], "errors": v["errors"]}
                        for k, v in kinds.items() if k.startswith("final ")},
        "error_samples": stats.samples,
        "tainted": [r.name for r in model.repos if r.tainted],
        "model": {
            "repositories": sum(1 for r in model.repos if r.has_content()),
            "manifests": sum(len(r.manifests) for r in model.repos),
            "tags": sum(len(r.tags) for r in model.repos),
            "blob_links": sum(len(r.layers) for r in model.repos),
            "distinct_contents": len(content.specs),
        },
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    return 0 if stats.errors == 0 else 1


# --- the report of scripts/soak.sh -------------------------------------------

def read_metrics(path):
    """Sums from the Prometheus text berth's debug server served at the end."""
    out = {"http_requests": 0, "http_4xx": 0, "http_5xx": 0}
    try:
        text = open(path).read()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("berth_http_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            status = labels.split('status="', 1)[1][:3] if 'status="' in labels else ""
            n = int(float(value))
            out["http_requests"] += n
            if status.startswith("4"):
                out["http_4xx"] += n
            if status.startswith("5"):
                out["http_5xx"] += n
        for name in ("cache_hits", "cache_misses", "cache_errors"):
            if line.startswith(f"berth_{name}_total "):
                out[name] = int(float(line.split()[1]))
    return out


def report(args):
    tick = os.sysconf("SC_CLK_TCK")
    samples = []
    with open(args.samples) as f:
        for line in f:
            t, rss, fds, threads, cpu, load1, disk, requests = line.split()
            samples.append({"t": float(t), "rss_kib": int(rss), "fds": int(fds),
                            "threads": int(threads), "cpu_ticks": int(cpu), "load1": float(load1),
                            "disk_kib": int(disk), "requests": int(requests)})
    try:
        with open(args.load) as f:
            result = json.load(f)
    except (OSError, ValueError):
        result = None
    metrics = read_metrics(args.metrics)
    reasons = []

    during = [s for s in samples if s["t"] <= args.seconds]
    print(f"\n{'minute':>7} {'RSS MiB':>8} {'fds':>4} {'threads':>7} {'req/s':>7} "
          f"{'berth CPU':>9} {'load avg':>8} {'disk MiB':>8}")
    prev = None
    for s in samples:
        rate = cpu = ""
        if prev is not None and s in during:
            dt = s["t"] - prev["t"]
            rate = f"{(s['requests'] - prev['requests']) / dt:.0f}"
            cpu = f"{(s['cpu_ticks'] - prev['cpu_ticks']) / tick / dt * 100:.0f}%"
            s["req_per_second"] = round((s["requests"] - prev["requests"]) / dt, 1)
            s["cpu_percent"] = round((s["cpu_ticks"] - prev["cpu_ticks"]) / tick / dt * 100, 1)
        label = f"{s['t'] / 60:.2f}" if s in during else "after"
        print(f"{label:>7} {s['rss_kib'] / 1024:8.1f} {s['fds']:4d} {s['threads']:7d} {rate:>7} "
              f"{cpu:>9} {s['load1']:8.2f} {s['disk_kib'] / 1024:8.1f}")
        prev = s

    flat = {}
    warm = [s for s in during if s["t"] >= args.warmup]
    if len(warm) >= 2:
        first, last = warm[0], warm[-1]
        for key in ("rss_kib", "fds"):
            ratio = last[key] / first[key] if first[key] else float("inf")
            peak = max(s[key] for s in warm)
            flat[key] = {"first": first[key], "last": last[key], "ratio": round(ratio, 3),
                         "peak_after_warmup": peak}
            if ratio > 1.2:
                reasons.append(f"{key}: last sample {last[key]} > 1.2 x the first after warm-up {first[key]}")
        print(f"\nafter warm-up: first sample at minute {first['t'] / 60:.2f}, last at minute "
              f"{last['t'] / 60:.2f}")
        print(f"RSS {first['rss_kib'] / 1024:.1f} -> {last['rss_kib'] / 1024:.1f} MiB "
              f"({flat['rss_kib']['ratio']:.2f}x, peak {flat['rss_kib']['peak_after_warmup'] / 1024:.1f}); "
              f"fds {first['fds']} -> {last['fds']} ({flat['fds']['ratio']:.2f}x, peak "
              f"{flat['fds']['peak_after_warmup']})")
    else:
        reasons.append("fewer than two samples after warm-up")

    if result is None:
        reasons.append("the load generator wrote no result")
    else:
        print(f"\nload: {result['requests']} requests in {result['seconds']:.0f} s "
              f"({result['per_second']:.0f}/s), {result['errors']} errors; final check "
              f"{result['final_check_requests']} requests, {result['final_check_errors']} errors")
        print(f"{'kind':>22} {'requests':>9} {'req/s':>7} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8}")
        for kind, k in result["kinds"].items():
            print(f"{kind:>22} {k['requests']:9d} {k['per_second']:7.1f} {k['errors']:6d} "
                  f"{k['p50_ms'] or 0:7.2f} {k['p99_ms'] or 0:7.2f} {k['max_ms']:8.1f}")
        sent = result["requests"] + result["final_check_requests"] + result.get("start_requests", 0)
        print(f"requests sent by the load (final check included): {sent}")
        for sample in result["error_samples"][:20]:
            print(f"  {sample}")
        if result["errors"] or result["final_check_errors"]:
            reasons.append(f"{result['errors']} load errors, {result['final_check_errors']} final-check errors")
        if result["tainted"]:
            reasons.append(f"repositories set aside after an error: {', '.join(result['tainted'])}")
    if metrics is None:
        reasons.append("no metrics from the debug server")
    else:
        print(f"berth's metrics: {metrics['http_requests']} HTTP requests (the readiness probe's too), "
              f"{metrics['http_4xx']} 4xx (expected ones included), {metrics['http_5xx']} 5xx; "
              f"descriptor cache {metrics.get('cache_hits')} hits, {metrics.get('cache_misses')} misses, "
              f"{metrics.get('cache_errors')} errors")
        if metrics["http_5xx"]:
            reasons.append(f"berth answered {metrics['http_5xx']} requests with 5xx")
        if metrics.get("cache_errors"):
            reasons.append(f"{metrics['cache_errors']} Redis cache errors")
    print(f"berth's log: {args.log_errors} ERROR lines, {args.log_warnings} WARN lines; "
          f"{args.uploads} upload directories left in storage")
    print(f"storage at the end: {args.blob_files} blobs in {args.blob_kib / 1024:.0f} MiB (deletes "
          f"remove links, not bytes), repositories {args.repo_kib / 1024:.1f} MiB")
    if args.log_errors:
        reasons.append(f"{args.log_errors} ERROR lines in berth's log")
    if args.uploads:
        reasons.append(f"{args.uploads} upload directories left in storage after every upload ended")
    if args.alive != "yes":
        reasons.append("berth exited during the run")

    verdict = "pass" if not reasons else "fail"
    print(f"\nverdict: {verdict.upper()}" + "".join(f"\n  - {r}" for r in reasons))
    out = {
        "verdict": verdict, "reasons": reasons,
        "command": args.command, "binary": args.binary, "version": args.version,
        "commit": args.commit, "minutes": args.seconds / 60, "sample_seconds": args.sample_seconds,
        "warmup_seconds": args.warmup, "started": result and result["started"],
        "ended": result and result["ended"], "machine": args.machine,
        "samples": samples, "flat": flat, "load": result, "metrics": metrics,
        "berth_log": {"error": args.log_errors, "warn": args.log_warnings},
        "leftover_uploads": args.uploads,
        "storage": {"blobs": args.blob_files, "blobs_kib": args.blob_kib,
                    "repositories_kib": args.repo_kib},
        "binary_sha256": args.binary_sha256,
    }
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)
    return 0 if verdict == "pass" else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    lp = sub.add_parser("load", help="run the load")
    lp.add_argument("--url", required=True)
    lp.add_argument("--seconds", type=float, required=True)
    lp.add_argument("--workers", type=int, default=4)
    lp.add_argument("--json", required=True)
    lp.add_argument("--progress", help="a JSON file rewritten every second")
    lp.add_argument("--seed", default=str(time.time_ns()))
    rp = sub.add_parser("report", help="scripts/soak.sh's table and verdict")
    rp.add_argument("--samples", required=True, help="t rss_kib fds threads cpu_ticks load1 disk_kib requests")
    rp.add_argument("--load", required=True, help="the load's JSON result")
    rp.add_argument("--metrics", required=True)
    rp.add_argument("--seconds", type=float, required=True)
    rp.add_argument("--sample-seconds", type=float, required=True)
    rp.add_argument("--warmup", type=float, required=True)
    rp.add_argument("--log-errors", type=int, required=True)
    rp.add_argument("--log-warnings", type=int, required=True)
    rp.add_argument("--uploads", type=int, required=True)
    rp.add_argument("--alive", required=True)
    rp.add_argument("--blob-files", type=int, default=0)
    rp.add_argument("--blob-kib", type=int, default=0)
    rp.add_argument("--repo-kib", type=int, default=0)
    rp.add_argument("--binary-sha256", default="")
    rp.add_argument("--command", dest="command_line", default="")
    rp.add_argument("--binary", default="")
    rp.add_argument("--version", default="")
    rp.add_argument("--commit", default="")
    rp.add_argument("--machine", default="")
    rp.add_argument("--json", required=True)
    args = p.parse_args()
    if args.command == "load":
        return load(args)
    args.command = args.command_line
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
