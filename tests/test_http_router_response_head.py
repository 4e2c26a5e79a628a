"""What the router does to a backend's response head (http_session's passed_head/rewrite_head).

A scripted uwsgi backend answers by PATH_INFO; the router (`--http-to` it, `--http-keepalive`)
must pass a plain head with a Content-Length unchanged (names' case, order, duplicates), add
Connection only where keep-alive needs it, strip the headers it decides itself, and answer 502 to
a malformed header line.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest

from polyhost.protocol.uwsgi import decode_vars, unpack_header

from conftest import Instance, split_response
from router_helper import ScriptedBackend, start_router

PLAIN = (
    b"HTTP/1.1 200 OK\r\nX-Odd-CASE: a\r\ncontent-length: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2"
)
RESPONSES = {
    "/": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "/plain": PLAIN + b"\r\n\r\nok",
    "/hop": b"HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: 5\r\nContent-Length: 2\r\n\r\nok",
    "/bad": b"HTTP/1.1 200 OK\r\nX-Bad : v\r\nContent-Length: 2\r\n\r\nok",
}


class Backend(ScriptedBackend):
    """Answers each uwsgi connection with RESPONSES[PATH_INFO], then closes it."""

    def handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            data = conn.recv(65536)
            size = unpack_header(data[:4])[1]
            while len(data) < 4 + size:
                data += conn.recv(65536)
            path = decode_vars(data[4 : 4 + size]).get("PATH_INFO", "/")
            conn.sendall(RESPONSES.get(path, RESPONSES["/"]))


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    backend = Backend()
    inst = start_router(
        tmp_path_factory.mktemp("head"), ["--http-to", backend.address, "--http-keepalive"]
    )
    yield inst
    assert inst.stop() == 0
    backend.close()


def _exchange(port: int, requests: list[bytes]) -> list[bytes]:
    """Send each request on one connection, reading its whole response (Content-Length 2)
    before the next; the raw responses."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for raw in requests:
            sock.sendall(raw)
            data = b""
            while not (b"\r\n\r\n" in data and data.endswith(b"ok")) and b" 502 " not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            answers.append(data)
    return answers


def test_a_plain_head_passes_unchanged_and_the_connection_stays(router: Instance) -> None:
    get = b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n"
    first, second = _exchange(router.port, [get, get])
    assert first == second == PLAIN + b"\r\n\r\nok"


def test_http10_keep_alive_gets_its_connection_header(router: Instance) -> None:
    get = b"GET /plain HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    (answer,) = _exchange(router.port, [get])
    assert answer == PLAIN.replace(b"HTTP/1.1", b"HTTP/1.0") + (
        b"\r\nConnection: keep-alive\r\n\r\nok"
    )


def test_headers_the_router_decides_are_replaced(router: Instance) -> None:
    (answer,) = _exchange(router.port, [b"GET /hop HTTP/1.1\r\nHost: t\r\n\r\n"])
    assert answer == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_malformed_header_line_is_a_502(router: Instance) -> None:
    (answer,) = _exchange(router.port, [b"GET /bad HTTP/1.1\r\nHost: t\r\n\r\n"])
    status, _, body = split_response(answer)
    assert status == 502 and b"bad header line" in body
