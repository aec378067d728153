#!/usr/bin/env python3
"""The crate map of docs/architecture.md, generated from the real crates.

    python3 scripts/crate-map.py           # print the table
    python3 scripts/crate-map.py --write   # put it in docs/architecture.md

Reads `cargo metadata --format-version 1 --no-deps` and prints a Markdown
table of the workspace members: name (linked to its directory), version,
layer, the berth crates it depends on (normal dependencies only: not dev or
build) and its Cargo.toml description. `--write` replaces the text between
the `<!-- crate-map:begin -->` and `<!-- crate-map:end -->` markers of
docs/architecture.md; bin/berth/tests/docs.rs fails when they differ.

The layers are the design's (a crate may depend only on crates of a lower
layer); they live in LAYERS below, not in the crates' manifests. It fails
when a workspace member is missing from LAYERS, or when a normal dependency
between workspace crates does not go down a layer (SAME_LAYER lists the
accepted exceptions).
"""

import json
import os
import subprocess
import sys

# The design's table of crates by layer. "bin" is the binary, above every
# library; "test" is test support, only ever a dev-dependency; "fuzz" is
# the fuzz targets, which use libraries of every layer. Crates
# planned but not (yet) workspace members may stay here: only the members
# that `cargo metadata` lists are printed.
LAYERS = {
    "berth-digest": 0,
    "berth-duration": 0,
    "berth-settings": 1,
    "berth-metrics": 0,
    "berth-reference": 1,
    "berth-manifest": 1,
    "berth-core": 2,
    "berth-driver": 3,
    "berth-driver-s3": 3,
    "berth-cache": 3,
    "berth-auth": 3,
    "berth-api": 3,
    "berth-storage": 4,
    "berth-health": 4,
    "berth-client": 4,
    "berth-notifications": 4,
    "berth-spool": 3,
    "berth-proxy": 5,
    "berth-config": 6,
    "berth-handlers": 6,
    "berth-server": 7,
    "berth": "bin",
    "berth-testkit": "test",
    "berth-fuzz": "fuzz",
}

# Same-layer dependencies the design accepts: a storage driver implements
# berth-driver's trait (and runs its test suite) in the same layer.
# (berth-spool depends on no berth crate, so it sits in layer 3, below the
# notifications whose event queues it keeps, rather than in layer 4 beside
# them as the design first placed it.)
SAME_LAYER = {
    ("berth-driver-s3", "berth-driver"),
}

# Where each kind of layer sorts, and the rank a dependency must be below.
RANK = {"bin": 100, "test": 101, "fuzz": 102}

BEGIN = "<!-- crate-map:begin -->"
END = "<!-- crate-map:end -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "architecture.md")


def fail(message):
    print(f"scripts/crate-map.py: {message}", file=sys.stderr)
    sys.exit(1)


def rank(layer):
    return RANK.get(layer, layer)


def metadata():
    cargo = os.environ.get("CARGO", "cargo")
    out = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps",
         "--manifest-path", os.path.join(ROOT, "Cargo.toml")],
        check=True, stdout=subprocess.PIPE, text=True,
    )
    return json.loads(out.stdout)


def cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def table(meta):
    members = set(meta["workspace_members"])
    packages = [p for p in meta["packages"] if p["id"] in members]
    names = {p["name"] for p in packages}
    missing = sorted(names - LAYERS.keys())
    if missing:
        fail(f"no layer for {', '.join(missing)}: add the crate to LAYERS "
             "with its layer from the design")
    rows = []
    problems = []
    for p in sorted(packages, key=lambda p: (rank(LAYERS[p["name"]]), p["name"])):
        name, layer = p["name"], LAYERS[p["name"]]
        deps = []
        for d in p["dependencies"]:
            if d["kind"] is not None or d["name"] not in names:
                continue
            dep_layer = LAYERS[d["name"]]
            lower = rank(dep_layer) < rank(layer) or (name, d["name"]) in SAME_LAYER
            if dep_layer == "test" or not lower:
                problems.append(f"{name} (layer {layer}) depends on "
                                f"{d['name']} (layer {dep_layer})")
            deps.append((d["name"], " (optional)" if d["optional"] else ""))
        directory = os.path.relpath(os.path.dirname(p["manifest_path"]), ROOT)
        link = os.path.relpath(os.path.join(ROOT, directory), os.path.dirname(DOC))
        rows.append(
            f"| {layer} | [{name}]({link}/) | {p['version']} | "
            f"{', '.join(f'`{n}`{o}' for n, o in sorted(set(deps))) or '—'} | {cell(p.get('description') or '')} |"
        )
    if problems:
        fail("a crate may depend only on crates of a lower layer:\n  "
             + "\n  ".join(problems))
    header = [
        "| layer | crate | version | depends on (berth crates) | description |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(header + rows) + "\n"


def write(text):
    doc = open(DOC, encoding="utf-8").read()
    try:
        head, rest = doc.split(BEGIN + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        fail(f"{DOC} has no {BEGIN} / {END} markers")
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n" + text + END + tail)


def main(args):
    if args not in ([], ["--write"]):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    text = table(metadata())
    if args == ["--write"]:
        write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
