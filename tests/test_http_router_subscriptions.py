"""Subscriptions on the `--http` router (issue 11 point 1 with point 7's table): nodes announce
themselves to `http-subscription-server`, the router balances a key's nodes, drops a killed
one, answers 502 for an unknown key, and serves them in `http-stats`; real uWSGI nodes
subscribe to polyhost's router and polyhost nodes to real uWSGI's."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, _connectable, free_port, get, serving, split_response, wait_for
from uwsgi_reference import nodes_of, start_uwsgi, stop_uwsgi, subscribed_uwsgi_node

APP = str(APPS / "wsgi" / "node_name.py")


class HttpRouter:
    """A polyhost instance that is only an HTTP router fed by subscriptions."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.sub_port, self.stats_port = free_port(), free_port(), free_port()
        self.inst = Instance(
            ["--http", f"127.0.0.1:{self.port}",
             "--http-subscription-server", f"127.0.0.1:{self.sub_port}",
             "--http-stats", f"127.0.0.1:{self.stats_port}",
             "--subscription-tolerance", "3", "--die-on-term"],
            tmp, None, None,
        )  # fmt: skip
        self.inst.wait_log("http stats server enabled")


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpRouter]:
    front = HttpRouter(tmp_path_factory.mktemp("http-subscriptions"))
    try:
        yield front
    finally:
        assert front.inst.stop() == 0


def fetch(port: int, host: str) -> tuple[int, bytes]:
    """(status, body); (0, b"") when the router closed without answering (uWSGI's router does
    for a key it has no node for)."""
    raw = get(port, "/", host=host)
    if not raw:
        return 0, b""
    status, _, body = split_response(raw)
    return status, body


def node_args(name: str, server: str, key: str) -> list[str]:
    return ["--wsgi-file", APP, "--env", f"NODE_NAME={name}", "--subscribe-freq", "1",
            "--subscribe-to", f"{server}:{key}"]  # fmt: skip


def test_router_only_instance_has_no_workers(router: HttpRouter) -> None:
    log = router.inst.log()
    assert "spawned polyhost http 1" in log and "spawned polyhost worker" not in log
    assert "(port auto-assigned)" not in log


def test_two_nodes_balanced_then_one_killed(router: HttpRouter, tmp_path: Path) -> None:
    server = f"127.0.0.1:{router.sub_port}"
    with serving(tmp_path, node_args("a", server, "two.example"), uwsgi_socket=True):
        b_port = free_port()
        b = Instance(
            ["--socket", f"127.0.0.1:{b_port}", *node_args("b", server, "two.example")],
            tmp_path, None, None,
        )  # fmt: skip
        try:
            wait_for(lambda: len(nodes_of(router.stats_port, "two.example")) == 2, 15, "2 nodes")
            seen = {fetch(router.port, "two.example")[1] for _ in range(4)}
            assert seen == {b"a two.example\n", b"b two.example\n"}
            os.killpg(b.pid, signal.SIGKILL)  # no unsubscribe: the router finds out by itself
            b.proc.wait(10)
            wait_for(lambda: not _connectable(b_port), 10, "b's socket to be gone")
            for _ in range(4):
                assert fetch(router.port, "two.example") == (200, b"a two.example\n")
            assert f"two.example => marking 127.0.0.1:{b_port} as failed" in router.inst.log()
        finally:
            b.stop()


def test_unknown_key_is_502(router: HttpRouter) -> None:
    status, body = fetch(router.port, "nobody.example")
    assert status == 502 and b"no node for nobody.example" in body


def test_real_uwsgi_node_behind_polyhost_http_router(router: HttpRouter, tmp_path: Path) -> None:
    with subscribed_uwsgi_node(tmp_path, APP, router.sub_port, router.stats_port, "uwsgi.example"):
        assert fetch(router.port, "uwsgi.example") == (200, b"uwsgi uwsgi.example\n")


def test_polyhost_node_behind_real_uwsgi_http_router(tmp_path: Path) -> None:
    http_port, sub_port = free_port(), free_port()
    proc = start_uwsgi(
        tmp_path,
        ["--plugin", "http", "--http", f"127.0.0.1:{http_port}",
         "--http-subscription-server", f"127.0.0.1:{sub_port}", "--master"],
    )  # fmt: skip
    try:
        args = node_args("poly", f"127.0.0.1:{sub_port}", "poly.example")
        with serving(tmp_path, args, uwsgi_socket=True):
            wait_for(
                lambda: fetch(http_port, "poly.example")[0] == 200, 15, "uWSGI's router to serve"
            )
            assert fetch(http_port, "poly.example") == (200, b"poly poly.example\n")
    finally:
        stop_uwsgi(proc)
