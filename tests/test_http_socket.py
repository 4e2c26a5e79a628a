"""HTTP/1.1 on --http-socket against a real polyhost: framing, keep-alive, WSGI conformance."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, get, http_request, serving, split_response, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("http")
    marker = tmp / "closed.txt"
    os.environ["CLOSE_MARKER"] = str(marker)
    args = [
        "--processes",
        "2",
        "--wsgi-file",
        str(APPS / "wsgi" / "basic.py"),
        "--buffer-size",
        "8192",
    ]
    try:
        with serving(tmp, args) as inst:
            inst.marker = marker  # type: ignore[attr-defined]
            yield inst
    finally:
        del os.environ["CLOSE_MARKER"]


def test_hello_and_request_log(server: Instance) -> None:
    status, headers, body = split_response(get(server.port, "/"))
    assert (status, body) == (200, b"Hello World")
    assert headers["connection"] == "close"
    log = server.wait_log("GET / => generated 11 bytes")
    line = next(x for x in log.splitlines() if "GET / => generated 11 bytes" in x)
    assert line.startswith("[pid: ") and "|app: 0|req: " in line
    assert "(HTTP/1.1 200)" in line and "127.0.0.1 ()" in line


def test_keep_alive_and_pipelining(server: Instance) -> None:
    raw = (
        b"".join(f"GET /?n={i} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for i in range(3))
        + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    data = http_request(server.port, raw)
    assert data.count(b"HTTP/1.1 200 OK") == 4
    assert data.count(b"Hello World") == 4


def test_chunked_request_body_is_dechunked(server: Instance) -> None:
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    status, _, body = split_response(http_request(server.port, raw))
    assert status == 200 and body == b"hello world"


def test_expect_continue(server: Instance) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"data")
        assert sock.recv(1000).endswith(b"data")


def test_streaming_body_is_chunked_and_close_called(server: Instance) -> None:
    raw = http_request(
        server.port,
        b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    _, headers, rest = split_response(raw)
    assert headers["transfer-encoding"] == "chunked"
    chunked, _, second = rest.partition(b"HTTP/1.1 200 OK")
    assert chunked == b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"
    # with Connection: close the body is delimited by the close instead
    assert second.endswith(b"\r\n\r\none two three")
    wait_for(lambda: Path(server.marker).exists(), 5, "close() marker")  # type: ignore[attr-defined]


def test_http10_gets_close_delimited_body(server: Instance) -> None:
    raw = http_request(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.0 200 OK") and raw.endswith(b"\r\n\r\none two three")


def test_head_has_no_body(server: Instance) -> None:
    raw = http_request(server.port, b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 OK") and raw.endswith(b"\r\n\r\n")


def test_wsgi_environ(server: Instance) -> None:
    _, _, body = split_response(get(server.port, "/env?a=1&b=%20", "X-Thing: 1\r\nX-Thing: 2\r\n"))
    env = json.loads(body)
    assert env["REQUEST_METHOD"] == "GET" and env["QUERY_STRING"] == "a=1&b=%20"
    assert env["PATH_INFO"] == "/env" and env["SCRIPT_NAME"] == ""
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["SERVER_NAME"] == "t"
    assert env["HTTP_X_THING"] == "1, 2"
    assert env["SERVER_SOFTWARE"].startswith("polyhost/")
    assert env["wsgi.url_scheme"] == "http" and env["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_CONTENT_LENGTH" not in env


def test_input_readline_honours_size(server: Instance) -> None:
    raw = (
        b"POST /lines HTTP/1.1\r\nHost: t\r\nContent-Length: 22\r\nConnection: close\r\n\r\n"
        b"first line\nsecond one\n"
    )
    _, _, body = split_response(http_request(server.port, raw))
    assert json.loads(body) == ["first", " line\n", ""]


def test_exception_is_500_with_traceback(server: Instance) -> None:
    assert split_response(get(server.port, "/raise"))[0] == 500
    log = server.wait_log("RuntimeError: boom from the app")
    assert "Traceback" in log
    assert split_response(get(server.port, "/"))[0] == 200


def test_file_wrapper_uses_the_file(server: Instance) -> None:
    status, _, body = split_response(get(server.port, "/file"))
    assert status == 200
    assert b"A WSGI app exercising" in body


def test_uwsgi_module(server: Instance) -> None:
    _, _, body = split_response(get(server.port, "/uwsgi"))
    info = json.loads(body)
    assert info["worker_id"] in (1, 2) and info["masterpid"] == server.pid
    assert info["numproc"] == 2 and info["version"] == "2.0.21"
    assert info["spool"] == [-2, -1, 0] and info["request_id"] >= 1
    assert info["opt_socket"] == [f"127.0.0.1:{server.port}"]
    # no cache configured: a clear error, never a silent None
    assert "no cache configured: add cache2 = name=NAME,items=N" in info["cache_error"]
    server.wait_log("uwsgi.log from the app")


@pytest.mark.parametrize(
    "raw",
    [
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n",
        b"G@T / HTTP/1.1\r\n\r\n",
        b"GET / FTP/1.1\r\n\r\n",
        b"GET nopath HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    ],
    ids=[
        "dup-cl",
        "cl-and-te",
        "obs-fold",
        "ctl-char",
        "bad-method",
        "bad-version",
        "bad-target",
        "bad-chunk",
    ],
)
def test_bad_http_is_400_and_worker_survives(server: Instance, raw: bytes) -> None:
    pids = sorted(server.worker_pids())
    data = http_request(server.port, raw)
    assert data.startswith(b"HTTP/1.1 400 Bad Request"), data[:200]
    assert split_response(get(server.port, "/"))[0] == 200
    assert sorted(server.worker_pids()) == pids


def test_oversized_head_is_431(server: Instance) -> None:
    big = "X-Big: " + "a" * 9000 + "\r\n"
    data = get(server.port, "/", big)
    assert data.startswith(b"HTTP/1.1 431"), data[:100]
    server.wait_log("raise buffer-size")
    assert split_response(get(server.port, "/"))[0] == 200


def test_absolute_form_and_fragment(server: Instance) -> None:
    raw = b"GET http://t/env?x=1#frag HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    env = json.loads(split_response(http_request(server.port, raw))[2])
    assert env["PATH_INFO"] == "/env" and env["QUERY_STRING"] == "x=1"
    assert env["REQUEST_URI"] == "/env?x=1"


def test_same_headers_framed_per_request(server: Instance) -> None:
    """Response heads are checked once and reused (HttpResponder's head blocks): the same app
    headers still get the framing of each request: chunked on HTTP/1.1 keep-alive, no body on
    HEAD, close-delimited on Connection: close and on HTTP/1.0."""
    raw = (
        b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
        b"HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    data = http_request(server.port, raw)
    chunked = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
    closing = b"Content-Type: text/plain\r\nConnection: close\r\n\r\none two three"
    assert data == chunked + head + chunked + b"HTTP/1.1 200 OK\r\n" + closing
    old = http_request(server.port, b"GET /stream HTTP/1.0\r\n\r\n")
    assert old == b"HTTP/1.0 200 OK\r\n" + closing
