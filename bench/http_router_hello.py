"""The `--http` router: polyhost's (asyncio) vs real uWSGI 2.0's (C http plugin), 2 workers each.

Hello-world WSGI and PSGI (`--http-modifier1 5`) through each router, wrk with keep-alive
(`--http-keepalive` on both) and with `Connection: close`: req/s, p99, RSS (the workers column
includes the router process). Then the p99 of one client doing sequential keep-alive requests
while 1,000 idle connections (an unfinished head each) are open on the router. Targets of
issue 11: >= 1.0x uWSGI's router on req/s in both modes, < 10 ms p99 with the idle
connections. `--router-cpu N` instead runs N alternating rounds of wrk (keep-alive, WSGI) on
each server and prints the router process's own CPU time per request (utime+stime from /proc,
the steadier number on a loaded machine), the medians and their ratio;
`--router-cpu-baseline CHECKOUT` compares against another checkout's polyhost (its .venv)
instead of uWSGI, for a before/after. Run `python
bench/http_router_hello.py -h` (`--idle-only` skips wrk); the machinery is in bench/harness.py.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import (
    KEEP_ALIVE,
    NO_KEEP_ALIVE,
    REPO,
    Comparison,
    Metric,
    Ratio,
    Server,
    free_port,
    in_both_modes,
    live_session_members,
    parse_wrk_output,
    run_comparison,
    stop_process_group,
    wait_until_serving,
)

WSGI_FILE = "bench/apps/hello_wsgi.py"
PSGI_FILE = "bench/apps/hello.psgi"
IDLE_CONNECTIONS = 1000
IDLE_SAMPLES = 2000


def polyhost(*app: str, root: Path = REPO) -> Callable[[int, str], list[str]]:
    def command(port: int, mode_name: str) -> list[str]:
        keep = ["--http-keepalive"] if mode_name == KEEP_ALIVE.name else []
        return [
            str(root / ".venv/bin/polyhost"), "--http", f"127.0.0.1:{port}", *keep,
            "--master", "--processes", "2", *app, "--disable-logging",
        ]  # fmt: skip

    return command


def uwsgi(plugins: str, *app: str) -> Callable[[int, str], list[str]]:
    def command(port: int, mode_name: str) -> list[str]:
        keep = ["--http-keepalive"] if mode_name == KEEP_ALIVE.name else []
        return [
            "uwsgi", "--plugins", plugins, "--http", f"127.0.0.1:{port}", *keep,
            "--master", "--processes", "2", *app, "--disable-logging",
        ]  # fmt: skip

    return command


PSGI_APP = ("--http-modifier1", "5", "--psgi", PSGI_FILE)
SERVERS = [
    Server("polyhost WSGI", polyhost("--wsgi-file", WSGI_FILE),
           version_command=(str(REPO / ".venv/bin/polyhost"), "--version")),
    Server("uWSGI WSGI", uwsgi("http,python3", "--wsgi-file", WSGI_FILE),
           version_command=("uwsgi", "--version")),
    Server("polyhost PSGI", polyhost(*PSGI_APP)),
    Server("uWSGI PSGI", uwsgi("http,psgi", *PSGI_APP),
           note="needs Debian's uwsgi-plugin-psgi (scripts/apt-packages-router.txt)"),
]  # fmt: skip

COMPARISON = Comparison(
    title="The --http router: polyhost vs uWSGI 2.0 (2 workers each, keep-alive on both)",
    servers=SERVERS,
    modes=[KEEP_ALIVE, NO_KEEP_ALIVE],
    ratios=[
        Ratio("polyhost WSGI", "uWSGI WSGI", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
        Ratio("polyhost WSGI", "uWSGI WSGI", Metric.P99_LATENCY, in_both_modes(1.0)),
        Ratio("polyhost PSGI", "uWSGI PSGI", Metric.REQUESTS_PER_SECOND, in_both_modes(1.0)),
    ],
)


def idle_p99(server: Server) -> str:
    """p99 (ms) of sequential keep-alive GETs while IDLE_CONNECTIONS idle ones are open."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            server.command(port, KEEP_ALIVE.name), cwd=server.cwd, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        idle: list[socket.socket] = []
        try:
            wait_until_serving(process, port, "/", server.start_timeout_s, log)
            for _ in range(IDLE_CONNECTIONS):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(b"GET / HTTP/1.1\r\n")  # a head that never ends
                idle.append(sock)
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            idle.append(client)
            samples = []
            for _ in range(IDLE_SAMPLES):
                started = time.perf_counter()
                client.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
                answer = b""
                while not answer.endswith(b"Hello World"):
                    chunk = client.recv(65536)
                    if not chunk:
                        return "the connection was closed (no keep-alive)"
                    answer += chunk
                samples.append((time.perf_counter() - started) * 1000)
            p99 = statistics.quantiles(samples, n=100)[98]
            return f"p99 {p99:.2f} ms, median {statistics.median(samples):.2f} ms"
        except Exception as error:
            return f"failed: {error!r}"
        finally:
            for sock in idle:
                sock.close()
            stop_process_group(process, server.stop_signal)


def _router_pid(master: int, port: int) -> int:
    """The router process of a server: the one besides its master holding the LISTEN socket
    of `port` (the workers of both servers close it)."""
    wanted = f"0100007F:{port:04X}"
    inodes = {
        line.split()[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[1] == wanted and line.split()[3] == "0A"
    }
    holders = []
    for pid in live_session_members(master):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if pid != master and any(f"socket:[{inode}]" in links for inode in inodes):
            holders.append(pid)
    if len(holders) != 1:
        raise RuntimeError(f"expected one router process on port {port}, found {holders}")
    return holders[0]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def router_cpu_us(server: Server, duration: int) -> float:
    """The router's CPU µs per request under `wrk -t2 -c50` keep-alive (after a 1 s warm-up)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            server.command(port, KEEP_ALIVE.name), cwd=server.cwd, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            wait_until_serving(process, port, "/", server.start_timeout_s, log)
            router = _router_pid(process.pid, port)
            subprocess.run(["wrk", "-t2", "-c50", "-d1s", url], capture_output=True, check=True)
            before = _cpu_seconds(router)
            done = subprocess.run(["wrk", "-t2", "-c50", "--latency", f"-d{duration}s", url],
                                  capture_output=True, check=True, text=True)  # fmt: skip
            spent = _cpu_seconds(router) - before
            requests = parse_wrk_output(done.stdout).requests_per_second * duration
            return spent / requests * 1e6
        finally:
            stop_process_group(process, server.stop_signal)


def router_cpu(rounds: int, duration: int, baseline: str = "") -> None:
    """Alternating rounds of router_cpu_us: this checkout's polyhost against uWSGI, or against
    the polyhost of the `baseline` checkout (its own .venv) for a before/after."""
    ours = SERVERS[0]
    before = polyhost("--wsgi-file", WSGI_FILE, root=Path(baseline))
    theirs = Server(f"polyhost WSGI ({baseline})", before) if baseline else SERVERS[1]
    samples: dict[str, list[float]] = {ours.name: [], theirs.name: []}
    for number in range(rounds):
        for server in (ours, theirs) if number % 2 == 0 else (theirs, ours):
            samples[server.name].append(router_cpu_us(server, duration))
    print("| router | CPU µs per request, each round | median |\n|---|---|---:|")
    for name, values in samples.items():
        each = " / ".join(f"{v:.1f}" for v in values)
        print(f"| {name} | {each} | {statistics.median(values):.1f} |")
    ratio = statistics.median(samples[ours.name]) / statistics.median(samples[theirs.name])
    print(f"\n{ours.name} / {theirs.name} router CPU per request: {ratio:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--idle-only", action="store_true")
    parser.add_argument("--router-cpu", type=int, default=0, metavar="ROUNDS")
    parser.add_argument("--router-cpu-duration", type=int, default=4, metavar="SECONDS")
    parser.add_argument("--router-cpu-baseline", default="", metavar="CHECKOUT")
    known, rest = parser.parse_known_args()
    if known.router_cpu:
        router_cpu(known.router_cpu, known.router_cpu_duration, known.router_cpu_baseline)
        return 0
    if not known.idle_only:
        run_comparison(COMPARISON, rest)
    print(f"\n## one client's keep-alive requests with {IDLE_CONNECTIONS} idle connections open\n")
    print("| server | latency |\n|---|---|")
    for server in SERVERS[:2]:
        print(f"| {server.name} | {idle_p99(server)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
