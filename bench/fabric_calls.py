"""Fabric calls per second inside one worker: polyhost against real uWSGI 2.0 running the
same apps (bench/apps/fabric/): local RPC Python->Python, Perl->Python, Python->JVM (polyhost
only: a Clojure app registers `jv_echo`; uWSGI's loop is reported as nan), cache get/set from
Python and from Perl.

Both servers get the same two apps on a uwsgi socket (Python on modifier1 0, PSGI on 5) and
one worker; each request runs a timed loop inside the app and returns calls/s. Rounds
alternate between the servers; the report gives medians, the median of the per-round ratios
(with their range: a loaded machine moves both servers by 2-3x between rounds) and every
round's polyhost calls/s. Targets (issues 6 and 18): RPC Python -> Python >= 0.5x uWSGI's,
Perl -> Python >= 50k calls/s per worker in every round; cache get/set/update >= 0.5x uWSGI's.

    .venv/bin/python bench/fabric_calls.py [--calls N] [--rounds R] [--loops a,b] [--both OPTS]

`--both "--cpu-affinity 1"` adds the same options to both servers' command lines.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
APPS = REPO / "bench" / "apps" / "fabric"
LOOPS = [
    ("rpc_py_py", 0),
    ("rpc_pl_py", 5),
    ("rpc_py_jvm", 0),
    ("cache_get_py", 0),
    ("cache_set_py", 0),
    ("cache_update_py", 0),
    ("cache_get_pl", 5),
    ("cache_set_pl", 5),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uwsgi_get(port: int, path: str, query: str, modifier1: int, timeout: float = 120) -> bytes:
    """One request in the uwsgi protocol (so the modifier1 picks Python or Perl)."""
    from host.protocol.uwsgi import encode_vars, pack_header  # the project's codec

    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REQUEST_URI": f"{path}?{query}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "bench",
        "SERVER_PORT": str(port),
        "REMOTE_ADDR": "127.0.0.1",
        "SCRIPT_NAME": "",
    }
    block = encode_vars(env)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(pack_header(modifier1, len(block), 0) + block)
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    return data.partition(b"\r\n\r\n")[2]


SERVERS = {
    "polyhost": lambda port: [
        str(REPO / ".venv/bin/polyhost"),
        "--socket",
        f"127.0.0.1:{port}",
        "--wsgi-file",
        str(APPS / "fabric_bench.py"),
        "--psgi",
        str(APPS / "fabric_bench.psgi"),
        "--mount",
        f"/jvm={APPS / 'jv_echo.clj'}",
        "--cache2",
        "name=bench,items=1000",
        "--disable-logging",
    ],
    "uWSGI": lambda port: [
        "uwsgi",
        "--plugins",
        "python3,psgi",
        "--socket",
        f"127.0.0.1:{port}",
        "--master",
        "--processes",
        "1",
        "--wsgi-file",
        str(APPS / "fabric_bench.py"),
        "--psgi",
        str(APPS / "fabric_bench.psgi"),
        "--cache2",
        "name=bench,items=1000",
        "--disable-logging",
    ],
}


def run_server(
    name: str, calls: int, loops: list[tuple[str, int]], extra: list[str]
) -> dict[str, float]:
    port = free_port()
    log = open(f"/tmp/fabric-bench-{name}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*SERVERS[name](port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(
                        f"{name} did not start; see /tmp/fabric-bench-{name}.log"
                    ) from None
                time.sleep(0.1)
        rates: dict[str, float] = {}
        for loop, modifier1 in loops:
            reply = uwsgi_get(port, f"/{loop}", str(calls), modifier1)
            try:
                rates.update(json.loads(reply))
            except ValueError:
                rates[loop] = float("nan")  # the loop failed there (see the server's log)
        return rates
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loops", default="", help="comma-separated loop names (default all)")
    parser.add_argument("--both", default="", help="options added to both servers' commands")
    args = parser.parse_args()
    extra = shlex.split(args.both)
    wanted = set(filter(None, args.loops.split(",")))
    loops = [(loop, mod) for loop, mod in LOOPS if not wanted or loop in wanted]
    results: dict[str, dict[str, list[float]]] = {"polyhost": {}, "uWSGI": {}}
    for _ in range(args.rounds):
        for name in results:
            for loop, value in run_server(name, args.calls, loops, extra).items():
                results[name].setdefault(loop, []).append(value)
    print(
        f"# Fabric calls per second in one worker ({args.calls} calls per loop, "
        f"median of {args.rounds} rounds{'; both with ' + args.both if extra else ''})\n"
    )
    print(
        "| loop | polyhost calls/s | uWSGI calls/s | ratio (min-max) | polyhost per round |\n"
        "|---|---:|---:|---:|---|"
    )
    nan = [float("nan")] * args.rounds
    for loop, _ in loops:
        ours, theirs = results["polyhost"].get(loop, nan), results["uWSGI"].get(loop, nan)
        ratios = [mine / other for mine, other in zip(ours, theirs, strict=True)]
        rounds = " / ".join(f"{value / 1000:.1f}k" for value in ours)
        print(
            f"| {loop} | {statistics.median(ours):,.0f} | {statistics.median(theirs):,.0f}"
            f" | {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            f" | {rounds} |"
        )
    print(
        "\nTargets: rpc_py_py >= 0.5x uWSGI; rpc_pl_py >= 50,000 calls/s in every round;"
        " cache_*_py >= 0.5x uWSGI."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
