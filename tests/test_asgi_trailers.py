"""The ASGI `http.response.trailers` extension on an http-socket: advertised on HTTP/1.1, where
the response is chunked and its trailer fields follow the last chunk (those RFC 9110 §6.5.1
keeps out of a trailer dropped); not advertised on HTTP/1.0 or a connection that closes after
the response (no chunked framing there)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import APPS, Instance, http_request, serving


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    args = ["--asgi-file", str(APPS / "asgi" / "trailers_app.py"), "--lifespan", "off"]
    with serving(tmp_path_factory.mktemp("trailers"), args) as inst:
        yield inst


def test_chunked_response_ends_with_the_trailers(site: Instance) -> None:
    raw = http_request(
        site.port,
        # twice on one connection: the framing lets the next request be read after it
        b"GET /t HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n" * 2
        + b"GET /t HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    responses = raw.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert len(responses) == 3
    for response in responses[:2]:
        head, _, body = response.partition(b"\r\n\r\n")
        assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
        assert body == (
            b"7\r\noffered\r\n1\r\n!\r\n0\r\nx-checksum: abc123\r\nserver-timing: db;dur=5\r\n\r\n"
        )
    # a response on a closing connection is not chunked: no trailers are offered
    assert responses[2].endswith(b"Connection: close\r\n\r\nnot offered!")
    site.wait_log("trailer field content-length")


def test_app_returning_without_its_last_trailers_ends_the_response(site: Instance) -> None:
    raw = http_request(
        site.port,
        b"GET /forgets HTTP/1.1\r\nHost: t\r\n\r\nGET /t HTTP/1.1\r\nHost: t\r\nConnection: close"
        b"\r\n\r\n",
    )
    first, _, second = raw.partition(b"0\r\nx-checksum: abc123\r\n\r\n")
    assert first.endswith(b"1\r\n!\r\n") and second.startswith(b"HTTP/1.1 200 OK")


def test_http10_is_not_offered_trailers(site: Instance) -> None:
    raw = http_request(site.port, b"GET /t HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.0 200") and raw.endswith(b"\r\n\r\nnot offered!")
