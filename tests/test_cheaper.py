"""Cheaper: each algorithm spawns workers under a bounded load and retires them when idle."""

from __future__ import annotations

import socket
import threading

import pytest

from polyhost.cheaper import Busyness, WorkerView, algorithm_for, settings_from_config
from polyhost.config import load_config
from polyhost.listen_queue import queue_of

from conftest import APPS, free_port, get, wait_for
from supervision_support import client_load, send_fifo, start_cheaper, statuses

BASIC = str(APPS / "wsgi" / "basic.py")


@pytest.mark.parametrize(
    ("algo", "options", "clients"),
    [
        ("spare", [], 3),
        ("spare2", ["--cheaper-idle", "1"], 3),
        ("backlog", ["--listen", "64"], 6),
        (
            "busyness",
            ["--cheaper-busyness-multiplier", "1", "--cheaper-busyness-verbose"],
            3,
        ),
    ],
)
def test_cheaper_spawns_under_load_and_retires_when_idle(polyhost, algo, options, clients) -> None:
    inst, port, stats_port = start_cheaper(polyhost, "--cheaper-algo", algo, *options)
    assert statuses(stats_port) == ["idle", "cheap", "cheap"]
    assert inst.log().count("spawned polyhost worker") == 1
    with client_load(port, clients, "/sleep?0.3", seconds=40) as failures:
        wait_for(
            lambda: inst.log().count("spawned polyhost worker") >= 2, 20, f"{algo}: a new worker"
        )
        wait_for(
            lambda: statuses(stats_port).count("cheap") < 2, 30, f"{algo}: the extra worker serving"
        )
    assert failures == []
    wait_for(lambda: "cheaped." in inst.log(), 30, f"{algo}: an idle worker retired")
    wait_for(lambda: statuses(stats_port).count("cheap") == 2, 30, f"{algo}: back to cheaper = 1")
    assert get(port, "/").startswith(b"HTTP/1.1 200")


def test_fifo_plus_minus_and_cheap_mode_finish_requests(polyhost, tmp_path) -> None:
    fifo = tmp_path / "fifo"
    inst, port, stats_port = start_cheaper(
        polyhost, "--master-fifo", str(fifo), "--cheaper-algo", "spare2", "--cheaper-idle", "60"
    )
    send_fifo(fifo, "+")
    wait_for(lambda: statuses(stats_port).count("cheap") == 1, 30, "+ to spawn a worker")
    send_fifo(fifo, "-")
    wait_for(lambda: statuses(stats_port).count("cheap") == 2, 30, "- to retire a worker")
    # C (cheap mode) retires every worker, the busy one after its request
    result: list[bytes] = []
    slow = threading.Thread(
        target=lambda: result.append(get(port, "/sleep?1", timeout=30)), daemon=True
    )
    slow.start()
    wait_for(lambda: "busy" in statuses(stats_port), 30, "the slow request")
    send_fifo(fifo, "C")
    inst.wait_log("cheap mode enabled: waiting for socket connection...")
    slow.join(30)
    assert result and result[0].startswith(b"HTTP/1.1 200")
    wait_for(lambda: statuses(stats_port) == ["cheap"] * 3, 30, "every worker retired")
    # a connection wakes the instance up
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    assert statuses(stats_port).count("cheap") == 2


def test_idle_goes_cheap_and_die_on_idle_stops(polyhost) -> None:
    inst, port, stats_port = start_cheaper(polyhost, "--idle", "1")
    get(port, "/")
    inst.wait_log("workers have been inactive for more than 1 seconds")
    wait_for(lambda: statuses(stats_port) == ["cheap"] * 3, 30, "idle cheap mode")
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    port = free_port()
    dying = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC, "--idle=1", "--die-on-idle"],
        port=port,
    )
    assert dying.proc.wait(15) == 0
    assert "die-on-idle" in dying.log()


def test_cheaper_not_below_processes_is_a_startup_error(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--processes", "2", "--cheaper", "2"],
        port=port,
        ready=False,
    )
    assert inst.proc.wait(15) == 1
    assert "cheaper = 2 (command line) must be lower than processes/workers = 2" in inst.log()


def test_listen_queue_is_read_from_tcp_info() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        clients = [socket.create_connection(server.getsockname(), timeout=5) for _ in range(3)]
        try:
            wait_for(lambda: queue_of(server) == (3, 8), 5, "3 connections queued out of 8")
        finally:
            for client in clients:
                client.close()


@pytest.mark.parametrize(
    # spare2 brings back at most the missing idle workers (cheaper - idle), so cheaper 3 there
    ("algo", "cheaper", "backlog"),
    [("spare", 1, 0), ("spare2", 3, 0), ("backlog", 1, 5)],
)
@pytest.mark.parametrize("step", [1, 3])
def test_cheaper_step_is_how_many_one_decision_spawns(
    algo: str, cheaper: int, backlog: int, step: int
) -> None:
    """`cheaper-step N`: the workers one decision brings back when all are busy (at most the
    retired ones), as uWSGI's algorithms; read from the config as the master reads it. (busyness
    decides per window of the monotonic clock: its spawns are tested under real load above and
    in test_cheaper_limits.)"""
    args = ["--processes", "4", "--cheaper", str(cheaper), "--cheaper-overload", "1"]
    config = load_config([*args, "--cheaper-algo", algo, "--cheaper-step", str(step)], environ={})
    settings = settings_from_config(config, config.get("processes"))
    assert settings is not None and settings.step == step
    busy = WorkerView(1, active=True, cheaped=False, busy=True, last_spawn=0.0, running_time=0)
    retired = [
        WorkerView(n, active=False, cheaped=True, busy=False, last_spawn=0.0, running_time=0)
        for n in (2, 3, 4)
    ]
    decision = algorithm_for(config, settings).decide([busy, *retired], backlog, can_spawn=True)
    assert decision == step


def _busyness(*options: str) -> Busyness:
    args = ["--processes", "4", "--cheaper", "1", "--cheaper-algo", "busyness", *options]
    config = load_config(args, environ={})
    settings = settings_from_config(config, config.get("processes"))
    assert settings is not None
    algorithm = algorithm_for(config, settings)
    assert isinstance(algorithm, Busyness)
    return algorithm


def _view(number: int, active: bool, running_time: int = 0) -> WorkerView:
    return WorkerView(number, active, not active, False, 0.0, running_time)


def test_busyness_backlog_step_is_the_emergency_spawn() -> None:
    """`cheaper-busyness-backlog-step N`: a listen queue over the backlog alert, between two
    windows, brings back N workers at once (uWSGI's emergency workers)."""
    algorithm = _busyness(
        "--cheaper-overload", "30",
        "--cheaper-busyness-backlog-alert", "2",
        "--cheaper-busyness-backlog-step", "2",
    )  # fmt: skip
    workers = [_view(1, True), *(_view(n, False) for n in (2, 3, 4))]
    assert algorithm.decide(workers, 1, can_spawn=True) == 0  # under the alert
    assert algorithm.decide(workers, 5, can_spawn=True) == 2


def test_busyness_penalty_raises_the_multiplier_of_a_quick_respawn(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """`cheaper-busyness-penalty N`: a worker spawned again soon after one was cheaped adds N
    to the multiplier (the windows before the next cheap), as uWSGI logs it. The windows are
    made to have passed by moving the algorithm's last check back, not by waiting."""
    algorithm = _busyness(
        "--cheaper-overload", "1",
        "--cheaper-busyness-min", "25",
        "--cheaper-busyness-max", "50",
        "--cheaper-busyness-multiplier", "1",
        "--cheaper-busyness-penalty", "2",
    )  # fmt: skip
    idle = [_view(1, True), _view(2, True), _view(3, False), _view(4, False)]
    algorithm.decide(idle, 0, can_spawn=True)  # the first look at the counters
    algorithm.tcheck -= 1.5
    algorithm.next_cheap = 0.0
    assert algorithm.decide(idle, 0, can_spawn=True) == -1  # 0% busy: cheap one
    algorithm.tcheck -= 1.5
    busy = [_view(1, True, 1_500_000), _view(2, False), _view(3, False), _view(4, False)]
    assert algorithm.decide(busy, 0, can_spawn=True) == 1  # 100% busy: spawn one
    assert "increasing cheaper multiplier to 3 (+2)" in capfd.readouterr().err
