"""CPU per request of hello-world WSGI, alternating main's host/ with a commit's, and Granian.

`python bench/wsgi_cpu_ab.py ROUNDS close|keep-alive [REV]` (REV: HEAD). Each round starts
polyhost with main's host/ checked out, then with REV's, then Granian (2 workers each), runs
`wrk -t1 -c32` for 5 s after a 1 s warm-up and prints the server's CPU (utime + stime of its
process tree, from /proc) per request: a measure that moves less than req/s on a loaded machine.
The work tree must be clean; host/ is restored to HEAD at the end.
"""

from __future__ import annotations

import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import cpu_seconds, free_port

REPO = Path(__file__).resolve().parent.parent


def tree(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    kids: dict[int, list[int]] = {}
    for line in out.splitlines():
        if line.strip():
            child, parent = map(int, line.split())
            kids.setdefault(parent, []).append(child)
    todo, seen = [pid], []
    while todo:
        current = todo.pop()
        seen.append(current)
        todo += kids.get(current, [])
    return seen


def command(server: str, port: int) -> tuple[list[str], Path]:
    if server == "granian":
        return [
            str(REPO / ".venv/bin/granian"), "--interface", "wsgi", "--host", "127.0.0.1",
            "--port", str(port), "--workers", "2", "--no-access-log", "--log-level", "warning",
            "hello_wsgi:application",
        ], REPO / "bench" / "apps"  # fmt: skip
    return [
        str(REPO / ".venv/bin/polyhost"), "--http-socket", f"127.0.0.1:{port}", "--master",
        "--processes", "2", "--wsgi-file", "bench/apps/hello_wsgi.py", "--disable-logging",
    ], REPO  # fmt: skip


def measure(server: str, close: bool, seconds: int = 5) -> tuple[float, float]:
    """(CPU us per request, req/s) of one server under wrk."""
    port = free_port()
    argv, cwd = command(server, port)
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        header = ["-H", "Connection: close"] if close else []
        url = f"http://127.0.0.1:{port}/"
        subprocess.run(["wrk", "-t1", "-c32", "-d1s", *header, url], capture_output=True)
        pids = tree(proc.pid)
        before = cpu_seconds(pids)
        out = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{seconds}s", *header, url], capture_output=True, text=True
        ).stdout
        used = cpu_seconds(pids) - before
        found = re.search(r"(\d+) requests in", out)
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if found is None or rate is None:
            raise RuntimeError(f"wrk printed no totals:\n{out}")
        return used / int(found.group(1)) * 1e6, float(rate.group(1))
    finally:
        proc.terminate()
        proc.wait(20)


def checkout(rev: str) -> None:
    """host/ as it is at `rev` (the server started next imports it)."""
    subprocess.run(["git", "checkout", "-q", rev, "--", "host"], cwd=REPO, check=True)


def main() -> None:
    rounds, mode = int(sys.argv[1]), sys.argv[2]
    rev = sys.argv[3] if len(sys.argv) > 3 else "HEAD"
    status = subprocess.run(["git", "status", "--short"], cwd=REPO, capture_output=True, text=True)
    if status.stdout.strip():
        sys.exit("wsgi_cpu_ab.py: the work tree is not clean (it checks out host/ per round)")
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        for number in range(1, rounds + 1):
            for code in ("main", rev, "granian"):
                if code != "granian":
                    checkout(code)
                load = Path("/proc/loadavg").read_text().split()[0]
                server = "granian" if code == "granian" else "polyhost"
                us, rps = measure(server, mode == "close")
                results.setdefault(code, []).append((us, rps))
                print(f"round {number} {code:8s} load {load:>5s} {us:7.1f} us/req {rps:9.0f} req/s")
    finally:
        checkout("HEAD")
    medians = {code: statistics.median(us for us, _ in runs) for code, runs in results.items()}
    for code in results:
        print(f"median {code:8s} {medians[code]:7.1f} us/req")
    print(f"CPU per request {rev}/main = {medians[rev] / medians['main']:.2f}")
    print(f"granian/{rev} CPU per request = {medians['granian'] / medians[rev]:.2f}")


if __name__ == "__main__":
    main()
