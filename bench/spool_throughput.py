"""Spooler throughput: the file spooler against the Redis Streams spooler (issue 19).

Each round starts polyhost with one spooler (`--spooler DIR` or `--spooler
redis://...?stream=bench`, 1 spooler process), enqueues N tasks from one worker
(bench/apps/spool_bench.py calls uwsgi.spool N times and times it), then waits until the spooler
function has run all N (it counts them in the local cache). Rounds alternate between the two
backends; the report gives medians of enqueue and drain rates and the ratio Redis / file.

    .venv/bin/python bench/spool_throughput.py [--tasks N] [--rounds R]

Needs redis-server (scripts/apt-packages-redis.txt). Prints a markdown report.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cache_ops import redis_server
from harness import REPO, free_port, machine_description, polyhost_argv, stop_process_group

APP = REPO / "bench" / "apps" / "spool_bench.py"


def fetch(port: int, path: str, timeout: float = 300) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
        return reply.read()


def one_round(spooler: str, tasks: int, workdir: Path) -> tuple[float, float]:
    """(tasks enqueued per second, tasks run per second) for one backend."""
    port = free_port()
    argv = polyhost_argv(
        port, "--wsgi-file", str(APP), "--spooler", spooler, "--spooler-quiet",
        "--spooler-frequency", "1", "--cache2", "name=bench,items=100",
    )  # fmt: skip
    log = open(workdir / "polyhost.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fetch(port, "/done", 2)
                break
            except OSError as exc:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"polyhost did not start: see {workdir}/polyhost.log") from exc
                time.sleep(0.1)
        started = time.perf_counter()
        enqueue_seconds = float(fetch(port, f"/spool?n={tasks}"))
        deadline = time.monotonic() + 600
        while int(fetch(port, "/done")) < tasks:
            if time.monotonic() > deadline:
                raise SystemExit("the spooler did not run every task within 600 s")
            time.sleep(0.05)
        drained = time.perf_counter() - started
        return tasks / enqueue_seconds, tasks / drained
    finally:
        stop_process_group(proc, __import__("signal").SIGINT)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"file": [], "redis": []}
    with tempfile.TemporaryDirectory(prefix="spool-bench-") as tmp, redis_server(Path(tmp)) as url:
        for number in range(args.rounds):
            for name in results:
                spool_dir = Path(tmp) / f"spool-{name}-{number}"
                spool_dir.mkdir()
                spooler = f"{url}?stream=bench{number}" if name == "redis" else str(spool_dir)
                results[name].append(one_round(spooler, args.tasks, Path(tmp)))
                enq, run = results[name][-1]
                print(
                    f"round {number + 1} {name}: enqueue {enq:,.0f}/s, run {run:,.0f}/s",
                    file=sys.stderr,
                )
    print("# Spooler throughput: file spooler vs Redis Streams\n")
    print(f"Machine: {machine_description()}  ")
    print(
        f"{args.tasks:,} tasks of 2 vars (~110 bytes) per round, 1 spooler process,"
        f" medians of {args.rounds} alternating rounds.\n"
    )
    print("| backend | enqueue tasks/s (one worker) | run tasks/s (enqueue + drain) |")
    print("|---|---:|---:|")
    medians = {}
    for name, runs in results.items():
        medians[name] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
        )
        print(f"| {name} | {medians[name][0]:,.0f} | {medians[name][1]:,.0f} |")
    enq = medians["redis"][0] / medians["file"][0]
    run = medians["redis"][1] / medians["file"][1]
    print(f"\nRedis / file: enqueue {enq:.2f}x, run {run:.2f}x")


if __name__ == "__main__":
    main()
