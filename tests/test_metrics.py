"""Metrics: uwsgi.metric_* in every language, the stats `metrics`, the Prometheus endpoints
(checked with prometheus_client's own text-format parser)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from polyhost.fabric.spooler import spool

from conftest import APPS, Instance, free_port, get, serving, split_response

METRICS_APPS = APPS / "metrics"


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("metrics")
    stats_port, metrics_port = free_port(), free_port()
    # two tasks that wait (due in an hour), one of them in a priority directory
    spool_dir = tmp / "spool"
    spool_dir.mkdir()
    for priority in (None, "3"):
        spool([str(spool_dir)], {b"task": b"later"}, priority=priority, at=time.time() + 3600)
    args = [
        "--processes",
        "2",
        "--mount",
        f"/py={METRICS_APPS / 'app.py'}",
        "--mount",
        f"/pl={METRICS_APPS / 'app.psgi'}",
        "--mount",
        f"/rb={METRICS_APPS / 'app.ru'}",
        "--mount",
        f"/lua={METRICS_APPS / 'app.lua'}",
        "--mount",
        f"/php={METRICS_APPS / 'php'}",
        "--cache2",
        "name=shared,items=10",
        "--spooler",
        str(spool_dir),
        "--enable-metrics",
        "--metric",
        "name=depth,type=gauge",
        *[
            item
            for lang in ("py", "pl", "rb", "lua", "php")
            for item in ("--metric", f"hits.{lang}")
        ],
        "--stats",
        f"127.0.0.1:{stats_port}",
        "--stats-http",
        "--metrics",
        f"127.0.0.1:{metrics_port}",
    ]
    with serving(tmp, args, timeout=60) as inst:
        inst.stats_port = stats_port  # type: ignore[attr-defined]
        inst.metrics_port = metrics_port  # type: ignore[attr-defined]
        inst.spool_dir = spool_dir  # type: ignore[attr-defined]
        yield inst


def body(inst: Instance, path: str) -> str:
    status, _, data = split_response(get(inst.port, path))
    assert status == 200, data
    return data.decode()


def scrape(port: int, path: str = "/metrics") -> tuple[str, str]:
    """(content type, text) of an HTTP GET on the endpoint."""
    raw = get(port, path)
    status, headers, data = split_response(raw)
    assert status == 200, raw[:200]
    return headers["content-type"], data.decode()


def samples(text: str) -> dict[str, list]:
    """Every sample by name, from prometheus_client's parser (a malformed line raises)."""
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def test_python_metric_api_behaves_as_uwsgi(instance: Instance) -> None:
    # uWSGI returns True on change, None for an undeclared metric, 0 reading one; collector
    # metrics (here the instance's own) are read-only for the apps
    assert body(instance, "/py/api") == repr(
        [True, None, 0, True, True, True, True, 9, None, b"abab"]
    )


def test_every_language_changes_the_same_shared_metrics(instance: Instance) -> None:
    before = {lang: int(body(instance, f"/{lang}").split()[-1]) for lang in ("pl", "rb", "lua")}
    assert body(instance, "/pl") == f"1 undef {before['pl'] + 2}"
    assert body(instance, "/rb") == f"true nil {before['rb'] + 3}"
    assert body(instance, "/lua") == f"true false {before['lua'] + 4}"
    first = int(body(instance, "/php/index.php").split()[-1])
    assert body(instance, "/php/index.php") == f"true NULL {first + 5}"
    # the counter is shared by both workers: many requests, one monotonic sequence
    seen = [int(body(instance, "/py")) for _ in range(6)]
    assert seen == sorted(seen) and len(set(seen)) == 6


def test_prometheus_endpoint_parses_with_the_instance_numbers(instance: Instance) -> None:
    for _ in range(3):
        body(instance, "/py")
    assert body(instance, "/py/hit") == "1"
    assert split_response(get(instance.port, "/py/boom"))[0] == 500
    content_type, text = scrape(instance.metrics_port)  # type: ignore[attr-defined]
    assert content_type.startswith("text/plain; version=0.0.4")
    found = samples(text)
    requests = sum(s.value for s in found["uwsgi_worker_requests_total"])
    stats = json.loads(get(instance.stats_port, "/").partition(b"\r\n\r\n")[2])  # type: ignore[attr-defined]
    assert requests >= 3
    assert {s.labels["worker_id"] for s in found["uwsgi_worker_requests_total"]} == {"1", "2"}
    assert all(s.value > 0 for s in found["uwsgi_worker_rss_bytes"])
    assert "uwsgi_worker_harakiri_total" in found and "uwsgi_listen_queue_length" in found
    assert "uwsgi_worker_average_response_time_seconds" in found
    by_language = {}
    for sample in found["uwsgi_worker_app_requests_total"]:
        language = sample.labels["language"]
        by_language[language] = by_language.get(language, 0) + sample.value
    assert by_language["python"] >= 3 and {"psgi", "rack", "lua", "php"} <= set(by_language)
    assert found["uwsgi_cache_misses_total"][0].labels == {"cache": "shared"}
    assert found["uwsgi_cache_misses_total"][0].value >= 3
    assert found["uwsgi_rpc_calls_total"][0].value >= 1
    assert sum(s.value for s in found["uwsgi_worker_exceptions_total"]) >= 1
    assert found["uwsgi_cache_hits_total"][0].value >= 1
    (queue,) = found["uwsgi_spooler_queue_length"]
    assert queue.labels == {"dir": str(instance.spool_dir)} and queue.value == 2  # type: ignore[attr-defined]
    assert [s.value for s in found["uwsgi_spooler_tasks_total"]] == [0]
    assert found["uwsgi_metric_hits_py_total"][0].value == stats["metrics"]["hits.py"]["value"]
    assert found["uwsgi_metric_depth"][0].value == 9
    assert stats["metrics"]["depth"] == {"type": 1, "oid": "", "value": 9}


def test_stats_http_serves_metrics_beside_the_json(instance: Instance) -> None:
    content_type, text = scrape(instance.stats_port)  # type: ignore[attr-defined]
    assert content_type.startswith("text/plain; version=0.0.4")
    assert "uwsgi_worker_requests_total" in samples(text)
    raw = get(instance.stats_port, "/")  # type: ignore[attr-defined]
    assert b"application/json" in raw.partition(b"\r\n\r\n")[0]


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("name=x,collector=file", "the file collector needs the file in arg1=PATH"),
        ("name=x,collector=func,arg1=f", "the func collector reads the uWSGI binary's memory"),
        ("name=x,collector=sum,children=y", "unable to find metric 'y': declare the children"),
        ("name=x,collector=nope", "unknown collector 'nope'"),
    ],
)
def test_collector_that_cannot_collect_is_a_startup_error(
    tmp_path: Path, polyhost, metric: str, message: str
) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--metric", metric], port=port, ready=False
    )
    assert inst.proc.wait(15) == 1
    assert f"metric = {metric}: {message}" in inst.log()
