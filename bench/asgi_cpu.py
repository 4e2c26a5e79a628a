"""CPU time per request: polyhost vs uvicorn vs Granian on hello-world ASGI (bench/asgi_hello.py's
servers), keep-alive. On a machine shared with other work req/s moves with the neighbours; the
CPU seconds the server's processes spend per request move much less, so this is the number to
compare there. wrk's own CPU is not counted. With `--rounds N` the servers take turns N times
(the order rotating each round) and the medians and their ratios to polyhost are printed. The
user and system parts are shown apart: the system part (the sockets' syscalls) is about the
same for every server, the user part is the server's own code.
"""

from __future__ import annotations

import argparse
import statistics
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


def session_cpu_seconds(leader: int) -> tuple[float, float]:
    """(utime, stime) of every thread of every process of the session."""
    user = system = 0
    for pid in live_session_members(leader):
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                fields = (task / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            user += int(fields[11])
            system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def measure(server: Server, options: LoadOptions) -> tuple[float, float, float] | str:
    """(req/s, server user and system CPU µs per request), or the problem that stopped it."""
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
            after = session_cpu_seconds(process.pid)
        except (ServerProblem, WrkProblem) as problem:
            return str(problem).splitlines()[0]
        finally:
            stop_process_group(process, server.stop_signal)
    per_request = 1e6 / (result.requests_per_second * options.duration_s)
    user, system = ((a - b) * per_request for a, b in zip(after, before, strict=True))
    return result.requests_per_second, user, system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds of measured load")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c")
    parser.add_argument("--only", action="append", help="run only this server (repeatable)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (median)")
    arguments = parser.parse_args()
    options = LoadOptions(arguments.duration, 2, arguments.connections, 2)
    servers = [s for s in SERVERS if not arguments.only or s.name in arguments.only]
    samples: dict[str, list[tuple[float, float, float]]] = {s.name: [] for s in servers}
    problems: dict[str, str] = {}
    for round_number in range(arguments.rounds):
        shift = round_number % len(servers)
        for server in servers[shift:] + servers[:shift]:
            outcome = measure(server, options)
            if isinstance(outcome, str):
                problems[server.name] = outcome
            else:
                samples[server.name].append(outcome)
                rate, user, system = outcome
                progress(f"{server.name}: {rate:,.0f} req/s, {user:.1f} + {system:.1f} µs/request")
    report = [
        "# CPU per request, hello-world ASGI, keep-alive (2 workers each)",
        "",
        f"- machine: {machine_description()}",
        f"- `wrk -t2 -c{arguments.connections} -d{arguments.duration}s` after a 2 s warm-up,"
        f" {arguments.rounds} alternating rounds, medians",
        "",
        "| server | req/s | server CPU µs per request (user + system) | polyhost / it req/s"
        " | runs µs (user + system) | problem |",
        "|---|---:|---:|---:|---|---|",
    ]
    medians = {
        name: tuple(statistics.median(run[i] for run in runs) for i in range(3))
        for name, runs in samples.items()
        if runs
    }
    ours = medians.get("polyhost")
    for server in servers:
        name = server.name
        if name not in medians:
            report.append(f"| {name} | - | - | - | - | {problems.get(name, '')} |")
            continue
        rate, user, system = medians[name]
        ratio = f"{ours[0] / rate:.2f}" if ours else "-"
        runs = " / ".join(f"{u:.1f} + {s:.1f}" for _, u, s in samples[name])
        report.append(f"| {name} | {rate:,.0f} | {user:.1f} + {system:.1f} | {ratio} | {runs} | |")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
