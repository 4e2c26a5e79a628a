"""A Python app using the fabric: RPC, signals (timer, file monitor, targets), mules."""

import os
from urllib.parse import parse_qs

import uwsgi
from uwsgidecorators import filemon, mulefunc, rpc, spool, timer

MARKERS = os.environ["MARKER_DIR"]


def mark(name: str, text: str = "") -> None:
    with open(os.path.join(MARKERS, name), "a") as marker:
        marker.write(text + "\n")


@rpc("hello")
def hello(name: bytes) -> bytes:
    return b"hello " + name + b" from worker " + str(uwsgi.worker_id()).encode()


@rpc("big")
def big(size: bytes) -> bytes:
    return b"x" * int(size)


@rpc("fails")
def fails() -> bytes:
    raise RuntimeError("this function always fails")


def on_signal(num: int) -> None:
    where = "spooler" if uwsgi.i_am_the_spooler() else f"w{uwsgi.worker_id()}-m{uwsgi.mule_id()}"
    mark(f"sig{num}-{where}", str(os.getpid()))


if "spooler" in uwsgi.opt:  # @spool refuses to decorate without a spooler, as uWSGI's

    @spool(pass_arguments=True)
    def spooled_job(name: str, times: int = 1) -> None:
        mark(f"spooled-{name}", str(times))


uwsgi.register_signal(17, "workers", on_signal)
uwsgi.register_signal(18, "mule1", on_signal)
uwsgi.register_signal(19, "", on_signal)
uwsgi.register_signal(20, "spooler", on_signal)
uwsgi.register_signal(21, "worker2", on_signal)
uwsgi.register_signal(22, "mules", on_signal)
uwsgi.register_signal(23, "active-workers", on_signal)
uwsgi.register_signal(26, "workers", lambda num: None)


@timer(1, signum=30)
def every_second(num: int) -> None:
    mark("timer", str(uwsgi.worker_id()))


if os.environ.get("FILEMON_PATH"):

    @filemon(os.environ["FILEMON_PATH"], signum=31)
    def changed(num: int) -> None:
        mark("filemon", str(num))


@mulefunc(2)
def in_a_mule(text: str) -> None:
    mark(f"mulefunc-{text}", str(uwsgi.mule_id()))


def application(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    path = environ["PATH_INFO"]
    status = "200 OK"
    try:
        if path == "/rpc":
            body = uwsgi.rpc(
                query.get("node", ""),
                query["fn"],
                *query.get("args", "").split(",") if query.get("args") else [],
            )
        elif path == "/call":
            body = uwsgi.call(query["fn"], query.get("arg", "x"))
        elif path == "/signal":
            uwsgi.signal(int(query["num"]))
            body = b"raised"
        elif path == "/mule":
            body = str(uwsgi.mule_msg(query["msg"].encode(), int(query.get("to", 0)) or None))
            body = body.encode()
        elif path == "/spool_job":
            spooled_job.spool(query["name"], times=2)
            body = b"queued"
        elif path == "/wait":
            got = uwsgi.signal_wait(int(query["num"]))
            body = f"{got} {uwsgi.signal_received()} w{uwsgi.worker_id()}".encode()
        elif path == "/flood":
            for _ in range(int(query["n"])):
                uwsgi.signal(int(query["num"]))
            body = b"flooded"
        elif path == "/cache_inc":
            body = str(uwsgi.cache_inc("counter", 1, 0, "shared")).encode()
        elif path == "/mulefunc":
            in_a_mule(query["text"])
            body = b"sent"
        elif path == "/cache":
            cache = query.get("cache", "shared")
            if query["op"] == "set":
                body = str(uwsgi.cache_update(query["k"], query["v"].encode(), 0, cache)).encode()
            else:
                body = uwsgi.cache_get(query["k"], cache) or b"MISS"
        elif path == "/rpc_list":
            body = b",".join(sorted(uwsgi.rpc_list()))
        else:
            body = b"fabric app"
    except Exception as exc:
        status = "500 Internal Server Error"
        body = f"{type(exc).__name__}: {exc}".encode()
    start_response(
        status, [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))]
    )
    return [body]
