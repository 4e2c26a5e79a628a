"""The uwsgi protocol on --socket: raw packets, malformed input, and a real nginx in front."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from polyhost.protocol.uwsgi import pack_header

from conftest import APPS, Instance, free_port, get, split_response, uwsgi_request
from nginx_helper import Nginx


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("uwsgi")
    port = free_port()
    inst = Instance(
        [
            "--socket",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--wsgi-file",
            str(APPS / "wsgi" / "basic.py"),
        ],
        tmp,
        port,
        None,
    )
    try:
        inst.wait_ready()
        yield inst
    finally:
        assert inst.stop() == 0


BASE = {
    "REQUEST_METHOD": "GET",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "SERVER_NAME": "t",
    "SERVER_PORT": "80",
    "REMOTE_ADDR": "10.1.2.3",
    "QUERY_STRING": "",
}


def test_raw_uwsgi_request(server: Instance) -> None:
    raw = uwsgi_request(server.port, {**BASE, "PATH_INFO": "/", "REQUEST_URI": "/"})
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and raw.endswith(b"Hello World")
    server.wait_log("10.1.2.3 ()")


def test_uwsgi_body(server: Instance) -> None:
    body = b"x" * 100_000
    raw = uwsgi_request(
        server.port,
        {**BASE, "REQUEST_METHOD": "POST", "PATH_INFO": "/echo", "CONTENT_LENGTH": str(len(body))},
        body,
    )
    assert split_response(raw)[2] == body


def test_truncated_packet_then_worker_still_serves(server: Instance) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(pack_header(0, 500, 0) + b"\x05\x00hel")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""
    server.wait_log("truncated uwsgi packet")
    raw = uwsgi_request(server.port, {**BASE, "PATH_INFO": "/"})
    assert raw.endswith(b"Hello World")


def test_huge_vars_block_refused(server: Instance) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(pack_header(0, 60000, 0) + b"\x01\x00" * 10)
        assert sock.recv(100) == b""
    server.wait_log("invalid request block size: 60000 (max 4096)")
    assert uwsgi_request(server.port, {**BASE, "PATH_INFO": "/"}).endswith(b"Hello World")


def test_unknown_modifier_logs_and_closes(server: Instance) -> None:
    raw = uwsgi_request(server.port, {**BASE, "PATH_INFO": "/"}, mod1=5)
    assert raw == b""
    log = server.wait_log("no app for modifier1 5 (Perl/PSGI)")
    assert "configure psgi" in log


def test_behind_nginx(server: Instance, tmp_path_factory: pytest.TempPathFactory) -> None:
    nginx = Nginx(
        tmp_path_factory.mktemp("nginx"),
        f"""
    location / {{ uwsgi_pass 127.0.0.1:{server.port}; }}
    location /perl {{ uwsgi_pass 127.0.0.1:{server.port}; uwsgi_modifier1 5; }}
    """,
    )
    try:
        status, _, body = split_response(get(nginx.port, "/env?q=1"))
        env = json.loads(body)
        assert status == 200 and env["QUERY_STRING"] == "q=1" and env["PATH_INFO"] == "/env"
        assert env["REMOTE_ADDR"] == "127.0.0.1"
        big = b"y" * 300_000
        raw = (
            f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len(big)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + big
        from conftest import http_request

        assert split_response(http_request(nginx.port, raw))[2] == big
        # a location whose modifier1 has no runtime: uWSGI-style close, nginx says 502
        assert split_response(get(nginx.port, "/perl"))[0] == 502
    finally:
        nginx.stop()
