"""RPC and signals across hosts: `rpc-nodes = GROUP=ADDR,...` with two instances on two loopback
addresses (127.0.0.2, 127.0.0.3), standing for two hosts, and a node that is down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, free_port, get, serving, split_response, wait_for

APP = APPS / "redis" / "node_app.py"
FABRIC = APPS / "fabric"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("nodes")
    os.environ["MARKER_DIR"] = str(tmp)
    ports = {"a": free_port(), "b": free_port()}
    dead = f"127.0.0.4:{free_port()}"
    try:
        os.environ["NODE_NAME"] = "a"
        node_a = ["--wsgi-file", str(APP), "--socket", f"127.0.0.2:{ports['a']}"]
        with serving(tmp, node_a) as a:
            os.environ["NODE_NAME"] = "b"
            node_b = ["--wsgi-file", str(APP), "--socket", f"127.0.0.3:{ports['b']}"]
            with serving(tmp, node_b) as b:
                del os.environ["NODE_NAME"]
                live = f"127.0.0.2:{ports['a']},127.0.0.3:{ports['b']}"
                caller_args = [
                    "--wsgi-file", str(APP),
                    "--mount", f"/pl={FABRIC / 'matrix.psgi'}",
                    "--rpc-nodes", f"live={live}",
                    "--rpc-nodes", f"flaky={dead},{live}",
                    "--rpc-nodes", f"down={dead}",
                ]  # fmt: skip
                with serving(tmp, caller_args) as caller:
                    yield {"a": a, "b": b, "caller": caller, "markers": tmp, "dead": dead}
    finally:
        os.environ.pop("NODE_NAME", None)
        del os.environ["MARKER_DIR"]


def answer(instance: Instance, path: str) -> tuple[int, bytes]:
    status, _, body = split_response(get(instance.port, path, timeout=30))
    return status, body


def test_any_node_of_a_group_round_robin(cluster: dict[str, object]) -> None:
    caller = cluster["caller"]
    assert isinstance(caller, Instance)
    seen = [answer(caller, "/any?group=group:live") for _ in range(6)]
    assert {body for _, body in seen} == {b"a", b"b"}
    assert all(status == 200 for status, _ in seen)


def test_a_node_that_is_down_is_skipped(cluster: dict[str, object]) -> None:
    caller = cluster["caller"]
    assert isinstance(caller, Instance)
    seen = [answer(caller, "/any?group=group:flaky") for _ in range(6)]
    assert all(status == 200 for status, _ in seen), seen
    assert {body for _, body in seen} == {b"a", b"b"}
    status, body = answer(caller, "/any?group=group:down")
    assert status == 500
    assert f"no node of group:down could be reached: RPC 'whoami' on {cluster['dead']}" in (
        body.decode()
    )
    status, body = answer(caller, "/any?group=group:nope")
    assert (status, body) == (500, b"rpc: no node group named 'nope' (groups: live, flaky, down)")


def test_perl_calls_any_node_through_uwsgi_call(cluster: dict[str, object]) -> None:
    caller = cluster["caller"]
    assert isinstance(caller, Instance)
    seen = {answer(caller, "/pl/call?fn=whoami@group:live")[1] for _ in range(4)}
    assert seen == {b"a", b"b"}


def test_a_signal_broadcast_reaches_every_node(cluster: dict[str, object]) -> None:
    caller, markers = cluster["caller"], cluster["markers"]
    assert isinstance(caller, Instance) and isinstance(markers, Path)
    assert answer(caller, "/broadcast?num=50&group=group:live") == (200, b"raised")
    wait_for(
        lambda: (markers / "sig50-a").exists() and (markers / "sig50-b").exists(),
        15,
        "signal 50 on both nodes",
    )
    status, body = answer(caller, "/broadcast?num=50&group=group:flaky")
    assert status == 500
    assert body.decode().startswith(f"1 node(s) of group:flaky failed: {cluster['dead']}: ")


def test_a_bad_group_stops_the_start(polyhost) -> None:
    inst = polyhost(
        ["--rpc-nodes", "nodes-without-addresses", "--wsgi-file", str(APP)], ready=False
    )
    assert inst.proc.wait(20) != 0
    assert "rpc-nodes = nodes-without-addresses: write GROUP=ADDR[,ADDR...]" in inst.log()
