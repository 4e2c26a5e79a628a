"""One client connection of the `--http` router: HTTP/1.x in, uwsgi packets out.

Requests are parsed with http-socket's own HeadParser (same 400/414/431 answers). A request
reaches a backend only once its head (and, up to `post-buffering`, its body) has arrived; its
body then streams to the backend (a chunked one de-chunked and sent with its length, or with
`http-chunked-input` streamed still chunked, as uWSGI's raw mode), and the backend's raw HTTP
response streams back, re-framed
for keep-alive (chunked by the router when the app gave no length). Pipelined requests wait
their turn in order. Bytes are held within bounds: past READ_BUFFER the router stops reading the
client, past WRITE_BUFFER it stops reading the backend.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import tempfile
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from polyhost.log import log, printable
from polyhost.protocol.http import HeadParser, HttpError, error_response
from polyhost.protocol.uwsgi import PacketError, encode_vars, pack_header
from polyhost.request import REASONS
from polyhost.router.http_settings import READ_BUFFER, WRITE_BUFFER
from polyhost.router.upstream import Upstream

if TYPE_CHECKING:
    from polyhost.router.backends import StaticNodes
    from polyhost.router.http_listeners import RouterListener
    from polyhost.router.http_settings import HttpSettings
    from polyhost.router.subscriptions import SubscriptionTable

#: a chunked request body is held in memory up to this, then in a temporary file
BODY_IN_MEMORY = 1 << 20
#: connection attempts per request, as uWSGI's corerouter max_retries
MAX_TRIES = 3
#: lingering close after a refusal: what the client still sends is read and dropped for up to
#: this many seconds and bytes, then the socket closes (nginx's lingering_time, bounded)
LINGER_SECONDS = 5.0
LINGER_BYTES = 4 << 20
#: statuses whose responses never carry a body
NO_BODY = frozenset((204, 304))
#: response headers the router decides itself
HOP_BY_HOP = frozenset((b"connection", b"keep-alive"))
#: a Host the router may write back into a Location header (http-to-https)
SAFE_HOST = re.compile(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]")
#: a response head whose lines may pass unchanged: the status line (code, reason), then header
#: lines each with a name that neither starts nor ends with white space
PLAIN_HEAD = re.compile(
    rb"HTTP/1\.[01] (\d{3})( [^\r\n]*)?((?:\r\n[^\s:](?:[^:\r\n]*[^\s:])?:[^\r\n]*)*)"
)
#: the header names the router decides or looks at itself (as whole names after a line break)
DECIDED_FIELD = re.compile(
    rb"\r\n(connection|keep-alive|transfer-encoding|uwsgi-encoding|content-encoding"
    rb"|content-length):",
    re.IGNORECASE,
)
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)[ \t]*(?:\r|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Route:
    """Where one request goes: a node (address, the packet's modifiers), or an answer the
    router gives itself (a redirect, a 502 page) without any node."""

    address: str = ""
    modifiers: tuple[int, int] = (0, 0)
    answer: bytes = b""


class RouterSession(Protocol):
    """A client connection as the router's sweep and stop see it (HTTP/1 or HTTP/2)."""

    deadline: float

    def on_timeout(self) -> None: ...
    def idle(self) -> bool: ...
    def close(self) -> None: ...


class RouterState:
    """Shared by every session of one router process."""

    def __init__(
        self,
        settings: HttpSettings,
        static: StaticNodes,
        table: SubscriptionTable | None,
        name: str,
    ) -> None:
        self.settings = settings
        self.static = static
        self.table = table
        self.name = name
        self.sessions: set[RouterSession] = set()
        self.stopping = False
        #: one Route per static node, made once (the forced modifiers are the router's)
        self.static_routes: dict[str, Route] = {}
        #: the last backend head that passed unchanged (Exchange.passed_head): the head, the
        #: client's version, keep-alive, then the status, Content-Length and the head sent
        self.head_memo: tuple[bytes, str, bool, int, int, bytes] | None = None

    def route(self, env: dict[str, str], listener: RouterListener) -> Route:
        """The one per-request decision of the router: redirect (http-to-https), the
        subscribed nodes of the request's key (HTTP_HOST), else the static nodes (http-to, or
        the instance's own sockets). A `route*` rule engine plugs in here: it sees the vars,
        may rewrite them, answer itself or name the node."""
        key = env.get("HTTP_HOST", "")
        if listener.redirect:
            return Route(answer=redirect_to_https(key, env["REQUEST_URI"], listener))
        forced = (self.settings.modifier1, self.settings.modifier2)
        if self.table is not None:
            node = self.table.pick_node(key)
            if node is not None:
                announced = (node.announce.modifier1, node.announce.modifier2)
                return Route(node.name, forced if any(forced) else announced)
        address = self.static.pick(key)
        if address is None:
            log(f"[uwsgi-http] no node for {printable(key)}")
            return Route(answer=error_response(502, f"no node for {printable(key)}"))
        route = self.static_routes.get(address)
        if route is None:
            route = self.static_routes[address] = Route(address, forced)
        return route

    def failed(self, address: str, key: str) -> None:
        """`address` refused or timed out a connection: drop or rest it."""
        if self.table is not None:
            self.table.failed(address, key)
        self.static.failed(address, key)

    def sweep(self, now: float) -> None:
        """Enforce the sessions' deadlines and drop silent nodes (called every second)."""
        for session in [s for s in self.sessions if s.deadline <= now]:
            session.on_timeout()
        if self.table is not None:
            self.table.expire()


def redirect_to_https(host: str, uri: str, listener: RouterListener) -> bytes:
    """uWSGI's http-to-https answer: 301 to https://HOST[:PORT]URI (a Host that is not a plain
    name or address is refused: client bytes never go raw into a header)."""
    name = host[1:].partition("]")[0].join("[]") if host.startswith("[") else host.split(":")[0]
    if not SAFE_HOST.fullmatch(name):
        return error_response(400, "http-to-https needs a valid Host header")
    port = f":{listener.redirect_port}" if listener.redirect_port else ""
    target = uri if uri.isprintable() and " " not in uri else "/"
    return (
        f"HTTP/1.1 301 Moved Permanently\r\nLocation: https://{name}{port}{target}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")


class Exchange:
    """One request and its response, from the head's arrival to the response's last byte."""

    def __init__(
        self,
        session: HttpSession,
        env: dict[str, str],
        keep_alive: bool,
        chunked: bool,
        expect_continue: bool,
    ) -> None:
        self.session = session
        self.env = env
        #: http-chunked-input: the body streams on still chunked, the connection closes after
        self.raw_chunked = chunked and session.settings.chunked_input
        self.keep_alive = keep_alive and not self.raw_chunked
        self.chunked = chunked and not self.raw_chunked
        self.expect_continue = expect_continue
        self.is_head = env["REQUEST_METHOD"] == "HEAD"
        length = env.get("CONTENT_LENGTH", "")
        self.length = int(length) if length.isdigit() else 0
        self.received = 0
        self.body_complete = not chunked and self.length == 0
        self.pending: deque[bytes] = deque()  # body bytes not yet handed to the backend
        self.spool: Any = None  # a chunked body past BODY_IN_MEMORY
        self.started = False
        self.upstream: Upstream | None = None  # connected
        self.connecting: Upstream | None = None  # its connect still in progress
        self.attempt = 0
        self.address = ""
        self.tunnel = False
        self.finished = False
        # response side
        self.head_buf = bytearray()
        self.head_done = False
        self.status = 0
        self.no_body = False
        self.rechunk = False
        self.gzip: Any = None
        self.remaining: int | None = None
        self.truncated = False

    # -- request body -------------------------------------------------------------------------
    def add_body(self, data: bytes) -> None:
        self.received += len(data)
        limit = self.session.settings.limit_post
        if limit and self.received > limit:
            raise HttpError(413, f"request body over limit-post ({limit} bytes)")
        if self.spool is not None:
            self.spool.write(data)
            return
        if self.raw_chunked and data:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        self.pending.append(data)
        self.session.buffered += len(data)
        if self.chunked and self.received > BODY_IN_MEMORY:
            self.spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed when sent or cancelled
            while self.pending:
                self.spool.write(self.pending.popleft())
            self.session.buffered -= self.received
        self.pump_body()

    def body_done(self) -> None:
        self.body_complete = True
        if self.raw_chunked:
            self.pending.append(b"0\r\n\r\n")
        if self.chunked:
            self.env["CONTENT_LENGTH"] = str(self.received)
            self.env.pop("HTTP_TRANSFER_ENCODING", None)
        if self.spool is not None:
            self.spool.seek(0)

    def ready_to_forward(self) -> bool:
        """The head is here; chunked bodies must be complete (their length goes in the vars),
        and up to post-buffering bytes of a body wait here too."""
        if self.body_complete or self.tunnel:
            return True
        if self.chunked:
            return False
        if self.raw_chunked:
            return True
        wanted = min(self.length, self.session.settings.post_buffering)
        return self.received >= wanted

    def pump_body(self) -> None:
        """Hand buffered body bytes to the backend while it accepts them."""
        upstream = self.upstream
        if upstream is None:
            return
        while self.pending and upstream.get_write_buffer_size() < WRITE_BUFFER:
            data = self.pending.popleft()
            self.session.buffered -= len(data)
            upstream.write(data)
        if self.spool is not None and self.body_complete:
            while upstream.get_write_buffer_size() < WRITE_BUFFER:
                data = self.spool.read(65536)
                if not data:
                    self.spool.close()
                    self.spool = None
                    break
                upstream.write(data)
        self.session.resume_reading("buffer")

    # -- backend -----------------------------------------------------------------------------
    def packet(self, modifiers: tuple[int, int]) -> bytes:
        """The uwsgi packet head (header and vars). A keep-alive client repeating its request
        gets the bytes of the last one again: the vars compared (in C) cost a fraction of
        encoding them."""
        env = self.env
        for key, value in self.session.settings.extra_vars:
            env[key] = value
        session = self.session
        last = session.last_packet
        if last is not None and last[1] == modifiers and last[0] == env:
            return last[2]
        payload = encode_vars(env)
        packet = pack_header(modifiers[0], len(payload), modifiers[1]) + payload
        session.last_packet = (env.copy(), modifiers, packet)
        return packet

    def forward(self) -> None:
        """Route the request, connect to its node (the next one when one refuses: 3 tries, as
        uWSGI's corerouter) and send the packet, then the body as it comes."""
        session = self.session
        state = session.state
        while self.attempt < MAX_TRIES and not session.closed and not self.finished:
            route = state.route(self.env, session.listener)
            if route.answer:
                self.answer(route.answer)
                return
            try:
                head = self.packet(route.modifiers)
            except PacketError as exc:
                session.refuse(HttpError(431, str(exc)))
                return
            upstream = Upstream(session.loop, self)
            self.address = route.address
            session.touch(session.settings.connect_timeout)  # the sweep bounds the connect
            try:
                connected = upstream.connect(route.address, head)
            except OSError as exc:
                self.refused(exc)
                continue
            if connected:
                self.upstream = upstream
                self.upstream_connected()
            else:
                self.connecting = upstream
            return
        if not session.closed and not self.finished:
            key = printable(self.env.get("HTTP_HOST", ""))
            self.fail(502, f"no node for {key} accepted the connection")

    def refused(self, exc: OSError) -> None:
        reason = exc.strerror or exc
        log(
            f'[uwsgi-http] unable to connect() to node "{printable(self.address)}" '
            f"({self.attempt} retries): {reason}"
        )
        self.session.state.failed(self.address, self.env.get("HTTP_HOST", ""))
        self.attempt += 1

    # -- what the Upstream reports ------------------------------------------------------------
    def upstream_connected(self) -> None:
        if self.connecting is not None:
            self.upstream, self.connecting = self.connecting, None
        self.session.touch(self.session.settings.timeout)
        self.pump_body()

    def upstream_refused(self, exc: OSError) -> None:
        self.connecting = None
        self.refused(exc)
        self.forward()

    def upstream_pause(self) -> None:
        self.session.pause_reading("backend")

    def upstream_resume(self) -> None:
        self.session.resume_reading("backend")
        self.pump_body()

    def answer(self, response: bytes) -> None:
        """The router answers the request itself (a redirect, no node): then closes."""
        self.finished = True
        self.session.write(response)
        self.session.close()

    def start(self) -> None:
        self.started = True
        self.session.touch(self.session.settings.timeout)
        self.session.loop.call_soon(self.forward)  # out of the parser's callback

    # -- response ----------------------------------------------------------------------------
    def response_data(self, data: bytes) -> None:
        session = self.session
        session.touch(session.settings.timeout)
        if self.tunnel:
            session.write(data)
            return
        if not self.head_done:
            if self.head_buf:
                self.head_buf += data
                data = bytes(self.head_buf)
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if not self.head_buf:
                    self.head_buf += data
                if len(self.head_buf) > session.settings.buffer_size * 16:
                    self.fail(502, "the backend's response head is too big")
                return
            self.head_buf.clear()
            head, data = data[:end], data[end + 4 :]
            try:
                out = self.passed_head(head) or self.rewrite_head(head)
            except ValueError as exc:
                self.fail(502, f"invalid response from the backend: {exc}")
                return
            self.head_done = True
            if data and not self.no_body:
                out += self.framed_body(data)
            session.write(out)  # head and first body bytes in one send
        elif data and not self.no_body:
            session.write(self.framed_body(data))
        if self.remaining == 0:  # the whole Content-Length: done without waiting for the close
            self.upstream_done(None)

    def passed_head(self, head: bytes) -> bytes | None:
        """The common case without a per-line rewrite: well-formed header lines, one
        Content-Length and none of the headers the router decides (Connection, Keep-Alive,
        Transfer-Encoding, uWSGI-Encoding, Content-Encoding): the lines pass as they are,
        behind the client's protocol version, plus Connection when keep-alive needs it. None
        for anything else (rewrite_head handles it, and refuses what is malformed)."""
        keep = self.keep_alive and not self.session.state.stopping
        version = self.env["SERVER_PROTOCOL"]
        memo = self.session.state.head_memo
        repeated = memo is not None and memo[0] == head and memo[1:3] == (version, keep)
        if repeated and not self.is_head:  # (a HEAD's response has no body to count)
            assert memo is not None
            self.status, self.remaining, self.keep_alive = memo[3], memo[4], keep
            self.no_body = False
            return memo[5]
        match = PLAIN_HEAD.fullmatch(head)
        if match is None:
            return None
        status = int(match[1])
        if self.is_head or status in NO_BODY or status < 200:
            return None
        fields = match[3]
        decided = DECIDED_FIELD.findall(fields)
        if len(decided) != 1 or decided[0].lower() != b"content-length":
            return None
        length = CONTENT_LENGTH.search(fields)
        if length is None:
            return None
        self.status = status
        self.no_body = False
        self.remaining = int(length[1])
        reason = match[2] or b" " + REASONS.get(status, "").encode()
        self.keep_alive = keep
        if not keep:
            tail = b"\r\nConnection: close\r\n\r\n"
        elif version == "HTTP/1.0":
            tail = b"\r\nConnection: keep-alive\r\n\r\n"
        else:
            tail = b"\r\n\r\n"
        out = b"%b %d%b%b%b" % (version.encode("latin-1"), status, reason, fields, tail)
        self.session.state.head_memo = (bytes(head), version, keep, status, self.remaining, out)
        return out

    def rewrite_head(self, head: bytes) -> bytes:
        """The backend's status line and headers, with the router's framing and Connection."""
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError("no status line")
        self.status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else REASONS.get(self.status, "").encode()
        version = self.env["SERVER_PROTOCOL"].encode("latin-1")
        settings = self.session.settings
        out = [b"%b %d %b" % (version, self.status, reason)]
        length: int | None = None
        chunked = False
        gzip_asked = False
        encoded = False
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise ValueError(f"bad header line {line[:60]!r}")
            lower = name.lower()
            if lower in HOP_BY_HOP:
                continue
            if lower == b"content-length":
                length = int(value.strip()) if value.strip().isdigit() else None
            elif lower == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif lower == b"content-encoding":
                encoded = True
            elif lower == b"uwsgi-encoding":
                gzip_asked = value.strip().lower() == b"gzip"
                continue
            out.append(line)
        self.no_body = self.is_head or self.status in NO_BODY or self.status < 200
        keep = self.keep_alive and not self.session.state.stopping
        if not self.no_body:
            if settings.auto_gzip and gzip_asked and length is None and not chunked and not encoded:
                self.gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
                out.append(b"Content-Encoding: gzip")
            if length is None and not chunked:
                if keep and settings.auto_chunked and version == b"HTTP/1.1":
                    self.rechunk = True
                    out.append(b"Transfer-Encoding: chunked")
                else:
                    keep = False
        self.remaining = length if not self.no_body else None
        self.keep_alive = keep
        if not keep:
            out.append(b"Connection: close")
        elif version == b"HTTP/1.0":
            out.append(b"Connection: keep-alive")
        out.append(b"\r\n")
        return b"\r\n".join(out)

    def framed_body(self, data: bytes) -> bytes:
        """Body bytes as the client gets them: cut at Content-Length, gzipped, chunked."""
        if self.remaining is not None:
            if len(data) > self.remaining:
                data = data[: self.remaining]
            self.remaining -= len(data)
        if self.gzip is not None:
            data = self.gzip.compress(data)
        if self.rechunk and data:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        return data

    def upstream_done(self, exc: Exception | None) -> None:
        """The backend closed (the end of its response) or failed."""
        if self.finished:
            return
        self.finished = True
        session = self.session
        if self.upstream is not None:
            self.upstream.close()
        if self.tunnel:
            session.close()
            return
        if not self.head_done:
            what = f"reset the connection ({exc})" if exc else "closed the connection"
            self.fail(502, f"backend {self.address} {what} before answering", done=True)
            return
        tail = b""
        if self.gzip is not None:
            tail = self.gzip.flush()
            if self.rechunk and tail:
                tail = b"%x\r\n%b\r\n" % (len(tail), tail)
            elif not self.rechunk:
                session.write(tail)
                tail = b""
        if self.rechunk:
            tail += b"0\r\n\r\n"
        if tail:
            session.write(tail)
        if exc is not None or (self.remaining or 0) > 0:
            self.keep_alive = False
        session.exchange_done(self)

    def fail(self, status: int, reason: str, done: bool = False) -> None:
        """Answer `status` (uWSGI's 502/504 pages) when nothing was sent yet; else cut."""
        self.finished = True
        session = self.session
        for upstream in (self.upstream, self.connecting):
            if upstream is not None and not done:
                upstream.close()
        uri = printable(self.env.get("REQUEST_URI", "")[:200])
        log(f"[uwsgi-http] {uri}: {status} {reason}")
        if not self.head_done:
            session.write(error_response(status, reason))
        session.close()

    def cancel(self) -> None:
        """The client went away: drop the backend connection."""
        self.finished = True
        for upstream in (self.upstream, self.connecting):
            if upstream is not None:
                upstream.abort()
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class HttpSession(HeadParser, asyncio.Protocol):
    """One client connection: parse, queue in order, forward, deliver."""

    def __init__(self, state: RouterState, listener: RouterListener) -> None:
        settings = state.settings
        super().__init__(
            ("", 0), listener.server_addr(), settings.buffer_size, limits=settings.head_limits
        )
        self.scheme = listener.scheme
        self.listener = listener
        self.state = state
        self.settings = state.settings
        self.transport: asyncio.Transport | None = None
        self.queue: deque[Exchange] = deque()
        self.parsing: Exchange | None = None
        self.loop = asyncio.get_running_loop()
        self.buffered = 0
        self.paused_by: set[str] = set()
        self.write_paused = False
        self.closed = False
        self.upgraded = False
        self.client_eof = False
        self.lingered: int | None = None  # bytes dropped since a refusal (None: not lingering)
        self.deadline = time.monotonic() + state.settings.headers_timeout
        self.tls_vars: dict[str, str] = {}
        #: the vars, modifiers and packet head of the last request forwarded (Exchange.packet)
        self.last_packet: tuple[dict[str, str], tuple[int, int], bytes] | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.remote_addr, self.remote_port = str(peer[0]), str(peer[1])
        tls = transport.get_extra_info("ssl_object")
        if tls is not None:
            self.tls_vars = tls_vars(tls, self.settings.export_cert)
            if tls.selected_alpn_protocol() == "h2":
                self.become_http2(transport)  # type: ignore[arg-type]
                return
        transport.set_write_buffer_limits(high=WRITE_BUFFER)  # type: ignore[attr-defined]
        self.state.sessions.add(self)

    def data_received(self, data: bytes) -> None:
        if self.lingered is not None:
            self.lingered += len(data)
            if self.lingered > LINGER_BYTES:
                self.close()
            return
        if self.upgraded:
            if self.queue and self.queue[-1].tunnel:
                self.queue[-1].pending.append(data)
                self.queue[-1].pump_body()
            return  # a refused upgrade: nothing more is read from this connection
        if self.parsing is not None:
            self.touch(self.settings.timeout)
        try:
            self.parse(data)
        except HttpError as exc:
            self.refuse(exc)
            return
        if self.upgrade_tail is not None:
            self.upgrade(self.upgrade_tail)

    def eof_received(self) -> bool:
        if self.lingered is not None or self.parsing is not None or not self.queue:
            self.close()
            return False
        self.client_eof = True
        return True  # half-closed: answer what was asked, then close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.sessions.discard(self)
        for exchange in self.queue:
            exchange.cancel()
        self.queue.clear()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.queue and self.queue[0].upstream is not None:
            self.queue[0].upstream.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.touch(self.settings.timeout)
        if self.queue and self.queue[0].upstream is not None:
            self.queue[0].upstream.resume_reading()

    def become_http2(self, transport: asyncio.Transport) -> None:
        """ALPN chose h2: an H2Session takes the connection over, with this one's vars."""
        from polyhost.router.http2_session import H2Session

        self.state.sessions.discard(self)
        self.closed = True
        env = {**self.connection_vars(), **self.tls_vars}
        session = H2Session(self.state, self.listener, env)
        transport.set_protocol(session)
        session.connection_made(transport)

    # -- httptools callbacks (beyond HeadParser's) ------------------------------------------
    def on_headers_complete(self) -> None:
        env, expect_continue, chunked = self.head_env()
        limit = self.settings.limit_post
        length = env.get("CONTENT_LENGTH", "")
        if limit and length.isdigit() and int(length) > limit:
            raise HttpError(413, f"request body over limit-post ({limit} bytes)")
        env.update(self.tls_vars)
        keep_alive = self.settings.keepalive and self.parser.should_keep_alive()
        exchange = Exchange(self, env, keep_alive, chunked, expect_continue)
        self.parsing = exchange
        self.queue.append(exchange)
        self.touch(self.settings.timeout)
        if expect_continue and not exchange.body_complete:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if len(self.queue) > 16:
            self.pause_reading("pipeline")
        self.maybe_start()

    def on_body(self, body: bytes) -> None:
        if self.parsing is not None:
            self.parsing.add_body(body)
            if self.buffered > READ_BUFFER:
                self.pause_reading("buffer")
            self.maybe_start()

    def on_message_complete(self) -> None:
        super().on_message_complete()  # the next byte starts a request line (stand-in methods)
        exchange = self.parsing
        self.parsing = None
        if exchange is not None:
            exchange.body_done()
            exchange.pump_body()
            self.maybe_start()

    # -- flow ------------------------------------------------------------------------------
    def maybe_start(self) -> None:
        if self.queue:
            head = self.queue[0]
            if not head.started and head.ready_to_forward():
                head.start()

    def upgrade(self, rest: bytes) -> None:
        """`Upgrade: websocket` with --http-websockets: raw bytes both ways after the head."""
        exchange = self.parsing or (self.queue[-1] if self.queue else None)
        if exchange is None:
            self.refuse(HttpError(400, "upgrade without a request"))
            return
        self.upgraded = True
        exchange.keep_alive = False
        upgrade = exchange.env.get("HTTP_UPGRADE", "").lower()
        if not self.settings.websockets or upgrade != "websocket":
            return  # answered as a plain request, as http-socket does
        self.parsing = None
        exchange.tunnel = True
        exchange.keep_alive = False
        if rest:
            exchange.pending.append(rest)
        self.maybe_start()

    def touch(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def pause_reading(self, why: str) -> None:
        if not self.paused_by and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self.paused_by.add(why)

    def resume_reading(self, why: str) -> None:
        if why not in self.paused_by:
            return
        if why == "buffer" and self.buffered > READ_BUFFER // 2:
            return
        if why == "pipeline" and len(self.queue) > 8:
            return
        self.paused_by.discard(why)
        if not self.paused_by and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed and self.lingered is None:
            self.transport.write(data)

    def exchange_done(self, exchange: Exchange) -> None:
        if self.queue and self.queue[0] is exchange:
            self.queue.popleft()
        if not exchange.keep_alive or self.state.stopping:
            self.close()
            return
        self.resume_reading("pipeline")
        if self.queue:
            self.maybe_start()
        elif self.client_eof:
            self.close()
        else:
            self.touch(self.settings.keepalive_timeout)

    def refuse(self, error: HttpError) -> None:
        """A request refused before it reached a backend: uWSGI's status page, then close."""
        head = self.queue[0] if self.queue else None
        if head is not None and head.started and head is self.parsing:
            self.refuse_forwarded(head, error)
            return
        if error.status >= 400:
            reason = printable(error.reason)
            log(f"[uwsgi-http] HTTP {error.status} to {self.remote_addr}: {reason}")
        if head is None or not head.started:
            self.write(error_response(error.status, error.reason))
        self.linger()

    def refuse_forwarded(self, exchange: Exchange, error: HttpError) -> None:
        """The body of a request already at the worker turned out malformed (a broken chunk
        with http-chunked-input): one line in uWSGI's router format (cr.h's uwsgi_cr_log), the
        status page when nothing of the response was sent yet, and the backend dropped. uWSGI's
        router forwards the bytes unchecked and leaves it to the app's chunked_read."""
        env = exchange.env
        request = printable(f"{env['REQUEST_METHOD']} {env.get('REQUEST_URI', '')[:200]}")
        answered = not exchange.head_done and not exchange.tunnel
        log(
            f"[uwsgi-http key: {printable(env.get('HTTP_HOST', '')[:200])} client_addr: "
            f"{self.remote_addr} client_port: {self.remote_port}] {request}: refused mid-body, "
            f"after it went to the worker: {printable(error.reason)} "
            f"({f'answered {error.status}' if answered else 'response cut short'}; "
            "the worker's answer is dropped)"
        )
        if answered:
            self.write(error_response(error.status, error.reason))
        self.linger()

    def linger(self) -> None:
        """Close after a refusal without losing the answer (lingering close): a close while
        the client's bytes sit unread resets the connection, and a reset can discard the
        answer before the client reads it. So the write side shuts once the answer is out
        (FIN), what the client still sends is dropped (up to LINGER_BYTES), and the socket
        closes at the client's end or after LINGER_SECONDS (the sweep). TLS cannot half-close:
        it closes at once, as before."""
        transport = self.transport
        if self.closed or transport is None or not transport.can_write_eof():
            self.close()
            return
        for exchange in self.queue:
            if not exchange.finished:
                exchange.cancel()
        self.queue.clear()
        self.parsing = None
        self.lingered = 0
        transport.write_eof()
        self.paused_by.clear()
        transport.resume_reading()
        self.touch(LINGER_SECONDS)

    def on_timeout(self) -> None:
        exchange = self.queue[0] if self.queue else None
        if exchange is not None and exchange.started and not exchange.head_done:
            if exchange.upstream is None:
                seconds = self.settings.connect_timeout
                exchange.fail(504, f"could not connect to a node in {seconds:g}s")
            else:
                seconds = self.settings.timeout
                exchange.fail(504, f"no response from the backend in {seconds:g}s")
            return
        self.touch(3600)  # close() runs once
        self.close()

    def idle(self) -> bool:
        return not self.queue and self.parsing is None  # (a lingering session is idle too)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.state.sessions.discard(self)
        for exchange in self.queue:
            if not exchange.finished:
                exchange.cancel()
        if self.transport is not None:
            self.transport.close()


#: OpenSSL's short names of certificate subject fields (uWSGI's HTTPS_DN uses them)
SHORT_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "organizationName": "O",
    "organizationalUnitName": "OU",
}


def tls_vars(tls: ssl.SSLObject, export_cert: bool) -> dict[str, str]:
    """What uWSGI's https router adds to the packet: HTTPS=on, the client certificate's
    subject (HTTPS_DN) and, with https-export-cert, the certificate itself (HTTPS_CC, PEM)."""
    found = {"HTTPS": "on"}
    der = tls.getpeercert(binary_form=True)
    if der:
        subject = tls.getpeercert().get("subject", ())
        found["HTTPS_DN"] = "".join(
            f"/{SHORT_NAMES.get(name, name)}={value}" for rdn in subject for name, value in rdn
        )
        if export_cert:
            found["HTTPS_CC"] = ssl.DER_cert_to_PEM_cert(der)
    return found
