"""Connections a worker hands to an event loop (ASGI apps) and takes back.

The worker's epoll loop parses a connection's first request; when a runtime `adopts` the app the
dispatcher picks (ASGI), the worker forgets the connection and the runtime's event loop owns it.
When a later request on it is for another app (WSGI, PSGI, a static file), the loop gives the
connection back, with that request parsed, and the worker serves it as usual. Requests served by
the loop are counted and logged here, when their response (or WebSocket) ends.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from typing import TYPE_CHECKING

from polyhost.protocol.http import HttpConnection
from polyhost.static import Forbidden

if TYPE_CHECKING:
    from polyhost.dispatch import App
    from polyhost.request import Request, Responder
    from polyhost.worker import Connection, Worker


class Handover:
    """The worker side of adopted connections: the `Host` an adopting runtime (ASGI) sees."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.keepalive_timeout = worker.keepalive_timeout
        self.socket_timeout = worker.socket_timeout
        self.limit_post = worker.limit_post
        self.returned: queue.SimpleQueue[HttpConnection] = queue.SimpleQueue()

    def adopting_app(self, conn: Connection, request: Request) -> App | None:
        """The app whose runtime takes this connection over, or None: the worker serves it.
        An http-socket connection, or a WebSocket upgrade on a uwsgi socket (nginx, routers)."""
        if not isinstance(conn, HttpConnection) and conn.upgrade_tail is None:
            return None
        return self.route(request)

    def route(self, request: Request) -> App | None:
        """The adopting app of a request (SCRIPT_NAME/PATH_INFO left as the dispatcher set
        them), or None with the request untouched."""
        if "packet" in request.extra or self._static_wants(request):
            return None
        env = request.vars
        saved = env.get("SCRIPT_NAME", ""), env.get("PATH_INFO", "")
        app = self.worker.dispatcher.select(request)
        if app is not None and app.runtime.adopts(app):
            return app
        env["SCRIPT_NAME"], env["PATH_INFO"] = saved
        request.mountpoint = ""
        return None

    def _static_wants(self, request: Request) -> bool:
        static = self.worker.static
        env = request.vars
        if static is None or env.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return False
        try:
            return static.find(env.get("PATH_INFO", ""), env.get("DOCUMENT_ROOT", "")) is not None
        except Forbidden:
            return True

    def hand_over(self, conn: Connection, request: Request, app: App) -> None:
        """Give the connection to the app's runtime (the worker has forgotten it)."""
        app.runtime.adopt(self, conn, request, app)

    def give_back(self, conn: HttpConnection) -> None:
        """From the event loop: the worker serves the connection's next request."""
        self.returned.put(conn)
        with contextlib.suppress(OSError):
            os.write(self.worker.wake_w, b"g")

    def take_returned(self) -> list[HttpConnection]:
        conns = []
        while True:
            try:
                conns.append(self.returned.get_nowait())
            except queue.Empty:
                return conns

    def done(self, request: Request, responder: Responder, app: App, failed: bool) -> None:
        """A request served by the loop ended: worker counters and the request log line."""
        worker = self.worker
        end = time.time()
        worker.slot.count_request(
            responder.bytes_sent + responder.headers_size,
            int((end - request.started) * 1_000_000),
            app.id,
            failed,
        )
        if worker.logging:
            worker._log_request(request, responder, app.id, 0, end, failed)
        worker.requests += 1
        worker._maybe_recycle()  # max-requests, reload-on-rss count the loop's requests too

    def arm_harakiri(self, seconds: int) -> None:
        self.worker.slot.set_user_harakiri(seconds)

    def open_websockets(self, count: int) -> None:
        self.worker.slot.set_websockets(count)
