#!/usr/bin/env python3
"""The HTTP benchmark of scripts/bench.sh (`scripts/bench.sh http`).

berth (release build) and Debian's docker-registry (CNCF Distribution 2.8)
with equivalent configurations on 127.0.0.1, seeded through the HTTP API with
the same bytes, measured in one run, interleaved A B A B (the order flips
every round), with nginx and `openssl speed` as ceilings in the same run.
Prints a table of medians and ratios; writes every round's raw figures as
JSON. Python 3 standard library only; the load tools are oha (all
small-request and latency tests) and curl (512 MiB GETs).

Environment:
  BERTH_BIN               the berth binary (default target/release/berth)
  BERTH_BENCH_ROUNDS      rounds (default 3)
  BERTH_BENCH_SECONDS     seconds per load test (default 10)
  BERTH_BENCH_STARTUPS    startup-time runs per server (default 5)
  BERTH_BENCH_WARM_GIB    GiB of memory touched before the run (default 12; 0: none)
  BERTH_BENCH_PUSHES      256 MiB pushes per push measurement (default 2)
  BERTH_BENCH_HTTP_JSON   JSON output (default target/bench/http.json)
  WORK                    parent of the temporary directory (default $TMPDIR)
  OHA                     the oha binary (default: oha on PATH)

Exits 1 when any response in any measurement was not 2xx (or a transfer was
short), after printing the table and writing the JSON.
"""

import concurrent.futures
import ctypes
import hashlib
import http.client
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROUNDS = int(os.environ.get("BERTH_BENCH_ROUNDS", "3"))
SECONDS = float(os.environ.get("BERTH_BENCH_SECONDS", "10"))
# Seconds of quiet before an idle RSS is read (BERTH_BENCH_SETTLE).
SETTLE = int(os.environ.get("BERTH_BENCH_SETTLE", "12"))
STARTUPS = int(os.environ.get("BERTH_BENCH_STARTUPS", "5"))
# GiB of memory touched once before anything runs (BERTH_BENCH_WARM_GIB).
WARM_GIB = float(os.environ.get("BERTH_BENCH_WARM_GIB", "12"))
PUSHES = int(os.environ.get("BERTH_BENCH_PUSHES", "2"))
CONNECTIONS = 64
REPOS = 50
TAGS = 5000
KIB, MIB = 1024, 1024 * 1024
BIG = 512 * MIB
PUSH = 256 * MIB
CHUNK = 8 * MIB
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024

ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
OCI = {
    "manifest": "application/vnd.oci.image.manifest.v1+json",
    "config": "application/vnd.oci.image.config.v1+json",
    "layer": "application/vnd.oci.image.layer.v1.tar+gzip",
}
DOCKER = {
    "manifest": "application/vnd.docker.distribution.manifest.v2+json",
    "config": "application/vnd.docker.container.image.v1+json",
    "layer": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}

SERVERS = ("berth", "distribution")


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes ---------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG: the server gets SIGTERM if this script dies, even by
    # SIGKILL. Processes are only started from the main thread (the signal
    # follows the thread that forked).
    _libc.prctl(1, signal.SIGTERM)


def spawn(argv, logfile):
    out = open(logfile, "ab")
    try:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    finally:
        out.close()


def stop(proc, sig=signal.SIGTERM):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def system_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait


class Server:
    """A server under test: its URL and process (and, for nginx, workers)."""

    def __init__(self, name, argv, port, logfile):
        self.name, self.argv, self.port, self.logfile = name, argv, port, logfile
        self.base = f"http://127.0.0.1:{port}"
        self.proc = None

    def start(self, ready_path="/v2/", timeout=60):
        t0 = time.perf_counter()
        self.proc = spawn(self.argv, self.logfile)
        elapsed = wait_ready(self.port, ready_path, timeout, self.proc, t0)
        if elapsed is None:
            tail = open(self.logfile, errors="replace").read()[-4000:]
            raise RuntimeError(f"{self.name} did not come up; its log:\n{tail}")
        return elapsed

    def pids(self):
        pid = self.proc.pid
        return [pid] + (children(pid) if self.name == "nginx" else [])

    def cpu_ticks(self):
        return sum(proc_cpu_ticks(p) for p in self.pids())

    def rss_kib(self):
        return sum(proc_status_kib(p, "VmRSS") for p in self.pids())

    def hwm_kib(self):
        return sum(proc_status_kib(p, "VmHWM") for p in self.pids())

    def reset_hwm(self):
        for p in self.pids():
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS

    def stop(self):
        # nginx: SIGQUIT is its graceful stop; the registries take SIGTERM.
        stop(self.proc, signal.SIGQUIT if self.name == "nginx" else signal.SIGTERM)


def wait_ready(port, path, timeout, proc, t0):
    """Seconds from t0 to the first 200 on path, or None."""
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            return None
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.001)
    return None


# --- the registry API ----------------------------------------------------------

class Client:
    """One keep-alive connection to one server."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.will_close:
                    self.conn.close()
                    self.conn = None
                return r.status, r.headers, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server closed meanwhile; a body
                # already sent in part is sent again whole on a new one.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError

    def close(self):
        if self.conn:
            self.conn.close()


class ApiError(Exception):
    pass


def expect(what, status, want, body=b""):
    if status not in want:
        raise ApiError(f"{what}: HTTP {status} (want {want}): {body[:300]!r}")


def location(headers):
    loc = headers["Location"]
    u = urllib.parse.urlsplit(loc)
    return u.path + ("?" + u.query if u.query else "")


def with_digest(loc, digest):
    return loc + ("&" if "?" in loc else "?") + "digest=" + urllib.parse.quote(digest, safe=":")


def push_monolithic(c, repo, data, digest):
    """POST, then one PUT with the whole body."""
    s, h, b = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    expect(f"POST upload {repo}", s, (202,), b)
    s, h, b = c.request("PUT", with_digest(location(h), digest), body=data,
                        headers={"Content-Type": "application/octet-stream"})
    expect(f"PUT blob {repo}@{digest}", s, (201,), b)


def push_chunked(c, repo, data, digest, chunk=CHUNK):
    """POST, PATCH chunk by chunk, then PUT with no body."""
    s, h, b = c.request("POST", f"/v2/{repo}/blobs/uploads/")
    expect(f"POST upload {repo}", s, (202,), b)
    loc = location(h)
    view = memoryview(data)
    for off in range(0, len(data), chunk):
        part = view[off:off + chunk]
        s, h, b = c.request("PATCH", loc, body=part, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{off}-{off + len(part) - 1}",
        })
        expect(f"PATCH {repo} at {off}", s, (202,), b)
        loc = location(h)
    s, h, b = c.request("PUT", with_digest(loc, digest), body=b"",
                        headers={"Content-Length": "0"})
    expect(f"PUT {repo}@{digest}", s, (201,), b)


def put_manifest(c, repo, ref, body, media_type):
    s, h, b = c.request("PUT", f"/v2/{repo}/manifests/{ref}", body=body,
                        headers={"Content-Type": media_type})
    expect(f"PUT manifest {repo}:{ref}", s, (201,), b)
    return h.get("Docker-Content-Digest")


# --- seeding -------------------------------------------------------------------

def image(repo, layers, types):
    """A config and manifest (bytes) for layers (list of (bytes, digest))."""
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [f"BENCH_REPO={repo}"]},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": types["manifest"],
        "config": {"mediaType": types["config"], "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": types["layer"], "digest": d, "size": len(b)} for b, d in layers],
    }, indent=3).encode()
    return config, manifest


def seed_repo(servers, i):
    """bench/rNN: a config and 1 KiB, 1 MiB and 32 MiB layers; even NN OCI,
    odd NN Docker schema2; tag v1. The same bytes to every server."""
    repo = f"bench/r{i:02d}"
    types = OCI if i % 2 == 0 else DOCKER
    layers = []
    for size in (KIB, MIB, 32 * MIB):
        b = os.urandom(size)
        layers.append((b, sha256(b)))
    config, manifest = image(repo, layers, types)
    mdigest = sha256(manifest)
    for srv in servers:
        c = Client(srv.base)
        for b, d in [(config, sha256(config))] + layers:
            push_monolithic(c, repo, b, d)
        got = put_manifest(c, repo, "v1", manifest, types["manifest"])
        if got != mdigest:
            raise ApiError(f"{srv.name} {repo}: manifest digest {got}, want {mdigest}")
        c.close()
    return {
        "repo": repo,
        "kind": "oci" if types is OCI else "docker",
        "manifest": mdigest,
        "config": sha256(config),
        "small": layers[0][1],
        "small_bytes": layers[0][0],
        "blobs": [sha256(config)] + [d for _, d in layers],
    }


def seed(servers, docroot):
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        repos = list(pool.map(lambda i: seed_repo(servers, i), range(REPOS)))

    # The 512 MiB blob, also for nginx.
    big = os.urandom(BIG)
    big_digest = sha256(big)
    for srv in servers:
        c = Client(srv.base)
        push_monolithic(c, "bench/big", big, big_digest)
        c.close()
    # nginx serves the same bytes under the same paths as the registries.
    for r in repos:
        d = os.path.join(docroot, "v2", r["repo"], "blobs")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, r["small"]), "wb") as f:
            f.write(r.pop("small_bytes"))
    d = os.path.join(docroot, "v2", "bench", "big", "blobs")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, big_digest), "wb") as f:
        f.write(big)
    del big

    # bench/tags: one image under 5,000 tags.
    layer = os.urandom(KIB)
    config, manifest = image("bench/tags", [(layer, sha256(layer))], OCI)
    for srv in servers:
        c = Client(srv.base)
        push_monolithic(c, "bench/tags", config, sha256(config))
        push_monolithic(c, "bench/tags", layer, sha256(layer))
        c.close()

    def tag_range(args):
        srv, lo, hi = args
        c = Client(srv.base)
        for t in range(lo, hi):
            put_manifest(c, "bench/tags", f"t{t:04d}", manifest, OCI["manifest"])
        c.close()

    step = TAGS // 16
    jobs = [(srv, lo, min(lo + step, TAGS)) for srv in servers for lo in range(0, TAGS, step)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(tag_range, jobs))
    return {"repos": repos, "big": big_digest, "seconds": time.perf_counter() - t0}


def verify(servers, data):
    """Both servers hold the same content: every manifest by tag and digest,
    the catalog, the 5,000 tags."""
    want = None
    for srv in servers:
        c = Client(srv.base)
        for r in data["repos"]:
            s, h, b = c.request("GET", f"/v2/{r['repo']}/manifests/v1", headers={"Accept": ACCEPT})
            expect(f"{srv.name} GET {r['repo']}:v1", s, (200,), b)
            if sha256(b) != r["manifest"]:
                raise ApiError(f"{srv.name} {r['repo']}:v1 is not the manifest pushed")
            for d in r["blobs"]:
                s, h, b = c.request("HEAD", f"/v2/{r['repo']}/blobs/{d}")
                expect(f"{srv.name} HEAD {r['repo']}@{d}", s, (200,))
        s, h, b = c.request("GET", "/v2/bench/tags/tags/list")
        expect(f"{srv.name} tags list", s, (200,), b)
        tags = json.loads(b)["tags"]
        if len(tags) != TAGS:
            raise ApiError(f"{srv.name}: {len(tags)} tags, want {TAGS}")
        s, h, b = c.request("GET", "/v2/_catalog")
        expect(f"{srv.name} catalog", s, (200,), b)
        catalog = json.loads(b)["repositories"]
        if want is None:
            want = catalog
        elif catalog != want:
            raise ApiError(f"catalogs differ: {catalog} vs {want}")
        c.close()
    return len(want)


# --- measurements ----------------------------------------------------------------

class Meter:
    """CPU of the server(s), of this script's children (the load tools) and of
    the whole machine, and the server's peak RSS, over one measurement."""

    def __init__(self, srv):
        self.srv = srv

    def __enter__(self):
        self.srv.reset_hwm()
        self.cpu0 = self.srv.cpu_ticks()
        self.kids0 = self.client_cpu()
        self.sys0 = system_busy_ticks()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        self.cpu_s = (self.srv.cpu_ticks() - self.cpu0) / CLK_TCK
        self.client_cpu_s = self.client_cpu() - self.kids0
        self.machine_cpu_s = (system_busy_ticks() - self.sys0) / CLK_TCK
        self.peak_rss_kib = self.srv.hwm_kib()
        return False

    @staticmethod
    def client_cpu():
        # The load tools (waited-for children) and this script (the pushes).
        t = 0.0
        for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF):
            r = resource.getrusage(who)
            t += r.ru_utime + r.ru_stime
        return t

    def figures(self):
        return {
            "wall_s": round(self.wall, 3),
            "server_cpu_s": round(self.cpu_s, 3),
            "client_cpu_s": round(self.client_cpu_s, 3),
            # CPU time of everything else on the machine meanwhile (other
            # people's builds): what the servers did not get.
            "other_cpu_s": round(max(0.0, self.machine_cpu_s - self.cpu_s - self.client_cpu_s), 3),
            "peak_rss_kib": self.peak_rss_kib,
        }


def oha(srv, urls_file, method, seconds, connections, tmp, name):
    """oha over the URLs in urls_file (paths; prefixed with srv.base here)."""
    with open(urls_file) as f:
        paths = f.read().split()
    ufile = os.path.join(tmp, f"urls-{name}-{srv.name}.txt")
    with open(ufile, "w") as f:
        f.write("".join(srv.base + p + "\n" for p in paths))
    argv = [os.environ.get("OHA", "oha"), "--no-tui", "--output-format", "json",
            "-c", str(connections), "-z", f"{seconds}s", "-m", method,
            "-H", f"Accept: {ACCEPT}", "-t", "30s", "--urls-from-file", ufile]
    with Meter(srv) as m:
        p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"oha failed ({p.returncode}): {p.stderr[-2000:]}")
    d = json.loads(p.stdout)
    statuses = {int(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    bad = sum(v for k, v in statuses.items() if not 200 <= k < 300)
    # In-flight requests cut at the deadline are not errors; anything else is.
    errs = {k: v for k, v in (d.get("errorDistribution") or {}).items()
            if k != "aborted due to deadline"}
    lat = d.get("latencyPercentiles") or {}
    total_s = d["summary"]["total"]
    out = {
        "requests": ok,
        "req_s": round(ok / total_s, 1) if total_s else 0.0,
        "p50_ms": round((lat.get("p50") or 0) * 1000, 3),
        "p99_ms": round((lat.get("p99") or 0) * 1000, 3),
        "non_2xx": bad,
        "statuses": {str(k): v for k, v in statuses.items()},
        "client_errors": errs,
        "errors": bad + sum(errs.values()),
    }
    out.update(m.figures())
    out["cpu_ms_per_1k"] = round(m.cpu_s * 1000 / (ok / 1000), 3) if ok else None
    return out


def curl_gets(srv, path, streams, seconds, size):
    """Repeats `streams` parallel curl GETs of path until `seconds` passed."""
    url = srv.base + path
    total, errors, batches = 0, 0, 0
    with Meter(srv) as m:
        t0 = time.perf_counter()
        while True:
            procs = [subprocess.Popen(
                ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url],
                stdout=subprocess.PIPE, text=True) for _ in range(streams)]
            for p in procs:
                out, _ = p.communicate()
                try:
                    code, n = out.split()
                    code, n = int(code), int(n)
                except ValueError:
                    code, n = 0, 0
                if not (200 <= code < 300) or n != size or p.returncode != 0:
                    errors += 1
                total += n
            batches += 1
            if time.perf_counter() - t0 >= seconds:
                break
    out = {
        "transfers": batches * streams,
        "bytes": total,
        "MB_s": round(total / m.wall / 1e6, 1),
        "errors": errors,
    }
    out.update(m.figures())
    out["cpu_s_per_GB"] = round(m.cpu_s / (total / 1e9), 3) if total else None
    return out


def timed_push(srv, how, repo, blobs):
    """Pushes each (data, digest) in turn; MB/s over all of them."""
    c = Client(srv.base)
    errors, total = 0, 0
    with Meter(srv) as m:
        for data, digest in blobs:
            try:
                (push_monolithic if how == "monolithic" else push_chunked)(c, repo, data, digest)
            except (ApiError, OSError, http.client.HTTPException) as e:
                log(f"{srv.name} {how} push: {e}")
                errors += 1
                c.close()
                c = Client(srv.base)
            total += len(data)
    c.close()
    out = {"pushes": len(blobs), "bytes": total, "MB_s": round(total / m.wall / 1e6, 1), "errors": errors}
    out.update(m.figures())
    out["cpu_s_per_GB"] = round(m.cpu_s / (total / 1e9), 3)
    return out


def openssl_sha256(seconds):
    """openssl speed -evp sha256 on 8 MiB blocks, MB/s (one core)."""
    secs = max(1, int(round(seconds / 2)))
    p = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", str(CHUNK),
                        "-seconds", str(secs)], capture_output=True, text=True)
    for line in p.stdout.splitlines():
        m = re.match(r"^sha256\s+([\d.]+)k\s*$", line.strip())
        if m:
            return round(float(m.group(1)) * 1000 / 1e6, 1)
    raise RuntimeError(f"openssl speed: no figure in {p.stdout!r} {p.stderr!r}")


def dd_fdatasync(directory):
    """dd of 256 MiB in 8 MiB blocks with conv=fdatasync into directory (the
    disk the registries store on), MB/s: what a push that syncs can reach."""
    path = os.path.join(directory, "dd.bin")
    try:
        p = subprocess.run(["dd", "if=/dev/zero", f"of={path}", f"bs={CHUNK}", f"count={PUSH // CHUNK}",
                            "conv=fdatasync"], capture_output=True, text=True)
    finally:
        if os.path.exists(path):
            os.remove(path)
    m = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", p.stderr, re.M)
    if not m:
        raise RuntimeError(f"dd: no figure in {p.stderr!r}")
    return round(int(m.group(1)) / float(m.group(2)) / 1e6, 1)


def startup_runs(configs, n, tmp):
    """n starts of each server on its seeded root (alternating which goes
    first): milliseconds from exec to the first 200 on /v2/, and the RSS one
    second later."""
    res = {name: {"startup_ms": [], "idle_rss_kib": []} for name in configs}
    for i in range(n):
        order = list(configs) if i % 2 == 0 else list(reversed(list(configs)))
        for name in order:
            argv_for_port = configs[name]
            port = free_port()
            srv = Server(name, argv_for_port(port), port, os.path.join(tmp, f"startup-{name}.log"))
            try:
                elapsed = srv.start(timeout=60)
                time.sleep(1)
                res[name]["startup_ms"].append(round(elapsed * 1000, 1))
                res[name]["idle_rss_kib"].append(srv.rss_kib())
            finally:
                srv.stop()
    return res


# --- the run -------------------------------------------------------------------------

def registry_config(root, port):
    return f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:{port}
  secret: bench
"""


def nginx_config(prefix, docroot, port):
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}daemon off;
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/nginx-error.log error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    types {{ }}
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {docroot};
    }}
}}
"""


def warm_memory(gib):
    """Touches `gib` GiB of memory once (at most what is available less
    4 GiB), then frees it.

    On a virtual machine whose host backs guest memory lazily, the first
    write to each guest page is a fault in the host. A push whose page
    cache lands in never-touched memory then runs at half speed, whichever
    server it is: measured here, the 5th and later 256 MiB pushes of a run
    slowed from ~700 to ~260 MB/s with 3x the CPU, and not at all once
    16 GiB had been touched. Touching the memory the run will use first
    takes that out of the comparison. Returns (GiB touched, seconds)."""
    import mmap
    avail_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                avail_kib = int(line.split()[1])
    size = int(min(gib * (1 << 30), max(0, avail_kib * 1024 - (4 << 30))))
    size -= size % mmap.PAGESIZE
    if size <= 0:
        return 0.0, 0.0
    t0 = time.perf_counter()
    m = mmap.mmap(-1, size)
    try:
        for off in range(0, size, mmap.PAGESIZE):
            m[off] = 1
    finally:
        m.close()
    return round(size / (1 << 30), 1), round(time.perf_counter() - t0, 1)


def version(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# name, kind, description, servers it runs on
TESTS = [
    ("manifest_get_tag", "oha", "manifest GET by tag", ("berth", "distribution")),
    ("manifest_head_digest", "oha", "manifest HEAD by digest", ("berth", "distribution")),
    ("blob_head", "oha", "blob HEAD", ("berth", "distribution")),
    ("blob_get_1k", "oha", "1 KiB blob GET", ("berth", "distribution", "nginx")),
    ("catalog", "oha1", "catalog (GET /v2/_catalog)", ("berth", "distribution")),
    ("tags_list", "oha1", "5,000-tag list", ("berth", "distribution")),
    ("blob_get_512m_x1", "curl1", "512 MiB blob GET, 1 stream", ("berth", "distribution", "nginx")),
    ("blob_get_512m_x4", "curl4", "512 MiB blob GET, 4 streams", ("berth", "distribution", "nginx")),
    ("push_monolithic", "push", "256 MiB push, monolithic", ("berth", "distribution")),
    ("push_chunked", "push", "256 MiB push, 8 MiB chunks", ("berth", "distribution")),
]


def main():
    berth_bin = os.environ.get("BERTH_BIN", "target/release/berth")
    json_path = os.environ.get("BERTH_BENCH_HTTP_JSON", "target/bench/http.json")
    tmp = tempfile.mkdtemp(prefix="bench-http.", dir=os.environ.get("WORK") or None)
    servers = {}
    started = time.time()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(berth_bin, json_path, tmp, servers, started)
    finally:
        for srv in servers.values():
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def run(berth_bin, json_path, tmp, servers, started):
    berth_bin = os.path.abspath(berth_bin)
    warmed = warm_memory(WARM_GIB)
    log(f"touched {warmed[0]} GiB of memory first, in {warmed[1]} s (BERTH_BENCH_WARM_GIB)")
    roots = {name: os.path.join(tmp, f"root-{name}") for name in SERVERS}

    def argv(name, port):
        cfg = os.path.join(tmp, f"{name}-{port}.yml")
        with open(cfg, "w") as f:
            f.write(registry_config(roots[name], port))
        if name == "berth":
            return [berth_bin, "serve", cfg]
        return ["docker-registry", "serve", cfg]

    for name in SERVERS:
        port = free_port()
        servers[name] = Server(name, argv(name, port), port, os.path.join(tmp, f"{name}.log"))
        servers[name].start()
        log(f"{name} on {servers[name].base} (pid {servers[name].proc.pid})")

    docroot = os.path.join(tmp, "nginx-root")
    os.makedirs(docroot)
    log(f"seeding both: {REPOS} repositories (config, 1 KiB, 1 MiB, 32 MiB; half OCI, "
        f"half Docker schema2), a 512 MiB blob, {TAGS} tags")
    regs = [servers[n] for n in SERVERS]
    seeded = seed(regs, docroot)
    seed_peak = {n: servers[n].hwm_kib() for n in SERVERS}
    repo_count = verify(regs, seeded)
    log(f"seeded in {seeded['seconds']:.1f}s; {repo_count} repositories, the same on both")

    prefix = os.path.join(tmp, "nginx")
    os.makedirs(prefix)
    nport = free_port()
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(nginx_config(prefix, docroot, nport))
    servers["nginx"] = Server("nginx", ["nginx", "-p", prefix, "-e", os.path.join(prefix, "nginx-error.log"),
                                        "-c", os.path.join(prefix, "nginx.conf")],
                              nport, os.path.join(tmp, "nginx.log"))
    servers["nginx"].start(ready_path=f"/v2/{seeded['repos'][0]['repo']}/blobs/{seeded['repos'][0]['small']}")
    log(f"nginx on {servers['nginx'].base} (pid {servers['nginx'].proc.pid})")

    time.sleep(2)
    # "Idle" is after the servers have settled: berth hands freed memory
    # back after 5-10 s without requests, Go's scavenger over time.
    time.sleep(SETTLE)
    idle_seeded = {n: servers[n].rss_kib() for n in SERVERS}

    # URL lists (paths), spread over the repositories.
    lists = {
        "manifest_get_tag": [f"/v2/{r['repo']}/manifests/v1" for r in seeded["repos"]],
        "manifest_head_digest": [f"/v2/{r['repo']}/manifests/{r['manifest']}" for r in seeded["repos"]],
        "blob_head": [f"/v2/{r['repo']}/blobs/{d}" for r in seeded["repos"] for d in r["blobs"]],
        "blob_get_1k": [f"/v2/{r['repo']}/blobs/{r['small']}" for r in seeded["repos"]],
        "catalog": ["/v2/_catalog"],
        "tags_list": ["/v2/bench/tags/tags/list"],
    }
    methods = {"manifest_head_digest": "HEAD", "blob_head": "HEAD"}
    files = {}
    for name, paths in lists.items():
        files[name] = os.path.join(tmp, f"paths-{name}.txt")
        with open(files[name], "w") as f:
            f.write("\n".join(paths) + "\n")

    push_base = bytearray(os.urandom(PUSH))
    rounds = []
    sha_ceiling = []
    dd_ceiling = []
    for rnd in range(1, ROUNDS + 1):
        log(f"round {rnd}/{ROUNDS} (load average {os.getloadavg()[0]:.2f})")
        results = {"round": rnd, "loadavg_1m": round(os.getloadavg()[0], 2), "tests": {}}
        sha_ceiling.append(openssl_sha256(SECONDS))
        results["openssl_sha256_MB_s"] = sha_ceiling[-1]
        for ti, (name, kind, desc, on) in enumerate(TESTS):
            order = list(on) if rnd % 2 == 1 else list(reversed(on))
            results["tests"][name] = {}
            blobs = []
            if kind == "push":
                # New blobs each round and kind (nothing is skipped as
                # already there), the same bytes to both servers.
                for k in range(PUSHES):
                    tag = f"bench {rnd:04d} {ti:04d} {k:04d}".encode()
                    push_base[0:len(tag)] = tag
                    data = bytes(push_base)
                    blobs.append((data, sha256(data)))
            if name == "push_monolithic":
                results["dd_fdatasync_MB_s"] = dd_fdatasync(tmp)
                dd_ceiling.append(results["dd_fdatasync_MB_s"])
            for sname in order:
                srv = servers[sname]
                try:
                    if kind == "oha":
                        r = oha(srv, files[name], methods.get(name, "GET"), SECONDS, CONNECTIONS, tmp, name)
                    elif kind == "oha1":
                        r = oha(srv, files[name], "GET", SECONDS, 1, tmp, name)
                    elif kind in ("curl1", "curl4"):
                        r = curl_gets(srv, f"/v2/bench/big/blobs/{seeded['big']}",
                                      1 if kind == "curl1" else 4, SECONDS, BIG)
                    else:
                        r = timed_push(srv, name.split("_")[1], "bench/push", blobs)
                except (RuntimeError, OSError, ValueError, KeyError) as e:
                    r = {"errors": 1, "failure": str(e)}
                results["tests"][name][sname] = r
                fig = (f"{r.get('req_s')} req/s p50 {r.get('p50_ms')} ms p99 {r.get('p99_ms')} ms"
                       if kind.startswith("oha") else f"{r.get('MB_s')} MB/s")
                err = f", {r['errors']} ERRORS" if r.get("errors") else ""
                log(f"  {desc}: {sname}: {fig}, server CPU {r.get('server_cpu_s')}s{err}")
                time.sleep(0.5)
            blobs = data = None
        rounds.append(results)
    del push_base
    time.sleep(SETTLE)
    idle_after = {n: servers[n].rss_kib() for n in SERVERS}

    # Startup: the measured servers stop first, so the runs are alone.
    for n in SERVERS:
        servers[n].stop()
    servers["nginx"].stop()
    log(f"startup: {STARTUPS} starts of each on its seeded root")
    startup = startup_runs({n: (lambda p, n=n: argv(n, p)) for n in SERVERS}, STARTUPS, tmp)

    report = summarise(rounds, startup, idle_seeded, seed_peak, sha_ceiling, dd_ceiling)
    report["meta"] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "duration_s": round(time.time() - started, 1),
        "rounds": ROUNDS, "seconds_per_test": SECONDS, "connections": CONNECTIONS,
        "startups": STARTUPS, "pushes_per_measurement": PUSHES,
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "loadavg_end": os.getloadavg(),
        "seed_seconds": round(seeded["seconds"], 1),
        "memory_warmed_gib": warmed[0],
        "repositories_in_catalog": repo_count,
        "versions": {
            "berth": version([berth_bin, "version"]),
            "distribution": version(["docker-registry", "--version"]),
            "nginx": version(["nginx", "-v"]),
            "oha": version([os.environ.get("OHA", "oha"), "--version"]),
            "curl": version(["curl", "--version"]),
            "openssl": version(["openssl", "version"]),
        },
    }
    report["rounds"] = rounds
    report["startup_runs"] = startup
    report["idle_rss_after_seeding_kib"] = idle_seeded
    report["idle_rss_after_load_kib"] = idle_after
    report["seed_peak_rss_kib"] = seed_peak

    print_table(report)
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1)
    log(f"raw figures: {json_path}")
    if report["errors"]:
        log(f"FAILED: {report['errors']} errors in the measurements")
        return 1
    return 0


# --- the summary ------------------------------------------------------------------------

def summarise(rounds, startup, idle_seeded, seed_peak, sha_ceiling, dd_ceiling):
    med = {}
    errors = 0
    for name, kind, desc, on in TESTS:
        med[name] = {}
        for s in on:
            rs = [r["tests"][name][s] for r in rounds]
            errors += sum(r.get("errors", 0) for r in rs)
            keys = set().union(*[r.keys() for r in rs])
            med[name][s] = {k: median([r.get(k) for r in rs]) for k in sorted(keys)
                            if all(isinstance(r.get(k), (int, float)) for r in rs if k in r)}
    peak = {s: max(r["tests"][n][s].get("peak_rss_kib", 0) for r in rounds for n, _, _, on in TESTS if s in on)
            for s in SERVERS}
    med["startup"] = {s: {"startup_ms": median(startup[s]["startup_ms"]),
                          "idle_rss_kib": median(startup[s]["idle_rss_kib"])} for s in SERVERS}
    med["openssl_sha256_MB_s"] = median(sha_ceiling)
    med["dd_fdatasync_MB_s"] = median(dd_ceiling)
    # The share of the machine's CPU time that other processes (other
    # people's builds) took during the measurements.
    walls = [x["wall_s"] * (os.cpu_count() or 1) for r in rounds for t in r["tests"].values()
             for x in t.values() if "wall_s" in x]
    others = [x["other_cpu_s"] for r in rounds for t in r["tests"].values() for x in t.values() if "wall_s" in x]
    med["other_cpu_share"] = round(sum(others) / sum(walls), 3) if walls else None

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    def m(test, server, key):
        return med[test].get(server, {}).get(key)

    targets = []

    def target(what, value, op, limit):
        ok = value is not None and (value >= limit if op == ">=" else value <= limit)
        targets.append({"target": what, "value": value, "op": op, "limit": limit, "met": ok})

    for t, label in [("manifest_get_tag", "manifest GET by tag req/s"),
                     ("manifest_head_digest", "manifest HEAD req/s"),
                     ("blob_head", "blob HEAD req/s"),
                     ("blob_get_1k", "1 KiB blob GET req/s")]:
        target(f"{label}, berth/Distribution", ratio(m(t, "berth", "req_s"), m(t, "distribution", "req_s")), ">=", 5)
    for t, label in [("blob_get_512m_x1", "512 MiB GET 1 stream"), ("blob_get_512m_x4", "512 MiB GET 4 streams")]:
        target(f"{label}, berth/Distribution", ratio(m(t, "berth", "MB_s"), m(t, "distribution", "MB_s")), ">=", 1.0)
        target(f"{label}, berth/nginx", ratio(m(t, "berth", "MB_s"), m(t, "nginx", "MB_s")), ">=", 0.9)
    target("monolithic push, berth/Distribution",
           ratio(m("push_monolithic", "berth", "MB_s"), m("push_monolithic", "distribution", "MB_s")), ">=", 2)
    target("chunked push, berth/Distribution",
           ratio(m("push_chunked", "berth", "MB_s"), m("push_chunked", "distribution", "MB_s")), ">=", 1.5)
    target("catalog p50, berth/Distribution",
           ratio(m("catalog", "berth", "p50_ms"), m("catalog", "distribution", "p50_ms")), "<=", 0.5)
    target("5,000-tag list p50, berth/Distribution",
           ratio(m("tags_list", "berth", "p50_ms"), m("tags_list", "distribution", "p50_ms")), "<=", 0.5)
    target("idle RSS (fresh start), berth/Distribution",
           ratio(med["startup"]["berth"]["idle_rss_kib"], med["startup"]["distribution"]["idle_rss_kib"]), "<=", 0.5)
    target("idle RSS (after seeding), berth/Distribution",
           ratio(idle_seeded["berth"], idle_seeded["distribution"]), "<=", 0.5)
    target("peak RSS under load, berth/Distribution", ratio(peak["berth"], peak["distribution"]), "<=", 1.0)
    target("errors in any measurement", errors, "<=", 0)
    return {"medians": med, "peak_rss_kib": peak, "targets": targets, "errors": errors}


def fmt(v, digits=None):
    if v is None:
        return "–"
    if isinstance(v, float) or digits is not None:
        d = digits if digits is not None else (0 if abs(v) >= 1000 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3)
        return f"{v:,.{d}f}"
    return f"{v:,}"


def print_table(rep):
    med = rep["medians"]
    rows = []

    def row(label, b, d, n=None, better="higher"):
        r_d = b / d if b is not None and d else None
        r_n = b / n if b is not None and n else None
        rows.append((label, fmt(b), fmt(d), fmt(n), fmt(r_d, 2) if r_d is not None else "–",
                     fmt(r_n, 2) if r_n is not None else "–"))

    def g(t, s, k):
        return med[t].get(s, {}).get(k)

    for t, label in [("manifest_get_tag", "manifest GET by tag"), ("manifest_head_digest", "manifest HEAD by digest"),
                     ("blob_head", "blob HEAD"), ("blob_get_1k", "1 KiB blob GET")]:
        n = "nginx" if t == "blob_get_1k" else None
        row(f"{label}, req/s", g(t, "berth", "req_s"), g(t, "distribution", "req_s"), n and g(t, n, "req_s"))
        row(f"{label}, p50 ms", g(t, "berth", "p50_ms"), g(t, "distribution", "p50_ms"), n and g(t, n, "p50_ms"))
        row(f"{label}, p99 ms", g(t, "berth", "p99_ms"), g(t, "distribution", "p99_ms"), n and g(t, n, "p99_ms"))
        row(f"{label}, CPU ms/1k req", g(t, "berth", "cpu_ms_per_1k"), g(t, "distribution", "cpu_ms_per_1k"),
            n and g(t, n, "cpu_ms_per_1k"))
    for t, label in [("catalog", "catalog"), ("tags_list", "5,000-tag list")]:
        row(f"{label}, p50 ms", g(t, "berth", "p50_ms"), g(t, "distribution", "p50_ms"))
        row(f"{label}, p99 ms", g(t, "berth", "p99_ms"), g(t, "distribution", "p99_ms"))
        row(f"{label}, CPU ms/1k req", g(t, "berth", "cpu_ms_per_1k"), g(t, "distribution", "cpu_ms_per_1k"))
    for t, label in [("blob_get_512m_x1", "512 MiB GET, 1 stream"), ("blob_get_512m_x4", "512 MiB GET, 4 streams")]:
        row(f"{label}, MB/s", g(t, "berth", "MB_s"), g(t, "distribution", "MB_s"), g(t, "nginx", "MB_s"))
        row(f"{label}, CPU s/GB", g(t, "berth", "cpu_s_per_GB"), g(t, "distribution", "cpu_s_per_GB"),
            g(t, "nginx", "cpu_s_per_GB"))
    sha, dd = med["openssl_sha256_MB_s"], med["dd_fdatasync_MB_s"]
    push_ceiling = min(x for x in (sha, dd) if x is not None) if (sha or dd) else None
    for t, label in [("push_monolithic", "256 MiB push, monolithic"), ("push_chunked", "256 MiB push, 8 MiB chunks")]:
        row(f"{label}, MB/s", g(t, "berth", "MB_s"), g(t, "distribution", "MB_s"), push_ceiling)
        row(f"{label}, CPU s/GB", g(t, "berth", "cpu_s_per_GB"), g(t, "distribution", "cpu_s_per_GB"))
    st = med["startup"]
    row("startup to first 200 on /v2/, ms", st["berth"]["startup_ms"], st["distribution"]["startup_ms"])
    row("idle RSS, fresh start, KiB", st["berth"]["idle_rss_kib"], st["distribution"]["idle_rss_kib"])
    row("idle RSS, after seeding, KiB", rep["idle_rss_after_seeding_kib"]["berth"],
        rep["idle_rss_after_seeding_kib"]["distribution"])
    row("peak RSS under load, KiB", rep["peak_rss_kib"]["berth"], rep["peak_rss_kib"]["distribution"])
    row("idle RSS, after the load, KiB", rep["idle_rss_after_load_kib"]["berth"],
        rep["idle_rss_after_load_kib"]["distribution"])
    rows.append(("ceiling: openssl sha256 (1 core), MB/s", "", "", fmt(sha), "", ""))
    rows.append(("ceiling: dd 256 MiB conv=fdatasync, MB/s", "", "", fmt(dd), "", ""))

    meta = rep["meta"]
    print()
    print(f"HTTP benchmark, {meta['started']}: {meta['rounds']} rounds of {meta['seconds_per_test']:g}s per test, "
          f"{meta['connections']} connections (oha), medians; {meta['cores']} cores ({meta['cpu']}), "
          f"load tools on the same cores; other processes took {100 * (med['other_cpu_share'] or 0):.0f}% "
          f"of the CPU meanwhile")
    print(f"berth: {meta['versions']['berth']}; Distribution: {meta['versions']['distribution']}; "
          f"{meta['versions']['nginx']}")
    print()
    head = ("measure", "berth", "Distribution", "ceiling", "berth/Distr.", "berth/ceiling")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(widths[i]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head)) + " |")
    print("|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                                for i, c in enumerate(r)) + " |")
    print()
    print("ceiling: nginx (sendfile) on the same files for GETs; for pushes the lower of `openssl speed "
          "-evp sha256` (one core) and dd with fdatasync on the registries' disk")
    print()
    print("| target | value | met |")
    print("|---|---:|---|")
    for t in rep["targets"]:
        print(f"| {t['target']} {t['op']} {t['limit']:g} | {fmt(t['value'], 2) if t['value'] is not None else '–'} "
              f"| {'yes' if t['met'] else '**no**'} |")
    print()


if __name__ == "__main__":
    sys.exit(main())
