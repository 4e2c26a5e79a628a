"""Faults under keep-alive load: polyhost vs real uWSGI 2.0, failed requests of N.

Each server (2 workers, uWSGI on --http11-socket for keep-alive) is loaded with wrk; during the
run it gets the fault twice (at 1/4 and 5/8 of it): a graceful reload (SIGHUP to the master) or
a worker killed with SIGKILL. wrk's socket errors and non-2xx answers are the failed requests.
Run `cd bench && ../.venv/bin/python faults_under_load.py -d 8`; bounded by the duration
(plus start-up).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from harness import (
    KEEP_ALIVE,
    LOOPBACK,
    REPO,
    free_port,
    live_session_members,
    machine_description,
    parse_wrk_output,
    polyhost_argv,
    stop_process_group,
    uwsgi_argv,
    wait_until_serving,
)

WSGI_FILE = "bench/apps/hello_wsgi.py"
SERVERS: dict[str, Callable[[int], list[str]]] = {
    "polyhost": lambda port: polyhost_argv(port, "--wsgi-file", WSGI_FILE),
    "uWSGI": lambda port: uwsgi_argv(port, KEEP_ALIVE.name, "python3", "--wsgi-file", WSGI_FILE),
}


def reload(master: int) -> None:
    os.kill(master, signal.SIGHUP)


def kill_a_worker(master: int) -> None:
    workers = [pid for pid in live_session_members(master) if pid != master]
    if workers:
        os.kill(min(workers), signal.SIGKILL)


FAULTS: dict[str, Callable[[int], None]] = {
    "reload (SIGHUP)": reload,
    "kill -9 a worker": kill_a_worker,
}


def failed_of_total(output: str) -> tuple[int, int]:
    """(failed, total) requests of a wrk run: socket errors plus non-2xx answers."""
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    errors = parse_wrk_output(output).errors
    failed = sum(int(part.split()[-1]) for part in errors.split(", ") if part != "0")
    return failed, int(total.group(1)) if total else 0


def run(server: str, fault: str, duration: int, connections: int) -> tuple[int, int]:
    port = free_port()
    with tempfile.TemporaryFile() as log, tempfile.TemporaryFile() as wrk_out:
        process = subprocess.Popen(
            SERVERS[server](port),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_serving(process, port, "/", 30, log)
            wrk = subprocess.Popen(
                [
                    "wrk",
                    "--latency",
                    "-t2",
                    f"-c{connections}",
                    f"-d{duration}s",
                    f"http://{LOOPBACK}:{port}/",
                ],
                stdout=wrk_out,
                stderr=subprocess.STDOUT,
            )
            try:
                started = time.monotonic()
                for at in (duration / 4, duration * 5 / 8):
                    time.sleep(max(0.0, started + at - time.monotonic()))  # the fault's moment
                    FAULTS[fault](process.pid)
                wrk.wait(timeout=duration + 30)
            finally:
                if wrk.poll() is None:
                    wrk.kill()
                    wrk.wait(5)
            wrk_out.seek(0)
            return failed_of_total(wrk_out.read().decode(errors="replace"))
        finally:
            stop_process_group(process, signal.SIGINT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--duration", type=int, default=8, help="seconds of load per run")
    parser.add_argument("-c", "--connections", type=int, default=16)
    args = parser.parse_args()
    print(f"machine: {machine_description()}")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, two faults per run\n")
    print("| fault | polyhost failed / requests | uWSGI failed / requests |")
    print("|---|---:|---:|")
    for fault in FAULTS:
        cells = []
        for server in SERVERS:
            failed, total = run(server, fault, args.duration, args.connections)
            cells.append(f"{failed} / {total:,}")
        print(f"| {fault} | {' | '.join(cells)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
