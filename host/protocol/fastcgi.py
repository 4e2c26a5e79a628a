"""FastCGI: the record codec (shared with the php-cgi bridge) and `fastcgi-socket` serving.

Records: `version u8, type u8, request id u16be, content length u16be, padding u8, reserved u8`.
The server side reads BEGIN_REQUEST, PARAMS (name-value pairs) and streams STDIN to the app; the
answer is a CGI response in STDOUT records, then END_REQUEST. One request at a time per
connection (no multiplexing, as nginx and uWSGI use it); FCGI_KEEP_CONN keeps the connection.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from typing import BinaryIO

from polyhost.protocol import sockio
from polyhost.protocol.connection import BodyLimits, Connection
from polyhost.protocol.response_head import checked_header, checked_status
from polyhost.protocol.uwsgi import PacketError
from polyhost.request import ClientGone, Request, StreamBody

RECORD = struct.Struct(">BBHHBx")
BEGIN_BODY = struct.Struct(">HB5x")
END_BODY = struct.Struct(">IB3x")
VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER = 1
KEEP_CONN = 1
MAX_CONTENT = 0xFFFF


class FastCgiError(ValueError):
    """Malformed FastCGI input."""


def record(rtype: int, request_id: int, content: bytes = b"") -> bytes:
    """One record (content must fit 65535 bytes), padded to 8 bytes."""
    padding = -len(content) % 8
    header = RECORD.pack(VERSION, rtype, request_id, len(content), padding)
    return header + content + b"\0" * padding


def stream(rtype: int, request_id: int, data: bytes) -> bytes:
    """A stream's data as as many records as needed (no terminating empty record)."""
    view = memoryview(data)
    return b"".join(
        record(rtype, request_id, bytes(view[i : i + MAX_CONTENT]))
        for i in range(0, len(data), MAX_CONTENT)
    )


def encode_pairs(pairs: dict[str, str] | list[tuple[str, str]]) -> bytes:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    out = bytearray()
    for name, value in items:
        key, val = name.encode("latin-1"), value.encode("latin-1")
        for length in (len(key), len(val)):
            out += bytes((length,)) if length < 128 else struct.pack(">I", length | 0x80000000)
        out += key
        out += val
    return bytes(out)


def decode_pairs(data: bytes) -> dict[str, str]:
    pairs: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        lengths = []
        for _ in range(2):
            if pos >= len(data):
                raise FastCgiError("truncated FastCGI name-value pair")
            if data[pos] < 128:
                lengths.append(data[pos])
                pos += 1
            else:
                if pos + 4 > len(data):
                    raise FastCgiError("truncated FastCGI name-value length")
                lengths.append(struct.unpack_from(">I", data, pos)[0] & 0x7FFFFFFF)
                pos += 4
        name_len, value_len = lengths
        if pos + name_len + value_len > len(data):
            raise FastCgiError("truncated FastCGI name-value pair")
        name = data[pos : pos + name_len].decode("latin-1")
        pos += name_len
        pairs[name] = data[pos : pos + value_len].decode("latin-1")
        pos += value_len
    return pairs


class RecordReader:
    """Parses records out of a byte stream; `feed` then iterate `records()`."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def next_record(self) -> tuple[int, int, bytes] | None:
        if len(self.buf) < 8:
            return None
        version, rtype, request_id, length, padding = RECORD.unpack_from(self.buf)
        if version != VERSION:
            raise FastCgiError(f"FastCGI version {version} is not supported")
        total = 8 + length + padding
        if len(self.buf) < total:
            return None
        content = bytes(self.buf[8 : 8 + length])
        del self.buf[:total]
        return rtype, request_id, content


class FastCgiBody(StreamBody):
    """STDIN records, read from the connection as the app asks (within http-body-timeout)."""

    __slots__ = ("_conn", "_deadline", "complete", "received")

    def __init__(self, conn: FastCgiConnection, timeout: float) -> None:
        super().__init__()
        self._conn = conn
        self._deadline = sockio.BodyDeadline(timeout)
        self.complete = False
        self.received = 0

    def push(self, data: bytes) -> None:
        if data:
            self._buf += data
            self.received += len(data)
        else:
            self.complete = True

    def _more(self) -> bool:
        if self.complete:
            return False
        conn = self._conn
        data = self._deadline.recv(conn.sock, 65536, conn.timeout, self.received)
        if not data:
            raise ClientGone("FastCGI peer closed the connection mid-request")
        conn.feed(data)
        return True


class FastCgiConnection(Connection):
    """A FastCGI client connection (nginx `fastcgi_pass`)."""

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
        #: most bytes of PARAMS one request may send (`buffer-size`, as uwsgi vars)
        self.limit = limit
        self.modifiers = modifiers or (0, 0)
        self.reader = RecordReader()
        self.keep_conn = False
        self.request_id = 0
        self._params = bytearray()
        self._body: FastCgiBody | None = None
        self._head_size = 0
        #: a BEGIN_REQUEST was read and its PARAMS are not complete yet
        self._opening = False

    def between_requests(self) -> bool:
        return not self._opening and not self.reader.buf and not self.ready and not self.closed

    def feed(self, data: bytes) -> None:
        if not data:
            self.closed = True
            return
        self.reader.feed(data)
        while (rec := self.reader.next_record()) is not None:
            self._on_record(*rec)

    def _on_record(self, rtype: int, request_id: int, content: bytes) -> None:
        if rtype == BEGIN_REQUEST:
            if len(content) < BEGIN_BODY.size:
                raise PacketError(f"FastCGI BEGIN_REQUEST of {len(content)} bytes (8 expected)")
            role, flags = BEGIN_BODY.unpack_from(content)
            if role != RESPONDER:
                self.send(record(END_REQUEST, request_id, END_BODY.pack(0, 3)))
                return
            self.request_id = request_id
            self._opening = True
            self.keep_conn = bool(flags & KEEP_CONN)
            self._params.clear()
        elif rtype == PARAMS:
            if content:
                if len(self._params) + len(content) > self.limit:
                    raise PacketError(
                        f"FastCGI params of request {request_id} over {self.limit} bytes:"
                        " raise buffer-size"
                    )
                self._params += content
                return
            env = decode_pairs(bytes(self._params))
            self._opening = False
            self._head_size = len(self._params)
            env.setdefault("SCRIPT_NAME", "")
            self._body = FastCgiBody(self, self.body_limits.timeout)
            mod1, mod2 = self.modifiers
            self.ready.append(
                Request(
                    env,
                    self._body,
                    mod1,
                    mod2,
                    vars_size=self._head_size,
                    started=time.time(),
                    extra={"keep_alive": self.keep_conn, "head": False},
                )
            )
        elif rtype == STDIN:
            if self._body is not None:
                self._body.push(content)
        elif rtype == ABORT_REQUEST:
            self.closed = True
        elif rtype == GET_VALUES:
            values = encode_pairs(
                {"FCGI_MAX_CONNS": "1", "FCGI_MAX_REQS": "1", "FCGI_MPXS_CONNS": "0"}
            )
            self.send(record(GET_VALUES_RESULT, 0, values))
        else:
            self.send(record(UNKNOWN_TYPE, 0, bytes((rtype,)) + b"\0" * 7))

    def send(self, data: bytes) -> None:
        sockio.send_all(self.sock, data, self.timeout)

    def responder(self, request: Request) -> FastCgiResponder:
        return FastCgiResponder(self, request)

    def harakiri_reply(self, request: Request) -> bytes:
        """A 504 in STDOUT records and the END_REQUEST, as any FastCGI answer (never raw HTTP,
        which the web server would read as a broken record)."""
        rid = self.request_id
        answer = (
            b"Status: 504 Gateway Timeout\r\nContent-Type: text/plain\r\n\r\n"
            b"the request took too long (harakiri)\n"
        )
        return (
            stream(STDOUT, rid, answer)
            + record(STDOUT, rid)
            + record(END_REQUEST, rid, END_BODY.pack(0, 0))
        )


class FastCgiResponder:
    """A CGI-style response (`Status:` header) in STDOUT records, then END_REQUEST."""

    protocol = "fastcgi"

    def __init__(self, conn: FastCgiConnection, request: Request) -> None:
        self.conn = conn
        self.request = request
        self.status = 0
        self.bytes_sent = 0
        self.headers_count = 0
        self.headers_size = 0
        self.keep_alive = conn.keep_conn
        self._head: bytes | None = None

    @property
    def started(self) -> bool:
        return self.status != 0

    def start(self, status: str, headers: list[tuple[str, str]]) -> None:
        code, status_text = checked_status(status)
        lines = [f"Status: {status_text}", *(checked_header(n, v) for n, v in headers)]
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
            self.conn.send(stream(STDOUT, self.conn.request_id, data))

    def write(self, data: bytes) -> None:
        if data:
            self.bytes_sent += len(data)
            self._send(data)

    def sendfile(self, file: BinaryIO, offset: int = 0, count: int | None = None) -> None:
        if count is None:
            count = os.fstat(file.fileno()).st_size - offset
        file.seek(offset)
        while count > 0:
            data = file.read(min(count, MAX_CONTENT))
            if not data:
                break
            self.write(data)
            count -= len(data)

    def finish(self) -> None:
        self._send(b"")
        rid = self.conn.request_id
        self.conn.send(record(STDOUT, rid) + record(END_REQUEST, rid, END_BODY.pack(0, 0)))
