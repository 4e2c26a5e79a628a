"""A WSGI app exercising what the tests check: env echo, bodies, streaming, errors, files."""

import json
import os
import threading
import time

import uwsgi

CLOSED_MARKER = os.environ.get("CLOSE_MARKER", "")
#: /barrier opens when 4 requests wait in it at once (proves request threads run concurrently)
BARRIER = threading.Barrier(4)


class Streamed:
    def __init__(self, parts):
        self.parts = parts

    def __iter__(self):
        yield from self.parts

    def close(self):
        if CLOSED_MARKER:
            with open(CLOSED_MARKER, "a") as marker:
                marker.write("closed\n")


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/env":
        keys = {k: v for k, v in environ.items() if isinstance(v, str)}
        keys["wsgi.multithread"] = environ["wsgi.multithread"]
        keys["wsgi.url_scheme"] = environ["wsgi.url_scheme"]
        body = json.dumps(keys).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path in ("/echo", "/late-echo"):
        if path == "/late-echo":  # reads its body only after QUERY_STRING seconds
            time.sleep(float(environ["QUERY_STRING"]))
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        data = stream.read(int(length)) if length else stream.read()
        start_response(
            "200 OK",
            [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))],
        )
        return [data]
    if path == "/lines":
        stream = environ["wsgi.input"]
        lines = [stream.readline(5), stream.readline(), stream.read(0)]
        body = json.dumps([x.decode() for x in lines]).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Streamed([b"one ", b"two ", b"three"])
    if path == "/raise":
        raise RuntimeError("boom from the app")
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(__file__, "rb"))
    if path == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or 1))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"slept"]
    if path == "/barrier":
        try:
            BARRIER.wait(timeout=10)
            body = b"together"
        except threading.BrokenBarrierError:
            body = b"alone"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
    if path == "/uwsgi":
        info = {
            "worker_id": uwsgi.worker_id(),
            "masterpid": uwsgi.masterpid(),
            "numproc": uwsgi.numproc,
            "request_id": uwsgi.request_id(),
            "total_requests": uwsgi.total_requests(),
            "version": uwsgi.version.decode(),
            "started_on": uwsgi.started_on,
            "hostname": uwsgi.hostname.decode(),
            "spool": [uwsgi.SPOOL_OK, uwsgi.SPOOL_RETRY, uwsgi.SPOOL_IGNORE],
            "opt_socket": [
                v.decode() if isinstance(v, bytes) else v
                for v in _as_list(uwsgi.opt.get("http-socket"))
            ],
            "cache_error": _error_of(uwsgi.cache_get, "key"),
        }
        uwsgi.log("uwsgi.log from the app")
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(info).encode()]
    if path == "/harakiri":
        uwsgi.set_user_harakiri(1)
        time.sleep(30)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello World"]


def _error_of(function, *args):
    try:
        function(*args)
    except Exception as exc:
        return str(exc)
    return ""


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
