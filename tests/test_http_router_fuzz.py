"""Fuzzed input at the `--http` router (bounded, seeded: POLYHOST_FUZZ_SEED=N reruns one):
mutated HTTP/1 heads in clear and over TLS, junk instead of a TLS handshake, mutated HTTP/2
frames after a valid preface. The router answers or closes every connection, never dies, gives
back every file descriptor, and the workers behind it stay the same processes."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import ssl
from pathlib import Path

import h2.config
import h2.connection

from conftest import APPS, free_port, get, split_response, wait_for
from fuzz_support import HTTP_SEEDS, mutate, open_fds, throw
from router_helper import make_cert, router_pids, start_router

COUNT = int(os.environ.get("POLYHOST_FUZZ_COUNT", "400"))
#: what the router must also survive: pipelined and upgrade heads, huge sizes, bare bodies
ROUTER_SEEDS = [
    *HTTP_SEEDS,
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nxx",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\nabc",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
]


def test_fuzzed_http_never_kills_the_router(tmp_path: Path) -> None:
    seed = int(os.environ.get("POLYHOST_FUZZ_SEED", random.randrange(1 << 30)))
    stats_port = free_port()
    inst = start_router(
        tmp_path,
        ["--wsgi-file", str(APPS / "wsgi" / "basic.py"), "--processes", "2",
         "--http-keepalive", "--http-websockets", "--http-timeout", "2",
         "--limit-post", "100000", "--stats", f"127.0.0.1:{stats_port}", "--disable-logging"],
    )  # fmt: skip
    inst.stats_port = stats_port  # type: ignore[attr-defined]
    try:
        [router] = router_pids(inst)
        workers = sorted(set(inst.worker_pids()) - {router})
        fds = open_fds(router)
        counts = throw(seed, COUNT, {"http": (inst.port, ROUTER_SEEDS)}, lambda: False)
        message = f"seed {seed} ({counts}); log:\n{inst.log()[-3000:]}"
        assert router_pids(inst) == [router], "the router died: " + message
        assert sorted(set(inst.worker_pids()) - {router}) == workers, message
        assert counts.answered + counts.closed + counts.timeouts == COUNT, message
        log = inst.log()  # (an app reading a body cut short logs its error: that is expected)
        for router_error in ("crashed:", "Exception in callback", "sweep failed", "Task exception"):
            assert router_error not in log, message
        wait_for(lambda: open_fds(router) <= fds, 15, f"router fds back to {fds}: {message}")
        assert split_response(get(inst.port, "/"))[2] == b"Hello World"
    finally:
        assert inst.stop() == 0


def _h2_seed() -> bytes:
    """What an h2 client sends for one GET after the TLS handshake (preface, settings, headers)."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "https"),
                          (":authority", "t")], end_stream=True)  # fmt: skip
    return conn.data_to_send()


def _throw_tls(port: int, data: bytes, alpn: str | None) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols([alpn])
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 5) as raw:
        if alpn is None:  # not even a TLS handshake
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)
            raw.settimeout(0.5)  # a partial TLS record waits for the handshake timeout
            with contextlib.suppress(TimeoutError):
                while raw.recv(65536):
                    pass
            return
        with context.wrap_socket(raw) as sock:
            sock.sendall(data)
            sock.settimeout(0.5)  # TLS cannot half-close: an unfinished input is left waiting
            with contextlib.suppress(TimeoutError):
                while sock.recv(65536):
                    pass


def test_fuzzed_tls_and_http2_never_kill_the_router(tmp_path: Path) -> None:
    seed = int(os.environ.get("POLYHOST_FUZZ_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    cert, key = make_cert(tmp_path, "fuzz")
    https, stats_port = free_port(), free_port()
    inst = start_router(
        tmp_path,
        ["--wsgi-file", str(APPS / "wsgi" / "basic.py"), "--http2", "--http-timeout", "2",
         "--https", f"127.0.0.1:{https},{cert},{key}", "--stats", f"127.0.0.1:{stats_port}",
         "--disable-logging"],
    )  # fmt: skip
    inst.stats_port = stats_port  # type: ignore[attr-defined]
    try:
        [router] = router_pids(inst)
        fds = open_fds(router)
        h2_seed = _h2_seed()
        for number in range(COUNT // 5):  # a TLS handshake each: slower than clear text
            kind = (None, "http/1.1", "h2")[number % 3]
            if kind == "h2":
                data = h2_seed[:24] + mutate(rng, h2_seed[24:])  # keep the preface
            else:
                data = mutate(rng, rng.choice(ROUTER_SEEDS))
            _throw_tls(https, data, kind)
        message = f"seed {seed}; log:\n{inst.log()[-3000:]}"
        assert router_pids(inst) == [router], "the router died: " + message
        log = inst.log()
        for router_error in ("crashed:", "Exception in callback", "sweep failed", "Task exception"):
            assert router_error not in log, message
        wait_for(lambda: open_fds(router) <= fds, 15, f"router fds back to {fds}: {message}")
        assert split_response(get(inst.port, "/"))[2] == b"Hello World"
    finally:
        assert inst.stop() == 0
