"""Cheaper's limits beside the algorithms: cheaper-rss-limit-soft/hard (total workers' RSS, in
bytes) and the busyness algorithm's listen-queue triggers (cheaper-busyness-backlog-*)."""

from __future__ import annotations

import pytest

from conftest import APPS, free_port, get, wait_for
from supervision_support import client_load, read_stats, start_cheaper, statuses

BASIC = str(APPS / "wsgi" / "basic.py")


def served(stats_port: int) -> int:
    return sum(w["requests"] for w in read_stats(stats_port)["workers"])


def test_rss_hard_limit_retires_and_soft_limit_stops_spawning(polyhost) -> None:
    # every worker is over a 1-byte soft and 2-byte hard limit: the hard one retires workers
    # down to one (never the last), the soft one keeps the algorithm from spawning under load
    inst, port, stats_port = start_cheaper(
        polyhost,
        "--cheaper-initial",
        "3",
        "--cheaper-rss-limit-soft",
        "1",
        "--cheaper-rss-limit-hard",
        "2",
    )
    inst.wait_log("cheaper hard rss memory limit exceeded, cheap one of 3 workers")
    inst.wait_log("cheaper hard rss memory limit exceeded, cheap one of 2 workers")
    wait_for(lambda: statuses(stats_port).count("cheap") == 2, 30, "down to one worker")
    spawned = inst.log().count("spawned polyhost worker")
    with client_load(port, 3, "/sleep?0.2", seconds=60) as failures:
        # spare spawns within a decision or two when every worker is busy; 15 requests on one
        # worker take 3 s, a dozen decisions
        wait_for(lambda: served(stats_port) >= 15, 40, "15 requests served")
    assert failures == []
    assert inst.log().count("spawned polyhost worker") == spawned
    assert "cheap one of 1 workers" not in inst.log()
    assert statuses(stats_port).count("cheap") == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--cheaper-rss-limit-hard", "1000"],
            "cheaper-rss-limit-hard = 1000 (command line) needs cheaper-rss-limit-soft too",
        ),
        (
            ["--cheaper-rss-limit-soft", "1000", "--cheaper-rss-limit-hard", "1000"],
            "cheaper-rss-limit-hard = 1000 (command line) must be higher than "
            "cheaper-rss-limit-soft = 1000 (command line)",
        ),
    ],
)
def test_rss_limits_that_cannot_work_are_startup_errors(polyhost, options, message) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--processes", "2", "--cheaper", "1", *options],
        port=port,
        ready=False,
    )
    assert inst.proc.wait(15) == 1
    assert message in inst.log()


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            ["--cheaper-busyness-backlog-alert", "2"],
            "requests in listen queue, spawning 1 emergency worker(s) (1)!",
        ),
        (
            # as uWSGI, the non-zero timer runs between the busyness windows (cheaper-overload)
            [
                "--cheaper-overload",
                "4",
                "--cheaper-busyness-backlog-alert",
                "1000",
                "--cheaper-busyness-backlog-nonzero",
                "1",
                "--cheaper-busyness-verbose",
            ],
            "[busyness] backlog was non-zero for 1 second(s), spawning new worker(s)",
        ),
    ],
)
def test_busyness_spawns_emergency_workers_on_the_listen_queue(polyhost, options, expected) -> None:
    # busyness-max 100 is never exceeded: only the listen queue can spawn a worker here
    inst, port, stats_port = start_cheaper(
        polyhost,
        "--cheaper-algo",
        "busyness",
        "--cheaper-busyness-max",
        "100",
        "--cheaper-busyness-min",
        "0",
        "--listen",
        "64",
        *options,
    )
    assert statuses(stats_port) == ["idle", "cheap", "cheap"]
    with client_load(port, 6, "/sleep?0.5", seconds=60) as failures:
        inst.wait_log(expected)
        wait_for(lambda: statuses(stats_port).count("cheap") < 2, 30, "the emergency worker")
    assert failures == []
    assert "will spawn" not in inst.log()
    if "--cheaper-busyness-verbose" in options:
        assert "[busyness] backlog is starting to fill (" in inst.log()
    assert get(port, "/").startswith(b"HTTP/1.1 200")
