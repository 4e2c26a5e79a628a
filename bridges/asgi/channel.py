"""An HTTP connection owned by the event loop: its requests, one after another, for ASGI apps.

The worker parsed the first request head with the connection's `HttpConnection`; the channel
keeps feeding that same parser (so pipelined requests, chunked bodies and the limits behave as
on the worker), runs each request's `HttpCycle`, and writes through an `HttpResponder` whose
bytes go to the loop's transport. A request for a non-ASGI app gives the connection back to the
worker; an `Upgrade: websocket` request becomes a `WebSocket`. Reading pauses while a body waits
to be received (backpressure) and writing waits while the transport's buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from polyhost.bridges.asgi.cycle import BODY_CHUNK, HttpCycle, http_scope
from polyhost.log import log, printable
from polyhost.protocol.http import DRAIN_LIMIT, HttpError, HttpResponder, error_response
from polyhost.request import BytesBody, ClientGone, simple_error

if TYPE_CHECKING:
    from polyhost.bridges.asgi.engine import Engine
    from polyhost.dispatch import App
    from polyhost.protocol.http import HttpConnection
    from polyhost.request import Request

#: the body of an upgraded request (it has none to read)
EMPTY_BODY = BytesBody(b"")
#: received but not yet `receive()`d body bytes over which reading pauses
READ_HIGH_WATER = 1 << 20


def _is_websocket(request: Request) -> bool:
    return request.vars.get("HTTP_UPGRADE", "").lower() == "websocket"


class HttpChannel(asyncio.Protocol):
    """asyncio protocol of one adopted HTTP connection (also the CycleIO of its requests)."""

    def __init__(self, engine: Engine, conn: HttpConnection, request: Request, app: App) -> None:
        self.engine = engine
        self.conn = conn
        self.first = (request, app)
        self.transport: asyncio.Transport | None = None
        self.gone = False
        self.paused_reading = False
        self.writable: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.request: Request | None = None
        self.complete = False
        self.idle = False
        self.upgraded: Any = None

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.engine.channels.add(self)
        asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        if self.upgraded is not None:
            self.upgraded.data_received(data)
            return
        if self.conn.upgrade_tail is not None:  # the WebSocket gets these once it runs
            self.conn.upgrade_tail += data
            return
        try:
            self.conn.feed(data)
        except HttpError as exc:
            self._refuse(exc)
            return
        except ClientGone:
            self.gone = True
        body = getattr(self.request, "body", None)
        if (
            len(self.conn.ready) > 1 or (body is not None and len(body._buf) > READ_HIGH_WATER)  # type: ignore[attr-defined]
        ) and not self.paused_reading:
            self.paused_reading = True
            assert self.transport is not None
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self.gone = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self.engine.channels.discard(self)
        if self.upgraded is not None:
            self.upgraded.connection_lost(exc)
        self._wake()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    # -- waiting --------------------------------------------------------------------------------
    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, timeout: float | None = None) -> None:
        """Until `_wake` (data, EOF, a drained buffer) or `timeout` seconds (one timer, not
        asyncio.wait_for's task and callbacks: this is once per keep-alive request)."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        if timeout is None:
            await waiter
            return
        timer = loop.call_later(timeout, self._wake)
        try:
            await waiter
        finally:
            timer.cancel()

    def _resume_reading(self) -> None:
        if self.paused_reading and not self.gone and self.transport is not None:
            self.paused_reading = False
            self.transport.resume_reading()

    # -- the connection's requests --------------------------------------------------------------
    async def _serve(self) -> None:
        request, app = self.first
        host = self.engine.host
        assert host is not None
        try:
            while True:
                if self.conn.upgrade_tail is not None and _is_websocket(request):
                    await self._websocket(request, app)
                    return
                if not await self._cycle(request, app):
                    break
                next_request = await self._next_request(host.keepalive_timeout)
                if next_request is None:
                    break
                request = next_request
                found = host.route(request)
                if found is None:
                    await self._give_back(request)
                    return
                app = found
        except ClientGone:
            pass
        except Exception as exc:  # a bug here must not kill the loop
            log(f"ASGI: connection from {self.conn.remote_addr} failed: {exc!r}")
        self.close()

    async def _cycle(self, request: Request, app: App) -> bool:
        """One request; True when the connection may serve another."""
        self.request = request
        self.complete = False
        if self.paused_reading and len(self.conn.ready) <= 1:
            self._resume_reading()
        responder = HttpResponder(self, request)  # type: ignore[arg-type]
        if self.engine.stopping or self.conn.upgrade_tail is not None:
            responder.keep_alive = False  # (after an upgrade the parser reads no more)
        host = self.engine.host
        assert host is not None
        if host.limit_post and (request.content_length or 0) > host.limit_post:
            log(
                f"request body of {self.conn.remote_addr} for "
                f"{printable(request.vars.get('REQUEST_URI', ''))} refused: "
                f"{request.content_length} bytes over limit-post {host.limit_post}"
            )
            responder.keep_alive = False  # the body is never read
            simple_error(responder, 413)
            responder.finish()
            self.engine.ended(request, responder, app, False)
            return False
        cycle = HttpCycle(app, request, responder, self)
        app.requests += 1
        scope = http_scope(request, app, self.engine.state_for(app))
        if responder.keep_alive and responder.version == "HTTP/1.1":  # chunked can carry them
            scope["extensions"]["http.response.trailers"] = {}
            cycle.trailers_allowed = True
        ok = await cycle.run(scope)
        if self.writable is not None and not self.gone:
            await self.writable
        self.engine.ended(request, responder, app, not ok)
        if not ok or not responder.keep_alive or self.gone:
            return False
        return await self._drain_body(request)

    async def _drain_body(self, request: Request) -> bool:
        """Discard what the app did not read of the body (up to DRAIN_LIMIT) to keep going."""
        body = request.body
        while not body.complete:  # type: ignore[attr-defined]
            if self.gone or body.received > DRAIN_LIMIT:  # type: ignore[attr-defined]
                return False
            body._buf.clear()  # type: ignore[attr-defined]
            self._resume_reading()
            await self._wait(self.engine.host.socket_timeout if self.engine.host else None)
        return True

    async def _next_request(self, timeout: float) -> Request | None:
        self.request = None
        self.idle = True
        deadline = time.monotonic() + timeout
        try:
            while not self.conn.ready:
                self._resume_reading()
                if self.gone or self.engine.stopping or self.conn.closed:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                await self._wait(left)
            return self.conn.ready.popleft()
        finally:
            self.idle = False

    async def _give_back(self, request: Request) -> None:
        """The worker serves this request (a WSGI/PSGI/... app): hand the connection back."""
        while self.transport is not None and self.transport.get_write_buffer_size():
            if self.gone:
                self.close()
                return
            await asyncio.sleep(0.001)
        self.conn.ready.appendleft(request)
        assert self.transport is not None and self.engine.host is not None
        self.transport.pause_reading()
        self.engine.channels.discard(self)
        self.transport.abort()  # closes the loop's fd only: the worker's stays open
        self.engine.host.give_back(self.conn)

    def _refuse(self, exc: HttpError) -> None:
        log(f"HTTP {exc.status} to {self.conn.remote_addr}: {exc.reason}")
        if self.transport is not None:
            self.transport.write(error_response(exc.status, exc.reason))
        self.gone = True
        self.close()

    async def _websocket(self, request: Request, app: App) -> None:
        from polyhost.bridges.asgi.websocket import WebSocket

        ws = WebSocket(self, request, app)
        self.upgraded = ws
        await ws.run(self.conn.upgrade_tail or b"")

    def release_http(self, request: Request) -> None:
        """After an upgrade the parser reads no more: an idle WebSocket keeps none of the HTTP
        state (parser, header lists, body buffer), only the vars its log line needs."""
        conn = self.conn
        conn.parser = None  # type: ignore[assignment]
        conn._headers = []
        conn._body = None
        conn.ready.clear()
        conn.upgrade_tail = b""
        self.first = None  # type: ignore[assignment]
        request.extra.pop("headers", None)
        request.body = EMPTY_BODY

    # -- CycleIO ----------------------------------------------------------------------------------
    async def read_body(self) -> tuple[bytes, bool] | None:
        assert self.request is not None
        body = self.request.body
        if body._continue:  # type: ignore[attr-defined]
            body._continue = False  # type: ignore[attr-defined]
            self.send_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
        while not body._buf and not body.complete:  # type: ignore[attr-defined]
            if self.gone:
                return None
            self._resume_reading()
            await self._wait()
        buf = body._buf  # type: ignore[attr-defined]
        data = bytes(buf[:BODY_CHUNK])
        del buf[:BODY_CHUNK]
        if len(buf) < READ_HIGH_WATER:
            self._resume_reading()
        return data, bool(buf) or not body.complete  # type: ignore[attr-defined]

    async def wait_disconnect(self) -> None:
        while not self.gone and not self.complete:
            self._resume_reading()
            await self._wait()

    async def call(self, fn: Any, *args: Any) -> Any:
        result = fn(*args)
        if self.writable is not None and not self.gone:
            await self.writable
        return result

    def response_complete(self) -> None:
        self.complete = True
        self._wake()

    # -- what the HttpResponder writes to --------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        if self.gone or self.transport is None:
            raise ClientGone("the client closed the connection")
        self.transport.write(data)

    # -- ending ------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The worker stops: an idle connection closes now, a busy one after its response."""
        if self.upgraded is not None:
            self.upgraded.shutdown()
        elif self.idle or self.request is None:
            self._wake()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.engine.channels.discard(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        with contextlib.suppress(OSError):
            self.conn.sock.close()
