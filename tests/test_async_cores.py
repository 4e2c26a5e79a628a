"""Async cores for WSGI apps (--gevent, --async with greenlet/ugreen, --asyncio): one worker
serves many waiting requests at once. Every request reports when it started and when its wait
ended; all of them being in flight together (the last started before the first finished) is
what concurrency means, with no timing threshold."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import APPS, free_port, get, serving, split_response, wait_for

APP = str(APPS / "wsgi" / "async_waits.py")


def concurrent_gets(port: int, path: str, clients: int) -> list[tuple[float, float, int]]:
    def one(_: int) -> tuple[float, float, int]:
        status, _, body = split_response(get(port, path, timeout=60))
        assert status == 200, body
        began, ended, pid = body.split()
        return float(began), float(ended), int(pid)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(clients)))


def assert_all_in_flight_together(results: list[tuple[float, float, int]]) -> None:
    assert max(began for began, _, _ in results) < min(ended for _, ended, _ in results)
    assert len({pid for _, _, pid in results}) == 1  # one worker served them all


def stats_of(port: int) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        return json.loads(b"".join(iter(lambda: sock.recv(65536), b"")))


def test_gevent_100_sleeping_clients_on_one_worker(tmp_path: Path) -> None:
    stats = free_port()
    args = ["--wsgi-file", APP, "--gevent", "100", "--stats", f"127.0.0.1:{stats}"]
    with serving(tmp_path, args) as inst:
        assert_all_in_flight_together(concurrent_gets(inst.port, "/?gevent", 100))
        inst.wait_log("*** running gevent loop engine with 100 async cores ***")
        [worker] = stats_of(stats)["workers"]
        assert len(worker["cores"]) == 100 and worker["requests"] == 100
        assert sum(1 for core in worker["cores"] if core["requests"]) > 1  # per core


def test_gevent_monkey_patch_makes_time_sleep_cooperative(tmp_path: Path) -> None:
    args = ["--wsgi-file", APP, "--gevent", "20", "--gevent-monkey-patch"]
    with serving(tmp_path, args) as inst:
        assert_all_in_flight_together(concurrent_gets(inst.port, "/?sleep", 20))
        assert "gevent monkey patching done" in inst.log()


@pytest.mark.parametrize("engine", [["--async", "10", "--greenlet"], ["--async", "10", "--ugreen"]])
def test_async_suspend_engines(tmp_path: Path, engine: list[str]) -> None:
    with serving(tmp_path, ["--wsgi-file", APP, *engine]) as inst:
        assert_all_in_flight_together(concurrent_gets(inst.port, "/?suspend", 10))
        assert_all_in_flight_together(concurrent_gets(inst.port, "/?fd", 10))
        assert "Operational MODE: async" in inst.log()


def test_asyncio_loop_engine(tmp_path: Path) -> None:
    with serving(tmp_path, ["--wsgi-file", APP, "--asyncio", "10"]) as inst:
        assert_all_in_flight_together(concurrent_gets(inst.port, "/?asyncio", 10))
        assert_all_in_flight_together(concurrent_gets(inst.port, "/?suspend", 10))


def test_harakiri_on_an_async_core(tmp_path: Path) -> None:
    args = ["--wsgi-file", APP, "--async", "4", "--greenlet", "--harakiri", "2"]
    with serving(tmp_path, args) as inst:
        first = inst.worker_pids()
        status, _, _ = split_response(get(inst.port, "/?block", timeout=30))
        assert status == 504
        inst.wait_log("HARAKIRI ON WORKER 1", timeout=20)
        wait_for(lambda: inst.worker_pids() and inst.worker_pids() != first, 30, "respawn")
        assert split_response(get(inst.port, "/?suspend", timeout=30))[0] == 200


def test_uwsgi_suspend_outside_async_cores_just_waits(tmp_path: Path) -> None:
    with serving(tmp_path, ["--wsgi-file", APP, "--threads", "2"]) as inst:
        assert split_response(get(inst.port, "/?suspend", timeout=30))[0] == 200
        assert split_response(get(inst.port, "/?fd", timeout=30))[0] == 200
