"""The protocol-neutral request and response objects every runtime sees.

A listener protocol (HTTP, uwsgi, FastCGI) turns bytes into a `Request` (CGI-style vars plus a
body reader) and gives the runtime a `Responder` that writes the answer back in that protocol.
Runtimes never touch sockets directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

#: reasons for the status codes polyhost itself produces or that apps commonly use
REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


def decimal(text: str) -> int | None:
    """The value of a length field such as CONTENT_LENGTH: ASCII digits only ("²" and "-1" are
    not lengths), else None."""
    return int(text) if text.isascii() and text.isdigit() else None


class ClientGone(OSError):
    """The client closed or reset the connection while we were reading or writing."""


class BodyTimeout(ClientGone):
    """The request body did not arrive within http-body-timeout: answered 408 if nothing was
    sent yet, and the connection closed."""

    status = 408


class ResponseAborted(Exception):
    """A response was started and cannot be completed (its runtime died mid-body): the worker
    closes the connection without finishing it, so the client sees a truncated response, never
    a complete-looking one. The cause has already been logged."""


class BodyReader(Protocol):
    """The request body as a stream; `remaining` is None for a body of unknown length."""

    def read(self, size: int = -1) -> bytes: ...
    def readline(self, size: int = -1) -> bytes: ...


class StreamBody:
    """A body that arrives in pieces: `read`/`readline` over `_more()`, which subclasses
    implement to append the next piece to `_buf` and return False once the body has ended.
    A body the client cuts short is handed out as far as it came, then reading fails."""

    __slots__ = ("_buf", "_gone")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._gone: ClientGone | None = None

    def _more(self) -> bool:
        raise NotImplementedError

    def _pull(self) -> bool:
        """`_more()`, except that a client gone with bytes still buffered ends the body there
        (the app reads them) and fails the next read; a body timeout fails at once."""
        if self._gone is not None:
            raise self._gone
        try:
            return self._more()
        except BodyTimeout:
            raise
        except ClientGone as exc:
            if not self._buf:
                raise
            self._gone = exc
            return False

    def read(self, size: int = -1) -> bytes:
        buf = self._buf
        if size is None or size < 0:
            while self._pull():
                pass
            size = len(buf)
        else:
            while len(buf) < size and self._pull():
                pass
        data = bytes(buf[:size])
        del buf[:size]
        return data

    def readline(self, size: int = -1) -> bytes:
        limit = size if size is not None and size >= 0 else None
        buf = self._buf
        while True:
            nl = buf.find(b"\n")
            if nl >= 0 and (limit is None or nl < limit):
                return self.read(nl + 1)
            if limit is not None and len(buf) >= limit:
                return self.read(limit)
            if not self._pull():
                return self.read(len(buf) if limit is None else limit)

    def drain(self) -> bool:
        """Discard the rest of the body (to keep the connection); False if it was too big."""
        self._buf.clear()
        while self._more():
            self._buf.clear()
        return True


class BytesBody:
    """A body already held in memory (small bodies, post-buffered bodies, tests)."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes = b"") -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        start = self._pos
        end = len(self._data) if size is None or size < 0 else min(len(self._data), start + size)
        self._pos = end
        return self._data[start:end]

    def readline(self, size: int = -1) -> bytes:
        start = self._pos
        nl = self._data.find(b"\n", start)
        end = len(self._data) if nl < 0 else nl + 1
        if size is not None and size >= 0:
            end = min(end, start + size)
        self._pos = end
        return self._data[start:end]

    def drain(self) -> bool:
        return True


class FileBody:
    """A body spooled to a file (post-buffering of big bodies)."""

    __slots__ = ("_file",)

    def __init__(self, file: BinaryIO) -> None:
        self._file = file

    def read(self, size: int = -1) -> bytes:
        return self._file.read(-1 if size is None else size)

    def readline(self, size: int = -1) -> bytes:
        return self._file.readline(-1 if size is None else size)

    def drain(self) -> bool:
        return True


@dataclass(slots=True)
class Request:
    """One request: CGI/uwsgi vars (str, latin-1 decoded bytes) and the body stream."""

    vars: dict[str, str]
    body: BodyReader
    modifier1: int = 0
    modifier2: int = 0
    #: size of the vars block as received (uwsgi) or of the request head (HTTP), for the log
    vars_size: int = 0
    #: time.time() when the request head was complete
    started: float = 0.0
    #: set by the dispatcher: the app's mountpoint that matched
    mountpoint: str = ""
    #: free slot for runtimes (e.g. the app id for the log)
    app_id: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def content_length(self) -> int | None:
        return decimal(self.vars.get("CONTENT_LENGTH", ""))


class Responder(Protocol):
    """Writes one response back to the client in the listener's protocol."""

    status: int
    bytes_sent: int
    headers_count: int
    headers_size: int

    @property
    def started(self) -> bool: ...

    def start(self, status: str, headers: list[tuple[str, str]]) -> None:
        """Send (or buffer) the status line, e.g. '200 OK', and the headers."""

    def write(self, data: bytes) -> None:
        """Send a piece of the body; starts nothing by itself (call start first)."""

    def sendfile(self, file: BinaryIO, offset: int = 0, count: int | None = None) -> None:
        """Send part of a file as body, with os.sendfile where the transport allows it."""

    def finish(self) -> None:
        """The body is complete: flush, end chunked encoding, decide about keep-alive."""


def fail_response(responder: Responder, code: int = 500) -> None:
    """The app failed (its runtime logged why): answer `code`, or, when its response already
    started, raise ResponseAborted so the worker closes the connection without finishing it
    and the client can tell the response is truncated."""
    if responder.started:
        raise ResponseAborted("the app failed after its response started")
    simple_error(responder, code)


def simple_error(responder: Responder, code: int, text: str = "") -> None:
    """Answer with a short plain-text error, if nothing has been sent yet."""
    if responder.started:
        return
    body = (text or REASONS.get(code, "Error")).encode("utf-8", "replace") + b"\n"
    responder.start(
        f"{code} {REASONS.get(code, 'Error')}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    responder.write(body)
