"""A bridge child written in plain Python for the channel tests: it speaks the protocol of
bridges/PROTOCOL.md with its own few lines of packet code, and behaves as the CONFIG `app`
value (a scenario name) says, including the ways a child can misbehave."""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import time

HEADER = struct.Struct("<BHB")
HELLO, FAIL, REQUEST, BODY, READ, START, SENDFILE, END = 200, 201, 202, 203, 204, 205, 206, 207
CALL, RESULT, LOG, CONFIG = 210, 211, 212, 213
MORE = 0x80

sock = socket.socket(fileno=int(os.environ.pop("POLYHOST_BRIDGE_FD")))
pending = b""


def read_exact(size: int) -> bytes:
    global pending
    while len(pending) < size:
        chunk = sock.recv(65536)
        if not chunk:
            sys.exit(0)
        pending += chunk
    data, pending = pending[:size], pending[size:]
    return data


def read_message() -> tuple[int, bytes, int]:
    mod1, size, mod2 = HEADER.unpack(read_exact(4))
    payload = read_exact(size)
    while mod2 & MORE:
        _, size, mod2 = HEADER.unpack(read_exact(4))
        payload += read_exact(size)
    return mod1, payload, mod2


def message(mod1: int, payload: bytes, mod2: int = 0) -> bytes:
    pieces = [payload[i : i + 65535] for i in range(0, len(payload), 65535)] or [b""]
    out = b""
    for index, piece in enumerate(pieces):
        flag = mod2 if index == len(pieces) - 1 else mod2 | MORE
        out += HEADER.pack(mod1, len(piece), flag) + piece
    return out


def items(block: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(block):
        (size,) = struct.unpack_from("<H", block, pos)
        out.append(block[pos + 2 : pos + 2 + size])
        pos += 2 + size
    return out


def pack(*values: bytes | str) -> bytes:
    out = b""
    for value in values:
        data = value.encode() if isinstance(value, str) else value
        out += struct.pack("<H", len(data)) + data
    return out


def call(op: str, *args: str) -> tuple[int, list[bytes]]:
    sock.sendall(message(CALL, pack(op, *args)))
    mod1, payload, mod2 = read_message()
    assert mod1 == RESULT, mod1
    return mod2, items(payload)


def read_body(inline: bool) -> bytes:
    body = b""
    while True:
        if not inline:
            sock.sendall(HEADER.pack(READ, 0, 0))
        mod1, piece, mod2 = read_message()
        assert mod1 == BODY, mod1
        body += piece
        if mod2 & 1:
            return body


def respond(status: str, headers: list[tuple[str, str]], body: bytes, end: bytes = b"") -> None:
    start = pack("STATUS", status, *[part for pair in headers for part in pair])
    pieces = b"".join(
        HEADER.pack(BODY, len(body[i : i + 65535]), 0) + body[i : i + 65535]
        for i in range(0, len(body), 65535)
    )
    sock.sendall(message(START, start) + pieces + message(END, end))


def main() -> None:
    mod1, payload, _ = read_message()
    assert mod1 == CONFIG
    config = dict(zip(*[iter(items(payload))] * 2, strict=True))
    scenario = config[b"app"].decode()
    if scenario == "slow-load":
        time.sleep(60)
    if scenario == "print-and-exit":
        print("boom on stdout before HELLO", flush=True)
        sys.exit(3)
    if scenario == "fail":
        sock.sendall(message(FAIL, b"bad app at app.x line 3"))
        sys.exit(1)
    if scenario == "fail-runtime":
        sock.sendall(message(FAIL, b"Can't locate Thing.pm", 1))
        sys.exit(1)
    if scenario == "bad-hello":
        sock.sendall(message(HELLO, b"\x05\x00ab"))  # a key length past the end
        time.sleep(60)
    if scenario == "ignore-eof":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hello = pack("runtime", "test", "pid", str(os.getpid()), "extra", config.get(b"extra", b""))
    sock.sendall(message(HELLO, hello))
    while True:
        mod1, payload, mod2 = read_message()
        if mod1 == CALL:
            op, *args = items(payload)
            reply = pack(b"pong", *args) if op == b"ping" else pack(f"no op {op.decode()}")
            sock.sendall(message(RESULT, reply, 0 if op == b"ping" else 1))
            continue
        assert mod1 == REQUEST, mod1
        env = dict(zip(*[iter(items(payload))] * 2, strict=True))
        body = read_body(inline=bool(mod2 & 1))
        path = env[b"PATH_INFO"].decode()
        if scenario == "ignore-eof":
            print("in the request", flush=True)
            while True:
                time.sleep(1)
        if path == "/echo":
            summary = f"vars={len(env)} body={len(body)} inline={mod2 & 1}".encode()
            respond("200 OK", [("X-Summary", summary.decode())], body)
        elif path == "/big-head":
            respond("200 OK", [("X-A", "a" * 60000), ("X-B", "b" * 60000)], b"ok")
        elif path == "/body-first":
            sock.sendall(HEADER.pack(BODY, 2, 0) + b"no")
        elif path == "/malformed":
            sock.sendall(HEADER.pack(START, 5, 0) + b"\x05\x00STA")
        elif path == "/calls":
            _, logged = call("log", "a line from the child")
            flag, error = call("nope", "x")
            respond("200 OK", [], f"log={logged} nope={flag}:{error[0].decode()}".encode())
        elif path == "/sendfile-missing":
            sock.sendall(message(START, pack("STATUS", "200 OK")))
            sock.sendall(message(SENDFILE, pack("path", "/nonexistent/file")) + message(END, b""))
        elif path == "/exception":
            end = pack("exception", "1", "error", "trace line 1\ntrace line 2")
            respond("500 Internal Server Error", [], b"oops", end)
        elif path == "/exit":
            os._exit(7)
        elif path == "/stream":
            sock.sendall(message(START, pack("STATUS", "200 OK")))
            for _ in range(20):
                sock.sendall(HEADER.pack(BODY, 65535, 0) + b"z" * 65535)
            sock.sendall(message(END, b""))


main()
