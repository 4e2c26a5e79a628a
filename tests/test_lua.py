"""The Lua runtime with real Lua 5.1 (lupa): WSAPI env and response conformance, every body
kind, wsapi_env.input formats, errors with tracebacks, big bodies, one state per thread, load
failures, and a live polyhost serving Lua beside Python by mountpoint and by modifier1."""

from __future__ import annotations

import hashlib
import importlib.util
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import (
    CollectingResponder,
    LogLines,
    PatternBody,
    load_runtime,
    make_request,
    peak_rss_kib,
    reset_peak_rss,
    serve,
)

from polyhost.bridges.lua.adapter import LuaRuntime
from polyhost.dispatch import AppLoadError, Runtime
from polyhost.protocol.uwsgi import encode_vars, pack_header
from polyhost.request import ResponseAborted

from conftest import APPS, Instance, serving, split_response

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lupa") is None, reason="needs lupa (pip install lupa)"
)

LUA = APPS / "lua"
CONFORMANCE = str(LUA / "conformance.lua")
BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def lua() -> Iterator[tuple[Runtime, LogLines]]:
    runtime, log = load_runtime(  # type: ignore[arg-type]
        LuaRuntime, CONFORMANCE, options={"lua-load": str(LUA / "preload.lua"), "processes": 3}
    )
    yield runtime, log
    runtime.close()


def request(lua, path: str, **kwargs):  # type: ignore[no-untyped-def]
    runtime, _ = lua
    return serve(runtime, make_request(path=path, **kwargs))  # type: ignore[arg-type]


def test_env_has_the_cgi_vars_input_and_error(lua) -> None:  # type: ignore[no-untyped-def]
    response = request(lua, "/env", query="a=1", headers={"X-Custom": "caf\xe9"})
    assert response.status == 200
    env = dict(line.split("=", 1) for line in response.text().splitlines())
    assert env["QUERY_STRING"] == "a=1"
    assert env["PATH_INFO"] == "/env"
    assert env["SCRIPT_NAME"] == ""
    assert env["CONTENT_TYPE"] == ""  # set when absent, as uWSGI's lua plugin does
    assert env["REQUEST_METHOD"] == "GET"
    assert (env["input"], env["error"]) == ("function", "function")
    assert b"HTTP_X_CUSTOM=caf\xe9\n" in response.body  # header bytes reach Lua unchanged


def test_status_line_and_header_tables(lua) -> None:  # type: ignore[no-untyped-def]
    response = request(lua, "/headers")
    assert response.status_line == "201 Made"
    assert sorted(response.headers) == [
        ("Content-Type", "text/plain"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
    ]
    assert bytes(response.body) == b"made"
    numeric = request(lua, "/status-number")
    assert (numeric.status_line, bytes(numeric.body)) == ("404 Not Found", b"")


def test_body_kinds(lua) -> None:  # type: ignore[no-untyped-def]
    assert bytes(request(lua, "/string-body").body) == b"a plain string body"
    table = request(lua, "/table-body")
    assert (bytes(table.body), table.writes) == (b"one two three", 3)
    assert bytes(request(lua, "/bytes").body) == bytes(range(256))


def test_input_read_formats(lua) -> None:  # type: ignore[no-untyped-def]
    response = request(lua, "/read-formats", method="POST", body=b"line one\nline two\nabcdREST")
    assert response.text() == (
        "first=[line one] second=[line two] four=[abcd] rest=[REST] after=nil all=[]"
    )


def test_lua_error_is_a_500_with_the_traceback(lua) -> None:  # type: ignore[no-untyped-def]
    runtime, log = lua
    before = runtime.apps[0].exceptions
    response = request(lua, "/error")
    assert response.status == 500
    line = log.wait_for("boom in the lua app")
    assert line.startswith("GET /error: Lua error in the WSAPI app ")
    assert "stack traceback:" in line and "in function 'inner'" in line
    assert "conformance.lua:" in line
    assert runtime.apps[0].exceptions == before + 1
    assert request(lua, "/string-body").status == 200


def test_error_in_the_body_iterator_after_the_start(lua) -> None:  # type: ignore[no-untyped-def]
    runtime, log = lua
    responder = CollectingResponder()
    with pytest.raises(ResponseAborted):  # the worker closes without finishing the response
        runtime.handle(runtime.apps[0], make_request(path="/body-error"), responder)
    assert (responder.status, bytes(responder.body)) == (200, b"partial\n")
    log.wait_for("boom in the body iterator")


def test_bad_bodies_and_headers_are_500s(lua) -> None:  # type: ignore[no-untyped-def]
    _, log = lua
    assert request(lua, "/bad-body").status == 500
    log.wait_for("the WSAPI app returned a number as its body")
    assert request(lua, "/nul-header").status == 500
    log.wait_for("the WSAPI app's response header X-Bad contains a NUL byte")


def test_uwsgi_table_log_and_lua_load(lua) -> None:  # type: ignore[no-untyped-def]
    _, log = lua
    text = request(lua, "/uwsgi").text()
    assert text == "worker=1 version=2.0.21 numproc=3 request=0 opt=nil loaded=yes"
    log.wait_for("uwsgi.log from the lua app")
    log.wait_for("a line for the log")
    log.wait_for("and a second one")


def test_big_upload_and_download_stream_through(lua) -> None:  # type: ignore[no-untyped-def]
    runtime, _ = lua
    reset_peak_rss()
    base = peak_rss_kib()
    body = PatternBody(BIG, piece=65536)
    upload = serve(
        runtime,  # type: ignore[arg-type]
        make_request(path="/echo", method="POST", body=body, content_length=BIG),
        keep_body=False,
    )
    assert upload.bytes_sent == BIG
    expected = PatternBody(BIG)
    assert upload.digest.hexdigest() == _sha256(expected)
    download = serve(
        runtime,
        make_request(path="/download", query=str(BIG)),
        keep_body=False,  # type: ignore[arg-type]
    )
    assert download.bytes_sent == BIG
    grown = peak_rss_kib() - base
    assert grown < 32 * 1024, f"peak RSS grew by {grown} KiB for 50 MiB each way"


def _sha256(body: PatternBody) -> str:
    digest = hashlib.sha256()
    while piece := body.read(1 << 20):
        digest.update(piece)
    return digest.hexdigest()


def test_one_lua_state_per_thread() -> None:
    runtime, _ = load_runtime(LuaRuntime, CONFORMANCE, threads=3)  # type: ignore[arg-type]
    try:
        assert len(runtime.apps[0].handle.spare) == 3  # made at load, as uWSGI does per core
        seen: dict[str, set[str]] = {}
        barrier = threading.Barrier(3, timeout=20)

        def worker_thread() -> None:
            barrier.wait()
            name = threading.current_thread().name
            for _ in range(5):
                state = serve(runtime, make_request(path="/state")).text()  # type: ignore[arg-type]
                seen.setdefault(name, set()).add(state)

        threads = [threading.Thread(target=worker_thread) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert all(len(states) == 1 for states in seen.values())  # a thread keeps its state
        assert len(set().union(*seen.values())) == 3  # and no two threads share one
    finally:
        runtime.close()


def test_app_file_returning_a_table_with_run_under_a_mountpoint() -> None:
    runtime, _ = load_runtime(LuaRuntime, str(LUA / "table_app.ws"))  # type: ignore[arg-type]
    response = serve(
        runtime,
        make_request(path="/x", script_name="/mounted"),  # type: ignore[arg-type]
    )
    assert response.text() == "run from a table at /mounted|/x"


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ("syntax_error.lua", "unfinished string"),
        ("load_error.lua", "failing while loading"),
        ("not_a_function.lua", "returned number: a WSAPI app file must return its run"),
        ("nope.lua", "not found"),
    ],
)
def test_load_failures_are_app_load_errors(app: str, expected: str) -> None:
    with pytest.raises(AppLoadError) as info:
        load_runtime(LuaRuntime, str(LUA / app))  # type: ignore[arg-type]
    assert expected in str(info.value)
    assert str(info.value).startswith("test: ")


def test_load_error_has_the_lua_traceback() -> None:
    with pytest.raises(AppLoadError) as info:
        load_runtime(LuaRuntime, str(LUA / "load_error.lua"))  # type: ignore[arg-type]
    assert "stack traceback:" in str(info.value)
    assert "load_error.lua:2:" in str(info.value)


def test_missing_lupa_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lupa", None)
    monkeypatch.setitem(sys.modules, "lupa.lua51", None)
    with pytest.raises(AppLoadError, match="pip install lupa"):
        load_runtime(LuaRuntime, CONFORMANCE)  # type: ignore[arg-type]


# -- a live polyhost: Python and two Lua apps, chosen by modifier1 and SCRIPT_NAME as nginx's
# uwsgi_modifier1 / uwsgi_param SCRIPT_NAME do
@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, int]]:
    tmp = tmp_path_factory.mktemp("lua")
    args = [
        "--processes",
        "1",
        "--threads",
        "2",
        "--wsgi-file",
        str(APPS / "wsgi" / "basic.py"),
        "--mount",
        f"/lua={CONFORMANCE}",
        "--mount",
        f"/ws={LUA / 'table_app.ws'}",
        "--lua-load",
        str(LUA / "preload.lua"),
    ]
    with serving(tmp, args, uwsgi_socket=True) as inst:
        assert inst.uwsgi_port is not None
        yield inst, inst.uwsgi_port


def uwsgi_get(port: int, modifier1: int, script_name: str, path: str) -> bytes:
    env = {
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "t",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "10.1.2.3",
        "QUERY_STRING": "q=1",
        "PATH_INFO": path,
        "REQUEST_URI": script_name + path + "?q=1",
        "SCRIPT_NAME": script_name,
    }
    block = encode_vars(env)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(pack_header(modifier1, len(block), 0) + block)
        return b"".join(iter(lambda: sock.recv(65536), b""))


def test_live_lua_and_python_by_modifier1(instance) -> None:  # type: ignore[no-untyped-def]
    inst, uwsgi_port = instance
    status, _, body = split_response(uwsgi_get(uwsgi_port, 6, "/lua", "/env"))
    assert status == 200
    env = dict(line.split("=", 1) for line in body.decode().splitlines())
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == ("/lua", "/env", "q=1")
    status, _, body = split_response(uwsgi_get(uwsgi_port, 6, "/ws", "/y"))
    assert (status, body) == (200, b"run from a table at /ws|/y")
    status, _, body = split_response(uwsgi_get(uwsgi_port, 0, "", "/"))
    assert (status, body) == (200, b"Hello World")  # the Python app
    status, _, body = split_response(uwsgi_get(uwsgi_port, 6, "/lua", "/uwsgi"))
    assert status == 200
    assert body.startswith(b"worker=1 version=2.0.21 numproc=1 request=")
    assert body.endswith(b"opt=nil loaded=yes")
    log = inst.wait_log("Lua 5.1 WSAPI app")
    assert "2 Lua state(s), worker 1" in log


def test_live_lua_error_keeps_the_worker(instance) -> None:  # type: ignore[no-untyped-def]
    inst, uwsgi_port = instance
    pids = inst.worker_pids()
    assert split_response(uwsgi_get(uwsgi_port, 6, "/lua", "/error"))[0] == 500
    log = inst.wait_log("boom in the lua app")
    assert "stack traceback:" in log
    assert split_response(uwsgi_get(uwsgi_port, 6, "/lua", "/string-body"))[0] == 200
    assert inst.worker_pids() == pids


def test_a_worker_without_jvm_apps_never_loads_a_jvm(instance) -> None:  # type: ignore[no-untyped-def]
    inst, _ = instance
    pids = inst.worker_pids()
    assert pids
    for pid in pids:
        assert "libjvm" not in Path(f"/proc/{pid}/maps").read_text()
