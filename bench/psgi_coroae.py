"""I/O-bound PSGI (each request waits 20 ms): polyhost --coroae N vs polyhost --threads N vs
real uWSGI's psgi plugin with --threads N (Debian ships no coroae plugin for uWSGI).

1 worker each, wrk -c 64 keep-alive off; rounds alternate the servers, the medians and their
ratios are printed, with the RSS of each server's processes (perl children included).
`.venv/bin/python bench/psgi_coroae.py [--rounds 3] [--duration 5] [--cores 32]`
"""

import argparse
import signal
import statistics
import subprocess

from harness import (
    REPO,
    free_port,
    live_session_members,
    rss_kib,
    run_wrk,
    stop_process_group,
    wait_until_serving,
)

APP = "bench/apps/wait.psgi"


def commands(cores: int) -> dict[str, list[str]]:
    polyhost = [str(REPO / ".venv/bin/polyhost"), "--master", "--processes", "1"]
    polyhost += ["--psgi", APP, "--disable-logging"]
    return {
        "polyhost coroae": [*polyhost, "--coroae", str(cores)],
        "polyhost threads": [*polyhost, "--threads", str(cores)],
        "uWSGI threads": ["uwsgi", "--plugins", "psgi", "--master", "--processes", "1",
                          "--psgi", APP, "--threads", str(cores), "--disable-logging"],
    }  # fmt: skip


def measure(argv: list[str], duration: int) -> tuple[float, int]:
    """(req/s, RSS KiB of the server's session) for one round."""
    port = free_port()
    socket = ["--http-socket", f"127.0.0.1:{port}"]
    with open("/dev/null", "wb") as log:
        proc = subprocess.Popen([*argv, *socket], cwd=REPO, stdout=log, stderr=log,
                                start_new_session=True)  # fmt: skip
        try:
            wait_until_serving(proc, port, "/", 30, log)  # type: ignore[arg-type]
            wrk = ["wrk", "-t2", "-c64", "--latency", f"-d{duration}s", "-H", "Connection: close"]
            result, _ = run_wrk([*wrk, f"http://127.0.0.1:{port}/"], duration, port)
            rss = sum(rss_kib(pid) for pid in live_session_members(proc.pid))
        finally:
            stop_process_group(proc, signal.SIGINT)
    return result.requests_per_second, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--cores", type=int, default=32)
    args = parser.parse_args()
    servers = commands(args.cores)
    rates: dict[str, list[float]] = {name: [] for name in servers}
    rss: dict[str, list[int]] = {name: [] for name in servers}
    for round_no in range(args.rounds):
        for name, argv in servers.items():
            rate, kib = measure(argv, args.duration)
            rates[name].append(rate)
            rss[name].append(kib)
            print(f"round {round_no + 1} {name}: {rate:,.0f} req/s, {kib / 1024:.0f} MiB")
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name in servers:
        print(f"{name}: median {median[name]:,.0f} req/s, RSS {max(rss[name]) / 1024:.0f} MiB")
    for other in ("polyhost threads", "uWSGI threads"):
        print(f"polyhost coroae / {other} = {median['polyhost coroae'] / median[other]:.2f}")


if __name__ == "__main__":
    main()
