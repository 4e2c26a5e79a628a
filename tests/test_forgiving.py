"""Forgiving towards apps (issue 13, point 1): WSGI, PSGI and Rack apps that gunicorn, uWSGI,
Starman or Puma serve although they bend their spec are served the same way here, over a real
http-socket, with the bend logged and never a 500."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from bridge_support import needs_plack, needs_rack

from conftest import APPS, Instance, get, serving, split_response

FORGIVING = APPS / "conformance"


def app_server(factory: pytest.TempPathFactory, option: str, app: str) -> Iterator[Instance]:
    with serving(factory.mktemp(app), [f"--{option}", str(FORGIVING / app)]) as inst:
        yield inst


@pytest.fixture(scope="module")
def wsgi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    yield from app_server(tmp_path_factory, "wsgi-file", "forgiving.py")


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/exc-info", 503, b"error page"),
        ("/write-callable", 200, b"written returned"),
        ("/empty-parts", 200, b"ab"),
        ("/lazy-start", 200, b"lazy"),
    ],
)
def test_wsgi(wsgi: Instance, path: str, status: int, body: bytes) -> None:
    got_status, headers, got_body = split_response(get(wsgi.port, path))
    if headers.get("transfer-encoding") == "chunked":
        assert got_body.endswith(b"0\r\n\r\n")
        got_body = b"".join(got_body.split(b"\r\n")[1::2])
    assert (got_status, got_body) == (status, body)


def test_wsgi_body_shorter_than_its_content_length_is_cut_and_logged(wsgi: Instance) -> None:
    url = f"http://127.0.0.1:{wsgi.port}/shorter-than-declared"
    result = subprocess.run(["curl", "-sS", url], capture_output=True, timeout=30)
    assert result.stdout == b"12345" and result.returncode != 0  # curl: transfer closed early
    wsgi.wait_log("the app sent 5 bytes of its Content-Length (10)")


@pytest.fixture(scope="module")
def psgi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    yield from app_server(tmp_path_factory, "psgi", "forgiving.psgi")


@needs_plack
@pytest.mark.parametrize(
    ("path", "status", "body", "logged"),
    [
        ("/responder-twice", 200, b"first", "called $responder a second time"),
        ("/write-after-close", 200, b"streamed", "wrote to the writer of a response that has"),
        ("/string-status", 201, b"ok", ""),
        ("/undef-parts", 200, b"ab", ""),
        ("/getline-only", 200, b"getline", ""),
    ],
)
def test_psgi(psgi: Instance, path: str, status: int, body: bytes, logged: str) -> None:
    got_status, _, got_body = split_response(get(psgi.port, path))
    assert (got_status, got_body) == (status, body)
    if logged:
        psgi.wait_log(logged)


@pytest.fixture(scope="module")
def rack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    yield from app_server(tmp_path_factory, "rack", "forgiving.ru")


@needs_rack
def test_rack_errors_take_any_object(rack: Instance) -> None:
    assert split_response(get(rack.port, "/errors"))[2] == b"logged"
    log = rack.wait_log("printed 7")
    lines = [line for line in log.splitlines() if line.startswith("[rack w1] ")]
    assert lines == ["[rack w1] 42", "[rack w1] a_symbol", "[rack w1] 3.5", "[rack w1] printed 7"]


@needs_rack
def test_rack_string_status_array_and_integer_headers(rack: Instance) -> None:
    assert split_response(get(rack.port, "/string-status"))[:3:2] == (201, b"created")
    raw = get(rack.port, "/array-header")
    assert b"\r\nset-cookie: a=1\r\nset-cookie: b=2\r\n" in raw
    status, headers, body = split_response(get(rack.port, "/integer-header"))
    assert (status, headers["x-count"], body) == (200, "5", b"five")
