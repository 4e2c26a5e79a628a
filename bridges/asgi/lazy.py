"""The ASGI engine, imported on first use: the engine brings asyncio (and the ssl module that
asyncio imports), about 5 MiB of every worker; a WSGI-only worker never asks for it.

The host imports every runtime's declaration at start (the catalog) and the WSGI runtime may
find ASGI apps among its targets: both reach the engine through `engine()`, which imports it
when an ASGI app is loaded (in the master before the fork, or at a lazy-apps load).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polyhost.bridges.asgi.engine import Engine


def engine() -> Engine:
    """The process's ASGI engine (`polyhost.bridges.asgi.engine.ENGINE`)."""
    from polyhost.bridges.asgi.engine import ENGINE

    return ENGINE
