"""HTTP/1.1 for `http-socket`: httptools parsing into Requests, and the HTTP Responder.

Keep-alive, pipelining (requests parsed ahead wait in order), chunked request bodies (de-chunked
by the parser, chunk extensions ignored), `Expect: 100-continue`, and RFC 9112's rejections
(duplicate Content-Length, Content-Length with chunked, bad targets, control characters,
obs-fold; the rules of `http_rules`) as 4xx/5xx answers that close the connection. A request
after one that closes the connection (`Connection: close`, HTTP/1.0) is never read: the first is
answered, then the connection closes. A body must arrive within `http-body-timeout` (408).

llhttp knows a fixed list of methods; another RFC 9110 token is parsed as GET and handed to the
app under its own name. That needs the request line at the start of what is fed to llhttp:
pipelined requests are fed message by message (a head up to its blank line, a body up to its
Content-Length or the end of its chunked framing), so a request behind another in the same read
gets the same answer as one arriving alone.
"""

from __future__ import annotations

import os
import socket
import time
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

import httptools

from polyhost.log import log, printable
from polyhost.memo import Memo
from polyhost.protocol import sockio
from polyhost.protocol.connection import Connection
from polyhost.protocol.http_rules import (
    TOKEN,
    VARIABLES,
    HeadLimits,
    HttpError,
    cgi_variable,
    check_host,
    check_line,
    check_method,
    check_trailer,
    check_transfer_encoding,
    check_underscores,
    check_version,
    refuse_field,
    request_target,
)
from polyhost.protocol.response_head import checked_header, checked_status
from polyhost.request import ClientGone, Request, StreamBody, decimal

RECV_SIZE = 65536
#: how much of an unread request body we drain to keep a connection alive
DRAIN_LIMIT = 1 << 20
#: the methods llhttp parses itself; any other token goes through as a stand-in GET
_LLHTTP_METHODS = frozenset(
    (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"CONNECT")
)
DEFAULT_LIMITS = HeadLimits()
#: the variables `head_env` does more with than set them: plain CGI ones, Host, Expect, TE
_PLAIN, _HOST, _EXPECT, _TE = range(4)
_SPECIAL = {
    "CONTENT_LENGTH": _PLAIN,
    "CONTENT_TYPE": _PLAIN,
    "HTTP_HOST": _HOST,
    "HTTP_EXPECT": _EXPECT,
    "HTTP_TRANSFER_ENCODING": _TE,
}
#: how long a method may be before we stop waiting for the space after it
_METHOD_MAX = 64


def _server_name(host: str) -> str:
    """SERVER_NAME from a Host value: its host part when it has a port, else all of it."""
    bracketed = host.endswith("]")
    name, _, port = (host, "", "") if bracketed else host.rpartition(":")
    return name if name and port.isdigit() else host


def _target_vars(method: str, url: bytes) -> tuple[str, str, str]:
    """REQUEST_URI, PATH_INFO (%-decoded) and QUERY_STRING of a request line's target."""
    uri = request_target(method, url).decode("latin-1")
    path, _, query = uri.partition("?")
    if method == "CONNECT":  # the target is an authority, not a path
        path = ""
    elif "%" in path:  # decoded as bytes: a %XX is one byte, as the target's own are
        path = unquote_to_bytes(path.encode("latin-1")).decode("latin-1")
    return uri, path, query


class _Ignored(Exception):
    """Raised by a parser callback to stop parsing what follows a connection-closing request."""


class _ChunkedEnd:
    """Follows the framing of a chunked body as it is fed, only to tell where the body ends
    (llhttp checks the framing itself): what follows starts the next request."""

    __slots__ = ("_line", "_skip", "_trailer")

    def __init__(self) -> None:
        #: chunk data (and the CRLF after it) still to come
        self._skip = 0
        #: the start of a size or trailer line received in part
        self._line = b""
        #: past the last chunk: trailer fields up to an empty line
        self._trailer = False

    def end(self, data: bytes) -> int:
        """The offset in `data` just past the end of the body, -1 when it goes on after it."""
        pos = 0
        size = len(data)
        while pos < size:
            if self._skip:
                step = min(self._skip, size - pos)
                self._skip -= step
                pos += step
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                # the start of the line is enough: its chunk size, or whether it is empty
                self._line = (self._line + data[pos:])[:_METHOD_MAX]
                return -1
            line = (self._line + data[pos:newline]).rstrip(b"\r")
            self._line = b""
            pos = newline + 1
            if self._trailer:
                if not line:
                    return pos
                continue
            try:
                chunk = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                return -1  # llhttp refuses this framing
            if chunk:
                self._skip = chunk + 2
            else:
                self._trailer = True
        return -1


class HttpBody(StreamBody):
    """The request body, read from the connection as the app asks for it; one that does not
    arrive within http-body-timeout fails with BodyTimeout (a 408)."""

    __slots__ = ("_conn", "_continue", "_deadline", "_timeout", "complete", "received")

    def __init__(self, conn: HttpConnection, expect_continue: bool, timeout: float) -> None:
        super().__init__()
        self._conn = conn
        self._continue = expect_continue
        self._timeout = timeout
        #: made at the first read of the body: most requests have none to read
        self._deadline: sockio.BodyDeadline | None = None
        self.complete = False
        self.received = 0

    def push(self, data: bytes) -> None:
        self._buf += data
        self.received += len(data)

    def _more(self) -> bool:
        if self.complete:
            return False
        if self._continue:
            self._continue = False
            self._conn.send_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._receive()
        return True

    def _receive(self) -> None:
        conn = self._conn
        deadline = self._deadline
        if deadline is None:
            deadline = self._deadline = sockio.BodyDeadline(self._timeout)
        data = deadline.recv(conn.sock, RECV_SIZE, conn.timeout, self.received)
        conn.feed(data)
        if not data:
            raise ClientGone("client closed the connection in the middle of the body")

    def drain(self) -> bool:
        """Discard what the app did not read; False when too much is left to keep the connection."""
        self._buf.clear()
        while not self.complete:
            if self.received > DRAIN_LIMIT or self._gone is not None:
                return False
            self._receive()
            self._buf.clear()
        return True


class HeadParser:
    """The httptools side of a client connection, shared by `http-socket` and the `--http`
    router: request heads parsed within `limit` bytes and the `HeadLimits` (the rules of
    `http_rules`), unknown methods through stand-ins, and each head turned into CGI vars
    (`head_env`). A subclass handles bodies (`on_body`) and what a complete head starts."""

    def __init__(
        self,
        peer: tuple[str, int] | str,
        server: tuple[str, str],
        limit: int,
        scheme: str = "http",
        limits: HeadLimits = DEFAULT_LIMITS,
    ) -> None:
        self.remote_addr, self.remote_port = (
            (str(peer[0]), str(peer[1])) if isinstance(peer, tuple) else ("", "")
        )
        self.server_addr, self.server_port = server
        self.limit = limit
        self.scheme = scheme
        self.head_limits = limits
        self.parser = httptools.HttpRequestParser(self)
        # versions are checked by check_version (505), data after a closing request is ignored
        self.parser.set_dangerous_leniencies(lenient_version=True, lenient_data_after_close=True)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_size = 0
        #: the head is complete: header callbacks now are fields of a chunked trailer
        self._in_body = False
        #: no message in progress: the next byte starts a request line
        self._between = True
        #: the start of a request line held back until its method is complete
        self._pending = b""
        #: the last bytes of a head fed so far (where its blank line may begin)
        self._head_tail = b""
        #: how much of the current Content-Length body is still to be fed (None: not known)
        self._body_left: int | None = None
        #: follows the current chunked body to find its end
        self._chunked_end: _ChunkedEnd | None = None
        #: the real method of a request parsed as a stand-in GET
        self._stand_in: str | None = None
        self._method: str | None = None
        #: a request that closes the connection was parsed: what follows is not read
        self._closing = False
        #: after an upgrade request: the bytes that followed its head (the first frames)
        self.upgrade_tail: bytes | None = None
        #: the vars every request of this connection starts from (`_template`)
        self._env_template: dict[str, str] | None = None
        #: the method and target of the last head and the vars they gave (`_target_vars`)
        self._target_seen: tuple[str, bytes] = ("", b"")
        self._target_vars = ("", "", "")
        #: the fields of the last head (a copy), its version and the vars they gave
        self._fields_seen: list[tuple[bytes, bytes]] | None = None
        self._fields_version = ""
        self._fields_vars: tuple[dict[str, str], bool, bool] = ({}, False, False)

    def parse(self, data: bytes) -> None:
        """Feed received bytes to the parser; HttpError for a request to refuse."""
        while data and not self._closing:
            if self._between:
                data = self._method_stand_in(self._pending + data if self._pending else data)
            piece, data = self._message_piece(data)
            if piece and not self._parse(piece):
                if self.upgrade_tail is not None:  # the upgraded protocol's bytes, all of them
                    self.upgrade_tail += data
                return

    def _message_piece(self, data: bytes) -> tuple[bytes, bytes]:
        """Split `data` where the current head or body ends (when that is in it): what follows
        then starts at a request line again, where its method can be stood in for too."""
        if not self._in_body or self._between:
            # the blank line may begin in the previous read: its last 3 bytes are kept
            tail = self._head_tail
            seen = tail + data if tail else data
            end = seen.find(b"\r\n\r\n")
            end = end + 4 - len(tail) if end >= 0 else -1
            self._head_tail = seen[-3:] if end < 0 else b""
        elif self._body_left is not None:
            end = self._body_left
            self._body_left = max(0, end - len(data))
        elif self._chunked_end is not None:
            end = self._chunked_end.end(data)
        else:
            end = -1
        if 0 < end < len(data):  # (0: the body is done but its end not seen: feed it all)
            return data[:end], data[end:]
        return data, b""

    def _parse(self, data: bytes) -> bool:
        """Feed llhttp; False when what follows is not HTTP to parse (an upgrade, ignored data)."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._method == "CONNECT":  # answered (no tunnel), then the connection closes
                self._closing = True
            else:
                # the parser stops at an upgrade: an ASGI app may take it (a WebSocket), else the
                # request is answered normally
                self.upgrade_tail = data[exc.args[0] :]
            return False
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, _Ignored):
                return False
            if isinstance(cause, HttpError):
                raise cause from None
            raise HttpError(400, f"bad HTTP request: {exc}") from None
        return True

    def _method_stand_in(self, data: bytes) -> bytes:
        """At the start of a request: a method llhttp does not know becomes GET (the request
        keeps its own); the start of a line held back until its method is complete. Empty
        lines before the request line are left to llhttp, which skips them (RFC 9112 §2.2)."""
        self._pending = b""
        space = data.find(b" ", 0, _METHOD_MAX)
        if space > 0 and data[:space] in _LLHTTP_METHODS:  # the usual request line
            return data
        begin = len(data) - len(data.lstrip(b"\r\n")) if data[:1] in b"\r\n" else 0
        space = data.find(b" ", begin, begin + _METHOD_MAX)
        if space < 0:
            rest = data[begin:]
            if len(data) < _METHOD_MAX and (not rest or TOKEN.fullmatch(rest)):
                self._pending = data  # wait for the rest of the method
                return b""
            return data  # garbage llhttp refuses, or empty lines it skips
        method = data[begin:space]
        if method in _LLHTTP_METHODS or not method:
            return data
        check_method(method)
        self._stand_in = method.decode("latin-1")
        return data[:begin] + b"GET" + data[space:]

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._closing:
            raise _Ignored
        self._between = False
        self._method, self._stand_in = self._stand_in, None
        self._url = b""
        self._headers = []
        self._head_size = 0
        self._in_body = False
        self._body_left = None
        self._chunked_end = None

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > self.limit or len(self._url) > self.head_limits.line:
            self._check_size()
            check_line(len(self._url), self.head_limits)

    def on_header(self, name: bytes, value: bytes) -> None:
        # one quick test per field; the refusals, in their order, only once it fails
        size = len(name) + len(value)
        self._head_size += size + 4
        if self._head_size > self.limit:  # judged on the fields before this one
            self._check_size()
        if self._in_body:  # after the head: a field of the chunked trailer
            check_trailer(name)
            return
        headers = self._headers
        headers.append((name, value))
        limits = self.head_limits
        if len(headers) > limits.fields or size + 2 > limits.field_size:
            refuse_field(name, value, len(headers), limits)

    def _check_size(self) -> None:
        """HttpError once the head counted so far is over buffer-size (414 while it is still
        the request line, 431 once fields came)."""
        if self._head_size > self.limit:
            raise HttpError(
                431 if self._headers else 414,
                f"request head over buffer-size ({self.limit} bytes): raise buffer-size",
            )

    def on_message_complete(self) -> None:
        self._between = True
        if not self.parser.should_keep_alive():
            self._closing = True

    def connection_vars(self) -> dict[str, str]:
        """The CGI vars this connection gives each of its requests (its addresses, scheme)."""
        return {
            "SCRIPT_NAME": "",
            "SERVER_NAME": self.server_addr,
            "SERVER_PORT": self.server_port,
            "REMOTE_ADDR": self.remote_addr,
            "REMOTE_PORT": self.remote_port,
            "UWSGI_SCHEME": self.scheme,
        }

    def _template(self) -> dict[str, str]:
        """The vars of every request of this connection, in CGI order: the first five are set
        per request, the rest are the connection's own. Built at the first head, once the
        owner has set the peer and the scheme (the router does after __init__)."""
        self._env_template = {
            "REQUEST_METHOD": "",
            "REQUEST_URI": "",
            "PATH_INFO": "",
            "QUERY_STRING": "",
            "SERVER_PROTOCOL": "",
            **self.connection_vars(),
        }
        return self._env_template

    def head_env(self) -> tuple[dict[str, str], bool, bool]:
        """The CGI vars of the head just parsed, whether it expects `100 Continue`, and
        whether its body is chunked (HttpError for a head the rules refuse)."""
        self._in_body = True
        version = self.parser.get_http_version()
        if version != "1.1":
            check_version(version)
        method = self._method or self.parser.get_method().decode("latin-1")
        self._method = method
        target = (method, self._url)
        if target != self._target_seen:
            self._target_vars = _target_vars(method, self._url)
            self._target_seen = target
        uri, path, query = self._target_vars
        env = (self._env_template or self._template()).copy()
        env["REQUEST_METHOD"] = method
        env["REQUEST_URI"] = uri
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = query
        env["SERVER_PROTOCOL"] = "HTTP/1.1" if version == "1.1" else f"HTTP/{version}"
        headers = self._headers
        if headers != self._fields_seen or version != self._fields_version:
            self._fields_vars = self._field_vars(version, env["SERVER_NAME"])
            # a copy: the list itself goes to the app with the Request
            self._fields_seen = headers.copy()
            self._fields_version = version
        fields, expect_continue, chunked = self._fields_vars
        env.update(fields)
        if chunked:
            self._chunked_end = _ChunkedEnd()
        else:
            length = env.get("CONTENT_LENGTH", "0")
            self._body_left = int(length) if length.isdigit() else None  # else llhttp refuses it
        return env, expect_continue, chunked

    def _field_vars(self, version: str, server_name: str) -> tuple[dict[str, str], bool, bool]:
        """The vars the header fields give (SERVER_NAME from Host, CONTENT_*, HTTP_*, in field
        order), whether they expect `100 Continue` and whether the body is chunked; HttpError
        for fields the rules refuse. A function of the fields and the version alone, so a
        keep-alive client sending the same fields again gets the same vars without the work."""
        expect_continue = False
        chunked = False
        hosts = 0
        allow_underscores = self.head_limits.allow_underscores
        #: with underscores allowed, the variable of each header so far (check_underscores)
        seen: dict[str, bool] = {}
        variables = VARIABLES
        special = _SPECIAL
        env = {"SERVER_NAME": server_name}
        get = env.get
        for raw_name, raw_value in self._headers:
            key = variables.get(raw_name) or cgi_variable(raw_name, allow_underscores)
            if key is None:
                continue  # a name with `_`: dropped (http-allow-underscores keeps it)
            if allow_underscores:
                check_underscores(raw_name, key, seen)
            value = raw_value.decode("latin-1")
            kind = special.get(key)
            if kind is None:  # most fields: HTTP_<NAME>, repeats joined with ", "
                old = get(key)
                env[key] = value if old is None else f"{old}, {value}"
                continue
            if kind == _PLAIN:
                env[key] = value
                continue
            if kind == _HOST:
                hosts += 1
                env["SERVER_NAME"] = _server_name(value)
            elif kind == _EXPECT:
                if value.lower() == "100-continue":
                    expect_continue = version == "1.1"
            else:
                check_transfer_encoding(version, value)
                chunked = True
            old = get(key)
            env[key] = value if old is None else f"{old}, {value}"
        check_host(version, hosts)
        if chunked:
            env.pop("CONTENT_LENGTH", None)
        return env, expect_continue, chunked


class HttpConnection(HeadParser, Connection):
    """One client connection on an http-socket: parses requests, hands them out in order."""

    def __init__(
        self,
        sock: socket.socket,
        listener: str,
        peer: tuple[str, int] | str,
        server: tuple[str, str],
        limit: int,
        modifiers: tuple[int, int],
        timeout: float,
        scheme: str = "http",
        limits: HeadLimits = DEFAULT_LIMITS,
        body_timeout: float = 0.0,
    ) -> None:
        Connection.__init__(self, sock, listener, timeout)
        HeadParser.__init__(self, peer, server, limit, scheme, limits)
        self.modifiers = modifiers
        self.body_timeout = body_timeout
        self.error: HttpError | None = None
        self._body: HttpBody | None = None

    # -- reading -----------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Parse received bytes; complete request heads are queued in `ready`."""
        if not data:
            self.closed = True
            if self._body is not None and not self._body.complete:
                raise ClientGone("client closed the connection in the middle of the body")
            return
        try:
            self.parse(data)
        except HttpError as exc:
            self.error = exc
            raise

    def responder(self, request: Request) -> HttpResponder:
        return HttpResponder(self, request)

    def between_requests(self) -> bool:
        return self._between and not self._pending and not self.ready and not self.closed

    def harakiri_reply(self, request: Request) -> bytes:
        return error_response(504, "the request took too long (harakiri)")

    def send_raw(self, data: bytes) -> None:
        sockio.send_all(self.sock, data, self.timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._body = None

    def on_headers_complete(self) -> None:
        request = self._build_request()
        self.ready.append(request)

    def on_body(self, data: bytes) -> None:
        if self._body is not None:
            self._body.push(data)

    def on_message_complete(self) -> None:
        if self._body is not None:
            self._body.complete = True
        super().on_message_complete()

    # -- request construction ----------------------------------------------------------------
    def _build_request(self) -> Request:
        env, expect_continue, chunked = self.head_env()
        method = env["REQUEST_METHOD"]
        body = HttpBody(self, expect_continue, self.body_timeout)
        if not chunked and env.get("CONTENT_LENGTH", "0") in ("", "0"):
            body.complete = True
        self._body = body
        mod1, mod2 = self.modifiers
        return Request(
            env,
            body,
            mod1,
            mod2,
            vars_size=self._head_size,
            started=time.time(),
            extra={
                # CONNECT is answered, never tunnelled: the connection closes after it
                "keep_alive": self.parser.should_keep_alive() and method != "CONNECT",
                "head": method == "HEAD",
                "headers": self._headers,
            },
        )


#: responses that never carry a body
_NO_BODY = frozenset((204, 304))
#: (status code, head bytes, chunked, Content-Length, keep-alive) of a checked response head
_HeadBlock = tuple[int, bytes, bool, int | None, bool]
#: checked heads by (version, status, headers, keep-alive, HEAD)
_HEAD_BLOCKS: Memo[_HeadBlock] = Memo()


class HttpResponder:
    """Writes a response on an http-socket: framing, keep-alive and HEAD handling."""

    __slots__ = (
        "_chunked",
        "_head",
        "_is_head",
        "_length",
        "bytes_sent",
        "conn",
        "headers_count",
        "headers_size",
        "keep_alive",
        "request",
        "status",
        "version",
    )

    def __init__(self, conn: HttpConnection, request: Request) -> None:
        self.conn = conn
        self.request = request
        self.version = request.vars["SERVER_PROTOCOL"]
        self.keep_alive = bool(request.extra.get("keep_alive"))
        self._is_head = bool(request.extra.get("head"))
        self.status = 0
        self.bytes_sent = 0
        self.headers_count = 0
        self.headers_size = 0
        self._head: bytes | None = None
        self._chunked = False
        self._length: int | None = None

    @property
    def started(self) -> bool:
        return self.status != 0

    def start(self, status: str, headers: list[tuple[str, str]]) -> None:
        key = (self.version, status, tuple(headers), self.keep_alive, self._is_head)
        block = _HEAD_BLOCKS.get(key)  # something unhashable: the checks below say what
        if block is None:
            block = _HEAD_BLOCKS.put(key, self._head_block(status, headers))
        self.status, head, self._chunked, self._length, self.keep_alive = block
        self.headers_count = len(headers)
        self.headers_size = len(head)
        self._head = head

    def _head_block(self, status: str, headers: list[tuple[str, str]]) -> _HeadBlock:
        """The checked head of a response and its framing (status, head, chunked, length,
        keep-alive): the same for the same status, headers and request kind."""
        code, status_text = checked_status(status)
        lines = [f"{self.version} {status_text}"]
        length: int | None = None
        has_connection_close = False
        keep_alive = self.keep_alive
        chunked = False
        for name, value in headers:
            line = checked_header(name, value)
            lower = name.lower()
            if lower == "content-length":
                length = decimal(value.strip())
            elif lower == "transfer-encoding":
                continue  # we decide the framing
            elif lower == "connection":
                has_connection_close = "close" in value.lower()
                continue
            lines.append(line)
        no_body = code in _NO_BODY or code < 200
        if has_connection_close:
            keep_alive = False
        if length is None and not no_body:
            if keep_alive and self.version == "HTTP/1.1" and not self._is_head:
                chunked = True
                lines.append("Transfer-Encoding: chunked")
            elif not self._is_head:
                keep_alive = False
        if not keep_alive:
            lines.append("Connection: close")
        elif self.version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return code, head, chunked, length, keep_alive

    def write(self, data: bytes) -> None:
        if self._is_head or not data:
            return
        if self._length is not None and self.bytes_sent + len(data) > self._length:
            data = self._overflow(data)
        payload = b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data
        self.bytes_sent += len(data)
        self._flush_head(payload)

    def _overflow(self, data: bytes) -> bytes:
        """The app sends more than its Content-Length: what fits is sent, the rest dropped (it
        would be read as the next response), and the connection closes after this response."""
        assert self._length is not None
        if self.keep_alive or self.bytes_sent < self._length:
            log(
                f"the app sent more body than its Content-Length ({self._length}) for"
                f" {printable(self.request.vars.get('REQUEST_URI', ''))}: the rest is dropped"
            )
        self.keep_alive = False
        return data[: max(0, self._length - self.bytes_sent)]

    def _flush_head(self, payload: bytes) -> None:
        if self._head is not None:
            payload = self._head + payload
            self._head = None
        if payload:
            self.conn.send_raw(payload)

    def sendfile(self, file: BinaryIO, offset: int = 0, count: int | None = None) -> None:
        if count is None:
            count = os.fstat(file.fileno()).st_size - offset
        if self._is_head or count <= 0:
            self._flush_head(b"")
            return
        if self._chunked:
            self._flush_head(b"%x\r\n" % count)
        else:
            self._flush_head(b"")
        self.bytes_sent += sockio.send_file(self.conn.sock, file, offset, count, self.conn.timeout)
        if self._chunked:
            self.conn.send_raw(b"\r\n")

    def finish(self, trailer: bytes = b"") -> None:
        """`trailer`: trailer field lines (each ending in CRLF) after the last chunk; dropped
        when the response is not chunked."""
        if self._chunked and not self._is_head:
            self._flush_head(b"0\r\n" + trailer + b"\r\n")
        else:
            self._flush_head(b"")
        if self._length is not None and self.bytes_sent < self._length and not self._is_head:
            # the client waits for the rest: closing tells it the response is cut
            log(
                f"the app sent {self.bytes_sent} bytes of its Content-Length ({self._length})"
                f" for {printable(self.request.vars.get('REQUEST_URI', ''))}: the connection"
                " closes"
            )
            self.keep_alive = False


def error_response(status: int, reason: str) -> bytes:
    """A complete `Connection: close` response for requests refused before any app ran."""
    from polyhost.request import REASONS

    body = f"{status} {REASONS.get(status, 'Error')}: {reason}\n".encode()
    return (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1") + body
