"""The worker's event loop for ASGI apps: one asyncio loop (uvloop when installed) per worker.

The worker's epoll loop accepts connections and parses the first request head; when the request
is for an ASGI app it hands the connection over (`adopt`) and forgets it. From then on the event
loop owns it: keep-alive requests, WebSockets, long polls and streams, thousands at once. A later
request on that connection for a WSGI/PSGI/... app is given back to the worker (`give_back`),
whose threads serve it as usual. Requests arriving on uwsgi or FastCGI listeners (one request per
connection, the worker's protocol) run on the loop while the worker thread waits (`serve_blocking`).

The lifespan protocol runs per app when the worker starts and stops; a stuck loop is caught by
harakiri: the loop re-arms the worker's harakiri deadline every second, so when an app blocks it
for `harakiri` seconds the master kills the worker as for any stuck request.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import socket
import threading
import time
from collections.abc import Awaitable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from polyhost.bridges.asgi.detect import AsgiApp
from polyhost.bridges.asgi.lifespan import Lifespan
from polyhost.dispatch import App, AppLoadError, RuntimeContext
from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.protocol.http import HttpConnection
    from polyhost.request import Request, Responder


class Host(Protocol):
    """What the worker offers the loop (polyhost.handover.Handover)."""

    keepalive_timeout: float
    socket_timeout: float

    def route(self, request: Request) -> App | None:
        """The ASGI app for a request read on an adopted connection, or None: give it back."""

    def give_back(self, conn: HttpConnection) -> None:
        """The worker serves the connection's next request (a non-ASGI app)."""

    def done(self, request: Request, responder: Responder, app: App, failed: bool) -> None:
        """A request (or WebSocket) ended: stats and the request log line."""

    def arm_harakiri(self, seconds: int) -> None:
        """Kill the worker unless re-armed within `seconds` (0: disarm)."""

    def open_websockets(self, count: int) -> None:
        """The WebSockets open now, for the stats."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()  # type: ignore[no-any-return]


class Engine:
    """The event loop thread of this process and the ASGI apps it serves."""

    def __init__(self) -> None:
        self.apps: list[App] = []
        self.lifespans: list[Lifespan] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.host: Host | None = None
        #: live connections (HTTP channels and WebSockets), each with an async `shutdown()`
        self.channels: set[Any] = set()
        self.lifespan_mode = "auto"
        self.harakiri = 0
        self.mercy = 60.0
        self.websocket_max_size = 1 << 20
        self.stopping = False
        #: counters for the stats: requests served, WebSockets open now
        self.requests = 0
        self.websockets = 0

    # -- configuration -----------------------------------------------------------------------
    def configure(self, config: Config) -> None:
        mode = config.get("lifespan").lower()
        if mode not in ("auto", "on", "off"):
            raise AppLoadError(f"lifespan = {mode!r}: use auto, on or off")
        self.lifespan_mode = mode
        self.harakiri = config.get("harakiri")
        self.mercy = float(config.get("worker-reload-mercy"))
        self.websocket_max_size = config.get("websockets-max-size") * 1024

    def add_app(self, app: App) -> None:
        if app not in self.apps:
            self.apps.append(app)

    def state_for(self, app: App) -> dict[str, Any]:
        """A shallow copy of the app's lifespan state, for one request's scope."""
        for lifespan in self.lifespans:
            if lifespan.app is app:
                return dict(lifespan.state)
        return {}

    # -- life cycle --------------------------------------------------------------------------
    def start_in_worker(self, ctx: RuntimeContext) -> None:
        """Start the loop thread and run every app's lifespan startup (once per process)."""
        if self.thread is not None:
            return
        self.stopping = False
        loop = new_event_loop()
        self.loop = loop
        self.thread = threading.Thread(target=self._run, name="asgi-loop", daemon=True)
        self.thread.start()
        self.lifespans = [Lifespan(app, self.lifespan_mode) for app in self.apps]
        self.call(self._startup()).result()

    def _run(self) -> None:
        assert self.loop is not None
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._beat)
        self.loop.run_forever()

    def _beat(self) -> None:
        """Re-arm harakiri every second while the loop turns."""
        self._arm_harakiri()
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_later(1.0, self._beat)

    def _arm_harakiri(self) -> None:
        if self.host is not None and self.harakiri:
            self.host.arm_harakiri(self.harakiri)

    def count_websocket(self, change: int) -> None:
        """A WebSocket opened (+1) or closed (-1)."""
        self.websockets += change
        if self.host is not None:
            self.host.open_websockets(self.websockets)

    def ended(self, request: Request, responder: Responder, app: App, failed: bool) -> None:
        """A request (or WebSocket) ended: the worker counts and logs it; its end of request
        clears the harakiri deadline, re-armed here at once for the loop's next work."""
        self.requests += 1
        assert self.host is not None
        self.host.done(request, responder, app, failed)
        self._arm_harakiri()

    async def _startup(self) -> None:
        for lifespan in self.lifespans:
            await lifespan.startup()

    def call(self, coro: Any) -> Future[Any]:
        """Run a coroutine on the loop from another thread."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        """Drain: WebSockets get a 1001 close, requests finish within worker-reload-mercy;
        then the lifespan shutdown, and the loop stops."""
        loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self.call(self._shutdown()).result(self.mercy + 10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        self.loop = self.thread = None
        if self.host is not None and self.harakiri:
            self.host.arm_harakiri(0)

    async def _shutdown(self) -> None:
        self.stopping = True
        for channel in list(self.channels):
            channel.shutdown()
        deadline = time.monotonic() + self.mercy
        while self.channels and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.channels:
            log(f"ASGI: {len(self.channels)} connections still open after worker-reload-mercy")
            for channel in list(self.channels):
                channel.abort()
        for lifespan in self.lifespans:
            await lifespan.shutdown()

    # -- connections ---------------------------------------------------------------------------
    def adopt(self, host: Host, conn: HttpConnection, request: Request, app: App) -> None:
        """Take over an HTTP connection whose request `request` is for `app` (worker thread)."""
        if self.host is None:
            self.host = host
            self._arm_harakiri()  # before the loop runs the first request
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._adopt, conn, request, app)

    def _adopt(self, conn: HttpConnection, request: Request, app: App) -> None:
        from polyhost.bridges.asgi.channel import HttpChannel

        assert self.loop is not None
        # the loop's transport gets its own fd: giving the connection back closes only that
        sock = socket.socket(fileno=os.dup(conn.fd))
        channel = HttpChannel(self, conn, request, app)
        self.loop.create_task(self._connect(channel, sock))

    async def _connect(self, channel: Any, sock: socket.socket) -> None:
        assert self.loop is not None
        try:
            await self.loop.connect_accepted_socket(lambda: channel, sock)
        except OSError as exc:
            log(f"ASGI: could not take over a connection: {exc}")
            sock.close()
            channel.conn.sock.close()

    def run_awaitable(self, awaitable: Awaitable[Any]) -> Any:
        """The result of what an async RPC function or signal handler (registered by an ASGI
        app) returned, from a thread that may block: on this process's loop when it runs
        (another thread waits), else on a loop of its own (a mule, a spooler)."""
        loop, thread = self.loop, self.thread
        if loop is None or thread is None or not loop.is_running():
            return asyncio.run(awaited(awaitable))
        if threading.get_ident() == thread.ident:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
            raise RuntimeError(
                "an async RPC function or signal handler called from the event loop would "
                "block it: use `await uwsgi.acall(...)` / `await uwsgi.arpc(...)` in async code"
            )
        return asyncio.run_coroutine_threadsafe(awaited(awaitable), loop).result()

    def serve_blocking(self, app: App, request: Request, responder: Responder) -> None:
        """Run one request from a uwsgi/FastCGI listener on the loop; this thread waits."""
        from polyhost.bridges.asgi.cycle import run_blocking

        self.call(run_blocking(self, app, request, responder)).result()


async def awaited(value: Awaitable[Any]) -> Any:
    return await value


def asgi_callable(app: App) -> AsgiApp:
    return app.handle  # type: ignore[return-value]


ENGINE = Engine()
