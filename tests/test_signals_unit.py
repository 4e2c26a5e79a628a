"""Signal framework pieces that need no processes: cron matching, targets, numbers."""

from __future__ import annotations

import time

import pytest

from polyhost.fabric.signals import Cron, SignalError, check_num, check_target


def at(minute: int, hour: int, day: int, month: int, year: int = 2026) -> time.struct_time:
    return time.localtime(time.mktime((year, month, day, hour, minute, 0, 0, 0, -1)))


def test_cron_fields_as_uwsgi() -> None:
    every_minute = Cron(1, (-1, -1, -1, -1, -1))
    assert every_minute.due(at(7, 3, 1, 1))
    every_five = Cron(1, (-5, -1, -1, -1, -1))
    assert every_five.due(at(10, 3, 1, 1)) and not every_five.due(at(11, 3, 1, 1))
    at_2_30 = Cron(1, (30, 2, -1, -1, -1))
    assert at_2_30.due(at(30, 2, 5, 6)) and not at_2_30.due(at(30, 3, 5, 6))
    # 2026-11-23 is a Monday (weekday 1, Sunday is 0): day and weekday are ORed when both set
    monday_or_15th = Cron(1, (0, 0, 15, -1, 1))
    assert monday_or_15th.due(at(0, 0, 23, 11)) and monday_or_15th.due(at(0, 0, 15, 11))
    assert not monday_or_15th.due(at(0, 0, 24, 11))


def test_signal_numbers_and_targets() -> None:
    assert check_num(255) == 255
    with pytest.raises(SignalError, match="out of range"):
        check_num(256)
    for target in (
        "",
        "worker",
        "worker3",
        "workers",
        "active-workers",
        "mule",
        "mule2",
        "mules",
        "spooler",
        "farm_pair",
        "/var/spool/one",
    ):
        assert check_target(target) == target
    with pytest.raises(SignalError, match="unknown signal target 'workerz'"):
        check_target("workerz")
