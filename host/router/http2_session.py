"""HTTP/2 on the router's TLS sockets (negotiated by ALPN `h2`), with the `h2` package.

Each stream becomes one uwsgi request to a node chosen by the router's `route()`, as an HTTP/1
request would: the request's pseudo-headers and headers become the CGI vars (the same names
HTTP/1 gives them), its body is gathered (within `limit-post`, else a 413 reset) and sent after
the packet, and the node's HTTP/1 response (parsed with httptools, de-chunked) goes back as the
stream's HEADERS and DATA frames within the peer's flow-control windows. A slow reader stops the
router reading that stream's node, never the others.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import httptools

from polyhost.log import log, printable
from polyhost.protocol.uwsgi import PacketError, encode_vars, pack_header
from polyhost.router.fastrouter import connect_backend
from polyhost.router.http_settings import WRITE_BUFFER
from polyhost.sockets import SocketError

if TYPE_CHECKING:
    from polyhost.router.http_listeners import RouterListener
    from polyhost.router.http_session import RouterState

#: a request body held for one stream when limit-post does not set a lower bound
MAX_BODY = 16 << 20
#: response headers HTTP/2 forbids (RFC 9113 8.2.2)
CONNECTION_HEADERS = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)


class Stream(asyncio.Protocol):
    """One request stream, and the connection to its node."""

    def __init__(self, session: H2Session, stream_id: int, env: dict[str, str]) -> None:
        self.session = session
        self.stream_id = stream_id
        self.env = env
        self.body = bytearray()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.pending = bytearray()  # response bytes waiting for the peer's window
        self.response_complete = False
        self.headers_sent = False
        self.closed = False

    # -- the node's side --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.session.touch()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(502, f"invalid response from the backend: {exc}")

    def eof_received(self) -> bool:
        self.finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()

    # -- httptools response callbacks -------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        headers = [(b":status", str(status).encode())]
        headers += [(n, v) for n, v in self.headers if n not in CONNECTION_HEADERS]
        self.session.send_headers(self.stream_id, headers)
        self.headers_sent = True

    def on_body(self, data: bytes) -> None:
        self.pending += data
        self.session.flush(self)

    def on_message_complete(self) -> None:
        self.response_complete = True
        self.session.flush(self)

    # -- the request ----------------------------------------------------------------------------
    async def forward(self) -> None:
        session = self.session
        route = session.state.route(self.env, session.listener)
        if route.answer:
            self.fail(int(route.answer.split(b" ", 2)[1]), "answered by the router")
            return
        self.env["CONTENT_LENGTH"] = str(len(self.body))
        try:
            payload = encode_vars(self.env)
        except PacketError as exc:
            self.fail(431, str(exc))
            return
        try:
            await connect_backend(route.address, lambda: self, session.settings.connect_timeout)
        except (OSError, TimeoutError, SocketError) as exc:
            log(f'[uwsgi-http] unable to connect() to node "{printable(route.address)}": {exc}')
            session.state.failed(route.address, self.env.get("HTTP_HOST", ""))
            self.fail(502, "no node accepted the connection")
            return
        if self.closed:
            self.abort()
            return
        assert self.transport is not None
        modifier1, modifier2 = route.modifiers
        self.transport.write(pack_header(modifier1, len(payload), modifier2) + payload)
        self.transport.write(bytes(self.body))
        self.body = bytearray()

    def finish(self) -> None:
        """The node closed: whatever was not a complete response is a 502 or a reset."""
        if self.closed:
            return
        if not self.headers_sent:
            self.fail(502, "the backend closed the connection before answering")
            return
        self.response_complete = True
        self.session.flush(self)

    def fail(self, status: int, reason: str) -> None:
        log(f"[uwsgi-http] h2 stream {printable(self.env.get('REQUEST_URI', ''))}: {reason}")
        if not self.headers_sent:
            body = f"{status} {reason}\n".encode()
            self.headers_sent = True
            self.session.send_headers(
                self.stream_id,
                [(b":status", str(status).encode()), (b"content-type", b"text/plain")],
            )
            self.pending += body
            self.response_complete = True
            self.session.flush(self)
        else:
            self.session.reset(self.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
        self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
            self.transport = None


class H2Session(asyncio.Protocol):
    """One HTTP/2 client connection: its streams, flow control and deadlines."""

    def __init__(self, state: RouterState, listener: RouterListener, env: dict[str, str]) -> None:
        self.state = state
        self.settings = state.settings
        self.listener = listener
        #: the connection's vars (REMOTE_ADDR, SERVER_*, HTTPS ...) every stream starts from
        self.base_env = env
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config=config)
        self.streams: dict[int, Stream] = {}
        self.tasks: set[asyncio.Future[None]] = set()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.deadline = time.monotonic() + self.settings.headers_timeout
        self.limit = min(self.settings.limit_post or MAX_BODY, MAX_BODY)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.state.sessions.add(self)
        self.conn.initiate_connection()
        self.send_pending()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log(f"[uwsgi-http] HTTP/2 protocol error from {self.base_env['REMOTE_ADDR']}: {exc}")
            self.send_pending()
            self.close()
            return
        for event in events:
            self.handle(event)
        self.send_pending()

    def handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            self.request(event)
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                if len(stream.body) + len(event.data) > self.limit:
                    self.streams.pop(event.stream_id)
                    stream.fail(413, f"request body over {self.limit} bytes")
                    return
                stream.body += event.data
            if event.stream_ended is not None:
                self.start(event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.start(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.closed = True
                stream.abort()
        elif isinstance(event, h2.events.WindowUpdated):
            for stream in list(self.streams.values()):
                self.flush(stream)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.close()

    def request(self, event: h2.events.RequestReceived) -> None:
        headers = dict((n, v) for n, v in event.headers if n.startswith(b":"))
        target = headers.get(b":path", b"/")
        path, _, query = target.partition(b"?")
        env = dict(self.base_env)
        env.update(
            REQUEST_METHOD=headers.get(b":method", b"GET").decode("latin-1"),
            REQUEST_URI=target.decode("latin-1"),
            PATH_INFO=(unquote_to_bytes(path) if b"%" in path else path).decode("latin-1"),
            QUERY_STRING=query.decode("latin-1"),
            SERVER_PROTOCOL="HTTP/2.0",  # as nginx passes it
        )
        authority = headers.get(b":authority")
        if authority:
            env["HTTP_HOST"] = authority.decode("latin-1")
            env["SERVER_NAME"] = env["HTTP_HOST"].rpartition(":")[0] or env["HTTP_HOST"]
        for name, value in event.headers:
            if name.startswith(b":"):
                continue
            key = name.decode("latin-1").upper().replace("-", "_")
            if key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
                env[key] = value.decode("latin-1")
                continue
            key = "HTTP_" + key
            text = value.decode("latin-1")
            env[key] = f"{env[key]}, {text}" if key in env else text
        env.update(self.settings.extra_vars)
        self.streams[event.stream_id] = Stream(self, event.stream_id, env)
        self.touch()
        if event.stream_ended is not None:
            self.start(event.stream_id)

    def start(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None and stream.transport is None:
            task = asyncio.ensure_future(stream.forward())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    # -- sending -------------------------------------------------------------------------------
    def send_headers(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None:
        if stream_id in self.streams and not self.closed:
            self.conn.send_headers(stream_id, headers)
            self.send_pending()

    def flush(self, stream: Stream) -> None:
        """Send what the peer's windows allow; the rest waits for a WINDOW_UPDATE."""
        if self.closed or stream.stream_id not in self.streams or not stream.headers_sent:
            return
        sid = stream.stream_id
        while stream.pending:
            window = min(
                self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size
            )
            if window <= 0:
                break
            chunk = bytes(stream.pending[:window])
            del stream.pending[:window]
            self.conn.send_data(sid, chunk)
        if stream.transport is not None:
            if len(stream.pending) > WRITE_BUFFER:
                stream.transport.pause_reading()
            else:
                stream.transport.resume_reading()
        if stream.response_complete and not stream.pending:
            self.conn.end_stream(sid)
            del self.streams[sid]
            stream.closed = True
            stream.abort()
        self.send_pending()

    def reset(self, stream_id: int, code: h2.errors.ErrorCodes) -> None:
        if self.streams.pop(stream_id, None) is not None and not self.closed:
            self.conn.reset_stream(stream_id, code)
            self.send_pending()

    def send_pending(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.closed:
            self.transport.write(data)

    # -- what the router's sweep and stop need --------------------------------------------------
    def touch(self) -> None:
        self.deadline = time.monotonic() + self.settings.timeout

    def on_timeout(self) -> None:
        if self.streams:
            for stream in list(self.streams.values()):
                stream.fail(504, f"no response from the backend in {self.settings.timeout:g}s")
            self.touch()
            return
        self.close()

    def idle(self) -> bool:
        return not self.streams

    def close(self) -> None:
        if self.closed:
            return
        if self.transport is not None:
            self.conn.close_connection()
            self.send_pending()
        self.closed = True
        self.state.sessions.discard(self)
        for stream in self.streams.values():
            stream.closed = True
            stream.abort()
        self.streams.clear()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.close()
