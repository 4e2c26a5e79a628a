"""The `--http` router as a supervised process: auto-bound uwsgi socket, respawn after kill -9,
kept through a reload (the same pid serves on), shown in the stats JSON, stopped last."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, free_port, get, split_response, wait_for

BASIC = str(APPS / "wsgi" / "basic.py")


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    port, stats_port = free_port(), free_port()
    inst = Instance(
        [
            "--http",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--stats",
            f"127.0.0.1:{stats_port}",
            "--auto-procname",
        ],
        tmp_path_factory.mktemp("router"),
        port,
        None,
    )
    inst.stats_port = stats_port  # type: ignore[attr-defined]
    try:
        inst.wait_ready()
        yield inst
    finally:
        assert inst.stop() == 0


def stats(inst: Instance) -> dict:
    with socket.create_connection(("127.0.0.1", inst.stats_port), timeout=5) as sock:  # type: ignore[attr-defined]
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data)


def router_pid(inst: Instance) -> int:
    return int(stats(inst)["routers"][0]["pid"])


def test_quickstart_answers_and_logs_both_sockets(router: Instance) -> None:
    status, _, body = split_response(get(router.port, "/"))
    assert (status, body) == (200, b"Hello World")
    log = router.log()
    assert f"uWSGI http bound on 127.0.0.1:{router.port}" in log
    assert "uwsgi socket 0 bound to TCP address 127.0.0.1:" in log
    assert "(port auto-assigned)" in log
    assert "spawned polyhost http 1 (pid: " in log


def test_router_in_stats_and_process_title(router: Instance) -> None:
    doc = stats(router)
    [entry] = doc["routers"]
    assert entry["name"] == "http 1"
    assert entry["sockets"] == [f"127.0.0.1:{router.port}"]
    title = Path(f"/proc/{entry['pid']}/cmdline").read_bytes()
    assert b"polyhost http 1" in title


def test_router_killed_is_respawned(router: Instance) -> None:
    before = router_pid(router)
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: router_pid(router) not in (before, 0), 15, "a new router process")
    assert "DAMN ! http 1 (pid: " in router.log()
    status, _, _ = split_response(wait_for(lambda: _try_get(router.port), 15, "router answers"))
    assert status == 200


def test_router_kept_through_master_reload(router: Instance) -> None:
    before = router_pid(router)
    old_workers = set(router.worker_pids()) - {before}
    router.signal(signal.SIGHUP)
    router.wait_log(f"kept running through the reload (pid: {before})")
    wait_for(lambda: set(router.worker_pids()) - {before} - old_workers, 20, "new workers")
    assert router_pid(router) == before
    status, _, body = split_response(get(router.port, "/"))
    assert (status, body) == (200, b"Hello World")


def test_router_stops_last_and_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    inst = Instance(["--http", f"127.0.0.1:{port}", "--wsgi-file", BASIC], tmp_path, port, None)
    inst.wait_ready()
    pids = inst.worker_pids()
    assert len(pids) == 2  # the router and worker 1
    assert inst.stop() == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    log = inst.log()
    assert log.index("worker 1") < log.rindex("goodbye")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


def _try_get(port: int) -> bytes:
    try:
        return get(port, "/", timeout=2)
    except OSError:
        return b""
