"""A request body that arrives still chunked on a uwsgi connection (`--http-chunked-input`).

uWSGI's router in raw mode sends the packet without CONTENT_LENGTH and the body as the client
chunked it; `uwsgi.chunked_read()` (core/chunked.c) hands the app one chunk at a time and b""
after the last one. `RawChunkedBody.next_chunk` is that call; `read`/`readline` (wsgi.input)
return the de-chunked bytes as well, which uWSGI does not offer. Each chunk is limited to
`chunked-input-limit` bytes and checked before it is buffered. `read_chunk` is what every
language's `chunked_read` calls (Python directly, Perl through the fabric's CALL).
"""

from __future__ import annotations

import select
import socket

from polyhost import websocket
from polyhost.protocol.http import RECV_SIZE
from polyhost.protocol.sockio import recv
from polyhost.request import ClientGone, StreamBody

#: the longest chunk-size line (hex digits, extensions, CRLF) accepted
SIZE_LINE_LIMIT = 1024
#: uWSGI's timeout -1: wait as long as the client takes (a year, for poll)
FOREVER = 365 * 86400.0


class ChunkedInputError(OSError):
    """The chunked stream is malformed, too big or cut short (uWSGI: "unable to receive
    chunked part")."""


class RawChunkedBody(StreamBody):
    """Chunks parsed off the socket: what came with the head first, then `recv` within
    `timeout` seconds per call."""

    __slots__ = ("_limit", "_raw", "_sock", "_timeout", "complete")

    def __init__(self, sock: socket.socket, initial: bytes, timeout: float, limit: int) -> None:
        super().__init__()
        self._sock = sock
        self._raw = bytearray(initial)
        self._timeout = timeout
        self._limit = limit
        self.complete = False

    def _fill(self, timeout: float, nonblocking: bool) -> bool:
        """Receive more raw bytes; False when `nonblocking` and none are there yet."""
        if nonblocking:
            ready, _, _ = select.select([self._sock], [], [], 0)
            if not ready:
                return False
        data = recv(self._sock, RECV_SIZE, timeout)
        if not data:
            raise ChunkedInputError("client closed the connection in the middle of a chunk")
        self._raw += data
        return True

    def _parse(self) -> bytes | None:
        """The next whole chunk in `_raw` (b"" for the last one), or None if incomplete."""
        raw = self._raw
        end = raw.find(b"\r\n", 0, SIZE_LINE_LIMIT)
        if end < 0:
            if len(raw) >= SIZE_LINE_LIMIT:
                raise ChunkedInputError(f"chunk size line over {SIZE_LINE_LIMIT} bytes")
            return None
        digits = bytes(raw[:end]).split(b";", 1)[0].strip()
        if not digits or any(c not in b"0123456789abcdefABCDEF" for c in digits):
            raise ChunkedInputError(f"invalid chunk size line {bytes(raw[:end])[:40]!r}")
        size = int(digits, 16)
        if size > self._limit:
            raise ChunkedInputError(f"chunk of {size} bytes over chunked-input-limit {self._limit}")
        if size == 0:  # the last chunk; trailers, if any, are not read (as uWSGI)
            self.complete = True
            del raw[:]
            return b""
        start = end + 2
        if len(raw) < start + size + 2:
            return None
        if raw[start + size : start + size + 2] != b"\r\n":
            raise ChunkedInputError("chunk data not followed by CRLF")
        chunk = bytes(raw[start : start + size])
        del raw[: start + size + 2]
        return chunk

    def next_chunk(self, timeout: float = 0.0, nonblocking: bool = False) -> bytes | None:
        """One chunk, b"" once the stream has ended; None when `nonblocking` and no whole chunk
        has arrived yet. Bytes already handed out through `read` are returned first."""
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            return data
        return self._chunk(timeout, nonblocking)

    def _chunk(self, timeout: float, nonblocking: bool) -> bytes | None:
        if self.complete:
            return b""
        wait = self._timeout if timeout == 0 else timeout if timeout > 0 else FOREVER
        while True:
            chunk = self._parse()
            if chunk is not None:
                return chunk
            if not self._fill(wait, nonblocking):
                return None

    def _more(self) -> bool:
        try:
            chunk = self._chunk(0.0, False)
        except ChunkedInputError as exc:
            raise ClientGone(str(exc)) from exc
        if not chunk:
            return False
        self._buf += chunk
        return True

    def drain(self) -> bool:
        return True  # one request per uwsgi connection: nothing to keep it for


def read_chunk(timeout: float = 0.0, nonblocking: bool = False) -> bytes | None:
    """The next chunk of the body of the request served on this thread (b"" at its end, None
    when `nonblocking` and none has arrived). A body polyhost already de-chunked (http-socket,
    a declared length, HTTP/2) is handed out in pieces the same way. OSError "unable to receive
    chunked part: ..." on a malformed, oversized or cut-short stream."""
    body = websocket.request().body
    try:
        if isinstance(body, RawChunkedBody):
            return body.next_chunk(float(timeout), nonblocking)
        return body.read(RECV_SIZE)
    except OSError as exc:
        raise OSError(f"unable to receive chunked part: {exc}") from exc
