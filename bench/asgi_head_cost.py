"""In-process CPU time (thread_time, medians of alternating rounds) of one keep-alive request
head on a loop-owned ASGI connection: httptools and our callbacks alone, then feed + build of the
Request (the CGI vars), then `http_scope`. Run from the repository:
`.venv/bin/python bench/asgi_head_cost.py`.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Callable

from polyhost.bridges.asgi.cycle import http_scope
from polyhost.protocol.http import HttpConnection

RAW = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
ROUNDS = 11
PER_ROUND = 5000


def connection(sock: socket.socket, build: bool = True) -> HttpConnection:
    conn = HttpConnection(sock, "l", ("127.0.0.1", 4000), ("127.0.0.1", "80"), 65536, (0, 0), 5)
    if not build:
        conn._build_request = lambda: None  # type: ignore[assignment,method-assign,return-value]
    return conn


def per_call(fn: Callable[[], object]) -> float:
    """µs of CPU per call of `fn`."""
    start = time.thread_time()
    for _ in range(PER_ROUND):
        fn()
    return (time.thread_time() - start) / PER_ROUND * 1e6


def main() -> None:
    left, right = socket.socketpair()
    results: dict[str, list[float]] = {}

    def feeding(build: bool = True) -> Callable[[], None]:
        conn = connection(left, build)

        def step() -> None:
            conn.feed(RAW)
            conn.ready.clear()

        return step

    def scoping() -> Callable[[], object]:
        conn = connection(left)
        conn.feed(RAW)
        request = conn.ready.popleft()
        return lambda: http_scope(request, None, {})  # type: ignore[arg-type]

    cases = {
        "parse only (httptools + callbacks)": lambda: feeding(build=False),
        "feed + build the Request": feeding,
        "http_scope": scoping,
    }
    for _ in range(ROUNDS):
        for name, make in cases.items():
            results.setdefault(name, []).append(per_call(make()))
    for name, values in results.items():
        print(f"{name}: {statistics.median(values):.1f} µs")
    left.close()
    right.close()


if __name__ == "__main__":
    main()
