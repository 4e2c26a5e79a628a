"""An ASGI WebSocket on an adopted connection, with wsproto as the frame layer.

The request head the worker parsed is replayed into wsproto's server connection (which checks
the handshake and negotiates permessage-deflate when the client offers it); the app then gets
`websocket.connect`, and answers `websocket.accept` (subprotocol, headers), `websocket.close`
before accepting (a 403), or a `websocket.http.response` denial. Pings are answered here;
fragmented messages are joined up to `websockets-max-size` (over it: close 1009). When the worker
stops, open WebSockets are closed with 1001 (going away) and the app receives the disconnect.
The request log line is written when the WebSocket closes, with its duration.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    TextMessage,
)
from wsproto.events import Request as WsRequest
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from polyhost.bridges.asgi.cycle import http_scope, request_headers
from polyhost.log import log_exception
from polyhost.request import ClientGone

if TYPE_CHECKING:
    from polyhost.bridges.asgi.channel import HttpChannel
    from polyhost.dispatch import App
    from polyhost.request import Request

#: received messages waiting for `receive()` over which reading pauses
QUEUE_HIGH_WATER = 64
GOING_AWAY = 1001
TOO_BIG = 1009


class Outcome:
    """What the request log line reports of a WebSocket (a Responder's counters)."""

    def __init__(self) -> None:
        self.status = 101
        self.bytes_sent = 0
        self.headers_count = 0
        self.headers_size = 0
        self.started = True


class Frames:
    """wsproto's server side as its `WSConnection`, but the handshake (an h11 connection, a
    few KB) is dropped once the WebSocket is accepted: an idle WebSocket keeps only its frame
    state."""

    __slots__ = ("connection", "handshake", "pending")

    def __init__(self) -> None:
        self.handshake: H11Handshake | None = H11Handshake(ConnectionType.SERVER)
        self.connection: Connection | None = None
        #: the handshake's events not yet taken when it was dropped
        self.pending: list[Event] = []

    def send(self, event: Event) -> bytes:
        if self.connection is not None:
            return self.connection.send(event)
        assert self.handshake is not None
        data = self.handshake.send(event)
        self._upgraded()
        return data

    def receive_data(self, data: bytes) -> None:
        if self.connection is not None:
            self.connection.receive_data(data)
            return
        assert self.handshake is not None
        self.handshake.receive_data(data)
        self._upgraded()

    def events(self) -> Iterator[Event]:
        if self.handshake is not None:
            yield from self.handshake.events()
        while self.pending:
            yield self.pending.pop(0)
        if self.connection is not None:
            yield from self.connection.events()

    def _upgraded(self) -> None:
        """Once accepted, keep the frame connection and what the handshake still had to say."""
        assert self.handshake is not None
        self.connection = self.handshake.connection
        if self.connection is not None:
            self.pending.extend(self.handshake.events())
            self.handshake = None


class WebSocket:
    """One WebSocket: wsproto events <-> ASGI websocket events."""

    def __init__(self, channel: HttpChannel, request: Request, app: App) -> None:
        self.channel = channel
        self.request = request
        self.app = app
        self.ws = Frames()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.accepted = False
        self.closed = False
        self.connected = False
        self.fragments: list[Any] = []
        self.fragment_size = 0
        self.max_size = channel.engine.websocket_max_size
        self.outcome = Outcome()
        self.denial_started = False

    # -- bytes from the client ---------------------------------------------------------------
    def _head(self) -> bytes:
        env = self.request.vars
        lines = [f"{env['REQUEST_METHOD']} {env['REQUEST_URI']} HTTP/1.1".encode("latin-1")]
        for name, value in request_headers(self.request):
            lines.append(name + b": " + value)
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def data_received(self, data: bytes) -> None:
        try:
            self.ws.receive_data(data)
            self._events()
        except RemoteProtocolError as exc:
            self._protocol_error(exc)
        if self.inbox.qsize() > QUEUE_HIGH_WATER and not self.channel.paused_reading:
            self.channel.paused_reading = True
            assert self.channel.transport is not None
            self.channel.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1006, "reason": ""})

    def _events(self) -> None:
        for event in self.ws.events():
            if isinstance(event, WsRequest):
                self.connected = True
                self.inbox.put_nowait({"type": "websocket.connect"})
            elif isinstance(event, TextMessage | BytesMessage):
                self._message(event)
            elif isinstance(event, Ping):
                self._write(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                if not self.closed:
                    self.closed = True
                    self.inbox.put_nowait(
                        {"type": "websocket.disconnect", "code": event.code, "reason": event.reason}
                    )
                    self._write(self.ws.send(event.response()))
                self.channel.close()

    def _message(self, event: TextMessage | BytesMessage) -> None:
        self.fragments.append(event.data)
        self.fragment_size += len(event.data)
        if self.fragment_size > self.max_size:
            self._close(TOO_BIG, f"message over websockets-max-size ({self.max_size} bytes)")
            return
        if not event.message_finished:
            return
        if isinstance(event, TextMessage):
            message = {"type": "websocket.receive", "text": "".join(self.fragments)}
        else:
            message = {"type": "websocket.receive", "bytes": b"".join(self.fragments)}
        self.fragments, self.fragment_size = [], 0
        self.inbox.put_nowait(message)

    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        if not self.connected:  # a bad handshake: wsproto has the HTTP answer
            event = exc.event_hint
            if event is not None:
                self._write(self.ws.send(event))
            self.channel.close()
            return
        self._close(1002, "protocol error")

    # -- bytes to the client ------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if data and not self.channel.gone and self.channel.transport is not None:
            self.outcome.bytes_sent += len(data)
            self.channel.transport.write(data)

    def _close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(LocalProtocolError):
            self._write(self.ws.send(CloseConnection(code=code, reason=reason)))
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.channel.close()

    # -- the ASGI side ------------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        message = await self.inbox.get()
        if self.inbox.qsize() < QUEUE_HIGH_WATER // 2:
            self.channel._resume_reading()
        return message

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if self.closed and kind != "websocket.http.response.body":
            raise ClientGone(f"{kind} on a closed WebSocket")
        if kind == "websocket.accept":
            if self.accepted:
                raise RuntimeError("websocket.accept sent twice")
            self.accepted = True
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            self.outcome.headers_count = len(headers)
            accept = AcceptConnection(
                subprotocol=message.get("subprotocol"),
                extra_headers=headers,
                extensions=[PerMessageDeflate()],
            )
            head = self.ws.send(accept)
            self.outcome.headers_size = len(head)
            self._write(head)
            self.channel.engine.count_websocket(+1)
        elif kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if message.get("bytes") is not None:
                self._write(self.ws.send(BytesMessage(data=bytes(message["bytes"]))))
            else:
                self._write(self.ws.send(TextMessage(data=str(message.get("text", "")))))
            if self.channel.writable is not None and not self.channel.gone:
                await self.channel.writable
        elif kind == "websocket.close":
            if not self.accepted:  # closing before accepting is a 403 denial
                self.outcome.status = 403
                self._write(self.ws.send(RejectConnection(status_code=403)))
                self.closed = True
                self.channel.close()
                return
            self._close(int(message.get("code", 1000)), str(message.get("reason") or ""))
        elif kind == "websocket.http.response.start":
            if self.accepted or self.denial_started:
                raise RuntimeError("websocket.http.response.start after the handshake answer")
            self.denial_started = True
            self.outcome.status = int(message["status"])
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            self._write(
                self.ws.send(
                    RejectConnection(
                        status_code=self.outcome.status, headers=headers, has_body=True
                    )
                )
            )
        elif kind == "websocket.http.response.body":
            if not self.denial_started:
                raise RuntimeError("websocket.http.response.body before its start")
            more = bool(message.get("more_body", False))
            data = bytes(message.get("body", b""))
            self._write(self.ws.send(RejectData(data=data, body_finished=not more)))
            if not more:
                self.closed = True
                self.channel.close()
        else:
            raise ValueError(f"unknown ASGI message type {kind!r} for a WebSocket")

    async def run(self, tail: bytes) -> None:
        """Serve the WebSocket until it closes; then the log line."""
        channel = self.channel
        self.data_received(self._head() + tail)
        scope = http_scope(self.request, self.app, channel.engine.state_for(self.app))
        channel.release_http(self.request)
        failed = False
        self.app.requests += 1
        try:
            await self.app.handle(scope, self.receive, self.send)  # type: ignore[operator]
        except ClientGone:
            pass
        except Exception as exc:
            failed = True
            self.app.exceptions += 1
            log_exception(
                f"WebSocket {self.request.vars.get('REQUEST_URI')}: exception in the ASGI app "
                f"{self.app.target}:",
                exc,
            )
        if not self.accepted and not self.closed and not self.denial_started:
            self.outcome.status = 500 if failed else 403
            self._write(self.ws.send(RejectConnection(status_code=self.outcome.status)))
        elif self.accepted and not self.closed:
            self._close(1011 if failed else 1000, "")
        if self.accepted:
            channel.engine.count_websocket(-1)
        channel.engine.ended(self.request, self.outcome, self.app, failed)  # type: ignore[arg-type]
        channel.close()

    def shutdown(self) -> None:
        """The worker stops: close with 1001 (going away)."""
        self._close(GOING_AWAY, "server shutting down")
