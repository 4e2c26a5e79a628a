"""Keep-alive requests on a connection the ASGI loop serves: a request after the first (which the
worker parsed before handing the connection over) gets the same scope,
the same strict answers (http_rules) and a byte-identical request log line; a request given back
to a WSGI app still gets a real environ."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest

from conftest import APPS, Instance, serving, wait_for

SCOPE_ECHO = APPS / "asgi" / "scope_echo.py"
#: requests each answered twice on one connection: by the worker, then by the loop
TWICE = [
    b"GET /sc%6Fpe?a=1&b=%20 HTTP/1.1\r\nHost: example.org:8080\r\nX-First: 1\r\n"
    b"X-Dup: a\r\nX-Dup: b\r\nX_Under: dropped\r\n\r\n",
    b"GET /m/inner/p%C3%A9?x HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /post HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 5\r\nContent-Type: text/x\r\n\r\nhello",
    b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET http://proxy.example/abs?q=1#frag HTTP/1.1\r\nHost: proxy.example\r\n\r\n",
    b"PURGE /custom-method HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
]
#: heads the rules refuse, and their status
REFUSED = [
    (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.2\r\nHost: t\r\n\r\n", 505),
    (b"GET nowhere HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-H: 1\r\n" * 101 + b"\r\n", 431),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413),  # limit-post
    (b"POST /chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"1\r\na\r\n0\r\nContent-Length: 1\r\n\r\n", 400),  # a forbidden trailer field
]  # fmt: skip
FIRST = b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """The scope echo at / and /m, a WSGI app at /wsgi; 1 worker, so one loop parses all."""
    tmp = tmp_path_factory.mktemp("scope_first")
    args = [
        "--processes", "1", "--lifespan", "off", "--limit-post", "4096",
        "--asgi-file", str(SCOPE_ECHO),
        "--mount", f"/m={SCOPE_ECHO}",
        "--mount", f"/wsgi={APPS / 'wsgi' / 'basic.py'}",
    ]  # fmt: skip
    with serving(tmp, args) as inst:
        yield inst


def read_response(sock: socket.socket, buffered: bytearray) -> tuple[int, bytes, bytes]:
    """One response (status, head, body) from a keep-alive connection: Content-Length or
    chunked bodies, else to the close."""
    while b"\r\n\r\n" not in buffered:
        data = sock.recv(65536)
        if not data:
            break
        buffered += data
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    del buffered[:]
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    chunked = re.search(rb"(?im)^transfer-encoding: *chunked", head)
    body = bytearray(rest)
    while True:
        if length and len(body) >= int(length[1]):
            buffered += body[int(length[1]) :]
            return status, head, bytes(body[: int(length[1])])
        if chunked and body.endswith(b"0\r\n\r\n"):
            return status, head, bytes(body)
        data = sock.recv(65536)
        if not data:
            return status, head, bytes(body)
        body += data


def answered_twice(port: int, raw: bytes) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
    """`raw` sent twice on one keep-alive connection, the second after the first's answer."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        buffered = bytearray()
        for _ in range(2):
            sock.sendall(raw)
            status, _, body = read_response(sock, buffered)
            answers.append((status, body))
    return answers[0], answers[1]


@pytest.mark.parametrize("raw", TWICE, ids=lambda raw: raw.split(b" ")[1][:30].decode())
def test_second_request_gets_the_same_scope(site: Instance, raw: bytes) -> None:
    (status1, body1), (status2, body2) = answered_twice(site.port, raw)
    assert status1 == status2 == 200
    first, second = json.loads(body1), json.loads(body2)
    assert first["client"][1] == second["client"][1]  # the same connection
    assert first == second
    assert first["headers"] and all(name == name.lower() for name, _ in first["headers"])


def test_scope_fields_of_a_mounted_app(site: Instance) -> None:
    _, (_, body) = answered_twice(site.port, TWICE[1])
    scope = json.loads(body)
    assert scope["root_path"] == "/m" and scope["path"] == "/m/inner/pé"
    assert scope["raw_path"] == "/m/inner/p%C3%A9" and scope["query_string"] == "x"
    _, (_, body) = answered_twice(site.port, TWICE[0])
    scope = json.loads(body)
    assert scope["server"] == ["example.org", site.port] and scope["path"] == "/scope"
    assert ["x-dup", "a"] in scope["headers"] and ["x-dup", "b"] in scope["headers"]
    _, (_, body) = answered_twice(site.port, TWICE[3])
    assert json.loads(body)["body"] == "abcde"


@pytest.mark.parametrize(("raw", "status"), REFUSED, ids=[str(s) for _, s in REFUSED])
def test_second_request_refused_like_the_first(site: Instance, raw: bytes, status: int) -> None:
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        alone = read_response(sock, bytearray(sock.sendall(raw) or b""))[0]
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        buffered = bytearray()
        sock.sendall(FIRST)
        assert read_response(sock, buffered)[0] == 200
        sock.sendall(raw)
        second = read_response(sock, buffered)[0]
    assert alone == second == status


def test_log_line_is_the_same_for_both_parses(site: Instance) -> None:
    raw = b"GET /logged?k=v HTTP/1.1\r\nHost: t\r\nUser-Agent: probe/1\r\nX_U: 1\r\n\r\n"
    answered_twice(site.port, raw)

    def ours() -> list[str]:
        return [line for line in site.log().splitlines() if "GET /logged?k=v" in line]

    wait_for(lambda: len(ours()) == 2, 10, "two log lines of /logged")
    # the same but for the counters, the date and the time taken
    masked = [re.sub(r"req: \d+/\d+|\[\w{3} \w{3} .*?\]|in \d+ msecs", "", line) for line in ours()]
    assert masked[0] == masked[1] and "vars in" in masked[0]


def test_request_given_back_to_wsgi_gets_a_dict_environ(site: Instance) -> None:
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        buffered = bytearray()
        sock.sendall(FIRST)
        assert read_response(sock, buffered)[0] == 200
        sock.sendall(b"GET /wsgi/env?z=1 HTTP/1.1\r\nHost: t\r\nX-Custom: yes\r\n\r\n")
        status, _, body = read_response(sock, buffered)
        sock.sendall(FIRST)
        assert read_response(sock, buffered)[0] == 200  # and back to the loop
    assert status == 200 and b"HTTP_X_CUSTOM" in body and b"/wsgi" in body
