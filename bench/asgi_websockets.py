"""ASGI WebSockets: polyhost vs uvicorn vs Granian (the servers of bench/asgi_hello.py, 2 workers).

For each server: the RSS its workers gain holding `--idle` idle WebSockets (reported per 1,000),
then an echo load: `--connections` WebSockets each sending a message and awaiting its echo, for
`--duration` seconds: messages/s and the p99 round trip. The client is this script (asyncio and
the `websockets` package) on the same CPUs as the server. Servers start in their own session
and are stopped by PID, even on errors (bench/harness.py).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import time

from asgi_hello import SERVERS
from harness import (
    LOOPBACK,
    Server,
    ServerProblem,
    display_command,
    exit_on_signal,
    first_output_line,
    free_port,
    live_session_members,
    machine_description,
    progress,
    rss_kib,
    stop_process_group,
    wait_until_serving,
)
from websockets.asyncio.client import connect


def workers_rss_kib(leader: int) -> int:
    return sum(rss_kib(pid) for pid in live_session_members(leader) if pid != leader)


async def open_idle(port: int, count: int) -> list:
    sockets = []
    for start in range(0, count, 100):  # in batches, within the listen backlog
        sockets += await asyncio.gather(
            *(
                connect(f"ws://{LOOPBACK}:{port}/ws", compression=None, ping_interval=None)
                for _ in range(min(100, count - start))
            )
        )
    return sockets


async def echo_load(port: int, connections: int, duration_s: float) -> tuple[float, float]:
    """Messages per second and the p99 round trip (ms) over `connections` echo loops."""
    round_trips: list[float] = []
    deadline = time.monotonic() + duration_s

    async def loop(ws) -> None:
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            await ws.send("ping")
            await ws.recv()
            round_trips.append(time.perf_counter() - sent)

    sockets = await open_idle(port, connections)
    started = time.monotonic()
    try:
        await asyncio.gather(*(loop(ws) for ws in sockets))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    elapsed = time.monotonic() - started
    round_trips.sort()
    p99 = round_trips[int(len(round_trips) * 0.99)] * 1000 if round_trips else 0.0
    return len(round_trips) / elapsed, p99


def measure(server: Server, idle: int, connections: int, duration_s: float) -> str:
    port = free_port()
    argv = server.command(port, "keep-alive")
    progress(f"{server.name}: `{display_command(argv, server.cwd)}`")
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            argv,
            cwd=server.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_serving(process, port, "/", server.start_timeout_s, log)
            before = workers_rss_kib(process.pid)

            async def run() -> tuple[float, float, float]:
                sockets = await open_idle(port, idle)
                try:
                    held = workers_rss_kib(process.pid)
                finally:
                    await asyncio.gather(*(ws.close() for ws in sockets))
                rate, p99 = await echo_load(port, connections, duration_s)
                return (held - before) * 1000 / idle / 1024, rate, p99

            per_thousand_mib, rate, p99 = asyncio.run(run())
        except (ServerProblem, OSError) as problem:
            return f"| {server.name} | - | - | - | {str(problem).splitlines()[0]} |"
        finally:
            stop_process_group(process, server.stop_signal)
    return f"| {server.name} | {per_thousand_mib:.1f} | {rate:,.0f} | {p99:.2f} | |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=1000, help="idle WebSockets held")
    parser.add_argument("--connections", type=int, default=50, help="echo WebSockets")
    parser.add_argument("--duration", type=float, default=8, help="seconds of echo load")
    parser.add_argument("--only", action="append", help="run only this server (repeatable)")
    arguments = parser.parse_args()
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, exit_on_signal)
    servers = [s for s in SERVERS if not arguments.only or s.name in arguments.only]
    report = [
        "# ASGI WebSockets: polyhost vs uvicorn vs Granian (2 workers each)",
        "",
        f"- machine: {machine_description()}",
        f"- {arguments.idle} idle WebSockets, then {arguments.connections} echo loops for "
        f"{arguments.duration:g} s; the client shares the CPUs with the server",
        *(
            f"- {s.name}: {first_output_line(s.version_command, s.cwd)}"
            for s in servers
            if s.version_command
        ),
        "",
        "| server | RSS MiB per 1,000 idle WebSockets | echo messages/s | p99 ms | problem |",
        "|---|---:|---:|---:|---|",
    ]
    for server in servers:
        report.append(measure(server, arguments.idle, arguments.connections, arguments.duration))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
