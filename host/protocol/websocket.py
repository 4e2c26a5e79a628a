"""uWSGI's WebSocket API in the worker: handshake, then frames on the request's own connection.

The app calls `uwsgi.websocket_handshake()` inside a request that carries `Upgrade: websocket`
(on `http-socket`, or on a uwsgi `socket` behind a router that passes the raw bytes); the worker
writes uWSGI's `101 Web Socket Protocol Handshake` head and the connection then carries frames,
parsed and built by wsproto. Pings are answered, a close frame is answered and ends the session
(the receive raises OSError, uWSGI's IOError), messages over `websockets-max-size` KiB close it
with 1009, and a blocking receive pings the client every `websockets-ping-freq` seconds,
giving up when no pong came within `websockets-pong-tolerance`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time

from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError, generate_accept_token

from polyhost.log import log, printable
from polyhost.process_state import CURRENT
from polyhost.protocol import sockio
from polyhost.request import ClientGone, Request, Responder

RECV_SIZE = 65536
_STATUS = "101 Web Socket Protocol Handshake"


class WebSocket:
    """One request's WebSocket session (created on the first API call of the request)."""

    def __init__(self, sock: socket.socket, request: Request, responder: Responder) -> None:
        config = CURRENT.config
        self.sock = sock
        self.request = request
        self.responder = responder
        self.timeout = config.get("socket-timeout")
        self.max_size = config.get("websockets-max-size") * 1024
        self.ping_freq = config.get("websockets-ping-freq")
        self.pong_tolerance = config.get("websockets-pong-tolerance")
        self.ws: Connection | None = None
        self.closed = False
        self.last_ping = 0.0
        self.last_pong = 0.0
        self._parts: list[bytes] = []
        self._size = 0

    # -- handshake ---------------------------------------------------------------------------
    def handshake(self, key: str = "", origin: str = "", proto: str = "") -> None:
        env = self.request.vars
        key = key or env.get("HTTP_SEC_WEBSOCKET_KEY", "")
        if not key or self.ws is not None or self.responder.started:
            raise OSError("unable to complete websocket handshake")
        origin = origin or env.get("HTTP_ORIGIN", "") or "*"
        proto = proto or env.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
        lines = [
            f"{env.get('SERVER_PROTOCOL', 'HTTP/1.1')} {_STATUS}",
            "Upgrade: WebSocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Origin: {printable(origin)}",
        ]
        if proto:
            lines.append(f"Sec-WebSocket-Protocol: {printable(proto)}")
        lines.append(
            f"Sec-WebSocket-Accept: {generate_accept_token(key.encode('latin-1')).decode()}"
        )
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        responder = self.responder
        # the response is this head, then frames: the responder only keeps the accounting
        responder.status = 101
        responder.headers_count = len(lines) - 1
        responder.headers_size = len(head)
        responder.keep_alive = False  # type: ignore[attr-defined]
        self._send(head, count=False)
        self.ws = Connection(ConnectionType.SERVER)
        self.last_pong = time.monotonic()

    # -- sending -----------------------------------------------------------------------------
    def send(self, message: bytes, binary: bool) -> None:
        ws = self._open("send websocket message")
        if binary:
            event: TextMessage | BytesMessage = BytesMessage(data=bytes(message))
        else:
            try:
                text = bytes(message).decode("utf-8")
            except UnicodeDecodeError:
                raise OSError(
                    "websocket_send: the message is not UTF-8 text (RFC 6455 text frames must "
                    "be): use websocket_send_binary"
                ) from None
            event = TextMessage(data=text)
        self._send(ws.send(event))

    def _send(self, data: bytes, count: bool = True) -> None:
        try:
            sockio.send_all(self.sock, data, self.timeout)
        except ClientGone as exc:
            self.closed = True
            raise OSError(f"unable to send websocket message: {exc}") from None
        if count:
            self.responder.bytes_sent += len(data)

    # -- receiving ---------------------------------------------------------------------------
    def recv(self, block: bool = True) -> bytes:
        """The next whole message; b'' (non-blocking) when none is complete yet."""
        ws = self._open("receive websocket message")
        while True:
            message = self._next_message(ws)
            if message is not None:
                return message
            if not self._wait_readable(block):
                return b""
            try:
                data = self.sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                self.closed = True
                raise OSError("unable to receive websocket message: the client went away")
            ws.receive_data(data)

    def _next_message(self, ws: Connection) -> bytes | None:
        try:
            for event in ws.events():
                if isinstance(event, Message):
                    message = self._collect(event)
                    if message is not None:
                        return message
                elif isinstance(event, Ping):
                    self._send(ws.send(event.response()))
                elif isinstance(event, Pong):
                    self.last_pong = time.monotonic()
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(OSError):
                        self._send(ws.send(event.response()))
                    self.closed = True
                    raise OSError("unable to receive websocket message: closed")
        except RemoteProtocolError as exc:
            self._fail(f"bad websocket frame: {exc}")
        return None

    def _collect(self, event: Message) -> bytes | None:  # type: ignore[type-arg]
        data = event.data.encode("utf-8") if isinstance(event.data, str) else bytes(event.data)
        self._size += len(data)
        if self._size > self.max_size:
            log(
                f"[uwsgi-websocket] {self._who()} invalid packet size received: {self._size}, "
                f"max allowed: {self.max_size} (websockets-max-size)"
            )
            self._fail("message over websockets-max-size", CloseReason.MESSAGE_TOO_BIG)
        self._parts.append(data)
        if not event.message_finished:
            return None
        message = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        return message

    def _wait_readable(self, block: bool) -> bool:
        """Wait for data, pinging as uWSGI does; False when non-blocking and nothing is there."""
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        while True:
            if poller.poll(self.ping_freq * 1000 if block else 0):
                return True
            self._check_pingpong()
            if not block:
                return False

    def _check_pingpong(self) -> None:
        now = time.monotonic()
        if self.last_ping and self.last_pong < self.last_ping:
            if now - self.last_ping > self.pong_tolerance:
                log(
                    f"[uwsgi-websocket] {self._who()} no PONG received in "
                    f"{self.pong_tolerance:g} seconds !!!"
                )
                self._fail("no pong received", CloseReason.POLICY_VIOLATION)
            return
        if not self.last_ping or now - self.last_ping >= self.ping_freq:
            self.last_ping = now
            self._send(self._open("send websocket ping").send(Ping()))

    def _who(self) -> str:
        """uWSGI's REQ_DATA: `"METHOD URI" (addr)`, escaped."""
        env = self.request.vars
        what = f"{env.get('REQUEST_METHOD', '')} {env.get('REQUEST_URI', '')}"
        return f'"{printable(what)}" ({env.get("REMOTE_ADDR", "")})'

    # -- state -------------------------------------------------------------------------------
    def _open(self, what: str) -> Connection:
        if self.ws is None:
            raise OSError(f"unable to {what}: call websocket_handshake() first")
        if self.closed:
            raise OSError(f"unable to {what}: the websocket is closed")
        return self.ws

    def _fail(self, why: str, code: CloseReason = CloseReason.PROTOCOL_ERROR) -> None:
        """Close the session with `code` (best effort) and raise."""
        ws = self.ws
        self.closed = True
        if ws is not None:
            with contextlib.suppress(OSError, LocalProtocolError):
                self._send(ws.send(CloseConnection(code=code)))
        raise OSError(f"unable to receive websocket message: {why}")
