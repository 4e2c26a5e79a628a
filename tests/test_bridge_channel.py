"""The language-neutral bridge (bridges/channel.py) against a scripted child process: framing,
inline and pulled bodies, split messages, calls both ways, misbehaving and dying children,
load failures, client disconnects and shutdown."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import (
    CollectingResponder,
    LogLines,
    PatternBody,
    basic_calls,
    make_request,
    wait_gone,
)

from polyhost.bridges.channel import (
    BODY,
    MORE,
    REQUEST,
    CallError,
    ChannelPool,
    ChildProgram,
    ResponseAborted,
    body_frames,
    frames,
)
from polyhost.dispatch import AppLoadError
from polyhost.protocol.uwsgi import HEADER
from polyhost.request import ClientGone, Request

CHILD = Path(__file__).parent / "apps" / "bridge" / "scripted_child.py"


def program(scenario: str, load_timeout: float = 20.0, extra: str = "") -> ChildProgram:
    return ChildProgram(
        runtime="test",
        argv=(sys.executable, str(CHILD)),
        app=scenario,
        config=(("app", scenario), ("extra", extra)),
        library_package="test-lib-pkg",
        library="TestLib",
        load_timeout=load_timeout,
    )


def start_pool(scenario: str, log: LogLines, size: int = 1, **kwargs: object) -> ChannelPool:
    pool = ChannelPool(program(scenario, **kwargs), log, 4, basic_calls(log), size)  # type: ignore[arg-type]
    pool.start()
    return pool


@pytest.fixture
def log() -> LogLines:
    return LogLines()


@pytest.fixture
def echo(log: LogLines) -> Iterator[ChannelPool]:
    pool = start_pool("echo", log, extra="from CONFIG")
    yield pool
    pool.close()


def run(pool: ChannelPool, request: Request, responder: CollectingResponder | None = None):  # type: ignore[no-untyped-def]
    responder = responder or CollectingResponder()
    failed = pool.serve(request, responder)
    return responder, failed


def parse(data: bytes) -> list[tuple[int, int, int]]:
    out, pos = [], 0
    while pos < len(data):
        mod1, size, mod2 = HEADER.unpack_from(data, pos)
        out.append((mod1, size, mod2))
        pos += 4 + size
    return out


def test_frames_split_big_messages_with_the_more_bit() -> None:
    assert parse(frames(REQUEST, b"x" * 10, 1)) == [(REQUEST, 10, 1)]
    assert parse(frames(REQUEST, b"x" * 140_000, 1)) == [
        (REQUEST, 65535, 1 | MORE),
        (REQUEST, 65535, 1 | MORE),
        (REQUEST, 8930, 1),
    ]
    assert parse(body_frames(b"")) == [(BODY, 0, 1)]
    assert parse(body_frames(b"y" * 65536)) == [(BODY, 65535, 0), (BODY, 1, 1)]


def test_config_reaches_the_child_before_hello(echo: ChannelPool) -> None:
    channel = echo.ready_channel()
    assert channel.hello["extra"] == "from CONFIG"
    assert channel.hello["pid"] == str(channel.pid)


def test_small_body_goes_inline(echo: ChannelPool) -> None:
    response, failed = run(echo, make_request("POST", "/echo", body=b"x" * 65536))
    assert not failed
    assert response.header("X-Summary").endswith("body=65536 inline=1")  # type: ignore[union-attr]
    assert bytes(response.body) == b"x" * 65536


def test_bigger_body_is_pulled(echo: ChannelPool) -> None:
    body = PatternBody(200_001, piece=7000)
    response, _ = run(echo, make_request("POST", "/echo", body=body, content_length=200_001))
    assert response.header("X-Summary").endswith("body=200001 inline=0")  # type: ignore[union-attr]
    assert len(response.body) == 200_001 and body.pos == 200_001


def test_vars_over_64k_are_split_and_joined(echo: ChannelPool) -> None:
    request = make_request("GET", "/echo", headers={"X-One": "1" * 60000, "X-Two": "2" * 60000})
    response, _ = run(echo, request)
    assert response.header("X-Summary") == f"vars={len(request.vars)} body=0 inline=1"


def test_response_head_over_64k_is_joined(echo: ChannelPool) -> None:
    response, _ = run(echo, make_request(path="/big-head"))
    assert response.headers == [("X-A", "a" * 60000), ("X-B", "b" * 60000)]


def test_many_body_packets_stream_to_the_responder(echo: ChannelPool) -> None:
    response, _ = run(echo, make_request(path="/stream"))
    assert len(response.body) == 20 * 65535 and response.writes == 20


def test_calls_from_the_child(echo: ChannelPool, log: LogLines) -> None:
    response, _ = run(echo, make_request(path="/calls"))
    assert response.text() == ("log=[] nope=1:nope is not handled by this test")
    assert log.wait_for("a line from the child") == "a line from the child"


def test_calls_into_the_child(echo: ChannelPool) -> None:
    channel = echo.ready_channel()
    assert channel.call(b"ping", [b"a", b"b"]) == [b"pong", b"a", b"b"]
    with pytest.raises(CallError, match="no op other"):
        channel.call(b"other", [])


def test_app_exception_is_logged_line_by_line(echo: ChannelPool, log: LogLines) -> None:
    response, failed = run(echo, make_request(path="/exception"))
    assert failed and response.status == 500
    log.wait_for("[test w4] trace line 1")
    log.wait_for("[test w4] trace line 2")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/body-first", "sent body bytes before the status"),
        ("/malformed", "sent a malformed packet"),
        ("/exit", "exited with status 7"),
    ],
)
def test_broken_child_gives_502_and_is_replaced(
    echo: ChannelPool, log: LogLines, path: str, reason: str
) -> None:
    old_pid = echo.ready_channel().pid
    response, failed = run(echo, make_request(path=path))
    assert failed and response.status == 502
    line = log.wait_for("answering 502")
    assert reason in line and f"GET {path}" in line and "[test w4]" in line
    wait_gone(old_pid)
    after, _ = run(echo, make_request(path="/echo"))
    assert after.status == 200 and echo.ready_channel().pid != old_pid


def test_unreadable_file_body_aborts_the_response(echo: ChannelPool, log: LogLines) -> None:
    with pytest.raises(ResponseAborted):
        run(echo, make_request(path="/sendfile-missing"))
    log.wait_for("cannot send the file '/nonexistent/file'")
    assert run(echo, make_request(path="/echo"))[0].status == 200


def test_client_gone_replaces_the_child_and_propagates(echo: ChannelPool) -> None:
    class GoneAfterOneWrite(CollectingResponder):
        def write(self, data: bytes) -> None:
            super().write(data)
            raise ClientGone("client closed")

    old_pid = echo.ready_channel().pid
    with pytest.raises(ClientGone):
        run(echo, make_request(path="/stream"), GoneAfterOneWrite())
    wait_gone(old_pid)
    assert run(echo, make_request(path="/echo"))[0].status == 200


def test_threads_beyond_the_prespawned_children_spawn_their_own(echo: ChannelPool) -> None:
    pids: list[int] = []
    thread = threading.Thread(target=lambda: pids.append(echo.ready_channel().pid))
    thread.start()
    thread.join(timeout=20)
    assert pids and pids[0] != echo.ready_channel().pid


def test_load_timeout(log: LogLines) -> None:
    with pytest.raises(AppLoadError, match=r"did not finish loading within 0.5s"):
        start_pool("slow-load", log, load_timeout=0.5)


def test_exit_before_hello_reports_the_output(log: LogLines) -> None:
    with pytest.raises(AppLoadError) as info:
        start_pool("print-and-exit", log)
    assert "exited with status 3 before loading the app" in str(info.value)
    assert "boom on stdout before HELLO" in str(info.value)


def test_fail_reports_the_load_error(log: LogLines) -> None:
    with pytest.raises(
        AppLoadError, match=r"test app fail failed to load: bad app at app\.x line 3"
    ):
        start_pool("fail", log)


def test_fail_with_missing_runtime_names_the_package(log: LogLines) -> None:
    with pytest.raises(AppLoadError) as info:
        start_pool("fail-runtime", log)
    assert str(info.value) == (
        "test app fail-runtime: TestLib is not installed (Can't locate Thing.pm); install the "
        "Debian package test-lib-pkg (apt-get install test-lib-pkg)"
    )


def test_malformed_hello_is_a_load_error_and_the_child_is_killed(log: LogLines) -> None:
    with pytest.raises(AppLoadError, match=r"sent a malformed packet \(truncated uwsgi var key"):
        start_pool("bad-hello", log)


def test_close_kills_children_that_do_not_exit(log: LogLines) -> None:
    pool = start_pool("ignore-eof", log)
    results: list[CollectingResponder] = []

    def request() -> None:
        responder = CollectingResponder()
        pool.serve(make_request(path="/echo"), responder)
        results.append(responder)

    thread = threading.Thread(target=request)
    thread.start()
    log.wait_for("[test w4] in the request")
    [channel] = pool._all  # the request thread's child
    pool.close(grace=0.3)
    assert channel.proc is not None and channel.proc.returncode == -9  # SIGKILL after the grace
    thread.join(timeout=20)
    assert results and results[0].status == 502  # the request in flight was not left hanging
    assert pool._all == []  # and no child was respawned after close
