"""The worker's idle sweep (socket-timeout for a connection that has not sent its request yet,
http-keepalive between requests) closes only connections that are idle: one whose request
arrived while a single-threaded worker was busy with a long request is served, not closed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from conftest import APPS, Instance, serving, split_response

REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    args = [
        "--processes",
        "1",
        "--wsgi-file",
        str(APPS / "wsgi" / "basic.py"),
        "--socket-timeout",
        "1",
        "--http-keepalive",
        "2",
    ]
    with serving(tmp_path_factory.mktemp("sweep"), args) as inst:
        yield inst


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"Hello World" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("state", ["fresh", "keep-alive"])
def test_a_request_that_arrived_while_the_worker_was_busy_is_served(
    server: Instance, state: str
) -> None:
    waiting = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with waiting, socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        if state == "keep-alive":  # answered once, then idle between requests
            waiting.sendall(REQUEST)
            assert split_response(read_response(waiting))[0] == 200
            rest = REQUEST
        else:  # accepted with part of its head (the listener defers accept until data)
            waiting.sendall(REQUEST[:16])
            rest = REQUEST[16:]
        # the only worker sleeps 3 s: longer than socket-timeout and http-keepalive
        slow.sendall(b"GET /sleep?3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)  # the request arrives while the worker is busy, before any timeout
        waiting.sendall(rest)
        assert split_response(read_response(slow))[2] == b"slept"
        status, _, body = split_response(read_response(waiting))
        assert (status, body) == (200, b"Hello World")
