"""The spooler on Redis Streams (`spooler = redis://...?stream=NAME`): tasks enqueued by one
instance and run by another's spoolers, at-least-once through a spooler killed -9, priorities,
`at`, msgpack arguments (pickle refused), and Redis going away."""

from __future__ import annotations

import os
import pickle
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import redis

from conftest import APPS, Instance, get, serving, split_response, wait_for
from redis_helper import RedisServer, redis_server

APP = APPS / "redis" / "spool_app.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture(scope="module")
def markers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("markers")
    os.environ["MARKER_DIR"] = str(directory)
    yield directory
    del os.environ["MARKER_DIR"]


def stream_url(server: RedisServer, stream: str) -> str:
    return f"{server.url}?stream={stream}&visibility=2"


@pytest.fixture(scope="module")
def pair(
    server: RedisServer, markers: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Instance, Instance]]:
    """`writer` only enqueues (spooler-external); `runner` serves the stream with 2 spoolers."""
    tmp = tmp_path_factory.mktemp("pair")
    url = stream_url(server, "tasks")
    base = ["--wsgi-file", str(APP), "--spooler-frequency", "1", "--spooler-quiet"]
    writer_args = [*base, "--spooler-external", url]
    runner_args = [*base, "--spooler", url, "--spooler-processes", "2"]
    with serving(tmp, writer_args) as writer, serving(tmp, runner_args) as runner:
        wait_for(lambda: runner.log().count("spooler for redis://") >= 2, 20, "two spoolers")
        yield writer, runner


def request(instance: Instance, path: str) -> bytes:
    status, _, body = split_response(get(instance.port, path, timeout=30))
    assert status == 200, (path, body, instance.log()[-3000:])
    return body


def done(markers: Path) -> list[list[str]]:
    path = markers / "done.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_thousand_tasks_from_one_instance_run_once_each_by_the_other(
    pair: tuple[Instance, Instance], markers: Path
) -> None:
    writer = pair[0]
    for batch in range(10):
        assert request(writer, f"/spool?name=bulk{batch}&n=100") == b"queued"
    wait_for(lambda: len(done(markers)) >= 1000, 120, "1000 tasks to run")
    runs = [fields for fields in done(markers) if fields[0].startswith("bulk")]
    names = sorted(fields[0] for fields in runs)
    assert names == sorted(f"bulk{b}-{i}" for b in range(10) for i in range(100))
    assert {fields[2] for fields in runs} == {"2"}  # the bytes argument crossed as bytes
    runner_spoolers = {int(fields[1]) for fields in runs}
    assert runner_spoolers and os.getpid() not in runner_spoolers
    assert "spooler for" not in writer.log()  # the writer runs no spooler


def test_a_task_of_a_spooler_killed_mid_task_runs_again(
    pair: tuple[Instance, Instance], markers: Path
) -> None:
    writer, runner = pair
    request(writer, "/spool?name=slow&delay=30")
    started = markers / "started-slow-0"
    wait_for(lambda: started.exists() and started.read_text().split(), 30, "the slow task to start")
    victim = int(started.read_text().split()[0])
    os.kill(victim, signal.SIGKILL)
    # after the visibility timeout (2 s) another spooler process takes it over and runs it
    wait_for(lambda: len(started.read_text().split()) >= 2, 30, "the task to start again")
    second = int(started.read_text().split()[1])
    assert second != victim
    wait_for(lambda: "took over task" in runner.log(), 10, "the take-over log line")
    os.kill(second, signal.SIGKILL)  # don't wait 30 s; its respawned peer will take it again


def test_priorities_run_lower_first_and_at_waits(
    server: RedisServer, markers: Path, tmp_path: Path
) -> None:
    url = stream_url(server, "ordered")
    args = ["--wsgi-file", str(APP), "--spooler-external", url]
    with serving(tmp_path, args) as writer:
        at = int(time.time()) + 3
        request(writer, f"/spool?name=late&at={at}")
        request(writer, "/spool?name=plain")
        request(writer, "/spool?name=p9&priority=9")
        request(writer, "/spool?name=p1&priority=1")
    runner_args = ["--wsgi-file", str(APP), "--spooler", url, "--spooler-quiet"]
    with serving(tmp_path, runner_args):
        wait_for(lambda: any(f[0] == "late-0" for f in done(markers)), 30, "the `at` task")
    order = [f[0] for f in done(markers) if f[0] in ("late-0", "plain-0", "p9-0", "p1-0")]
    assert order == ["p1-0", "p9-0", "plain-0", "late-0"]
    raw = redis.Redis.from_url(server.url)
    assert raw.xlen("ordered") == 0  # acknowledged tasks are deleted from the stream


def test_pickled_arguments_are_refused(server: RedisServer, tmp_path: Path) -> None:
    url = stream_url(server, "hostile")
    raw = redis.Redis.from_url(server.url)
    evil = pickle.dumps(("x",))
    task = {b"ud_spool_func": b"record", b"args": evil, b"kwargs": pickle.dumps({})}
    raw.xadd("hostile", {b"task": msgpack.packb({"vars": task, "body": b""}, use_bin_type=True)})
    raw.xadd("hostile", {b"task": b"\xc1 not msgpack"})
    args = ["--wsgi-file", str(APP), "--spooler", url]
    with serving(tmp_path, args) as inst:
        inst.wait_log("are pickled, and a Redis spooler runs no pickle")
        inst.wait_log("it is not a polyhost task")
    assert raw.xlen("hostile:refused") == 2
    assert raw.xlen("hostile") == 0


def test_bad_stream_urls_stop_the_start(tmp_path: Path, polyhost) -> None:
    inst = polyhost(["--spooler", "redis://127.0.0.1:1/0", "--wsgi-file", str(APP)], ready=False)
    assert inst.proc.wait(20) != 0
    assert "name the stream, as in spooler = redis://HOST:PORT/DB?stream=tasks" in inst.log()


def test_redis_down_is_a_clear_error_and_the_instance_keeps_serving(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        url = stream_url(server, "down")
        args = ["--wsgi-file", str(APP), "--spooler", url, "--socket-timeout", "2"]
        with serving(tmp_path, args) as inst:
            assert request(inst, "/raw?name=before").startswith(b"redis://")
            server.stop()
            status, _, _ = split_response(get(inst.port, "/raw?name=during", timeout=30))
            assert status == 500
            inst.wait_log("cannot spool a task to redis://127.0.0.1:")
            inst.wait_log("cannot reach Redis")
            assert request(inst, "/") == b"spooler app"
            server.start()
            inst.wait_log("Redis is reachable again", timeout=20)
            assert request(inst, "/raw?name=after").startswith(b"redis://")


@pytest.fixture(scope="module")
def languages(
    server: RedisServer, markers: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Instance, Instance]]:
    """Python, Perl and Ruby apps in two instances sharing one stream."""
    tmp = tmp_path_factory.mktemp("languages")
    fabric = APPS / "fabric"
    args = [
        "--mount", f"/py={fabric / 'matrix.py'}",
        "--mount", f"/pl={fabric / 'matrix.psgi'}",
        "--mount", f"/rb={fabric / 'matrix.ru'}",
        "--spooler", stream_url(server, "polyglot"),
        "--spooler-frequency", "1",
    ]  # fmt: skip
    with serving(tmp, args, timeout=60) as one, serving(tmp, args, timeout=60) as two:
        yield one, two


@pytest.mark.parametrize(
    ("enqueuer", "handler"), [(e, h) for e in ("py", "pl", "rb") for h in ("py", "pl", "rb")]
)
def test_every_language_spools_through_redis(
    languages: tuple[Instance, Instance], markers: Path, enqueuer: str, handler: str
) -> None:
    name = f"redis-{enqueuer}2{handler}"
    queued = request(languages[0], f"/{enqueuer}/spool?handler={handler}&name={name}")
    assert queued.startswith(b"redis://127.0.0.1:") and b"?stream=polyglot" in queued
    wait_for(
        lambda: (markers / f"{handler}-spooled-{name}").exists(),
        20,
        f"the {handler} spooler function to run {name}",
    )
