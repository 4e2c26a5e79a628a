"""Supervision under load: polyhost vs real uWSGI 2.0.

1. Reloads during a keep-alive wrk load (2 lazy-apps workers, the reload fired twice): a plain
   graceful reload (SIGHUP) and a chain reload (master FIFO `c`); failed requests (wrk's socket
   errors and non-2xx) and the worst latency wrk saw.
2. Cheaper: `cheaper 1`, `processes 4`, spare algorithm, `cheaper-overload 1`, an app that
   takes 50 ms a request; from the start of a burst of new connections (wrk -c8, `Connection:
   close`) to the first extra worker serving and to all 4 serving, read from the stats socket.

Run `cd bench && ../.venv/bin/python supervision.py -d 8`; bounded by the durations (plus
start-up); every server is stopped by its process group.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from faults_under_load import failed_of_total
from harness import (
    KEEP_ALIVE,
    LOOPBACK,
    REPO,
    free_port,
    machine_description,
    polyhost_argv,
    stop_process_group,
    uwsgi_argv,
    wait_until_serving,
)

HELLO = "bench/apps/hello_wsgi.py"
SLEEPY = "bench/apps/sleepy_wsgi.py"
Argv = Callable[[int, list[str]], list[str]]
SERVERS: dict[str, Argv] = {
    "polyhost": lambda port, options: polyhost_argv(port, *options),
    "uWSGI": lambda port, options: uwsgi_argv(port, KEEP_ALIVE.name, "python3", *options),
}


def hup(master: int, fifo: Path) -> None:
    os.kill(master, signal.SIGHUP)


def chain(master: int, fifo: Path) -> None:
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, b"c")
    os.close(fd)


RELOADS: dict[str, Callable[[int, Path], None]] = {
    "reload (SIGHUP)": hup,
    "chain reload (c)": chain,
}


def worst_latency(output: str) -> str:
    found = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", output, re.MULTILINE)
    return found.group(1) if found else "?"


def started(argv: list[str], log: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def reload_run(server: str, reload: str, duration: int, connections: int) -> str:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as log:
        fifo = Path(tmp) / "fifo"
        options = ["--lazy-apps", "--master-fifo", str(fifo), "--wsgi-file", HELLO]
        process = started(SERVERS[server](port, options), log)
        try:
            wait_until_serving(process, port, "/", 30, log)
            with tempfile.TemporaryFile() as out:
                wrk = subprocess.Popen(
                    ["wrk", "--latency", "-t2", f"-c{connections}", f"-d{duration}s",
                     f"http://{LOOPBACK}:{port}/"],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
                try:
                    begin = time.monotonic()
                    for at in (duration / 4, duration * 5 / 8):
                        time.sleep(max(0.0, begin + at - time.monotonic()))
                        RELOADS[reload](process.pid, fifo)
                    wrk.wait(timeout=duration + 30)
                finally:
                    if wrk.poll() is None:
                        wrk.kill()
                        wrk.wait(5)
                out.seek(0)
                text = out.read().decode(errors="replace")
            failed, total = failed_of_total(text)
            return f"{failed} / {total:,}, worst {worst_latency(text)}"
        finally:
            stop_process_group(process, signal.SIGINT)


def serving_workers(stats_port: int) -> int:
    """Workers that are not cheap and have served a request (from the stats JSON)."""
    with socket.create_connection((LOOPBACK, stats_port), timeout=5) as sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    workers = json.loads(data)["workers"]
    return sum(1 for w in workers if w["status"] != "cheap" and w["requests"] > 0)


def cheaper_run(server: str, limit: float) -> str:
    port, stats_port = free_port(), free_port()
    options = [
        "--processes", "4", "--cheaper", "1", "--cheaper-initial", "1", "--cheaper-algo",
        "spare", "--cheaper-overload", "1", "--stats", f"{LOOPBACK}:{stats_port}",
        "--wsgi-file", SLEEPY,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log, tempfile.TemporaryFile() as out:
        process = started(SERVERS[server](port, options), log)
        try:
            wait_until_serving(process, port, "/", 30, log)
            wrk = subprocess.Popen(
                ["wrk", "-t2", "-c8", "-H", "Connection: close", f"-d{int(limit) + 2}s",
                 f"http://{LOOPBACK}:{port}/"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
            begin = time.monotonic()
            first = every = None
            try:
                while time.monotonic() - begin < limit and every is None:
                    count = serving_workers(stats_port)
                    now = time.monotonic() - begin
                    if count >= 2 and first is None:
                        first = now
                    if count >= 4:
                        every = now
                    time.sleep(0.02)
            finally:
                wrk.kill()
                wrk.wait(5)
            shown = [f"{t:.2f} s" if t is not None else f"> {limit:.0f} s" for t in (first, every)]
            return " | ".join(shown)
        finally:
            stop_process_group(process, signal.SIGINT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--duration", type=int, default=8, help="seconds of load per run")
    parser.add_argument("-c", "--connections", type=int, default=16)
    args = parser.parse_args()
    print(f"machine: {machine_description()}")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s keep-alive, two reloads per run\n")
    print("| reload | polyhost failed / requests | uWSGI failed / requests |\n|---|---:|---:|")
    for reload in RELOADS:
        cells = [reload_run(server, reload, args.duration, args.connections) for server in SERVERS]
        print(f"| {reload} | {' | '.join(cells)} |", flush=True)
    print(
        "\ncheaper 1 of 4 workers (spare, overload 1), a burst of wrk -c8 "
        "(Connection: close) on a 50 ms app\n"
    )
    print("| server | first extra worker serving | all 4 serving |\n|---|---:|---:|")
    for server in SERVERS:
        print(f"| {server} | {cheaper_run(server, 30.0)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
