"""The `--http` router's static nodes (`http-to`, or the instance's own uwsgi sockets).

`pick(key)` gives the next address by round robin, `failed(address, key)` rests a node that
refused or timed out a connection for `http-gracetime` seconds (when all rest, the one whose
rest ends first is tried anyway, so a restarting node is not shunned for the whole grace time),
`stats()` is the `static_nodes` list of the router's stats. Subscribed nodes live in
subscriptions.SubscriptionTable, which answers the same `pick`/`failed`.
"""

from __future__ import annotations

import time

from polyhost.log import log, printable


class StaticNodes:
    """Round robin over fixed addresses; a failed one is retried after `gracetime` seconds."""

    def __init__(self, addresses: list[str], gracetime: float) -> None:
        self.addresses = list(addresses)
        self.gracetime = gracetime
        self._next = 0
        self._dead_until: dict[str, float] = {}
        self.hits = dict.fromkeys(self.addresses, 0)

    def pick(self, key: str) -> str | None:
        if not self.addresses:
            return None
        now = time.monotonic()
        count = len(self.addresses)
        for step in range(count):
            address = self.addresses[(self._next + step) % count]
            if self._dead_until.get(address, 0.0) <= now:
                self._next = (self._next + step + 1) % count
                self.hits[address] += 1
                return address
        # every node failed lately: try the one whose grace ends first rather than none
        return min(self.addresses, key=lambda a: self._dead_until[a])

    def failed(self, address: str, key: str) -> None:
        if address in self.hits:
            log(f"[uwsgi-http] {printable(key)} => marking {printable(address)} as failed")
            self._dead_until[address] = time.monotonic() + self.gracetime

    def stats(self) -> list[dict[str, object]]:
        """The `static_nodes` of the corerouter stats (grace: when the node may be retried)."""
        wall = time.time() - time.monotonic()
        return [
            {
                "name": address,
                "hits": self.hits[address],
                "grace": int(self._dead_until[address] + wall)
                if self._dead_until.get(address, 0) > time.monotonic()
                else 0,
            }
            for address in self.addresses
        ]
