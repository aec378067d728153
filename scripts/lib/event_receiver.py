#!/usr/bin/env python3
"""A webhook receiver written against Distribution's documented event
format (docs/content/about/notifications.md of distribution/distribution),
not against berth: it checks each request the way a consumer of
Distribution's events would read it, and records what it accepted.

    event_receiver.py PORT OUT_JSON

Every POST is checked: the Content-Type is Distribution's events media type,
the body is an envelope {"events": [...]}, each event has the documented
fields with the documented types. Accepted events are appended to OUT_JSON
(one JSON object per line); a request that breaks the format is answered
400 and recorded as {"error": ...}.
"""

import datetime
import http.server
import json
import sys

MEDIA_TYPES = {
    "application/vnd.docker.distribution.events.v2+json",
    "application/vnd.docker.distribution.events.v1+json",
}
ACTIONS = {"push", "pull", "mount", "delete"}


def need(obj, key, kind, where):
    if key not in obj:
        raise ValueError(f"{where}: missing {key}")
    if not isinstance(obj[key], kind) or isinstance(obj[key], bool):
        raise ValueError(f"{where}.{key}: {obj[key]!r} is not {kind}")
    return obj[key]


def optional(obj, key, kind, where):
    if key in obj and (not isinstance(obj[key], kind) or isinstance(obj[key], bool)):
        raise ValueError(f"{where}.{key}: {obj[key]!r} is not {kind}")


def check_event(event):
    need(event, "id", str, "event")
    stamp = need(event, "timestamp", str, "event")
    # RFC 3339 with fractional seconds, as Go's time.Time marshals it.
    datetime.datetime.fromisoformat(stamp)
    action = need(event, "action", str, "event")
    if action not in ACTIONS:
        raise ValueError(f"event.action: {action!r}")
    target = need(event, "target", dict, "event")
    need(target, "repository", str, "target")
    # Tag and repository deletes carry no digest (Distribution 2.x omits
    # mediaType/digest/size there); everything else has them.
    if "tag" not in target or target.get("digest"):
        need(target, "mediaType", str, "target")
        need(target, "digest", str, "target")
        need(target, "size", int, "target")
        optional(target, "length", int, "target")
        if not target["digest"].startswith("sha256:"):
            raise ValueError(f"target.digest: {target['digest']!r}")
    optional(target, "url", str, "target")
    optional(target, "tag", str, "target")
    optional(target, "fromRepository", str, "target")
    optional(target, "references", list, "target")
    request = need(event, "request", dict, "event")
    for key in ("id", "addr", "host", "method", "useragent"):
        need(request, key, str, "request")
    actor = need(event, "actor", dict, "event")
    optional(actor, "name", str, "actor")
    source = need(event, "source", dict, "event")
    need(source, "addr", str, "source")
    need(source, "instanceID", str, "source")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            media_type = self.headers.get("Content-Type", "")
            if media_type not in MEDIA_TYPES:
                raise ValueError(f"Content-Type {media_type!r}")
            envelope = json.loads(body)
            events = need(envelope, "events", list, "envelope")
            for event in events:
                check_event(event)
            records = events
            status = 200
        except Exception as e:  # a format error, recorded for the test
            records = [{"error": str(e), "body": body.decode("utf-8", "replace")}]
            status = 400
        with open(OUT, "a", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    PORT, OUT = int(sys.argv[1]), sys.argv[2]
    http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
