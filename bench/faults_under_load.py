"""Faults under keep-alive load: polyhost vs real uWSGI 2.0, failed requests of N.

Each server (2 workers, uWSGI on --http11-socket for keep-alive) is loaded with wrk; during the
run it gets the fault twice (at 1/4 and 5/8 of it): a graceful reload (SIGHUP to the master) or
a worker killed with SIGKILL. wrk's socket errors and non-2xx answers are the failed requests;
for a kill, the connections the victim held (accepted, established) at that moment are counted
too: without keep-idle-connections each of them carries wrk's next request and dies with the
worker; with it (the default) only the busy ones do, the idle ones go to the successor.
Run `cd bench && ../.venv/bin/python faults_under_load.py -d 8`; bounded by the duration
(plus start-up).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
#: more polyhost options (`--hold-per-core N`, `--keep-idle-connections=false`)
POLYHOST_OPTIONS: list[str] = []
SERVERS: dict[str, Callable[[int], list[str]]] = {
    "polyhost": lambda port: polyhost_argv(port, "--wsgi-file", WSGI_FILE, *POLYHOST_OPTIONS),
    "uWSGI": lambda port: uwsgi_argv(port, KEEP_ALIVE.name, "python3", "--wsgi-file", WSGI_FILE),
}


def reload(master: int, port: int) -> tuple[int, float]:
    os.kill(master, signal.SIGHUP)
    return 0, 0.0


def held_connections(pid: int, port: int) -> int:
    """Established TCP connections on local `port` among the open fds of process `pid`."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                held += local_port == port and fields[3] == "01" and fields[9] in inodes
    return held


def kill_a_worker(master: int, port: int) -> tuple[int, float]:
    """SIGKILL the first worker: the connections it held then, and the milliseconds until the
    master has forked its successor (a new process in the session; 5 s at most)."""
    before = set(live_session_members(master))
    workers = sorted(before - {master})
    if not workers:
        return 0, 0.0
    victim = workers[0]
    held = held_connections(victim, port)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    while time.monotonic() - killed < 5 and not set(live_session_members(master)) - before:
        time.sleep(0.002)
    return held, (time.monotonic() - killed) * 1000


FAULTS: dict[str, Callable[[int, int], tuple[int, float]]] = {
    "reload (SIGHUP)": reload,
    "kill -9 a worker": kill_a_worker,
}


@dataclass
class Outcome:
    """One run: failed requests of total, wrk's kinds of errors, connections held by victims,
    the slowest respawn."""

    failed: int
    total: int
    errors: str
    held: int
    respawn_ms: float

    def cell(self) -> str:
        held = f"; victims held {self.held} conns" if self.held else ""
        respawn = f"; respawn <= {self.respawn_ms:.0f} ms" if self.respawn_ms else ""
        return f"{self.failed} / {self.total:,} ({self.errors}{held}{respawn})"


def failed_of_total(output: str) -> tuple[int, int]:
    """(failed, total) requests of a wrk run: socket errors plus non-2xx answers."""
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    errors = parse_wrk_output(output).errors
    failed = sum(int(part.split()[-1]) for part in errors.split(", ") if part != "0")
    return failed, int(total.group(1)) if total else 0


def outcome(output: str, held: int, respawn_ms: float) -> Outcome:
    """The Outcome of a wrk run (bench/supervision.py reads the same two numbers)."""
    failed, total = failed_of_total(output)
    return Outcome(failed, total, parse_wrk_output(output).errors, held, respawn_ms)


@contextlib.contextmanager
def serving(argv: list[str], port: int, cwd: Path = REPO) -> Iterator[subprocess.Popen[bytes]]:
    """A server started in its own session, serving `/` on `port`; stopped (SIGINT) after."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_serving(process, port, "/", 30, log)
            yield process
        finally:
            stop_process_group(process, signal.SIGINT)


def run(server: str, fault: str, duration: int, connections: int) -> Outcome:
    port = free_port()
    with serving(SERVERS[server](port), port) as process, tempfile.TemporaryFile() as wrk_out:
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
            held, respawn_ms = 0, 0.0
            for at in (duration / 4, duration * 5 / 8):
                time.sleep(max(0.0, started + at - time.monotonic()))  # the fault's moment
                victim_held, respawned = FAULTS[fault](process.pid, port)
                held, respawn_ms = held + victim_held, max(respawn_ms, respawned)
            wrk.wait(timeout=duration + 30)
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait(5)
        wrk_out.seek(0)
        return outcome(wrk_out.read().decode(errors="replace"), held, respawn_ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--duration", type=int, default=8, help="seconds of load per run")
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("--fault", choices=("reload", "kill"), help="only this fault")
    parser.add_argument("--rounds", type=int, default=1, help="runs per fault and server")
    parser.add_argument("--hold-per-core", type=int, help="polyhost's --hold-per-core N")
    parser.add_argument(
        "--no-keep-idle",
        action="store_true",
        help="polyhost with --keep-idle-connections=false (its idle connections die with it)",
    )
    args = parser.parse_args()
    if args.no_keep_idle:
        POLYHOST_OPTIONS.append("--keep-idle-connections=false")
    if args.hold_per_core is not None:
        POLYHOST_OPTIONS.extend(["--hold-per-core", str(args.hold_per_core)])
    print(f"machine: {machine_description()}")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s, two faults per run")
    print(f"polyhost options: {' '.join(POLYHOST_OPTIONS) or 'none'}\n")
    print("| fault | polyhost failed / requests | uWSGI failed / requests |")
    print("|---|---:|---:|")
    for fault in FAULTS:
        if args.fault and not fault.startswith(args.fault):
            continue
        for round_ in range(args.rounds):
            # alternating which server runs first, so a change in the load hits both
            order = list(SERVERS) if round_ % 2 == 0 else list(reversed(SERVERS))
            cells = {name: run(name, fault, args.duration, args.connections) for name in order}
            row = " | ".join(cells[server].cell() for server in SERVERS)
            print(f"| {fault} | {row} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
