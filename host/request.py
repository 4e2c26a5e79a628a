"""The protocol-neutral request and response objects every runtime sees.

A listener protocol (HTTP, uwsgi, FastCGI) turns bytes into a `Request` (CGI-style vars plus a
body reader) and gives the runtime a `Responder` that writes the answer back in that protocol.
Runtimes never touch sockets directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

#: reasons for the status codes polyhost itself produces or that apps commonly use
REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other",
    304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    413: "Content Too Large", 414: "URI Too Long", 416: "Range Not Satisfiable",
    431: "Request Header Fields Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ClientGone(OSError):
    """The client closed or reset the connection while we were reading or writing."""


class ResponseAborted(Exception):
    """A response was started and cannot be completed (its runtime died mid-body): the worker
    closes the connection without finishing it, so the client sees a truncated response, never
    a complete-looking one. The cause has already been logged."""


class BodyReader(Protocol):
    """The request body as a stream; `remaining` is None for a body of unknown length."""

    def read(self, size: int = -1) -> bytes: ...
    def readline(self, size: int = -1) -> bytes: ...


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


EMPTY_BODY_BYTES = b""


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
        value = self.vars.get("CONTENT_LENGTH", "")
        return int(value) if value.isdigit() else None


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


def file_size(file: BinaryIO) -> int:
    """Size of an open file, for Content-Length of file bodies."""
    return os.fstat(file.fileno()).st_size


#: a hook the worker gives runtimes so they can report exceptions for stats
ExceptionHook = Callable[[BaseException | None], None]
