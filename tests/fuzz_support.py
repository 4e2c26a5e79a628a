"""Mutated inputs for the three socket types (uwsgi packets, FastCGI records, HTTP heads) and a
runner that throws them at a live instance, used by tests/test_fuzz.py (bounded, in CI) and by
bench/fuzz_run.py (longer). Everything is derived from one seed, printed on failure."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from polyhost.protocol.uwsgi import encode_vars, pack_header

HTTP_SEEDS = [
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;x=y\r\nhello\r\n0\r\n\r\n",
    b"GET /stream HTTP/1.0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
]
ENV = {
    "REQUEST_METHOD": "GET",
    "REQUEST_URI": "/",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "127.0.0.1",
    "SERVER_NAME": "t",
    "SERVER_PORT": "80",
    "HTTP_HOST": "t",
}


def uwsgi_seeds() -> list[bytes]:
    block = encode_vars(ENV)
    post = encode_vars({**ENV, "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3"})
    rpc = b"\x05\x00hello"
    cache = encode_vars({"cmd": "set", "key": "k", "size": "3"})
    return [
        pack_header(0, len(block), 0) + block,
        pack_header(0, len(post), 0) + post + b"abc",
        pack_header(173, len(rpc), 0) + rpc,
        pack_header(111, len(cache), 17) + cache + b"abc",
        pack_header(111, 1, 0) + b"k",
        pack_header(110, 0, 7),
    ]


def _fcgi(rtype: int, content: bytes, request_id: int = 1) -> bytes:
    return struct.pack(">BBHHBx", 1, rtype, request_id, len(content), 0) + content


def _pairs(env: dict[str, str]) -> bytes:
    out = b""
    for key, value in env.items():
        k, v = key.encode(), value.encode()
        out += bytes([len(k)]) + bytes([len(v)]) + k + v
    return out


def fastcgi_seeds() -> list[bytes]:
    begin = _fcgi(1, bytes([0, 1, 1, 0, 0, 0, 0, 0]))
    params = _fcgi(4, _pairs(ENV)) + _fcgi(4, b"")
    return [
        begin + params + _fcgi(5, b""),
        begin + _fcgi(4, _pairs({**ENV, "CONTENT_LENGTH": "3"})) + _fcgi(4, b"")
        + _fcgi(5, b"abc") + _fcgi(5, b""),
        begin + _fcgi(2, b""),
    ]  # fmt: skip


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four random edits: flip, insert, delete, duplicate, truncate, splice in junk."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1) if buf else 0
        if choice == 0 and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif choice == 2 and buf:
            del buf[pos : pos + rng.randint(1, 8)]
        elif choice == 3:
            chunk = buf[pos : pos + rng.randint(1, 16)]
            buf[pos:pos] = chunk * rng.randint(1, 4)
        elif choice == 4:
            del buf[pos:]
        elif choice == 5:
            buf[pos:pos] = rng.choice([b"\r\n", b"\0", b"\xff\xff", b":", b" ", b"\r", b"\n\n"])
        else:
            buf[pos : pos + 2] = struct.pack("<H", rng.choice([0, 1, 0x7FFF, 0xFFFF]))
    return bytes(buf)


@dataclass
class FuzzCounts:
    sent: int = 0
    answered: int = 0
    closed: int = 0
    timeouts: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def throw(
    seed: int,
    count: int,
    targets: dict[str, tuple[int, list[bytes]]],
    stopped: Callable[[], bool] = lambda: False,
) -> FuzzCounts:
    """Send `count` mutated inputs, round robin over the socket kinds in `targets`
    (kind -> (port, seed inputs)); each on its own connection, read until close or 2 s."""
    rng = random.Random(seed)
    counts = FuzzCounts()
    kinds = sorted(targets)
    for number in range(count):
        if stopped():
            break
        kind = kinds[number % len(kinds)]
        port, seeds = targets[kind]
        data = mutate(rng, rng.choice(seeds))
        counts.sent += 1
        counts.by_kind[kind] = counts.by_kind.get(kind, 0) + 1
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                with contextlib.suppress(OSError):
                    sock.sendall(data)
                    sock.shutdown(socket.SHUT_WR)
                got = b""
                with contextlib.suppress(ConnectionResetError):
                    while chunk := sock.recv(65536):
                        got += chunk
                        if len(got) > 1 << 20:
                            break
                if got:
                    counts.answered += 1
                else:
                    counts.closed += 1
        except TimeoutError:
            counts.timeouts += 1
    return counts


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
