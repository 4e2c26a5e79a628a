"""A keep-alive connection that sends the same header fields again: the vars those fields gave
are reused (HeadParser), so every request must still get exactly the vars, the framing and the
refusals a fresh connection gives the same head."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from polyhost.protocol.http import HttpConnection
from polyhost.protocol.http_rules import HttpError

FIELDS = (
    b"Host: example.test:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\nX-Twice: a\r\nX-Twice: b\r\n"
)


@pytest.fixture
def left() -> Iterator[socket.socket]:
    """The connection's socket (the other end of the pair is never read)."""
    left, right = socket.socketpair()
    with left, right:
        yield left


@pytest.fixture
def conn(left: socket.socket) -> HttpConnection:
    return connection(left)


def connection(sock: socket.socket) -> HttpConnection:
    return HttpConnection(sock, "test", ("127.0.0.1", 1), ("127.0.0.1", "80"), 8192, (0, 0), 4)


def alone(sock: socket.socket, raw: bytes) -> dict[str, str]:
    """The vars of `raw` as the first head of a new connection."""
    conn = connection(sock)
    conn.feed(raw)
    return conn.ready[0].vars


def assert_refused(conn: HttpConnection, raw: bytes, reason: str) -> None:
    """`raw` on `conn` is answered 400 with `reason` in its text."""
    with pytest.raises(HttpError) as refused:
        conn.feed(raw)
    assert refused.value.status == 400
    assert reason in refused.value.reason


def test_repeated_fields_give_the_vars_of_a_fresh_connection(
    left: socket.socket, conn: HttpConnection
) -> None:
    heads = [
        b"GET /a?x=1 HTTP/1.1\r\n" + FIELDS + b"\r\n",
        b"GET /b%20c HTTP/1.1\r\n" + FIELDS + b"\r\n",
        b"POST /d HTTP/1.1\r\n" + FIELDS + b"Content-Length: 0\r\n\r\n",
        b"GET /e HTTP/1.1\r\n" + FIELDS.replace(b"example.test:8080", b"other.test") + b"\r\n",
        b"GET /a?x=1 HTTP/1.1\r\n" + FIELDS + b"\r\n",
    ]
    conn.feed(b"".join(heads))  # pipelined in one read
    got = [request.vars for request in conn.ready]
    assert got == [alone(left, head) for head in heads]
    # the key order is part of what an app sees (CGI order, then the fields in order)
    assert [list(env) for env in got] == [list(alone(left, head)) for head in heads]
    assert got[0]["SERVER_NAME"] == "example.test" and got[3]["SERVER_NAME"] == "other.test"
    assert got[0]["HTTP_X_TWICE"] == "a, b" and got[1]["PATH_INFO"] == "/b c"
    assert got[2]["CONTENT_LENGTH"] == "0" and "CONTENT_LENGTH" not in got[4]


def test_the_same_fields_under_another_version_are_checked_again(
    left: socket.socket, conn: HttpConnection
) -> None:
    """Transfer-Encoding is fine on HTTP/1.1 and refused on HTTP/1.0: fields seen before
    under one version are judged again under the other."""
    fields = b"Host: t\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
    conn.feed(b"POST /a HTTP/1.1\r\n" + fields + b"0\r\n\r\n")
    assert conn.ready[0].vars["REQUEST_METHOD"] == "POST"
    assert_refused(conn, b"POST /a HTTP/1.0\r\n" + fields + b"0\r\n\r\n", "HTTP/1.0")


def test_a_refused_head_after_a_good_one_is_still_refused(
    left: socket.socket, conn: HttpConnection
) -> None:
    conn.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert_refused(conn, b"GET / HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", "more than one Host")


def test_an_app_changing_the_headers_it_got_changes_nothing_after(
    left: socket.socket, conn: HttpConnection
) -> None:
    """The fields list goes to the app with its Request: an app that rewrites it into the
    fields of the next head does not make that head reuse the first one's vars."""
    conn.feed(b"GET / HTTP/1.1\r\nHost: first.test\r\n\r\n")
    headers = conn.ready.popleft().extra["headers"]
    assert isinstance(headers, list)
    headers[0] = (b"Host", b"second.test")
    second = b"GET / HTTP/1.1\r\nHost: second.test\r\n\r\n"
    conn.feed(second)
    env = conn.ready.popleft().vars
    assert env["SERVER_NAME"] == "second.test" and env == alone(left, second)


def test_the_same_target_under_another_method_is_judged_again(
    left: socket.socket, conn: HttpConnection
) -> None:
    """`*` is a target for OPTIONS only: after `OPTIONS *`, `GET *` is still refused."""
    conn.feed(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
    assert conn.ready[0].vars["REQUEST_URI"] == "*"
    assert_refused(conn, b"GET * HTTP/1.1\r\nHost: t\r\n\r\n", "only for OPTIONS")
