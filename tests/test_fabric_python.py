"""The fabric from Python apps: RPC (local, remote, HTTP form), signals, timers, mules."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyhost.fabric.packets import send_remote_signal
from polyhost.rpc.registry import RpcError
from polyhost.rpc.remote import call_remote

from conftest import APPS, Instance, free_port, get, serving, split_response, wait_for

APP = str(APPS / "fabric" / "pyfabric.py")


@pytest.fixture(scope="module")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("fabric")
    markers = tmp / "markers"
    markers.mkdir()
    spool_dir = tmp / "spool"
    spool_dir.mkdir()
    watched = tmp / "watched.txt"
    watched.write_text("0")
    os.environ["MARKER_DIR"], os.environ["FILEMON_PATH"] = str(markers), str(watched)
    args = [
        "--processes",
        "2",
        "--wsgi-file",
        APP,
        "--mule",
        str(APPS / "fabric" / "mule_script.py"),
        "--mule",
        "--farm",
        "pair:1,2",
        "--cache2",
        "name=shared,items=10",
        "--add-cache-item",
        "shared greeting=hello",
        "--spooler",
        str(spool_dir),
        "--spooler-frequency",
        "1",
    ]
    try:
        with serving(tmp, args, uwsgi_socket=True) as inst:
            inst.markers, inst.watched = markers, watched  # type: ignore[attr-defined]
            inst.wait_log("spawned polyhost mule 2")
            yield inst
    finally:
        del os.environ["MARKER_DIR"], os.environ["FILEMON_PATH"]


def body(port: int, path: str) -> bytes:
    status, _, data = split_response(get(port, path))
    assert status == 200, data
    return data


def test_local_rpc(fabric: Instance) -> None:
    assert body(fabric.port, "/rpc?fn=hello&args=py").startswith(b"hello py from worker ")
    assert body(fabric.port, "/call?fn=hello&arg=c").startswith(b"hello c")
    assert body(fabric.port, "/rpc_list") == b"big,fails,hello"


def test_rpc_errors_are_clear(fabric: Instance) -> None:
    status, _, data = split_response(get(fabric.port, "/rpc?fn=nothere"))
    assert status == 500 and b"no RPC function named 'nothere'" in data
    assert b"registered: big, fails, hello" in data
    long_name = "n" * 300
    status, _, data = split_response(get(fabric.port, f"/rpc?fn={long_name}"))
    assert status == 500 and b"over the limit of 255" in data
    many = ",".join(["a"] * 300)
    status, _, data = split_response(get(fabric.port, f"/rpc?fn=hello&args={many}"))
    assert status == 500 and b"300 arguments" in data


def test_remote_rpc_modifier1_173(fabric: Instance) -> None:
    node = f"127.0.0.1:{fabric.uwsgi_port}"  # type: ignore[attr-defined]
    assert call_remote(node, b"hello", [b"remote"]).startswith(b"hello remote")
    assert call_remote(node, b"big", [b"200000"]) == b"x" * 200_000  # modifier2 5 reply
    with pytest.raises(RpcError, match="no reply"):
        call_remote(node, b"fails", [])
    # and from inside an app, through uwsgi.rpc(node, ...)
    assert body(fabric.port, f"/rpc?node={node}&fn=hello&args=nested").startswith(b"hello nested")


def test_rpc_http_form(polyhost) -> None:
    port = free_port()
    os.environ.setdefault("MARKER_DIR", "/tmp")
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--http-socket-modifier1",
            "173",
            "--http-socket-modifier2",
            "2",
            "--wsgi-file",
            APP,
        ],
        port=port,
    )
    status, _headers, data = split_response(get(port, "/hello/form"))
    assert status == 200 and data.startswith(b"hello form")
    assert split_response(get(port, "/nothere/x"))[0] == 404


def test_signal_to_all_workers(fabric: Instance) -> None:
    assert body(fabric.port, "/signal?num=17") == b"raised"
    markers: Path = fabric.markers  # type: ignore[attr-defined]
    wait_for(
        lambda: (markers / "sig17-w1-m0").exists() and (markers / "sig17-w2-m0").exists(),
        10,
        "both workers to run the handler",
    )


def test_signal_to_a_mule_and_to_one_worker(fabric: Instance) -> None:
    markers: Path = fabric.markers  # type: ignore[attr-defined]
    body(fabric.port, "/signal?num=18")
    wait_for(lambda: (markers / "sig18-w0-m1").exists(), 10, "mule 1 to run the handler")
    body(fabric.port, "/signal?num=19")
    wait_for(lambda: list(markers.glob("sig19-w*")), 10, "one worker")
    assert len(list(markers.glob("sig19-w*"))) == 1


def test_remote_signal_modifier1_110(fabric: Instance) -> None:
    markers: Path = fabric.markers  # type: ignore[attr-defined]
    for marker in markers.glob("sig17-*"):
        marker.unlink()
    send_remote_signal(f"127.0.0.1:{fabric.uwsgi_port}", 17)  # type: ignore[attr-defined]
    wait_for(lambda: len(list(markers.glob("sig17-w*"))) == 2, 10, "the remote signal")


def test_timer_fires(fabric: Instance) -> None:
    timer = fabric.markers / "timer"  # type: ignore[attr-defined]
    wait_for(lambda: timer.exists() and len(timer.read_text().split()) >= 2, 10, "two ticks")


def test_file_monitor(fabric: Instance) -> None:
    watched: Path = fabric.watched  # type: ignore[attr-defined]
    watched.write_text("changed")
    wait_for(lambda: (fabric.markers / "filemon").exists(), 10, "the file monitor")  # type: ignore[attr-defined]


def test_mule_messages(fabric: Instance) -> None:
    markers: Path = fabric.markers  # type: ignore[attr-defined]
    assert body(fabric.port, "/mule?msg=direct&to=1") == b"True"
    marker = markers / "mule-direct"
    wait_for(lambda: marker.exists() and marker.read_text() == "1", 10, "mule 1's marker")


def test_mulefunc_runs_in_the_mule(fabric: Instance) -> None:
    markers: Path = fabric.markers  # type: ignore[attr-defined]
    assert body(fabric.port, "/mulefunc?text=hi") == b"sent"
    marker = markers / "mulefunc-hi"
    wait_for(lambda: marker.exists() and marker.read_text().strip() == "2", 10, "mule 2's marker")


def test_signal_queue_never_blocks_the_master(fabric: Instance) -> None:
    with socket.create_connection(("127.0.0.1", fabric.port), timeout=5):
        pass
    for _ in range(200):
        body(fabric.port, "/signal?num=19")
    assert body(fabric.port, "/") == b"fabric app"


def test_remote_cache_names_and_modifier1_111(fabric: Instance, polyhost) -> None:
    node = f"127.0.0.1:{fabric.uwsgi_port}"  # type: ignore[attr-defined]
    assert body(fabric.port, "/cache?op=get&k=greeting") == b"hello"  # add-cache-item
    # a second instance reads and writes the first one's cache by name@host:port
    port = free_port()
    polyhost(["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", APP], port=port)
    assert body(port, f"/cache?op=set&k=remote&v=written&cache=shared@{node}") == b"True"
    assert body(fabric.port, "/cache?op=get&k=remote") == b"written"
    assert body(port, f"/cache?op=get&k=greeting&cache=shared@{node}") == b"hello"
    assert body(port, f"/cache?op=get&k=absent&cache=shared@{node}") == b"MISS"
    # and RPC between the two instances (modifier1 173), the reply over 64 KiB included
    assert body(port, f"/rpc?node={node}&fn=hello&args=other").startswith(b"hello other")
    assert body(port, f"/rpc?node={node}&fn=big&args=100000") == b"x" * 100_000


def test_spool_decorator_and_spooler_signal_target(fabric: Instance) -> None:
    markers: Path = fabric.markers  # type: ignore[attr-defined]
    assert body(fabric.port, "/spool_job?name=report") == b"queued"
    marker = markers / "spooled-report"
    wait_for(lambda: marker.exists() and marker.read_text().strip() == "2", 15, "the spooled job")
    body(fabric.port, "/signal?num=20")
    wait_for(lambda: (markers / "sig20-spooler").exists(), 10, "the spooler to run the handler")


@pytest.mark.parametrize(
    ("num", "expected"),
    [
        (21, ["sig21-w2-m0"]),
        (22, ["sig22-w0-m1", "sig22-w0-m2"]),
        (23, ["sig23-w1-m0", "sig23-w2-m0"]),
    ],
)
def test_signal_targets(fabric: Instance, num: int, expected: list[str]) -> None:
    markers: Path = fabric.markers  # type: ignore[attr-defined]
    body(fabric.port, f"/signal?num={num}")
    wait_for(
        lambda: sorted(p.name for p in markers.glob(f"sig{num}-*")) == expected,
        10,
        f"signal {num} to reach {expected}",
    )


def test_cache_inc_from_four_workers_loses_nothing(polyhost, tmp_path: Path) -> None:
    import threading

    os.environ["MARKER_DIR"] = str(tmp_path)
    port = free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "4",
            "--wsgi-file",
            APP,
            "--cache2",
            "name=shared,items=10",
        ],
        port=port,
    )
    seen: list[int] = []

    def client() -> None:
        for _ in range(100):
            seen.append(int(body(port, "/cache_inc")))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(seen) == list(range(1, 401))  # every increment got its own value


def test_cache_survives_a_graceful_reload(polyhost, tmp_path: Path) -> None:
    import signal as signals

    os.environ["MARKER_DIR"] = str(tmp_path)
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            APP,
            "--cache2",
            "name=shared,items=10",
        ],
        port=port,
    )
    assert body(port, "/cache?op=set&k=kept&v=across") == b"True"
    inst.signal(signals.SIGHUP)
    inst.wait_log("binary reloading")
    wait_for(lambda: inst.log().count("spawned polyhost worker") >= 2, 20, "the new worker")
    assert body(port, "/cache?op=get&k=kept") == b"across"


def test_full_signal_queue_is_logged_and_never_blocks(polyhost, tmp_path: Path) -> None:
    os.environ["MARKER_DIR"] = str(tmp_path)
    port = free_port()
    inst = polyhost(["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", APP], port=port)
    # the only worker is busy raising signals for itself: its queue fills, the master drops
    assert body(port, "/flood?num=19&n=30000") == b"flooded"
    log = inst.wait_log("SIGNAL QUEUE IS FULL")
    assert "signal(s) dropped for worker 1" in log
    assert body(port, "/") == b"fabric app"


def test_stats_list_caches_spoolers_and_mules(polyhost, tmp_path: Path) -> None:
    import json

    os.environ["MARKER_DIR"] = str(tmp_path)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    port, stats_port = free_port(), free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            APP,
            "--cache2",
            "name=shared,items=10",
            "--spooler",
            str(spool_dir),
            "--mule",
            "--stats",
            f"127.0.0.1:{stats_port}",
        ],
        port=port,
    )
    inst.wait_log("spawned polyhost mule 1")
    assert body(port, "/cache?op=set&k=a&v=b") == b"True"
    body(port, "/cache?op=get&k=a")
    with socket.create_connection(("127.0.0.1", stats_port), timeout=5) as sock:
        stats = json.loads(b"".join(iter(lambda: sock.recv(65536), b"")))
    [cache] = stats["caches"]
    assert cache["name"] == "shared" and cache["items"] == 1 and cache["max_items"] == 10
    assert cache["hits"] >= 1
    [spooler] = stats["spoolers"]
    assert spooler["dir"] == str(spool_dir) and spooler["pid"] > 0
    assert [m["id"] for m in stats["mules"]] == [1]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_signal_wait_in_a_request(polyhost, tmp_path: Path, threads: str) -> None:
    import threading
    import time

    os.environ["MARKER_DIR"] = str(tmp_path)
    port, uwsgi_port = free_port(), free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--socket",
            f"127.0.0.1:{uwsgi_port}",
            "--processes",
            "2",
            "--threads",
            threads,
            "--wsgi-file",
            APP,
        ],
        port=port,
    )
    answers: list[bytes] = []
    waiter = threading.Thread(
        target=lambda: answers.append(split_response(get(port, "/wait?num=26", timeout=30))[2])
    )
    waiter.start()
    # raised remotely (modifier1 110, served by whichever worker is free) until the wait,
    # which may start after the first raise, has seen one
    deadline = time.monotonic() + 15
    while not answers and time.monotonic() < deadline:
        send_remote_signal(f"127.0.0.1:{uwsgi_port}", 26)
        waiter.join(0.2)
    waiter.join(10)
    [answer] = answers
    got, received, worker = answer.split()
    assert (got, received) == (b"26", b"26") and worker in (b"w1", b"w2")
