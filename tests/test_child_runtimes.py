"""What the PSGI and Rack bridges share, run against a real perl and a real ruby child: vars
over 64 KiB, 50 MiB bodies in bounded memory, a child killed mid-request, a child whose socket
a program it started inherits, and RPC calls nesting both ways through the fabric."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from bridge_support import (
    LogLines,
    PatternBody,
    config_of,
    load_runtime,
    make_request,
    needs_plack,
    needs_rack,
    peak_rss_kib,
    reset_peak_rss,
    serve,
    wait_gone,
)

from polyhost.bridges.channel import ChannelPool
from polyhost.bridges.child_runtime import ChildRuntime
from polyhost.bridges.perl.adapter import PsgiRuntime
from polyhost.bridges.ruby.adapter import RackRuntime
from polyhost.dispatch import AppSpec, RuntimeContext
from polyhost.rpc.registry import REGISTRY, RpcError

APPS = Path(__file__).parent / "apps"
BIG = 50 * 1024 * 1024


@dataclass(frozen=True)
class Bridge:
    """One child runtime and the test apps written for it."""

    runtime: type[ChildRuntime]
    apps: Path
    suffix: str
    interpreter: str
    #: how the conformance app's /upload prints the first ten bytes it read
    upload_head: str

    @property
    def conformance(self) -> str:
        return str(self.apps / f"conformance{self.suffix}")


PSGI = Bridge(PsgiRuntime, APPS / "psgi", ".psgi", "perl", "".join(chr(i) for i in range(10)))
RACK = Bridge(RackRuntime, APPS / "rack", ".ru", "ruby", bytes(range(10)).hex())


@pytest.fixture(
    params=[
        pytest.param(PSGI, id="psgi", marks=needs_plack),
        pytest.param(RACK, id="rack", marks=needs_rack),
    ]
)
def bridge(request: pytest.FixtureRequest) -> Bridge:
    return request.param  # type: ignore[no-any-return]


def test_request_vars_over_64k_are_joined(bridge: Bridge) -> None:
    runtime, _ = load_runtime(bridge.runtime, bridge.conformance)
    try:
        request = make_request(path="/env", headers={"X-One": "1" * 60000, "X-Two": "2" * 60000})
        env = dict(line.split("=", 1) for line in serve(runtime, request).text().splitlines())
        assert (env["HTTP_X_ONE"], env["HTTP_X_TWO"]) == ("1" * 60000, "2" * 60000)
    finally:
        runtime.close()


def test_big_upload_and_download_stream_through(bridge: Bridge) -> None:
    runtime, _ = load_runtime(bridge.runtime, bridge.conformance)
    try:
        pool: ChannelPool = runtime.apps[0].handle  # type: ignore[assignment]
        child_pid = pool.child().pid
        child_base = peak_rss_kib(child_pid)
        reset_peak_rss()
        base = peak_rss_kib()
        body = PatternBody(BIG, piece=65536)
        request = make_request(path="/upload", method="POST", body=body, content_length=BIG)
        response = serve(runtime, request)
        assert response.text() == f"{BIG} {body.expected_md5} {bridge.upload_head}"
        download = serve(runtime, make_request(path="/download", query=str(BIG)), keep_body=False)
        assert download.bytes_sent == BIG
        grown = peak_rss_kib() - base
        assert grown < 16 * 1024, f"the worker's peak RSS grew by {grown} KiB"
        child_grown = peak_rss_kib(child_pid) - child_base
        assert child_grown < 16 * 1024, (
            f"the {bridge.interpreter} child's peak RSS grew by {child_grown} KiB"
        )
    finally:
        runtime.close()


def test_child_killed_mid_request_gives_502_and_is_respawned(bridge: Bridge) -> None:
    runtime, log = load_runtime(bridge.runtime, bridge.conformance)
    try:
        results = []
        thread = threading.Thread(
            target=lambda: results.append(serve(runtime, make_request(path="/sleep")))
        )
        thread.start()
        pid = int(log.wait_for("sleeping in ").rsplit(" ", 1)[1])
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=20)
        assert not thread.is_alive()
        assert results[0].status == 502
        line = log.wait_for("answering 502")
        assert f"[{runtime.name} w1]" in line and "worker 1" in line and "SIGKILL" in line
        assert "GET /sleep" in line
        assert runtime.apps[0].exceptions == 1
        after = serve(runtime, make_request(path="/pid"))
        assert after.status == 200 and int(after.text()) != pid
        wait_gone(pid)
    finally:
        runtime.close()


def test_programs_run_by_the_app_do_not_hide_the_childs_death(bridge: Bridge) -> None:
    """The bridge socket is close-on-exec: a program the app started does not keep it open."""
    runtime, log = load_runtime(bridge.runtime, bridge.conformance)
    spawned = 0
    try:
        results = []
        thread = threading.Thread(
            target=lambda: results.append(serve(runtime, make_request(path="/spawn-and-sleep")))
        )
        thread.start()
        words = log.wait_for(", sleeping in ").split()
        spawned, pid = int(words[-4].rstrip(",")), int(words[-1])
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=20)
        assert not thread.is_alive() and results[0].status == 502
    finally:
        if spawned:
            os.kill(spawned, signal.SIGKILL)
        runtime.close()


def test_calls_nest_in_both_directions(bridge: Bridge) -> None:
    """The app registers an RPC function at load time through the real fabric op table, then
    a request calls it through the worker, which calls back into the same child while that
    child waits for the result."""
    log = LogLines()
    ctx = RuntimeContext(config=config_of(), log=log, worker_id=2, threads=1)
    app = str(bridge.apps / f"rpc{bridge.suffix}")
    runtime = bridge.runtime(ctx, [AppSpec(bridge.runtime.name, app, "", "test")])
    runtime.load(0)
    try:
        assert b"double" in REGISTRY.names()
        assert serve(runtime, make_request(query="21")).text() == "double=42"
        log.wait_for("double(21) in")
        with pytest.raises(RpcError, match="no RPC function named 'triple'"):
            REGISTRY.call(b"triple", [b"1"])
    finally:
        runtime.close()
        REGISTRY.functions.pop(b"double", None)
