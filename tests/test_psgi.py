"""The PSGI runtime with real perl children: env conformance under Plack::Middleware::Lint, every
body type, the streaming interface, errors, idle deaths, load failures, missing runtime (what
Rack shares is in test_child_runtimes.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import (
    CollectingResponder,
    PatternBody,
    load_runtime,
    make_request,
    needs_plack,
    serve,
    wait_gone,
)

from polyhost.bridges.channel import ChannelPool, FailedMidResponse
from polyhost.bridges.child_runtime import ChildRuntime
from polyhost.bridges.perl.adapter import PsgiRuntime
from polyhost.dispatch import AppLoadError

APPS = Path(__file__).parent / "apps" / "psgi"
CONFORMANCE = str(APPS / "conformance.psgi")

pytestmark = needs_plack


@pytest.fixture(scope="module")
def psgi() -> Iterator[tuple[ChildRuntime, object]]:
    runtime, log = load_runtime(PsgiRuntime, CONFORMANCE)
    yield runtime, log
    runtime.close()


def get(psgi, path: str, **kwargs):  # type: ignore[no-untyped-def]
    runtime, _ = psgi
    return serve(runtime, make_request(path=path, **kwargs))


def test_env_conforms_under_lint(psgi) -> None:  # type: ignore[no-untyped-def]
    response = get(
        psgi, "/env", query="a=1&b=2", headers={"X-Custom": "caf\xe9", "Content-Type": "text/x"}
    )
    assert response.status == 200, response.text()
    env = dict(line.split("=", 1) for line in response.text().splitlines())
    assert env["psgi.version"] == "1.1"
    assert env["psgi.url_scheme"] == "http"
    assert env["psgi.multithread"] == ""
    assert env["psgi.multiprocess"] == "1"
    assert env["psgi.run_once"] == ""
    assert env["psgi.nonblocking"] == ""
    assert env["psgi.streaming"] == "1"
    assert env["psgix.input.buffered"] == "1"
    assert env["psgix.harakiri"] == "1"
    assert env["psgix.cleanup"] == "1"
    assert env["psgix.cleanup.handlers"] == ""  # an empty array ref
    assert env["psgi.input"] == "polyhost::psgi::Input"
    assert env["QUERY_STRING"] == "a=1&b=2"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/env"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == "8080"
    assert env["CONTENT_TYPE"] == "text/x"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert response.body.count(b"HTTP_X_CUSTOM=caf\xe9\n") == 1  # header bytes, not decoded


def test_https_scheme_and_defaults(psgi) -> None:  # type: ignore[no-untyped-def]
    runtime, _ = psgi
    request = make_request(path="/env")
    request.vars["UWSGI_SCHEME"] = "https"
    del request.vars["SERVER_NAME"], request.vars["SERVER_PORT"], request.vars["SCRIPT_NAME"]
    response = serve(runtime, request)
    env = dict(line.split("=", 1) for line in response.text().splitlines())
    assert env["psgi.url_scheme"] == "https"
    assert env["SERVER_NAME"] == "127.0.0.1"  # from Host, as Plack does
    assert env["SERVER_PORT"] == "443"
    assert env["SCRIPT_NAME"] == ""


def test_arrayref_body_in_one_packet_with_a_content_length(psgi) -> None:  # type: ignore[no-untyped-def]
    response = get(psgi, "/array")
    assert response.status_line == "200 OK"
    assert response.headers == [
        ("Content-Type", "text/plain"),
        ("X-Multi", "a"),
        ("X-Multi", "b"),
        ("Content-Length", "12"),  # added, as Starman does, so no chunked framing is needed
    ]
    assert bytes(response.body) == b"Hello, world"
    assert response.writes == 1
    not_modified = get(psgi, "/head304")
    assert (not_modified.status, not_modified.headers, bytes(not_modified.body)) == (304, [], b"")


def test_real_filehandle_body(psgi) -> None:  # type: ignore[no-untyped-def]
    response = get(psgi, "/fh")
    assert response.status == 200
    assert bytes(response.body) == Path(CONFORMANCE).read_bytes()
    assert not response.sendfiles


def test_io_like_body_is_read_with_getline_and_closed(psgi) -> None:  # type: ignore[no-untyped-def]
    _, log = psgi
    response = get(psgi, "/io")
    assert bytes(response.body) == b"one two three"
    log.wait_for("CountingBody closed, $/ was \\65536")


def test_body_with_path_is_sent_as_a_file(psgi) -> None:  # type: ignore[no-untyped-def]
    response = get(psgi, "/path")
    assert response.sendfiles == [(CONFORMANCE, 0, Path(CONFORMANCE).stat().st_size)]
    assert bytes(response.body) == Path(CONFORMANCE).read_bytes()


def test_delayed_response(psgi) -> None:  # type: ignore[no-untyped-def]
    response = get(psgi, "/delayed")
    assert (response.status, bytes(response.body)) == (200, b"delayed body")


def test_streaming_writer(psgi) -> None:  # type: ignore[no-untyped-def]
    response = get(psgi, "/stream")
    assert bytes(response.body) == b"chunk 1\nchunk 2\nchunk 3\n"
    assert response.writes == 3  # each write reaches the worker when it is made


def test_die_gives_500_and_the_perl_error_in_the_log(psgi) -> None:  # type: ignore[no-untyped-def]
    runtime, log = psgi
    before = runtime.apps[0].exceptions
    response = get(psgi, "/die")
    assert response.status == 500
    assert log.wait_for("boom in the app").startswith("[psgi w1] ")
    assert runtime.apps[0].exceptions == before + 1
    assert get(psgi, "/array").status == 200


def test_die_after_the_response_started_logs_and_cuts(psgi) -> None:  # type: ignore[no-untyped-def]
    runtime, log = psgi
    responder = CollectingResponder()
    with pytest.raises(FailedMidResponse):  # the worker closes without finishing the response
        runtime.handle(runtime.apps[0], make_request(path="/die-streaming"), responder)
    assert (responder.status, bytes(responder.body)) == (200, b"partial\n")
    log.wait_for("boom after start")
    assert get(psgi, "/does-not-exist").status == 404  # the same child serves on


def test_input_read_with_offset_and_seek(psgi) -> None:  # type: ignore[no-untyped-def]
    response = get(psgi, "/input", method="POST", body=b"0123456789abcdefghij")
    assert response.text() == "first=0123456789abcdefghij\nsecond=prefix:01234\nn=5\n"


def test_errors_print_returns_true_and_reaches_the_log(psgi) -> None:  # type: ignore[no-untyped-def]
    _, log = psgi
    assert get(psgi, "/errors").text() == "print returned 1"
    assert log.wait_for("a line for the log") == "[psgi w1] a line for the log"


def test_cleanup_handlers_run_after_the_response(psgi) -> None:  # type: ignore[no-untyped-def]
    _, log = psgi
    assert get(psgi, "/cleanup").text() == "ok"
    log.wait_for("cleanup ran for /cleanup")


def test_uwsgi_package(psgi) -> None:  # type: ignore[no-untyped-def]
    _, log = psgi
    text = get(psgi, "/uwsgi").text()
    assert text.startswith("worker=1\ncache=uwsgi::cache_get: no cache configured: add cache2")
    assert "at " in text  # croak names the caller's file and line
    log.wait_for("uwsgi::log from the app")


def test_wide_characters_and_bad_status_are_500(psgi) -> None:  # type: ignore[no-untyped-def]
    _, log = psgi
    assert get(psgi, "/raw/wide").status == 500
    log.wait_for("Wide character in the response body")
    assert get(psgi, "/raw/bad-status").status == 500
    log.wait_for("invalid PSGI status 'two hundred'")


def test_harakiri_commit_retires_the_child() -> None:
    runtime, _ = load_runtime(PsgiRuntime, CONFORMANCE)
    try:
        first = int(serve(runtime, make_request(path="/harakiri")).text())
        wait_gone(first)
        second = int(serve(runtime, make_request(path="/pid")).text())
        assert second != first
    finally:
        runtime.close()


def test_chunked_upload_of_unknown_length() -> None:
    runtime, _ = load_runtime(PsgiRuntime, CONFORMANCE)
    try:
        body = PatternBody(300_000, piece=1000)
        request = make_request(
            path="/upload", method="POST", body=body, headers={"Transfer-Encoding": "chunked"}
        )
        assert "CONTENT_LENGTH" not in request.vars
        assert serve(runtime, request).text().startswith(f"300000 {body.expected_md5} ")
    finally:
        runtime.close()


def test_child_dead_while_idle_is_replaced_before_the_request() -> None:
    runtime, log = load_runtime(PsgiRuntime, CONFORMANCE)
    try:
        pid = int(serve(runtime, make_request(path="/pid")).text())
        os.kill(pid, signal.SIGKILL)
        wait_gone(pid)
        response = serve(runtime, make_request(path="/pid"))
        assert response.status == 200 and int(response.text()) != pid
        log.wait_for("while idle; respawning")
    finally:
        runtime.close()


def test_one_child_per_thread() -> None:
    runtime, _ = load_runtime(PsgiRuntime, CONFORMANCE, threads=3)
    try:
        pool: ChannelPool = runtime.apps[0].handle  # type: ignore[assignment]
        pids: set[int] = set()
        barrier = threading.Barrier(3, timeout=20)

        def worker_thread() -> None:
            barrier.wait()
            for _ in range(5):
                pids.add(int(serve(runtime, make_request(path="/pid")).text()))

        threads = [threading.Thread(target=worker_thread) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(pids) == 3
        assert {channel.pid for channel in pool._all} == pids
    finally:
        runtime.close()


def test_perl_lib_options_reach_inc(tmp_path: Path) -> None:
    """A perl-local-lib tree puts both its lib/perl5 and its architecture directory on @INC."""
    arch = subprocess.run(
        ["perl", "-MConfig", "-e", "print $Config{archname}"], capture_output=True, text=True
    ).stdout
    local = tmp_path / "local" / "lib" / "perl5" / arch
    local.mkdir(parents=True)
    (local.parent / "Greeting.pm").write_text("package Greeting; sub text { 'from lib' } 1;\n")
    (local / "LocalThing.pm").write_text("package LocalThing; sub text { 'from local' } 1;\n")
    app = tmp_path / "app.psgi"
    app.write_text(
        "use Greeting; use LocalThing;\n"
        "sub { [200, [], [Greeting::text() . ' ' . LocalThing::text() . ' ' . $0]] };\n"
    )
    runtime, _ = load_runtime(
        PsgiRuntime,
        str(app),
        options={"perl-local-lib": str(tmp_path / "local")},
    )
    try:
        text = serve(runtime, make_request()).text()
        assert text == f"from lib from local polyhost psgi w1 {app}"
    finally:
        runtime.close()


def test_syntax_error_is_an_app_load_error_with_perls_message() -> None:
    with pytest.raises(AppLoadError) as info:
        load_runtime(PsgiRuntime, str(APPS / "syntax_error.psgi"))
    message = str(info.value)
    assert message.startswith("test: psgi app ")
    assert "syntax_error.psgi" in message
    assert "Missing right curly" in message or "syntax error" in message


def test_app_that_is_not_code_is_refused() -> None:
    with pytest.raises(AppLoadError, match="did not return a code reference"):
        load_runtime(PsgiRuntime, str(APPS / "not_code.psgi"))


def test_missing_app_file() -> None:
    with pytest.raises(AppLoadError, match="not found"):
        load_runtime(PsgiRuntime, str(APPS / "nope.psgi"))


def test_missing_perl_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        AppLoadError, match=r"needs perl, which is not on PATH.*Debian package perl"
    ):
        load_runtime(PsgiRuntime, CONFORMANCE)


def test_missing_plack_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a perl whose @INC hides Plack, as on a machine without libplack-perl
    (tmp_path / "HidePlack.pm").write_text(
        "package HidePlack;\n"
        'unshift @INC, sub { die "Can\'t locate $_[1] in \\@INC (hidden)\\n"'
        " if $_[1] =~ m{^Plack/}; return };\n1;\n"
    )
    wrapper = tmp_path / "perl"
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("perl")} -I{tmp_path} -MHidePlack "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(AppLoadError) as info:
        load_runtime(PsgiRuntime, CONFORMANCE)
    assert "Plack is not installed" in str(info.value)
    assert "apt-get install libplack-perl" in str(info.value)


def test_children_die_with_their_worker(tmp_path: Path) -> None:
    """A worker killed by SIGKILL (harakiri) leaves no perl child behind."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from bridge_support import load_runtime
        from polyhost.bridges.perl.adapter import PsgiRuntime
        runtime, _ = load_runtime(PsgiRuntime, {CONFORMANCE!r}, threads=2)
        print(" ".join(str(c.pid) for c in runtime.apps[0].handle._all), flush=True)
        time.sleep(60)
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None
        pids = [int(p) for p in worker.stdout.readline().split()]
        assert len(pids) == 2
        worker.kill()
        worker.wait(timeout=10)
        for pid in pids:
            wait_gone(pid)
    finally:
        worker.kill()
        worker.wait(timeout=10)
        if worker.stdout is not None:
            worker.stdout.close()
