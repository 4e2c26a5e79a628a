"""Timed loops of fabric calls from Python, run the same way under polyhost and real uWSGI."""

import json
import time

import uwsgi

uwsgi.register_rpc("py_echo", lambda arg: arg)


def rate(function, calls):
    result = function()  # a loop that fails fast would measure nothing: check it works first
    if result in (None, False):
        raise RuntimeError(f"the measured call returned {result!r}")
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return calls / (time.perf_counter() - start)


def application(environ, start_response):
    what = environ["PATH_INFO"].strip("/")
    calls = int(environ.get("QUERY_STRING") or 20000)
    value = b"v" * 100
    uwsgi.cache_update("bench-key", value, 0, "bench")
    loops = {
        # bytes names: uWSGI 2.0's Python 3 plugin finds no function given a str name
        "rpc_py_py": lambda: uwsgi.rpc(b"", b"py_echo", b"x"),
        "rpc_py_jvm": lambda: uwsgi.rpc(b"", b"jv_echo", b"x"),
        "cache_get_py": lambda: uwsgi.cache_get("bench-key", "bench"),
        "cache_set_py": lambda: uwsgi.cache_set("bench-key", value, 0, "bench") or True,
        "cache_update_py": lambda: uwsgi.cache_update("bench-key", value, 0, "bench"),
    }
    body = json.dumps({what: rate(loops[what], calls)}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
