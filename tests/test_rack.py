"""The Rack runtime with real ruby children: env conformance under Rack::Lint, each/call/to_path
bodies, close, errors, rack.input, a real Sinatra app, load failures (what PSGI shares is in
test_child_runtimes.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import (
    CollectingResponder,
    LogLines,
    PatternBody,
    load_runtime,
    make_request,
    needs_rack,
    runs,
    serve,
)

from polyhost.bridges.channel import FailedMidResponse
from polyhost.bridges.child_runtime import ChildRuntime
from polyhost.bridges.ruby.adapter import RackRuntime
from polyhost.dispatch import AppLoadError

APPS = Path(__file__).parent / "apps" / "rack"
CONFORMANCE = str(APPS / "conformance.ru")

pytestmark = needs_rack


@pytest.fixture(scope="module")
def rack() -> Iterator[tuple[ChildRuntime, LogLines]]:
    runtime, log = load_runtime(RackRuntime, CONFORMANCE)
    yield runtime, log
    runtime.close()


def get(rack, path: str, **kwargs):  # type: ignore[no-untyped-def]
    runtime, _ = rack
    return serve(runtime, make_request(path=path, **kwargs))


def test_env_conforms_under_lint(rack) -> None:  # type: ignore[no-untyped-def]
    response = get(
        rack, "/env", query="a=1", headers={"X-Custom": "caf\xe9", "Content-Type": "text/x"}
    )
    assert response.status == 200, response.text()
    env = dict(line.split("=", 1) for line in response.text().splitlines())
    version = subprocess.run(
        ["ruby", "-rrack", "-e", "print Rack::VERSION.join('.')"], capture_output=True, text=True
    ).stdout
    assert env["rack.version"] == version
    assert env["rack.url_scheme"] == "http"
    assert env["rack.multithread"] == "false"
    assert env["rack.multiprocess"] == "true"
    assert env["rack.run_once"] == "false"
    assert env["rack.hijack?"] == "false"
    assert env["rack.errors"] == "Rack::Lint::ErrorWrapper"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["QUERY_STRING"] == "a=1"
    assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/env"
    assert env["CONTENT_TYPE"] == "text/x"
    assert "HTTP_CONTENT_TYPE" not in env
    assert b"HTTP_X_CUSTOM=caf\xe9\n" in response.body


def test_mountpoint_split_reaches_the_app(rack) -> None:  # type: ignore[no-untyped-def]
    response = get(rack, "/env", script_name="/ruby")
    env = dict(line.split("=", 1) for line in response.text().splitlines())
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/ruby", "/env")


def test_array_body_headers_with_newlines_and_empty_values(rack) -> None:  # type: ignore[no-untyped-def]
    response = get(rack, "/array")
    assert response.headers == [
        ("content-type", "text/plain"),
        ("x-multi", "a"),
        ("x-multi", "b"),
        ("x-empty", ""),
    ]
    assert bytes(response.body) == b"Hello, world"


def test_array_body_gets_a_content_length(rack) -> None:  # type: ignore[no-untyped-def]
    response = get(rack, "/raw/array")
    assert response.headers == [("content-type", "text/plain"), ("content-length", "12")]
    assert (bytes(response.body), response.writes) == (b"Hello, world", 1)
    given = get(rack, "/raw/array-with-length")
    assert given.headers == [("content-type", "text/plain"), ("content-length", "5")]
    assert get(rack, "/raw/not-modified").headers == []


def test_each_body_is_closed(rack) -> None:  # type: ignore[no-untyped-def]
    _, log = rack
    response = get(rack, "/each")
    assert bytes(response.body) == b"one two three"
    assert log.wait_for("EachBody closed") == "[rack w1] EachBody closed"


def test_to_path_body_is_sent_as_a_file_and_closed(rack) -> None:  # type: ignore[no-untyped-def]
    _, log = rack
    response = get(rack, "/raw/to_path")
    assert response.sendfiles == [(CONFORMANCE, 0, Path(CONFORMANCE).stat().st_size)]
    assert bytes(response.body) == Path(CONFORMANCE).read_bytes()
    log.wait_for("FileBody closed")


def test_call_body_streams(rack) -> None:  # type: ignore[no-untyped-def]
    response = get(rack, "/raw/call")
    assert bytes(response.body) == b"part 0\npart 1\npart 2\n"
    assert response.writes == 3


def test_exception_gives_500_and_the_ruby_error_in_the_log(rack) -> None:  # type: ignore[no-untyped-def]
    runtime, log = rack
    before = runtime.apps[0].exceptions
    response = get(rack, "/raise")
    assert response.status == 500
    line = log.wait_for("boom in the app")
    assert "ArgumentError" in line and "conformance.ru" in line
    assert runtime.apps[0].exceptions == before + 1
    assert get(rack, "/array").status == 200


def test_exception_while_streaming_cuts_the_response(rack) -> None:  # type: ignore[no-untyped-def]
    runtime, log = rack
    responder = CollectingResponder()
    with pytest.raises(FailedMidResponse):  # the worker closes without finishing the response
        runtime.handle(runtime.apps[0], make_request(path="/raise-in-each"), responder)
    assert (responder.status, bytes(responder.body)) == (200, b"partial\n")
    log.wait_for("boom while streaming")
    assert get(rack, "/does-not-exist").status == 404  # the same child serves on


def test_rack_input_semantics(rack) -> None:  # type: ignore[no-untyped-def]
    response = get(rack, "/input", method="POST", body=b"abcdef\nline2\nend")
    assert response.status == 200, response.text()
    assert response.text().splitlines() == [
        "read3=abc",
        'gets="def\\n"',
        'rest="line2\\nend"',
        "at_end_gets=nil",
        "at_end_read=nil",
        'read0=""',
        'buffer="abcdef\\nline2\\nend"',
        'each=["abcdef\\n", "line2\\n", "end"]',
    ]


def test_rack_input_semantics_when_pulled(rack) -> None:  # type: ignore[no-untyped-def]
    body = PatternBody(200_000, piece=3000)
    runtime, _ = rack
    request = make_request(path="/upload", method="POST", body=body, content_length=200_000)
    text = serve(runtime, request).text()
    assert text == f"200000 {body.expected_md5} {bytes(range(10)).hex()}"


def test_errors_reach_the_log(rack) -> None:  # type: ignore[no-untyped-def]
    _, log = rack
    assert get(rack, "/errors").text() == "ok"
    log.wait_for("a line for the log")
    log.wait_for("written")


def test_uwsgi_module(rack) -> None:  # type: ignore[no-untyped-def]
    _, log = rack
    text = get(rack, "/uwsgi").text()
    assert text == (
        "worker=1\ncache=UWSGI.cache_get: no cache configured: add cache2 = name=NAME,items=N"
    )
    log.wait_for("UWSGI.log from the app")


@pytest.mark.skipif(
    not os.environ.get("POLYHOST_TEST_RACK3_LIB"),
    reason="Debian 12 ships Rack 2.2: set POLYHOST_TEST_RACK3_LIB to the lib/ of a Rack 3 checkout",
)
def test_rack3_lint() -> None:
    """The same app under Rack 3's Lint, Rack 3 put first on $LOAD_PATH with rb-lib."""
    runtime, _ = load_runtime(
        RackRuntime, CONFORMANCE, options={"rb-lib": [os.environ["POLYHOST_TEST_RACK3_LIB"]]}
    )
    try:
        assert " rack 3." in runtime.apps[0].handle.ready_channel().hello["version"]  # type: ignore[attr-defined]
        for path in ("/env", "/array", "/each", "/raw/to_path", "/raw/call", "/errors"):
            assert serve(runtime, make_request(path=path)).status == 200, path
        array = serve(runtime, make_request(path="/array"))
        assert ("x-multi", "a") in array.headers and ("x-multi", "b") in array.headers
        body = b"abcdef\nline2\nend"
        text = serve(runtime, make_request("POST", "/input", body=body)).text()
        assert text.startswith('read3=abc\ngets="def\\n"\nrest="line2\\nend"\nat_end_gets=nil')
        assert serve(runtime, make_request(path="/raise")).status == 500
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def sinatra() -> Iterator[ChildRuntime]:
    runtime, _ = load_runtime(RackRuntime, str(APPS / "sinatra" / "config.ru"))
    yield runtime
    runtime.close()


@pytest.mark.skipif(not runs("ruby", "-e", "require 'sinatra/base'"), reason="needs ruby-sinatra")
class TestSinatra:
    def test_routes_and_params(self, sinatra: ChildRuntime) -> None:
        assert serve(sinatra, make_request()).text() == "Sinatra on polyhost"
        response = serve(sinatra, make_request(path="/hello/perl", query="suffix=!"))
        assert (response.status, response.text()) == (200, "Hello perl!")
        assert serve(sinatra, make_request(path="/missing")).status == 404

    def test_post_form_and_raw_body(self, sinatra: ChildRuntime) -> None:
        form = b"field=value+with+spaces&other=1"
        response = serve(
            sinatra,
            make_request(
                path="/echo",
                method="POST",
                body=form,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
        )
        assert response.header("Content-Type") == "application/json"
        assert json.loads(response.text()) == {"form": "value with spaces", "size": len(form)}
        raw = serve(
            sinatra,
            make_request(
                path="/raw",
                method="POST",
                body=b"x" * 100_000,
                headers={"Content-Type": "application/octet-stream"},
            ),
        )
        assert raw.text() == "got " + "x" * 100_000

    def test_streaming_route(self, sinatra: ChildRuntime) -> None:
        response = serve(sinatra, make_request(path="/stream"))
        assert bytes(response.body) == b"first\nsecond\n"
        assert response.writes == 2

    def test_route_error_is_500(self, sinatra: ChildRuntime) -> None:
        assert serve(sinatra, make_request(path="/fail")).status == 500


def test_syntax_error_is_an_app_load_error_with_rubys_message() -> None:
    with pytest.raises(AppLoadError) as info:
        load_runtime(RackRuntime, str(APPS / "syntax_error.ru"))
    message = str(info.value)
    assert message.startswith("test: rack app ")
    assert "syntax_error.ru" in message and "syntax error" in message


def test_missing_ruby_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        AppLoadError, match=r"needs ruby, which is not on PATH.*Debian package ruby"
    ):
        load_runtime(RackRuntime, CONFORMANCE)


def test_missing_rack_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a ruby without gems cannot find rack, as on a machine without ruby-rack
    wrapper = tmp_path / "ruby"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ruby")} --disable-gems "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(AppLoadError) as info:
        load_runtime(RackRuntime, CONFORMANCE)
    assert "rack is not installed (cannot load such file -- rack)" in str(info.value)
    assert "apt-get install ruby-rack" in str(info.value)


def test_rb_lib_rb_require_and_gc_freq_options(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "greeting.rb").write_text("GREETING = 'from lib'\n")
    (tmp_path / "early.rb").write_text("EARLY = 'required early'\n")
    app = tmp_path / "config.ru"
    app.write_text(
        "require 'greeting'\nrun ->(e) { [200, {}, [GREETING, ' ', EARLY, ' ', GC.count.to_s]] }\n"
    )
    runtime, _ = load_runtime(
        RackRuntime,
        str(app),
        options={
            "rb-lib": [str(tmp_path / "lib")],
            "rb-require": [str(tmp_path / "early.rb")],
            "ruby-gc-freq": 1,
        },
    )
    try:
        first = serve(runtime, make_request()).text()
        assert first.startswith("from lib required early ")
        second = serve(runtime, make_request()).text()
        assert int(second.rsplit(" ", 1)[1]) > int(first.rsplit(" ", 1)[1])  # a GC per request
    finally:
        runtime.close()
