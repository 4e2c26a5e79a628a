"""A uwsgi-protocol client connection (nginx `uwsgi_pass`): one request per connection.

The head is the 4-byte header plus the vars block (at most `buffer-size`); the body follows raw,
`CONTENT_LENGTH` bytes. The answer is a raw HTTP response, as uWSGI writes it.
"""

from __future__ import annotations

import os
import socket
import time
from typing import BinaryIO

from polyhost.protocol import sockio
from polyhost.protocol.chunked_body import RawChunkedBody
from polyhost.protocol.connection import BodyLimits, Connection
from polyhost.protocol.http import RECV_SIZE
from polyhost.protocol.http_rules import HttpError
from polyhost.protocol.response_head import checked_header, checked_status
from polyhost.protocol.uwsgi import PacketError, decode_vars, unpack_header
from polyhost.request import ClientGone, Request, StreamBody, decimal

#: packets of the fabric's wire forms: spool (17), signal (110), cache (111), RPC (173)
FABRIC_MODIFIERS = frozenset((17, 110, 111, 173))
#: the most a fabric packet's trailing body may be (a cache value is at most its blocksize)
FABRIC_BODY_LIMIT = 1 << 30


class SocketBody(StreamBody):
    """Exactly `length` body bytes: what was received with the head, then the socket (within
    http-body-timeout, `body_timeout`)."""

    __slots__ = ("_deadline", "_length", "_remaining", "_sock", "_timeout")

    def __init__(
        self,
        sock: socket.socket,
        initial: bytes,
        length: int,
        timeout: float,
        body_timeout: float = 0.0,
    ) -> None:
        super().__init__()
        self._sock = sock
        self._timeout = timeout
        self._deadline = sockio.BodyDeadline(body_timeout)
        self._buf += initial[:length]
        self._length = length
        self._remaining = length - len(self._buf)

    def _more(self) -> bool:
        if self._remaining <= 0:
            return False
        data = self._deadline.recv(
            self._sock,
            min(RECV_SIZE, self._remaining),
            self._timeout,
            self._length - self._remaining,
        )
        if not data:
            raise ClientGone("client closed the connection in the middle of the body")
        self._remaining -= len(data)
        self._buf += data
        return True

    def drain(self) -> bool:
        return True  # one request per connection: nothing to keep it for


class UwsgiConnection(Connection):
    """Collects one uwsgi request head from a non-blocking socket."""

    def __init__(
        self,
        sock: socket.socket,
        listener: str,
        limit: int,
        modifiers: tuple[int, int] | None,
        timeout: float,
        body: BodyLimits,
    ) -> None:
        super().__init__(sock, listener, timeout)
        self.body_limits = body
        self.limit = limit
        self.forced = modifiers
        self._buf = bytearray()

    def responder(self, request: Request) -> UwsgiResponder:
        return UwsgiResponder(self, request)

    def harakiri_reply(self, request: Request) -> bytes:
        """A raw HTTP 504, as the response on a uwsgi socket is raw HTTP."""
        proto = request.vars.get("SERVER_PROTOCOL", "HTTP/1.1")
        return (
            f"{proto} 504 Gateway Timeout\r\nContent-Type: text/plain\r\n"
            "Connection: close\r\n\r\nharakiri: the request took too long\n"
        ).encode()

    def feed(self, data: bytes) -> None:
        if not data:
            self.closed = True
            if self._buf:
                raise PacketError(f"truncated uwsgi packet ({len(self._buf)} bytes received)")
            return
        self._buf += data
        if len(self._buf) < 4:
            return
        mod1, size, mod2 = unpack_header(self._buf)
        if size > self.limit:
            raise PacketError(
                f"invalid request block size: {size} (max {self.limit}): raise buffer-size"
            )
        if len(self._buf) < 4 + size:
            return
        if mod1 in FABRIC_MODIFIERS and not (mod1 == 173 and mod2 == 2):
            # RPC, signal, cache and spool packets: an array or dict payload, not request vars
            payload = bytes(self._buf[4 : 4 + size])
            rest = bytes(self._buf[4 + size :])
            self._buf.clear()
            # what follows (a cache value, a spool body) is read by the packet's handler
            body = SocketBody(self.sock, rest, FABRIC_BODY_LIMIT, self.timeout)
            self.ready.append(
                Request(
                    {},
                    body,
                    mod1,
                    mod2,
                    vars_size=size,
                    started=time.time(),
                    extra={"packet": payload, "keep_alive": False},
                )
            )
            return
        env = decode_vars(memoryview(self._buf)[4 : 4 + size])
        rest = bytes(self._buf[4 + size :])
        self._buf.clear()
        declared = env.get("CONTENT_LENGTH", "")
        length = decimal(declared)
        if length is None:
            if declared:  # nginx sends it empty for a request without a body
                self.remote_addr = env.get("REMOTE_ADDR", "")  # for the log line
                raise HttpError(400, f"CONTENT_LENGTH {declared[:40]!r} is not a length")
            length = 0
        env.setdefault("SCRIPT_NAME", "")
        if self.forced is not None:
            mod1, mod2 = self.forced
        if env.get("HTTP_UPGRADE", "").lower() == "websocket":
            self.upgrade_tail = rest[length:]  # an ASGI app's WebSocket reads them
        body: StreamBody
        if not declared and "chunked" in env.get("HTTP_TRANSFER_ENCODING", "").lower():
            # http-chunked-input: the body follows still chunked (uwsgi.chunked_read)
            body = RawChunkedBody(
                self.sock, rest, self.body_limits.chunk_timeout, self.body_limits.chunk_limit
            )
        else:
            body = SocketBody(self.sock, rest, length, self.timeout, self.body_limits.timeout)
        self.ready.append(
            Request(
                env,
                body,
                mod1,
                mod2,
                vars_size=size,
                started=time.time(),
                extra={"keep_alive": False, "head": False},
            )
        )


class UwsgiResponder:
    """Raw HTTP response on a uwsgi connection: no chunking; the connection closes after it."""

    protocol = "uwsgi"

    __slots__ = (
        "_head",
        "bytes_sent",
        "headers_count",
        "headers_size",
        "keep_alive",
        "request",
        "sock",
        "status",
        "timeout",
    )

    def __init__(self, conn: UwsgiConnection, request: Request) -> None:
        self.sock = conn.sock
        self.timeout = conn.timeout
        self.request = request
        self.status = 0
        self.bytes_sent = 0
        self.headers_count = 0
        self.headers_size = 0
        self.keep_alive = False
        self._head: bytes | None = None

    @property
    def started(self) -> bool:
        return self.status != 0

    def start(self, status: str, headers: list[tuple[str, str]]) -> None:
        code, status_text = checked_status(status)
        proto = self.request.vars.get("SERVER_PROTOCOL", "HTTP/1.1")
        lines = [f"{proto} {status_text}", *(checked_header(n, v) for n, v in headers)]
        self.status = code
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.headers_count = len(headers)
        self.headers_size = len(head)
        self._head = head

    def _send(self, data: bytes) -> None:
        if self._head is not None:
            data = self._head + data
            self._head = None
        if data:
            sockio.send_all(self.sock, data, self.timeout)

    def write(self, data: bytes) -> None:
        if data:
            self.bytes_sent += len(data)
            self._send(data)

    def sendfile(self, file: BinaryIO, offset: int = 0, count: int | None = None) -> None:
        self._send(b"")
        if count is None:
            count = os.fstat(file.fileno()).st_size - offset
        if count > 0:
            self.bytes_sent += sockio.send_file(self.sock, file, offset, count, self.timeout)

    def finish(self) -> None:
        self._send(b"")
