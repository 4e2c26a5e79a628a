"""Telling an ASGI callable from a WSGI one at load time, and ASGI 2 -> ASGI 3."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

AsgiApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def is_asgi(app: object) -> bool:
    """True for an ASGI callable: an async function, an object whose __call__ is one, or an
    ASGI 2 class (instances awaited with receive and send)."""
    if inspect.iscoroutinefunction(app):
        return True
    if inspect.isclass(app):
        return inspect.iscoroutinefunction(getattr(app, "__call__", None))  # noqa: B004
    call = getattr(app, "__call__", None)  # noqa: B004 - an instance's __call__, not callable()
    return call is not None and inspect.iscoroutinefunction(call)


def as_asgi3(app: Any) -> AsgiApp:
    """ASGI 2 (`app(scope)`, then `await instance(receive, send)`) -> ASGI 3; else unchanged."""
    if not inspect.isclass(app):
        return app  # type: ignore[no-any-return]

    async def asgi3(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app(scope)(receive, send)

    return asgi3
