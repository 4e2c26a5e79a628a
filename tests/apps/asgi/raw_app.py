"""Bare ASGI apps: an ASGI 2 class, a factory, a failing lifespan, a blocking handler."""

import os
import time


class Asgi2App:
    """ASGI 2 'double callable'."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"asgi2 " + self.scope["path"].encode()})


def create_app():
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"from the factory"})

    return app


async def failing_startup(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return


async def blocking(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/block":
        time.sleep(30)  # blocks the event loop: harakiri must catch it
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})


async def no_lifespan(scope, receive, send):
    """An app without the lifespan protocol: it raises for any scope but http, as many do."""
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope type {scope['type']}")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"no lifespan here"})
