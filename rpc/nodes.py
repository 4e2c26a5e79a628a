"""Groups of nodes (`rpc-nodes = GROUP=ADDR[,ADDR...]`): call a function on any node of a group,
raise a signal on every node of one. `group:GROUP` stands where uWSGI's APIs take one node.

An RPC call goes to the group's nodes in round robin; a node that cannot be reached (connection
refused or timed out before the call was sent) is skipped and the next one tried, and it is tried
last for `NODE_RETRY` seconds. A node that was reached but failed the call is not retried
elsewhere (the function may have run): the caller gets that node's error. A signal goes to every
node; the error, if any, names the nodes that did not take it, after all were tried.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from polyhost.rpc.registry import RpcError

#: how a group is named where an API takes a node address
PREFIX = "group:"
#: seconds an unreachable node goes to the back of its group
NODE_RETRY = 10.0


class NodeUnreachable(RpcError):
    """The node could not be reached: nothing was sent, another node may take the call."""


class NodeGroups:
    """The groups of `rpc-nodes`, with each group's round-robin cursor and failed nodes."""

    def __init__(self, values: list[str], origin: Callable[[int], str] = lambda i: "") -> None:
        self._groups: dict[str, list[str]] = {}
        self._cursors: dict[str, itertools.count[int]] = {}
        self._failed: dict[str, float] = {}
        self._lock = threading.Lock()
        for index, value in enumerate(values):
            name, sep, addresses = value.partition("=")
            nodes = [a.strip() for a in addresses.split(",") if a.strip()]
            where = origin(index)
            if not sep or not name.strip() or not nodes:
                raise ValueError(
                    f"{where + ': ' if where else ''}rpc-nodes = {value}: write"
                    " GROUP=ADDR[,ADDR...], e.g. rpc-nodes = backends=10.0.0.2:3031,10.0.0.3:3031"
                )
            self._groups[name.strip()] = nodes
            self._cursors[name.strip()] = itertools.count()

    def nodes(self, target: str) -> list[str]:
        """The nodes of `group:GROUP`, in the order to try them now."""
        name = target[len(PREFIX) :]
        nodes = self._groups.get(name)
        if nodes is None:
            known = ", ".join(self._groups) or "none (add rpc-nodes = GROUP=ADDR,...)"
            raise RpcError(f"no node group named {name!r} (groups: {known})")
        with self._lock:
            start = next(self._cursors[name]) % len(nodes)
            now = time.monotonic()
            ordered = nodes[start:] + nodes[:start]
            healthy = [n for n in ordered if self._failed.get(n, 0.0) <= now]
            return healthy + [n for n in ordered if n not in healthy]

    def call_any(self, target: str, call: Callable[[str], bytes]) -> bytes:
        """call(node) on the first node of the group that can be reached."""
        errors = []
        for node in self.nodes(target):
            try:
                result = call(node)
            except NodeUnreachable as exc:
                with self._lock:
                    self._failed[node] = time.monotonic() + NODE_RETRY
                errors.append(str(exc))
                continue
            with self._lock:
                self._failed.pop(node, None)
            return result
        raise RpcError(f"no node of {target} could be reached: " + "; ".join(errors))

    def each(
        self, target: str, send: Callable[[str], None], error: type[Exception] = RpcError
    ) -> None:
        """send(node) to every node of the group, then one `error` naming each that failed."""
        errors = []
        for node in self._groups.get(target[len(PREFIX) :]) or self.nodes(target):
            try:
                send(node)
            except Exception as exc:  # every node is tried; the failures are reported together
                errors.append(f"{node}: {exc}")
        if errors:
            raise error(f"{len(errors)} node(s) of {target} failed: " + "; ".join(errors))


def is_group(target: str) -> bool:
    return target.startswith(PREFIX)


def node_groups() -> NodeGroups:
    """This process's groups (the master made them from the config before fork)."""
    from polyhost.process_state import CURRENT

    groups = CURRENT.node_groups
    if groups is None:
        groups = CURRENT.node_groups = NodeGroups([])
    return groups  # type: ignore[no-any-return]
