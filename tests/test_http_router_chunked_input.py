"""`--http-chunked-input` against real uWSGI: what a chunked request delivers to the worker.

A recording uwsgi backend stands behind polyhost's router and behind Debian uWSGI's (`--http-to`
on both). With the option, both hand the worker the packet without CONTENT_LENGTH, with
HTTP_TRANSFER_ENCODING=chunked, then the body still chunked (uWSGI's raw mode, what
`uwsgi.chunked_read` de-chunks). Without it polyhost de-chunks and sends the length (the spec;
uWSGI drops the body, spec/observed.md).
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyhost.protocol.uwsgi import decode_vars, unpack_header

from conftest import free_port, http_request, split_response, wait_for
from router_helper import ScriptedBackend, listening, start_router
from uwsgi_reference import UWSGI, start_uwsgi, stop_uwsgi

REQUEST = (b"POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")  # fmt: skip
CHUNKED_BODY = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"


class Recorder(ScriptedBackend):
    """A uwsgi backend that records each packet's vars and the body bytes after it: the body
    ends at the declared CONTENT_LENGTH, or at the last chunk, or after a quiet second."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], bytes]] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(1.0)
        self.seen.append(self._read(conn))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    @staticmethod
    def _read(conn: socket.socket) -> tuple[dict[str, str], bytes]:
        data = b""
        while len(data) < 4 or len(data) < 4 + unpack_header(data[:4])[1]:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("the router closed before the whole packet")
            data += chunk
        size = unpack_header(data[:4])[1]
        env, body = decode_vars(data[4 : 4 + size]), data[4 + size :]
        wanted = int(env.get("CONTENT_LENGTH") or -1)
        try:
            while len(body) != wanted and not body.endswith(b"0\r\n\r\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
        except TimeoutError:
            pass
        return env, body


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    backend = Recorder()
    yield backend
    backend.close()


def _delivered(port: int, recorder: Recorder) -> tuple[dict[str, str], bytes]:
    before = len(recorder.seen)
    status, _, body = split_response(http_request(port, REQUEST, 15))
    assert (status, body) == (200, b"ok")
    wait_for(lambda: len(recorder.seen) > before, 10, "the backend's record")
    return recorder.seen[-1]


def _polyhost(tmp: Path, recorder: Recorder, extra: list[str]) -> tuple[dict[str, str], bytes]:
    inst = start_router(tmp, ["--http-to", f"127.0.0.1:{recorder.port}", *extra])
    try:
        return _delivered(inst.port, recorder)
    finally:
        assert inst.stop() == 0


def _uwsgi(tmp: Path, recorder: Recorder, extra: list[str]) -> tuple[dict[str, str], bytes]:
    port = free_port()
    args = ["--plugins", "http", "--http", f"127.0.0.1:{port}",
            "--http-to", f"127.0.0.1:{recorder.port}", "--master", *extra]  # fmt: skip
    proc = start_uwsgi(tmp, args)
    try:
        wait_for(lambda: listening(port), 15, "uWSGI's router")
        return _delivered(port, recorder)
    finally:
        stop_uwsgi(proc)


@pytest.mark.skipif(shutil.which(UWSGI) is None, reason="needs Debian's uwsgi")
def test_chunked_input_streams_the_chunked_body_as_uwsgi(
    tmp_path: Path, recorder: Recorder
) -> None:
    ours = _polyhost(tmp_path, recorder, ["--http-chunked-input"])
    theirs = _uwsgi(tmp_path, recorder, ["--http-chunked-input"])
    for env, body in (ours, theirs):
        assert "CONTENT_LENGTH" not in env
        assert env["HTTP_TRANSFER_ENCODING"] == "chunked"
        assert body == CHUNKED_BODY


@pytest.mark.skipif(shutil.which(UWSGI) is None, reason="needs Debian's uwsgi")
def test_without_chunked_input_polyhost_dechunks(tmp_path: Path, recorder: Recorder) -> None:
    env, body = _polyhost(tmp_path, recorder, [])
    assert (env["CONTENT_LENGTH"], body) == ("11", b"hello world")
    assert "HTTP_TRANSFER_ENCODING" not in env
    env, body = _uwsgi(tmp_path, recorder, [])  # uWSGI drops the body (spec/observed.md)
    assert "CONTENT_LENGTH" not in env and body == b""
