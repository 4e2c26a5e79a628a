"""Cache operations per second from Python: polyhost's CacheSet against real uWSGI's
`uwsgi.cache_*`, measured inside a WSGI app under real uWSGI.

Both sides run the same timed loops (MEASURE below) on a `cache2 = name=bench,items=1000` with
500 keys and 100-byte values, calling the bound functions directly (`uwsgi.cache_get` there,
`CacheSet.get` here) with the same arguments. Rounds alternate between the two; the ratio is
taken within each round (so a busy or throttled machine hurts both alike) and the report gives
the medians over the rounds. Target (issue 6): get/set from Python at
least 0.5x uWSGI's. With `--redis`, a third series runs the same loops on a cache with
`backend=redis://` (a real redis-server on a loopback port, started here): what sharing the
cache across hosts costs against the local LMDB cache (issue 19).

    .venv/bin/python bench/cache_ops.py [--calls N] [--rounds R] [--redis] [--floors]

`--floors` adds a series of bench/cache_floors.py: the cheapest pieces of a write alone (a bare
LMDB write transaction, a cross-process lock around a shared-memory add), each beside uWSGI's
whole operation, to show which designs could reach the 0.5x target at all.

Needs `uwsgi` with its python3 plugin (bench/setup.sh), and redis-server for --redis. Prints a
markdown report.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE2 = "name=bench,items=1000"

#: the timed loops, run as-is by both sides; `get`, `set_`, `update`, `inc` are bound functions
#: with uWSGI's argument order (key, value, expires, cache)
MEASURE = """
import time

def measure(get, set_, update, inc, calls):
    keys = [b"key-%d" % i for i in range(500)]
    value = b"v" * 100
    for key in keys:
        update(key, value, 0, "bench")
    rates = {}
    start = time.perf_counter()
    for i in range(calls):
        get(keys[i % 500], "bench")
    rates["get (hit)"] = calls / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(calls):
        get(b"missing-%d" % (i % 500), "bench")
    rates["get (miss)"] = calls / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(calls):
        set_(keys[i % 500], value, 0, "bench")
    rates["set (key exists: refused)"] = calls / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(calls):
        update(keys[i % 500], value, 0, "bench")
    rates["update (overwrite: a write)"] = calls / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(calls):
        inc(b"counter", 1, 0, "bench")
    rates["inc"] = calls / (time.perf_counter() - start)
    return rates
"""

UWSGI_APP = """
import json
from urllib.parse import parse_qs

import uwsgi

def application(environ, start_response):
    calls = int(parse_qs(environ.get("QUERY_STRING", "")).get("calls", ["100000"])[0])
    rates = measure(uwsgi.cache_get, uwsgi.cache_set, uwsgi.cache_update, uwsgi.cache_inc, calls)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(rates).encode()]
"""

TARGETS = {"get (hit)": 0.5, "get (miss)": 0.5, "set (key exists: refused)": 0.5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def uwsgi_server(workdir: Path) -> Iterator[int]:
    """Real uWSGI serving the measuring app on a loopback port; stopped by its PID."""
    app = workdir / "cache_bench_app.py"
    app.write_text(MEASURE + UWSGI_APP)
    port = free_port()
    command = [
        shutil.which("uwsgi") or "uwsgi",
        "--plugins",
        "python3",
        "--master",
        "--processes",
        "1",
        "--http-socket",
        f"127.0.0.1:{port}",
        "--cache2",
        CACHE2,
        "--wsgi-file",
        str(app),
        "--disable-logging",
    ]
    log = workdir / "uwsgi.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"uWSGI exited at start:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"uWSGI did not listen within 20s:\n{log.read_text()}")
            time.sleep(0.05)
        print(f"uWSGI: {' '.join(command)}", file=sys.stderr)
        yield port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def measure_uwsgi(port: int, calls: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/?calls={calls}"
    with urllib.request.urlopen(url, timeout=300) as reply:
        rates: dict[str, float] = json.loads(reply.read())
    return rates


def measure_polyhost(calls: int, directory: str, backend: str = "") -> dict[str, float]:
    from polyhost.fabric.cache import CacheSet, parse_cache2

    cache2 = f"{CACHE2},backend={backend}" if backend else CACHE2
    caches = CacheSet([parse_cache2(cache2, "bench")], directory)
    try:
        namespace: dict[str, Any] = {}
        exec(MEASURE, namespace)
        measure: Callable[..., dict[str, float]] = namespace["measure"]
        return measure(caches.get, caches.set, caches.update, caches.inc, calls)
    finally:
        caches.remove_files()


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), ""
        )
    version = subprocess.run(["uwsgi", "--version"], capture_output=True, text=True).stdout
    import lmdb

    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, uWSGI {version.strip()}, "
        f"py-lmdb {lmdb.__version__} (LMDB {'.'.join(map(str, lmdb.version()))})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000, help="calls per operation")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (best kept)")
    parser.add_argument("--redis", action="store_true", help="also a cache on redis-server")
    parser.add_argument("--floors", action="store_true", help="also bench/cache_floors.py")
    args = parser.parse_args()
    if not shutil.which("uwsgi"):
        raise SystemExit("uwsgi is not installed: run `sudo bash bench/setup.sh`")
    uwsgi_runs: list[dict[str, float]] = []
    polyhost_runs: list[dict[str, float]] = []
    redis_runs: list[dict[str, float]] = []
    floor_runs: list[dict[str, float]] = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="cache-bench-"))
        port = stack.enter_context(uwsgi_server(Path(tmp)))
        backend = stack.enter_context(redis_server(Path(tmp))) if args.redis else ""
        caches_dir = os.path.join(tmp, "caches")
        measure_uwsgi(port, 10_000)  # warm-up
        measure_polyhost(10_000, caches_dir)
        series: list[tuple[str, Callable[[], dict[str, float]], list[dict[str, float]]]] = [
            ("uWSGI", lambda: measure_uwsgi(port, args.calls), uwsgi_runs),
            ("polyhost", lambda: measure_polyhost(args.calls, caches_dir), polyhost_runs),
        ]
        if backend:
            redis_calls = max(1, args.calls // 10)  # a network round trip per call
            series.append(
                (
                    "polyhost redis",
                    lambda: measure_polyhost(redis_calls, caches_dir, backend),
                    redis_runs,
                )
            )
        if args.floors:
            from cache_floors import measure_floors

            floors_dir = os.path.join(tmp, "floors")
            series.append(("floors", lambda: measure_floors(args.calls, floors_dir), floor_runs))
        for round_number in range(args.rounds):
            for name, run, runs in series:
                rates = run()
                runs.append(rates)
                shown = ", ".join(f"{op} {rate:,.0f}" for op, rate in rates.items())
                print(f"round {round_number + 1} {name}: {shown}", file=sys.stderr)
    print("# Cache operations from Python: polyhost CacheSet vs uWSGI uwsgi.cache_*\n")
    print(f"Machine: {machine()}  ")
    print(
        f"Cache: `cache2 = {CACHE2}`, 500 keys, 100-byte values, {args.calls:,} calls per"
        f" operation; medians of {args.rounds} alternating rounds, ratio taken per round.\n"
    )
    print("| operation | uWSGI ops/s | polyhost ops/s | ratio (min-max) | target |")
    print("|---|---:|---:|---:|---|")
    for op in uwsgi_runs[0]:
        pairs = zip(polyhost_runs, uwsgi_runs, strict=True)
        ratios = [mine[op] / theirs[op] for mine, theirs in pairs]
        ratio = statistics.median(ratios)
        target = TARGETS.get(op)
        verdict = "" if target is None else f">= {target}x {'met' if ratio >= target else 'MISSED'}"
        print(
            f"| {op} | {statistics.median(run[op] for run in uwsgi_runs):,.0f}"
            f" | {statistics.median(run[op] for run in polyhost_runs):,.0f}"
            f" | {ratio:.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | {verdict} |"
        )
    if floor_runs:
        print("\n## Floors: a piece of a write alone, against uWSGI's whole operation\n")
        print("| floor (bench/cache_floors.py) | ops/s | vs uWSGI's | ratio (min-max) |")
        print("|---|---:|---|---:|")
        for floor in floor_runs[0]:
            op = "inc" if floor.startswith("inc") else "update (overwrite: a write)"
            ratios = [f[floor] / u[op] for f, u in zip(floor_runs, uwsgi_runs, strict=True)]
            print(
                f"| {floor} | {statistics.median(run[floor] for run in floor_runs):,.0f}"
                f" | {op} | {statistics.median(ratios):.2f}x"
                f" ({min(ratios):.2f}-{max(ratios):.2f}) |"
            )
    if redis_runs:
        print(f"\n## The same loops on `{CACHE2},backend=redis://127.0.0.1:PORT/0`\n")
        print("| operation | local LMDB ops/s | Redis ops/s | Redis / LMDB | Redis / uWSGI |")
        print("|---|---:|---:|---:|---:|")
        for op in uwsgi_runs[0]:
            local = statistics.median(run[op] for run in polyhost_runs)
            remote = statistics.median(run[op] for run in redis_runs)
            theirs = statistics.median(run[op] for run in uwsgi_runs)
            print(
                f"| {op} | {local:,.0f} | {remote:,.0f} | {remote / local:.3f}x"
                f" | {remote / theirs:.3f}x |"
            )


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A redis-server on a loopback port, no persistence; stopped by its PID. Yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--dir",
        str(workdir),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        print(f"Redis: {' '.join(command)}", file=sys.stderr)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
