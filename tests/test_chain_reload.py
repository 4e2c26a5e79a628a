"""Chain reload: workers replaced one at a time under load, a broken app stops the chain."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from conftest import free_port, get, split_response, wait_for
from supervision_support import client_load, read_stats, send_fifo

APP = """
VERSION = {version!r}


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
"""


def accepting(stats_port: int) -> int:
    return sum(w["accepting"] for w in read_stats(stats_port)["workers"])


def write_app(path: Path, version: str) -> None:
    path.write_text(APP.format(version=version))


def test_chain_reload_under_load_keeps_n_minus_1_and_a_broken_app_stops_it(
    polyhost, tmp_path: Path
) -> None:
    app, fifo, touch = tmp_path / "app.py", tmp_path / "fifo", tmp_path / "chain.touch"
    write_app(app, "v1")
    touch.write_text("")
    port, stats_port = free_port(), free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "3",
            "--lazy-apps",
            "--wsgi-file",
            str(app),
            "--master-fifo",
            str(fifo),
            "--touch-chain-reload",
            str(touch),
            "--stats",
            f"127.0.0.1:{stats_port}",
            "--disable-logging",
        ],
        port=port,
    )
    wait_for(lambda: accepting(stats_port) == 3, 30, "the 3 workers accepting")
    bodies: set[bytes] = set()
    accepting_seen: list[int] = []
    stop = threading.Event()

    def check(raw: bytes) -> str:
        status, _, body = split_response(raw)
        bodies.add(body)
        return "" if status == 200 else f"status {status}"

    def sampler() -> None:
        while not stop.is_set():
            accepting_seen.append(accepting(stats_port))
            time.sleep(0.02)

    watcher = threading.Thread(target=sampler, daemon=True)
    with client_load(port, 4, check=check) as failures:
        watcher.start()
        try:
            old = set(inst.worker_pids())
            write_app(app, "v2")
            send_fifo(fifo, "c")
            inst.wait_log("chain reloading complete", 60)
            assert not set(inst.worker_pids()) & old
            assert "chain next victim is worker 3" in inst.log()
            wait_for(lambda: b"v2" in bodies, 30, "the new code serving")
            # a broken app: the first replacement fails, the chain stops, the old workers serve
            app.write_text("raise RuntimeError('broken deploy')\n")
            os.utime(touch, (time.time() + 5, time.time() + 5))
            inst.wait_log("chain reload stopped: worker 1 could not load the app", 30)
            bodies.clear()
            wait_for(lambda: bodies, 30, "requests after the failed chain")
            assert bodies == {b"v2"}
            assert inst.proc.poll() is None
            assert "broken deploy" in inst.log()
        finally:
            stop.set()
            watcher.join(30)
    assert failures == [], failures[:5]
    assert min(accepting_seen) >= 2, accepting_seen
    # fixed: the chain runs again, the missing worker first
    write_app(app, "v3")
    send_fifo(fifo, "c")
    wait_for(lambda: inst.log().count("chain reloading complete") == 2, 60, "the second chain")
    wait_for(lambda: get(port, "/").endswith(b"v3"), 30, "v3 serving")
    assert len(inst.worker_pids()) == 3
