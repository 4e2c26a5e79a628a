"""Spools tasks to a Redis stream and records each run (tests/test_redis_spooler.py)."""

import os
import time
from urllib.parse import parse_qs

import uwsgi
from uwsgidecorators import spool

MARKERS = os.environ["MARKER_DIR"]


def mark(name: str, text: str) -> None:
    with open(os.path.join(MARKERS, name), "a") as marker:
        marker.write(text + "\n")


if "spooler" in uwsgi.opt or "spooler-external" in uwsgi.opt:

    @spool(pass_arguments=True)
    def record(name: str, delay: float = 0, payload: bytes = b"") -> None:
        if delay:
            mark(f"started-{name}", str(os.getpid()))
            time.sleep(delay)
        mark("done.log", f"{name} {os.getpid()} {len(payload)}")


def application(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    path = environ["PATH_INFO"]
    if path == "/spool":
        for i in range(int(query.get("n", "1"))):
            extra = {}
            if "priority" in query:
                extra["priority"] = query["priority"]
            if "at" in query:
                extra["at"] = query["at"]
            record.spool(f"{query['name']}-{i}", float(query.get("delay", 0)), b"\x00\xff", **extra)
        body = b"queued"
    elif path == "/raw":
        body = uwsgi.spool({b"name": query["name"].encode()})
    else:
        body = b"spooler app"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
