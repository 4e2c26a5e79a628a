"""uWSGI's WebSocket API in the worker, against real clients: http-socket and nginx's uwsgi_pass."""

from __future__ import annotations

import contextlib
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import APPS, Instance, free_port, get, serving, split_response
from fuzz_support import mutate
from nginx_helper import Nginx

APP = str(APPS / "wsgi" / "ws_echo.py")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp = tmp_path_factory.mktemp("ws")
    args = ["--wsgi-file", APP, "--processes", "1", "--threads", "4", "--websockets-max-size", "2"]
    args += ["--websockets-ping-freq", "1", "--websockets-pong-tolerance", "1"]
    with serving(tmp, args, uwsgi_socket=True) as inst:
        yield inst


def _upgrade(port: int, path: str = "/", extra: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n".encode()
    )
    return sock


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def test_handshake_head_is_uwsgis(server: Instance) -> None:
    # byte for byte what uWSGI 2.0's python3 plugin answers on --http-socket
    with _upgrade(server.port, extra="Sec-WebSocket-Protocol: chat\r\n") as sock:
        assert _read_head(sock) == (
            b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Origin: *\r\nSec-WebSocket-Protocol: chat\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        )
    with _upgrade(server.port, extra="Origin: http://o.example\r\n") as sock:
        head = _read_head(sock)
        assert b"\r\nSec-WebSocket-Origin: http://o.example\r\n" in head
        assert b"Sec-WebSocket-Protocol" not in head


def test_echo_text_binary_ping_and_close(server: Instance) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
        ws.send("hello")
        assert ws.recv() == "hello"
        ws.send("héllo wörld " * 50)  # a 16-bit length frame
        assert ws.recv() == "héllo wörld " * 50
        ws.send(b"bin")
        assert ws.recv() == b"\x00\x01\xff"
        assert ws.ping(b"are you there").wait(5)  # answered while the app waits in recv()
        ws.send("after ping")
        assert ws.recv() == "after ping"
    # the client's close frame was answered (the client's close() returned cleanly above)
    # and ended the app's websocket_recv() with uWSGI's IOError
    log = server.wait_log("websocket ended: unable to receive websocket message: closed")
    assert "GET /echo =>" in log and "(HTTP/1.1 101)" in log


def test_fragmented_message_is_reassembled(server: Instance) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send(iter(["frag", "men", "ted"]))
        assert ws.recv() == "fragmented"


def test_recv_nb_returns_empty_when_nothing_arrived(server: Instance) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/nb") as ws:
        assert ws.recv() == "nb:b''"
        ws.send("x")
        assert ws.recv() == "x"


def test_message_over_max_size_closes_1009(server: Instance) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/big", max_size=None) as ws:
        ws.send(b"y" * 2048)  # exactly websockets-max-size 2 (KiB): accepted
        assert ws.recv() == "y" * 2048  # echoed with websocket_send: a text frame
        ws.send(b"z" * 2049)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    server.wait_log("invalid packet size received: 2049, max allowed: 2048")


def test_handshake_without_key_fails_and_plain_requests_still_work(server: Instance) -> None:
    status, _, body = split_response(get(server.port, "/"))
    assert (status, body) == (200, b"not a websocket\n")
    raw = get(server.port, "/", headers="Upgrade: websocket\r\nConnection: Upgrade\r\n")
    assert split_response(raw)[0] == 500
    server.wait_log("OSError: unable to complete websocket handshake")


def test_silent_client_is_pinged_then_dropped(server: Instance) -> None:
    """A blocking recv() pings every websockets-ping-freq; no pong within the tolerance ends it."""
    with _upgrade(server.port, path="/silent") as sock:
        head = _read_head(sock)
        frames = head.partition(b"\r\n\r\n")[2]
        while len(frames) < 6:  # a ping, then (no pong sent) a close 1008
            chunk = sock.recv(4096)
            assert chunk, frames
            frames += chunk
        assert frames[:2] == b"\x89\x00"
        assert frames[2:6] == b"\x88\x02\x03\xf0"
    server.wait_log("no PONG received in 1 seconds !!!")


#: client frames (masked) to mutate: text, binary with a 16-bit length, ping, close
FRAMES = [
    b"\x81\x85\x01\x02\x03\x04" + bytes(b ^ (1, 2, 3, 4)[i % 4] for i, b in enumerate(b"hello")),
    b"\x82\xfe\x01\x00\x00\x00\x00\x00" + b"\x07" * 256,
    b"\x89\x80\x00\x00\x00\x00",
    b"\x01\x81\x00\x00\x00\x00a\x80\x81\x00\x00\x00\x00b",
    b"\x88\x82\x00\x00\x00\x00\x03\xe8",
]


def test_fuzzed_frames_are_bounded(server: Instance) -> None:
    """Mutated frames after the handshake end the session or are answered; the worker keeps
    serving. Seeded: the seed is in the failure message (POLYHOST_FUZZ_SEED=N reruns it)."""
    seed = int(os.environ.get("POLYHOST_FUZZ_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    for _ in range(40):
        with _upgrade(server.port) as sock:
            _read_head(sock)
            with contextlib.suppress(OSError):
                sock.sendall(b"".join(mutate(rng, rng.choice(FRAMES)) for _ in range(3)))
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
    with connect(f"ws://127.0.0.1:{server.port}/") as ws:
        ws.send("still alive")
        assert ws.recv() == "still alive", f"seed {seed}"


def test_uwsgi_socket_behind_nginx(server: Instance, tmp_path: Path) -> None:
    nginx = Nginx(
        tmp_path,
        f"location / {{ uwsgi_pass 127.0.0.1:{server.uwsgi_port}; uwsgi_read_timeout 60s; }}",
    )
    try:
        with connect(f"ws://127.0.0.1:{nginx.port}/via-nginx") as ws:
            ws.send("through nginx")
            assert ws.recv() == "through nginx"
            ws.send(b"bin")
            assert ws.recv() == b"\x00\x01\xff"
    finally:
        nginx.stop()


def test_through_nginx_and_the_fastrouter(server: Instance, tmp_path: Path) -> None:
    """nginx -> polyhost's fastrouter -> the worker: the upgraded bytes are relayed both ways."""
    port = free_port()
    router = Instance(
        ["--fastrouter", f"127.0.0.1:{port}", "--fastrouter-to", f"127.0.0.1:{server.uwsgi_port}"],
        tmp_path,
        None,
        None,
    )
    nginx = None
    try:
        router.wait_log("uWSGI fastrouter bound on")
        nginx = Nginx(
            tmp_path, f"location / {{ uwsgi_pass 127.0.0.1:{port}; uwsgi_read_timeout 60s; }}"
        )
        with connect(f"ws://127.0.0.1:{nginx.port}/via-fastrouter") as ws:
            ws.send("through the fastrouter")
            assert ws.recv() == "through the fastrouter"
    finally:
        if nginx is not None:
            nginx.stop()
        assert router.stop() == 0
