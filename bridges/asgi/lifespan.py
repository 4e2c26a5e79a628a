"""The ASGI lifespan protocol for one app: startup when the worker starts, shutdown when it stops.

`lifespan = auto` (the default) runs it and treats an app that raises before answering as not
supporting it (logged once); `on` makes that a start-up failure; `off` never sends it. A failed
startup stops the worker with the app's message, and the master stops the instance (as a failed
app load does). `state` is the dict the app fills at startup; each request's scope gets a
shallow copy of it.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from polyhost.dispatch import App, AppLoadError
from polyhost.log import log

ASGI_INFO = {"version": "3.0", "spec_version": "2.4"}


class Lifespan:
    """Drives one app's lifespan coroutine through startup and shutdown."""

    def __init__(self, app: App, mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.supported = mode != "off"
        self._inbox: asyncio.Queue[dict[str, Any]] | None = None
        self._reply: asyncio.Future[dict[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def startup(self) -> None:
        if not self.supported:
            return
        loop = asyncio.get_running_loop()
        self._inbox = asyncio.Queue()
        self._task = loop.create_task(self._main())
        reply = await self._exchange("lifespan.startup")
        if reply is None:
            if self._error is not None and self.mode == "on":
                raise AppLoadError(
                    f"ASGI app {self.app.target}: lifespan startup raised "
                    f"{type(self._error).__name__}: {self._error} (lifespan = on)"
                )
            self.supported = False
            if self._error is not None:
                log(f"ASGI app {self.app.target}: the lifespan protocol is not supported")
            return
        if reply["type"] == "lifespan.startup.failed":
            raise AppLoadError(
                f"ASGI app {self.app.target}: lifespan startup failed: "
                f"{reply.get('message') or 'no message'}"
            )
        log(f"ASGI app {self.app.target}: lifespan startup complete")

    async def shutdown(self) -> None:
        if not self.supported or self._task is None:
            return
        reply = await self._exchange("lifespan.shutdown")
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            log(f"ASGI app {self.app.target}: lifespan shutdown failed: {reply.get('message')}")
        elif reply is not None:
            log(f"ASGI app {self.app.target}: lifespan shutdown complete")

    async def _exchange(self, event: str) -> dict[str, Any] | None:
        """Send an event; the app's answer, or None when the lifespan coroutine ended."""
        assert self._inbox is not None and self._task is not None
        self._reply = asyncio.get_running_loop().create_future()
        await self._inbox.put({"type": event})
        await asyncio.wait((self._reply, self._task), return_when=asyncio.FIRST_COMPLETED)
        return self._reply.result() if self._reply.done() else None

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_INFO, "state": self.state}
        try:
            await self.app.handle(scope, self._receive, self._send)  # type: ignore[operator]
        except BaseException as exc:
            self._error = exc
            if self.mode == "on" or (self._reply is not None and self._reply.done()):
                text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                log(f"ASGI app {self.app.target}: exception in lifespan:\n{text}")

    async def _receive(self) -> dict[str, Any]:
        assert self._inbox is not None
        return await self._inbox.get()

    async def _send(self, message: dict[str, Any]) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.set_result(message)
