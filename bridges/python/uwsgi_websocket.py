"""`uwsgi.websocket_*`: uWSGI's Python WebSocket API over the worker's session (host/websocket).

Messages are bytes (a str is sent as its UTF-8); failures raise IOError with uWSGI's messages.
"""

from __future__ import annotations

from typing import Any

from polyhost import websocket


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes | bytearray) else str(value)


def _bytes(message: str | bytes) -> bytes:
    return message.encode("utf-8") if isinstance(message, str) else bytes(message)


def websocket_handshake(
    key: str | bytes | None = None,
    origin: str | bytes | None = None,
    proto: str | bytes | None = None,
) -> None:
    websocket.current().handshake(_text(key), _text(origin), _text(proto))


def websocket_recv(request_context: Any = None) -> bytes:
    return websocket.current().recv(block=True)


def websocket_recv_nb(request_context: Any = None) -> bytes:
    return websocket.current().recv(block=False)


def websocket_send(message: str | bytes, request_context: Any = None) -> None:
    websocket.current().send(_bytes(message), binary=False)


def websocket_send_binary(message: str | bytes, request_context: Any = None) -> None:
    websocket.current().send(_bytes(message), binary=True)


EXPORTS = (
    websocket_handshake,
    websocket_recv,
    websocket_recv_nb,
    websocket_send,
    websocket_send_binary,
)
