"""CPU time per request: polyhost vs uvicorn vs Granian on hello-world ASGI (bench/asgi_hello.py's
servers), keep-alive. On a machine shared with other work req/s moves with the neighbours; the
CPU seconds the server's processes spend per request move much less, so this is the number to
compare there. wrk's own CPU is not counted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from asgi_hello import SERVERS
from harness import (
    KEEP_ALIVE,
    LOOPBACK,
    LoadOptions,
    Server,
    ServerProblem,
    WrkProblem,
    display_command,
    free_port,
    live_session_members,
    machine_description,
    progress,
    run_wrk,
    stop_process_group,
    wait_until_serving,
)

CLOCK_TICKS = 100  # USER_HZ on Linux


def session_cpu_seconds(leader: int) -> float:
    """utime + stime of every thread of every process of the session."""
    ticks = 0
    for pid in live_session_members(leader):
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                fields = (task / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def measure(server: Server, options: LoadOptions) -> str:
    port = free_port()
    argv = server.command(port, KEEP_ALIVE.name)
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
            url = f"http://{LOOPBACK}:{port}/"
            run_wrk(options.wrk_argv(options.warmup_s, KEEP_ALIVE, url), options.warmup_s, port)
            before = session_cpu_seconds(process.pid)
            result, _ = run_wrk(
                options.wrk_argv(options.duration_s, KEEP_ALIVE, url), options.duration_s, port
            )
            cpu = session_cpu_seconds(process.pid) - before
        except (ServerProblem, WrkProblem) as problem:
            return f"| {server.name} | - | - | {str(problem).splitlines()[0]} |"
        finally:
            stop_process_group(process, server.stop_signal)
    requests = result.requests_per_second * options.duration_s
    return f"| {server.name} | {result.requests_per_second:,.0f} | {cpu * 1e6 / requests:.1f} | |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds of measured load")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c")
    parser.add_argument("--only", action="append", help="run only this server (repeatable)")
    arguments = parser.parse_args()
    options = LoadOptions(arguments.duration, 2, arguments.connections, 2)
    servers = [s for s in SERVERS if not arguments.only or s.name in arguments.only]
    report = [
        "# CPU per request, hello-world ASGI, keep-alive (2 workers each)",
        "",
        f"- machine: {machine_description()}",
        f"- `wrk -t2 -c{arguments.connections} -d{arguments.duration}s` after a 2 s warm-up",
        "",
        "| server | req/s | server CPU µs per request | problem |",
        "|---|---:|---:|---|",
    ]
    report += [measure(server, options) for server in servers]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
