"""uWSGI's subscription system: the packet codec and the table of nodes per key.

A node announces itself with a datagram: a uwsgi packet with modifier1 224, modifier2 0
(subscribe) or 1 (unsubscribe), and the vars `key`, `address`, `modifier1`, `modifier2`,
`cores`, `load`, `weight` (plus `sni_key`/`sni_crt`/`sni_ca`, `notify`, `unix`, `sign`, accepted
and kept out of the routing decision). The routers (fastrouter, HTTP router) keep a table of the
nodes of each key and pick one by weighted round robin, as uWSGI's `wrr` algorithm; a node that
has not announced itself within `subscription-tolerance` seconds, unsubscribed, or refused a
connection is dropped (`failed`). subscription_server.py receives the packets. Formats and log
lines follow uWSGI 2.0's core/subscription.c and plugins/corerouter.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

from polyhost.log import log, printable
from polyhost.protocol.uwsgi import PacketError, encode_vars, iter_vars, packet, unpack_header
from polyhost.sockets import parse_inet

SUBSCRIPTION_MODIFIER1 = 224
UNSUBSCRIBE = 1
#: uWSGI reads subscription datagrams into a 4096-byte buffer
MAX_DATAGRAM = 4096
#: seconds without an announce before a node is dropped (uWSGI's subscription-tolerance)
DEFAULT_TOLERANCE = 17
#: keys and addresses longer than this are refused, as uWSGI (0xff)
MAX_NAME = 0xFF

_NUMBERS = ("modifier1", "modifier2", "cores", "load", "weight")


@dataclass
class Subscription:
    """One decoded subscription packet."""

    key: str
    address: str
    unsubscribe: bool = False
    modifier1: int = 0
    modifier2: int = 0
    cores: int = 0
    load: int = 0
    weight: int = 0
    #: the other vars uWSGI accepts (sni_key, sni_crt, sni_ca, notify, unix, sign)
    extra: dict[str, str] = field(default_factory=dict)


def _number(text: str) -> int:
    """uWSGI's uwsgi_str_num: the leading digits, 0 when there are none."""
    digits = ""
    for ch in text:
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def decode_subscription(datagram: bytes) -> Subscription:
    """Parse a subscription datagram; PacketError says what is wrong with it."""
    if len(datagram) > MAX_DATAGRAM:
        raise PacketError(f"subscription packet of {len(datagram)} bytes (max {MAX_DATAGRAM})")
    modifier1, size, modifier2 = unpack_header(datagram)
    if modifier1 != SUBSCRIPTION_MODIFIER1:
        raise PacketError(f"not a subscription packet (modifier1 {modifier1}, expected 224)")
    if 4 + size > len(datagram):
        raise PacketError(f"truncated subscription packet ({len(datagram) - 4} of {size} bytes)")
    values: dict[str, str] = {}
    for name, value in iter_vars(datagram[4 : 4 + size]):
        values[name] = value
    key, address = values.pop("key", ""), values.pop("address", "")
    if not key or len(key) > MAX_NAME:
        raise PacketError("subscription packet without a valid key (1-255 bytes)")
    if not address or len(address) > MAX_NAME:
        raise PacketError(f"subscription for {key!r} without a valid address (1-255 bytes)")
    numbers = {name: _number(values.pop(name, "")) for name in _NUMBERS}
    return Subscription(key, address, unsubscribe=modifier2 == UNSUBSCRIBE, extra=values, **numbers)


def encode_subscription(sub: Subscription) -> bytes:
    """The datagram uWSGI's node side sends (the same vars in the same order)."""
    pairs = [
        ("key", sub.key),
        ("address", sub.address),
        ("modifier1", str(sub.modifier1)),
        ("modifier2", str(sub.modifier2)),
        ("cores", str(sub.cores)),
        ("load", str(sub.load)),
        ("weight", str(sub.weight)),
        *sub.extra.items(),
    ]
    return packet(SUBSCRIPTION_MODIFIER1, encode_vars(pairs), UNSUBSCRIBE if sub.unsubscribe else 0)


def datagram_address(address: str) -> tuple[socket.AddressFamily, str | tuple[str, int]]:
    """A subscription server address: `host:port` (UDP) or a unix datagram socket path."""
    if address.startswith("/") or ":" not in address:
        return socket.AF_UNIX, address
    family, sockaddr = parse_inet(address)
    return socket.AddressFamily(family), sockaddr


# -- the table ---------------------------------------------------------------------------------
@dataclass
class Node:
    """A backend announcing itself for a key (uWSGI's uwsgi_subscribe_node)."""

    #: its last subscription packet
    announce: Subscription
    last_check: float = 0.0
    requests: int = 0
    #: what is left of this node's share of the current round robin turn
    wrr: int = 0

    @property
    def name(self) -> str:
        return self.announce.address

    @property
    def weight(self) -> int:
        return max(1, self.announce.weight)


class SubscriptionTable:
    """The nodes of each key; `pick(key)` balances them by weighted round robin."""

    def __init__(self, router: str, tolerance: float = DEFAULT_TOLERANCE) -> None:
        #: the router's short name in log lines, as uWSGI: "fastrouter", "http"
        self.router = router
        self.tolerance = tolerance
        self.slots: dict[str, list[Node]] = {}
        self.hits: dict[str, int] = {}

    def apply(self, sub: Subscription) -> None:
        """A subscribe or unsubscribe packet arrived."""
        if sub.unsubscribe:
            nodes = self.slots.get(sub.key, [])
            if any(n.name == sub.address for n in nodes):
                log(
                    f"[uWSGI {self.router} pid {os.getpid()}] {printable(sub.key)} => marking "
                    f"{printable(sub.address)} as failed"
                )
                self._remove(sub.key, sub.address)
            return
        nodes = self.slots.get(sub.key)
        now = time.monotonic()
        node = next((n for n in nodes or () if n.name == sub.address), None)
        if node is None:
            node = Node(sub)
            if nodes is None:
                nodes = self.slots[sub.key] = []
                self.hits[sub.key] = 0
                log(
                    f"[uwsgi-subscription for pid {os.getpid()}] new pool: {printable(sub.key)} "
                    f"(hash key: {_djb33x(sub.key.encode('latin-1')) % 0xFFFF})"
                )
            nodes.append(node)
            log(
                f"[uwsgi-subscription for pid {os.getpid()}] {printable(sub.key)} => new node: "
                f"{printable(sub.address)}"
            )
        node.announce = sub
        node.last_check = now

    def pick_node(self, key: str) -> Node | None:
        """The next node for `key` (weighted round robin), dropping the silent ones."""
        if not self.slots.get(key):
            return None
        self.hits[key] += 1
        self._expire(key)
        nodes = self.slots.get(key)
        if not nodes:
            return None
        chosen = next((n for n in nodes if n.wrr > 0), None)
        if chosen is None:  # a new turn: each node gets weight / smallest weight requests
            smallest = min(n.weight for n in nodes)
            for node in nodes:
                node.wrr = node.weight // smallest
            chosen = nodes[-1]
        chosen.wrr -= 1
        chosen.requests += 1
        return chosen

    def expire(self) -> None:
        """Drop every node silent for longer than the tolerance (routers call this each second,
        so the stats show live nodes; uWSGI only checks when a key is requested)."""
        for key in list(self.slots):
            self._expire(key)

    def _expire(self, key: str) -> None:
        limit = time.monotonic() - self.tolerance
        for node in [n for n in self.slots.get(key, []) if n.last_check < limit]:
            log(
                f"[uwsgi-subscription for pid {os.getpid()}] {printable(key)} => marking "
                f"{printable(node.name)} as failed (no announce received in "
                f"{self.tolerance:g} seconds)"
            )
            self._remove(key, node.name)

    def pick(self, key: str) -> str | None:
        """The address of the next node for `key`, or None when it has none."""
        node = self.pick_node(key)
        return node.name if node is not None else None

    def failed(self, address: str, key: str | None = None) -> None:
        """A node refused a connection: drop it (from `key`, or from every key)."""
        for slot_key in [key] if key is not None else list(self.slots):
            nodes = self.slots.get(slot_key, [])
            if any(n.name == address for n in nodes):
                log(
                    f"[uwsgi-{self.router}] {printable(slot_key)} => marking "
                    f"{printable(address)} as failed"
                )
                self._remove(slot_key, address)

    def _remove(self, key: str, address: str) -> None:
        nodes = [n for n in self.slots.get(key, []) if n.name != address]
        if nodes:
            self.slots[key] = nodes
        else:
            self.slots.pop(key, None)
            self.hits.pop(key, None)

    def stats(self) -> list[dict[str, object]]:
        """The `subscriptions` list of uWSGI's corerouter stats."""
        wall = time.time() - time.monotonic()
        return [
            {
                "key": key,
                "hash": _djb33x(key.encode("latin-1")) % 0xFFFF,
                "hits": self.hits.get(key, 0),
                "sni_enabled": 0,
                "nodes": [
                    {
                        "name": n.name,
                        "modifier1": n.announce.modifier1,
                        "modifier2": n.announce.modifier2,
                        "last_check": int(n.last_check + wall),
                        "pid": 0,
                        "uid": 0,
                        "gid": 0,
                        "requests": n.requests,
                        "last_requests": 0,
                        "tx": 0,
                        "rx": 0,
                        "cores": n.announce.cores,
                        "load": n.announce.load,
                        "weight": n.weight,
                        "wrr": n.wrr,
                        "ref": 0,
                        "failcnt": 0,
                        "death_mark": 0,
                    }
                    for n in list(nodes)
                ],
            }
            for key, nodes in list(self.slots.items())
        ]


def _djb33x(data: bytes) -> int:
    """uWSGI's djb33x_hash, shown as the slot's `hash` in the stats."""
    value = 5381
    for byte in data:  # C's `char` is signed: bytes over 127 are negative
        value = (((value << 5) + value) ^ (byte - 256 if byte > 127 else byte)) & 0xFFFFFFFF
    return value
