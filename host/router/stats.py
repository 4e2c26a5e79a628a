"""The stats document of a router process (`fastrouter-stats`, `http-stats`), as uWSGI's
corerouter writes it: version, pid, the router's addresses, its static nodes and subscriptions."""

from __future__ import annotations

import os

from polyhost import UWSGI_COMPAT_VERSION
from polyhost.router.subscriptions import SubscriptionTable


def router_stats(
    short_name: str,
    addresses: list[str],
    active_sessions: int,
    static_nodes: list[dict[str, object]],
    table: SubscriptionTable | None,
) -> dict[str, object]:
    """`static_nodes` items are {"name", "hits", "grace"}; `table` None: no subscription server."""
    doc: dict[str, object] = {
        "version": UWSGI_COMPAT_VERSION,
        "pid": os.getpid(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "cwd": os.getcwd(),
        "active_sessions": active_sessions,
        short_name: list(addresses),
    }
    if static_nodes:
        doc["static_nodes"] = static_nodes
    if table is not None:
        doc["subscriptions"] = table.stats()
    doc["cheap"] = 0
    return doc
