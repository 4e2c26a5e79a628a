"""Which request a thread serves, for uWSGI's WebSocket API (uWSGI's `current_wsgi_req()`).

The worker binds each request's connection to its thread before serving it; the first
`websocket_*` call of the request creates its session (host/protocol/websocket.py), so wsproto
is loaded only in workers whose apps use WebSockets.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

from polyhost.request import Request, Responder

if TYPE_CHECKING:
    from polyhost.protocol.websocket import WebSocket

_local = threading.local()


def bind(sock: socket.socket, request: Request, responder: Responder) -> None:
    """The worker calls this before serving each request on this thread."""
    _local.target = (sock, request, responder)
    _local.session = None


def request() -> Request:
    """The request being served on this thread (uwsgi.chunked_read reads its body)."""
    target = getattr(_local, "target", None)
    if target is None:
        raise OSError("no request is being served in this thread")
    return target[1]


def current() -> WebSocket:
    """The WebSocket session of the request being served on this thread."""
    target = getattr(_local, "target", None)
    if target is None:
        raise OSError("no request is being served in this thread")
    session: WebSocket | None = _local.session
    if session is None or session.request is not target[1]:
        from polyhost.protocol.websocket import WebSocket  # wsproto: loaded on first use

        session = _local.session = WebSocket(*target)
    return session
