"""Responses that cannot lie, headers that cannot be forged (issue 13, point 3), and the
forgiving cases the common servers accept (point 1), on http-socket and the uwsgi socket."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from polyhost.protocol.uwsgi import encode_vars, pack_header

from conftest import APPS, Instance, get, http_request, serving, split_response

APP = APPS / "conformance" / "wsgi_edges.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with serving(
        tmp_path_factory.mktemp("edges"), ["--wsgi-file", str(APP)], uwsgi_socket=True
    ) as inst:
        yield inst


def over_uwsgi(inst: Instance, path: str) -> bytes:
    block = encode_vars({
        "REQUEST_METHOD": "GET", "REQUEST_URI": path, "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "t", "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
    })  # fmt: skip
    assert inst.uwsgi_port is not None
    with socket.create_connection(("127.0.0.1", inst.uwsgi_port), timeout=10) as sock:
        sock.sendall(pack_header(0, len(block), 0) + block)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_a_status_without_reason_gets_the_standard_phrase(server: Instance) -> None:
    raw = get(server.port, "/bare-status")
    assert raw.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert over_uwsgi(server, "/bare-status").startswith(b"HTTP/1.1 404 Not Found\r\n")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/crlf-status", "has control characters in its reason phrase"),
        ("/int-header", "the value of header 'X-Num' must be a str, not int 5"),
        ("/lf-header", "the value of header 'X-A' contains CR, LF or NUL"),
        ("/bad-name", "the header name 'X A' is not a token"),
        ("/not-latin1", "the value of header 'X-Name' is not Latin-1 text"),
    ],
)
def test_forged_heads_are_500s_never_bytes_on_the_wire(
    server: Instance, path: str, reason: str
) -> None:
    for raw in (get(server.port, path), over_uwsgi(server, path)):
        status, headers, _ = split_response(raw)
        assert status == 500, raw
        assert "set-cookie" not in headers and b"smuggled" not in raw
    assert reason in server.wait_log(reason)


def test_a_body_that_fails_midway_is_visibly_cut(server: Instance) -> None:
    raw = get(server.port, "/fails-midway")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"first part " in raw and not raw.endswith(b"0\r\n\r\n")
    # a real client tells: curl exits with an error on the unfinished chunked body
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", f"http://127.0.0.1:{server.port}/fails-midway"],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0, result
    server.wait_log("the body iterator failed")


def test_a_body_longer_than_its_content_length_is_cut_there(server: Instance) -> None:
    raw = http_request(
        server.port,
        b"GET /longer-than-declared HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    status, _, body = split_response(raw)
    assert (status, body) == (200, b"12345")  # the forged second response never went out
    assert raw.count(b"HTTP/1.1 ") == 1  # and the connection closed after this response
    server.wait_log("the app sent more body than its Content-Length (5)")


def test_the_worker_serves_on(server: Instance) -> None:
    assert split_response(get(server.port, "/"))[2] == b"ok"


@pytest.fixture(scope="module", params=["psgi", "rack"])
def child_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Instance]:
    runtime = request.param
    if shutil.which("perl" if runtime == "psgi" else "ruby") is None:
        pytest.skip(f"{runtime} runtime not installed")
    app = APPS / "conformance" / ("forged_heads.psgi" if runtime == "psgi" else "forged_heads.ru")
    with serving(tmp_path_factory.mktemp(runtime), [f"--{runtime}", str(app)]) as inst:
        yield inst


#: what each refusal logs: the child itself refuses a status it cannot read as an integer
CHILD_REASONS = {
    "/crlf-status": {"psgi": "invalid PSGI status", "rack": "invalid value for Integer()"},
    "/lf-header": {"psgi": "contains CR, LF or NUL", "rack": None},
    "/cr-header": {"psgi": "contains CR, LF or NUL", "rack": "contains CR, LF or NUL"},
    "/crlf-name": {"psgi": "is not a token", "rack": "is not a token"},
}


@pytest.mark.parametrize("path", list(CHILD_REASONS))
def test_a_child_runtimes_forged_head_is_a_500_and_its_child_serves_on(
    child_server: Instance, path: str
) -> None:
    runtime = "psgi" if "--psgi" in child_server.args else "rack"
    reason = CHILD_REASONS[path][runtime]
    raw = get(child_server.port, path)
    status, headers, _ = split_response(raw)
    assert "set-cookie" not in headers  # no forged header line
    if reason is None:  # Rack's own convention: a value with LF is one header line per part
        assert status == 200 and b"\r\nx-a: a\r\nx-a: set-cookie: y=2\r\n" in raw
    else:
        assert status == 500 and b"smuggled" not in raw, raw
        child_server.wait_log(reason)
    # the refused response was read to its end: the same child answers the next request
    assert split_response(get(child_server.port, "/"))[::2] == (200, b"ok")
    assert "respawning" not in child_server.log()


def test_a_child_runtimes_body_that_fails_midway_is_visibly_cut(child_server: Instance) -> None:
    raw = get(child_server.port, "/fails-midway")
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"first part " in raw and not raw.endswith(b"0\r\n\r\n")
    url = f"http://127.0.0.1:{child_server.port}/fails-midway"
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", url], capture_output=True, timeout=30
    )
    assert result.returncode != 0, result
    child_server.wait_log("the body iterator failed")
