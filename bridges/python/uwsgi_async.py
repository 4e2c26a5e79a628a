"""The awaitable fabric calls of Python's `uwsgi` module, for ASGI apps on the event loop.

`await uwsgi.acall(name, *args)` and `await uwsgi.arpc(node, name, *args)` are `uwsgi.call` and
`uwsgi.rpc` run in a thread of the loop's executor: a call that crosses to a child runtime (a
Perl, Ruby or PHP function) or to another node waits there, and the loop keeps serving.
"""

from __future__ import annotations

from typing import Any

from polyhost.bridges.python import uwsgi_fabric


async def acall(name: str | bytes, *args: Any) -> bytes:
    """`uwsgi.call` without blocking the event loop."""
    import asyncio  # running already (this is a coroutine): not loaded by WSGI-only workers

    return await asyncio.get_running_loop().run_in_executor(None, uwsgi_fabric.call, name, *args)


async def arpc(node: str | bytes | None, name: str | bytes, *args: Any) -> bytes:
    """`uwsgi.rpc` without blocking the event loop."""
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(
        None, uwsgi_fabric.rpc, node, name, *args
    )


EXPORTS = (acall, arpc)
