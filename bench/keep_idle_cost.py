"""What keep-idle-connections costs a keep-alive request: server CPU time per request, and
req/s, for two polyhost trees (or one tree with and without the option), alternating rounds.

CPU per request (utime + stime of every process of the instance over the measured wrk run,
divided by the requests wrk completed) varies far less with the machine's load than req/s, so
it is the figure to compare on a shared machine. Run from bench/, e.g.
`../.venv/bin/python keep_idle_cost.py --tree BASE --tree .. --rounds 8` (BASE: a
worktree of main with its own .venv); bounded
by rounds x trees x (duration + start-up).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

from faults_under_load import serving
from harness import LOOPBACK, cpu_seconds, free_port, live_session_members

WSGI_FILE = "bench/apps/hello_wsgi.py"


def run(tree: Path, options: list[str], duration: int, connections: int) -> tuple[float, float]:
    """(req/s, server CPU µs per request) of one wrk run against polyhost from `tree`."""
    port = free_port()
    argv = [str(tree / ".venv/bin/polyhost"), "--http-socket", f"{LOOPBACK}:{port}"]
    argv += ["--master", "--processes", "2", "--wsgi-file", WSGI_FILE, "--disable-logging"]
    with serving([*argv, *options], port, tree) as process:
        url = f"http://{LOOPBACK}:{port}/"
        subprocess.run(["wrk", "-t2", "-c16", "-d1s", url], capture_output=True, check=False)
        pids = live_session_members(process.pid)
        before = cpu_seconds(pids)
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", url],
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=False,
        ).stdout
        used = cpu_seconds(pids) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rate, used / max(1, requests) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, help="a polyhost checkout")
    parser.add_argument("--off", action="store_true", help="one tree, option off vs on")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("-d", "--duration", type=int, default=6)
    parser.add_argument("-c", "--connections", type=int, default=16)
    args = parser.parse_args()
    trees = [t.resolve() for t in args.tree or [Path("..")]]
    variants = [(str(t), t, []) for t in trees]
    if args.off:
        variants = [
            ("keep-idle off", trees[0], ["--keep-idle-connections=false"]),
            ("keep-idle on", trees[0], []),
        ]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in variants}
    for round_ in range(args.rounds):
        order = variants if round_ % 2 == 0 else list(reversed(variants))
        for name, tree, options in order:
            results[name].append(run(tree, options, args.duration, args.connections))
            rate, cpu = results[name][-1]
            print(f"round {round_ + 1} {name}: {rate:,.0f} req/s, {cpu:.1f} µs CPU/req", flush=True)
    print("\n| polyhost | req/s (median) | server CPU µs/request (median) |\n|---|---:|---:|")
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| {name} | {rate:,.0f} | {cpu:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
