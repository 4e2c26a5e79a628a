"""The long fuzz run (issue 13): mutated uwsgi packets, FastCGI records and HTTP heads thrown at
one polyhost instance's three socket types, then the counts the issue asks for: inputs sent,
worker crashes, file descriptors leaked, master alive. The short version runs in CI
(tests/test_fuzz.py); this one is for bench/RESULTS.md.

    .venv/bin/python bench/fuzz_run.py [--count N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from harness import REPO, free_port, polyhost_argv, stop_process_group

sys.path.insert(0, str(REPO / "tests"))
from fuzz_support import HTTP_SEEDS, fastcgi_seeds, open_fds, throw, uwsgi_seeds


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    args = parser.parse_args()
    port, uwsgi, fcgi = free_port(), free_port(), free_port()
    argv = polyhost_argv(
        port, "--wsgi-file", str(REPO / "tests/apps/wsgi/basic.py"),
        "--socket", f"127.0.0.1:{uwsgi}", "--fastcgi-socket", f"127.0.0.1:{fcgi}",
        "--cache2", "name=default,items=100", "--socket-timeout", "2",
    )  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("polyhost did not start") from None
                time.sleep(0.1)
        workers = sorted(children(proc.pid))
        fds = {pid: open_fds(pid) for pid in workers}
        targets = {
            "http": (port, HTTP_SEEDS),
            "uwsgi": (uwsgi, uwsgi_seeds()),
            "fastcgi": (fcgi, fastcgi_seeds()),
        }
        started = time.monotonic()
        counts = throw(args.seed, args.count, targets, stopped=lambda: proc.poll() is not None)
        elapsed = time.monotonic() - started
        time.sleep(1)  # connections the workers still hold are closed by socket-timeout
        alive = proc.poll() is None
        now = sorted(children(proc.pid)) if alive else []
        crashed = len(set(workers) - set(now))
        leaked = sum(max(0, open_fds(pid) - fds[pid]) for pid in workers if pid in now)
        print(f"# Fuzz run: seed {args.seed}, {counts.sent:,} inputs in {elapsed:.0f} s\n")
        print("| socket | inputs |\n|---|---:|")
        for kind, sent in sorted(counts.by_kind.items()):
            print(f"| {kind} | {sent:,} |")
        print(
            f"\nanswered {counts.answered:,}, closed without answer {counts.closed:,}, "
            f"timeouts {counts.timeouts:,}; worker crashes: {crashed}; fds leaked: {leaked}; "
            f"master alive: {alive}"
        )
    finally:
        stop_process_group(proc, __import__("signal").SIGINT)


if __name__ == "__main__":
    main()
