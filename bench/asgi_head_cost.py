"""In-process CPU time (thread_time, medians of alternating rounds) of one keep-alive request
head on a loop-owned ASGI connection: httptools and our callbacks alone, then feed + build of the
Request (the CGI vars), the same with header fields that change on every request (a keep-alive
client repeating its fields is the usual case, a new set of fields the other), then `http_scope`.
Run from the repository: `.venv/bin/python bench/asgi_head_cost.py`.

`--base DIR` also times another version of the parser in the same alternating rounds and prints
the ratios: DIR holds that version's `http.py` and `http_rules.py`, e.g. from
`git show main:host/protocol/http.py > DIR/http.py` (and the same for http_rules.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from polyhost.bridges.asgi.cycle import http_scope
from polyhost.protocol import http

RAW = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
ROUNDS = 11
PER_ROUND = 5000


def load_base(directory: Path) -> ModuleType:
    """The `http` module of another version, importing its own `http_rules`."""

    def load(name: str, path: Path, source: str) -> ModuleType:
        spec = importlib.util.spec_from_loader(name, loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        exec(compile(source, str(path), "exec"), module.__dict__)
        return module

    rules = directory / "http_rules.py"
    load("polyhost.protocol.base_http_rules", rules, rules.read_text())
    parser = directory / "http.py"
    source = parser.read_text().replace(
        "polyhost.protocol.http_rules", "polyhost.protocol.base_http_rules"
    )
    return load("polyhost.protocol.base_http", parser, source)


def connection(module: ModuleType, sock: socket.socket, build: bool = True) -> http.HttpConnection:
    conn: http.HttpConnection = module.HttpConnection(
        sock, "l", ("127.0.0.1", 4000), ("127.0.0.1", "80"), 65536, (0, 0), 5
    )
    if not build:
        conn._build_request = lambda: None  # type: ignore[assignment,method-assign,return-value]
    return conn


def per_call(fn: Callable[[], object]) -> float:
    """µs of CPU per call of `fn`."""
    start = time.thread_time()
    for _ in range(PER_ROUND):
        fn()
    return (time.thread_time() - start) / PER_ROUND * 1e6


def cases(module: ModuleType, sock: socket.socket) -> dict[str, Callable[[], Callable[[], object]]]:
    def feeding(build: bool = True, vary: bool = False) -> Callable[[], None]:
        conn = connection(module, sock, build)
        heads = itertools.cycle(
            [RAW.replace(b"wrk", b"wrk/%d" % n) for n in range(64)] if vary else [RAW]
        )

        def step() -> None:
            conn.feed(next(heads))
            conn.ready.clear()

        return step

    def scoping() -> Callable[[], object]:
        conn = connection(module, sock)
        conn.feed(RAW)
        request = conn.ready.popleft()
        return lambda: http_scope(request, None, {})  # type: ignore[arg-type]

    return {
        "parse only (httptools + callbacks)": lambda: feeding(build=False),
        "feed + build the Request": feeding,
        "feed + build, fields new each request": lambda: feeding(vary=True),
        "http_scope": scoping,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="a directory with another http.py to compare")
    args = parser.parse_args()
    left, right = socket.socketpair()
    versions = {"this": http}
    if args.base:
        versions["base"] = load_base(args.base)
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(ROUNDS):
        for version, module in versions.items():
            for name, make in cases(module, left).items():
                results.setdefault((name, version), []).append(per_call(make()))
    for name in cases(http, left):
        this = statistics.median(results[(name, "this")])
        line = f"{name}: {this:.1f} µs"
        if args.base:
            base = statistics.median(results[(name, "base")])
            line += f" (base {base:.1f} µs, this/base {this / base:.2f})"
        print(line)
    left.close()
    right.close()


if __name__ == "__main__":
    main()
