"""Metric collectors (`metric = ...,collector=...`) and thresholds (`metric-threshold`) side by
side with real uWSGI: the same options give the same values in the stats JSON; the apps cannot
change a collected metric; a threshold resets its metric and raises its alarm once per rate."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import free_port, get, split_response, wait_for
from supervision_support import UWSGI, read_stats, stop_uwsgi

APP = """
import uwsgi


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    name, _, value = environ["QUERY_STRING"].partition("=")
    return [repr(uwsgi.metric_set(name, int(value))).encode()]
"""


def metric_options(counters: Path) -> list[str]:
    return [
        "--enable-metrics",
        "--metric", "name=a,type=gauge",
        "--metric", "name=b,type=gauge",
        "--metric", f"name=second,type=gauge,collector=file,arg1={counters},arg1n=1",
        "--metric", "name=total,type=gauge,collector=sum,children=a;b",
        "--metric", "name=mean,type=gauge,collector=avg,children=a;b",
        "--metric", "name=plus,type=gauge,collector=adder,children=a;b,arg1n=100",
        "--metric", "name=times,type=gauge,collector=multiplier,children=a;b,arg1n=3",
        "--metric", "name=offset,type=gauge,collector=sum,children=a,initial_value=1000",
    ]  # fmt: skip


@pytest.mark.parametrize("server", ["polyhost", "uwsgi"])
def test_collectors_give_uwsgis_values(polyhost, tmp_path: Path, server: str) -> None:
    counters = tmp_path / "counters"
    counters.write_text("10 20\t30\n")
    app = tmp_path / "app.py"
    app.write_text(APP)
    port, stats_port = free_port(), free_port()
    args = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(app),
            "--stats", f"127.0.0.1:{stats_port}", *metric_options(counters)]  # fmt: skip
    if server == "uwsgi":
        inst = polyhost([*UWSGI, *args], program=[], port=port, ready=False)
    else:
        inst = polyhost(args, port=port)
    try:
        wait_for(lambda: serves_query(port, "a=4"), 30, f"{server} serving")
        assert body(port, "b=6") == "True"
        refused = body(port, "total=1")  # collected: the apps cannot set it
        assert refused in ("None", "False")

        def values() -> dict[str, int]:
            return {k: v["value"] for k, v in read_stats(stats_port)["metrics"].items()}

        expected = {"second": 20, "total": 10, "mean": 5, "plus": 110, "times": 30, "offset": 1004}
        wait_for(
            lambda: all(values().get(k) == v for k, v in expected.items()),
            30,
            f"{server}: the collected values {expected} (now {values()})",
        )
        counters.write_text("1 2 3")
        wait_for(lambda: values()["second"] == 2, 30, f"{server}: the file read again")
    finally:
        if server == "uwsgi":
            stop_uwsgi(inst)


def body(port: int, query: str) -> str:
    status, _, data = split_response(get(port, f"/?{query}"))
    assert status == 200
    return data.decode()


def serves_query(port: int, query: str) -> bool:
    """The query answered True (False while the server refuses: for wait_for)."""
    try:
        return body(port, query) == "True"
    except OSError:
        return False


@pytest.mark.parametrize("server", ["polyhost", "uwsgi"])
def test_threshold_resets_the_metric_and_raises_its_alarm_once_per_rate(
    polyhost, tmp_path: Path, server: str
) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    port, stats_port = free_port(), free_port()
    threshold = "key=depth,value=5,reset=1"
    if server == "polyhost":  # uWSGI needs an alarm plugin for alarm=
        threshold += ",alarm=pager,msg=too deep,rate=3600"
    args = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(app),
            "--stats", f"127.0.0.1:{stats_port}", "--enable-metrics",
            "--metric", "name=depth,type=gauge", "--metric-threshold", threshold]  # fmt: skip
    if server == "uwsgi":
        inst = polyhost([*UWSGI, *args], program=[], port=port, ready=False)
    else:
        inst = polyhost(args, port=port)
    try:
        wait_for(lambda: serves_query(port, "depth=4"), 30, f"{server} serving")
        inst.wait_log("added threshold for metric depth (value: 5)")

        def depth() -> int:
            return read_stats(stats_port)["metrics"]["depth"]["value"]

        assert body(port, "depth=9") == "True"
        wait_for(lambda: depth() == 1, 30, f"{server}: depth reset to 1")
        if server == "polyhost":
            inst.wait_log("[metric-alarm] pager: too deep")
            assert body(port, "depth=7") == "True"
            wait_for(lambda: depth() == 1, 30, "reset again")
            assert inst.log().count("[metric-alarm] pager: too deep") == 1  # rate=3600
    finally:
        if server == "uwsgi":
            stop_uwsgi(inst)


def test_threshold_on_an_undeclared_metric_is_a_startup_error(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--metric-threshold", "key=nope,value=1"],
        port=port,
        ready=False,
    )
    assert inst.proc.wait(15) == 1
    assert (
        "metric-threshold = key=nope,value=1 (command line): unable to find metric 'nope'"
        in inst.log()
    )
