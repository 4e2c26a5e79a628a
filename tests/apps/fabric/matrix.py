"""The Python corner of the cross-language fabric tests (mounted at /py)."""

import os
from urllib.parse import parse_qs

import uwsgi

MARKERS = os.environ["MARKER_DIR"]
LANG = "py"


def mark(name):
    with open(os.path.join(MARKERS, name), "w") as marker:
        marker.write(str(os.getpid()))


uwsgi.register_rpc("py_echo", lambda arg: b"py:" + arg)
uwsgi.register_rpc("py_relay", lambda nxt, *rest: b"py>" + uwsgi.call(nxt, *rest))
uwsgi.register_signal(40, "workers", lambda num: mark(f"py-sig{num}-w{uwsgi.worker_id()}"))


def spooler(task):
    if task.get(b"handler") != LANG.encode():
        return uwsgi.SPOOL_IGNORE
    mark(f"py-spooled-{task[b'name'].decode()}")
    return uwsgi.SPOOL_OK


uwsgi.spooler = spooler


def application(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    path = environ["PATH_INFO"]
    if path == "/call":
        args = query.get("args", "").split(",") if query.get("args") else []
        body = uwsgi.call(query["fn"], *args)
    elif path == "/cache_set":
        body = str(uwsgi.cache_update(query["k"], query["v"].encode(), 0, "shared")).encode()
    elif path == "/cache_get":
        body = uwsgi.cache_get(query["k"], "shared") or b"MISS"
    elif path == "/cache_inc":
        body = str(uwsgi.cache_inc(query["k"], 1, 0, "shared")).encode()
    elif path == "/signal":
        uwsgi.signal(int(query["num"]))
        body = b"raised"
    elif path == "/spool":
        task = {b"handler": query["handler"].encode(), b"name": query["name"].encode()}
        body = uwsgi.spool(task)
    else:
        body = b"python"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
