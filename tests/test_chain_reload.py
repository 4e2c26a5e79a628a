"""Chain reload: workers replaced one at a time under load, a broken app stops the chain."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from conftest import free_port, get, split_response, wait_for

APP = """
VERSION = {version!r}


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
"""


def read_stats(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data)


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
    failures: list[str] = []
    bodies: set[bytes] = set()
    accepting_seen: list[int] = []
    stop = threading.Event()

    def client() -> None:
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                status, _, body = split_response(get(port, "/", timeout=20))
                bodies.add(body)
                if status != 200:
                    failures.append(f"status {status}")
            except Exception as exc:  # a refused or reset connection is a failure
                failures.append(repr(exc))

    def sampler() -> None:
        while not stop.is_set():
            workers = read_stats(stats_port)["workers"]
            accepting_seen.append(sum(w["accepting"] for w in workers))
            time.sleep(0.02)

    threads = [threading.Thread(target=client) for _ in range(4)]
    threads.append(threading.Thread(target=sampler))
    for thread in threads:
        thread.start()
    try:
        old = set(inst.worker_pids())
        write_app(app, "v2")
        with open(fifo, "w") as pipe:
            pipe.write("c")
        inst.wait_log("chain reloading complete", 60)
        assert not set(inst.worker_pids()) & old
        assert "chain next victim is worker 3" in inst.log()
        wait_for(lambda: b"v2" in bodies, 10, "the new code serving")
        # a broken app: the first replacement fails, the chain stops, the old workers serve
        app.write_text("raise RuntimeError('broken deploy')\n")
        os.utime(touch, (time.time() + 5, time.time() + 5))
        inst.wait_log("chain reload stopped: worker 1 could not load the app", 30)
        bodies.clear()
        wait_for(lambda: bodies, 10, "requests after the failed chain")
        assert bodies == {b"v2"}
        assert inst.proc.poll() is None
        assert "broken deploy" in inst.log()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == [], failures[:5]
    assert min(accepting_seen) >= 2, accepting_seen
    # fixed: the chain runs again, the missing worker first
    write_app(app, "v3")
    with open(fifo, "w") as pipe:
        pipe.write("c")
    wait_for(lambda: inst.log().count("chain reloading complete") == 2, 60, "the second chain")
    wait_for(lambda: get(port, "/").endswith(b"v3"), 10, "v3 serving")
    assert len(inst.worker_pids()) == 3
