"""Fuzzed input never kills a worker (issue 13): mutated uwsgi packets, FastCGI records and
HTTP heads at the three socket types of one instance; the workers answer or close, none
crashes, none leaks a file descriptor, the master stays up. Bounded and seeded: the seed is in
the failure message (POLYHOST_FUZZ_SEED=N reruns it)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from conftest import APPS, free_port, get, serving, split_response, wait_for
from fuzz_support import HTTP_SEEDS, fastcgi_seeds, open_fds, throw, uwsgi_seeds

COUNT = int(os.environ.get("POLYHOST_FUZZ_COUNT", "600"))


def test_fuzzed_input_never_kills_a_worker(tmp_path: Path) -> None:
    seed = int(os.environ.get("POLYHOST_FUZZ_SEED", random.randrange(1 << 30)))
    fcgi = free_port()
    args = [
        "--wsgi-file", str(APPS / "wsgi" / "basic.py"),
        "--processes", "2",
        "--fastcgi-socket", f"127.0.0.1:{fcgi}",
        "--cache2", "name=default,items=100",
        "--socket-timeout", "2",
        "--disable-logging",
    ]  # fmt: skip
    with serving(tmp_path, args, uwsgi_socket=True) as inst:
        assert inst.uwsgi_port is not None
        workers = sorted(inst.worker_pids())
        for _ in range(4):  # warm every worker's lazy state before counting fds
            split_response(get(inst.port, "/"))
        fds = {pid: open_fds(pid) for pid in workers}
        targets = {
            "http": (inst.port, HTTP_SEEDS),
            "uwsgi": (inst.uwsgi_port, uwsgi_seeds()),
            "fastcgi": (fcgi, fastcgi_seeds()),
        }
        counts = throw(seed, COUNT, targets, stopped=lambda: inst.proc.poll() is not None)
        message = f"seed {seed} ({counts}); log:\n{inst.log()[-3000:]}"
        assert inst.proc.poll() is None, message
        assert sorted(inst.worker_pids()) == workers, "a worker died: " + message
        assert counts.sent == COUNT and counts.answered + counts.closed + counts.timeouts == COUNT
        # (an app reading a body cut short sees an error and logs it: that is expected)
        assert "crashed:" not in inst.log(), message
        # every connection is closed on the worker side: fd counts come back
        wait_for(
            lambda: all(open_fds(pid) <= fds[pid] for pid in workers),
            10,
            f"worker fds back to {fds} (now {[open_fds(p) for p in workers]}), {message}",
        )
        assert split_response(get(inst.port, "/"))[0] == 200
