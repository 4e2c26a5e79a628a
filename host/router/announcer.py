"""The node side of subscriptions: the master announces the instance to subscription servers.

`subscribe-to = SERVER:KEY[,MODIFIER1]` (or `ADDRESS=SERVER:KEY` to announce another address
than the first socket, `SERVER:@FILE` for one key per line of FILE) and `subscribe2 =
server=...,key=...[,addr=...][,socket=N][,weight=...][,modifier1=...][,modifier2=...]
[,check=FILE][,sni_key=...,sni_crt=...,sni_ca=...]` send uWSGI's subscription datagram every
`subscribe-freq` seconds (default 10) while the instance runs, and the unsubscribe form once
when it stops, as uWSGI's master does.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from polyhost.config import option_values
from polyhost.log import log
from polyhost.router.subscriptions import Subscription, datagram_address, encode_subscription
from polyhost.sockets import SocketError


@dataclass
class Announce:
    """One subscription this instance sends: to `server`, for `key`, naming `address`."""

    option: str
    server: str
    key: str
    address: str
    modifier1: int = 0
    modifier2: int = 0
    weight: int | None = None
    check: str = ""
    extra: tuple[tuple[str, str], ...] = ()


class ConfigError(ValueError):
    """A subscribe-to/subscribe2 value that cannot be used; the message says which and why."""


def parse_subscribe_to(value: str, default_address: str) -> list[Announce]:
    """uWSGI's uwsgi_subscribe() argument syntax."""
    address, sep, target = value.partition("=")
    if not sep:
        address, target = default_address, value
    elif address.startswith("=") or not address:
        raise ConfigError(
            f"subscribe-to {value!r}: shared-socket references (=N=) are not supported; "
            "name the address to announce (ADDRESS=SERVER:KEY)"
        )
    if target.startswith("/"):
        server, colon, rest = target.partition(":")
    else:
        host, colon1, after = target.partition(":")
        port, colon, rest = after.partition(":")
        server = f"{host}:{port}"
        colon = colon if colon1 else ""
    if not colon or not rest:
        raise ConfigError(
            f"subscribe-to {value!r}: use SERVER:KEY (e.g. 127.0.0.1:2626:example.com)"
        )
    if rest.startswith("@"):
        path = rest[1:]
        try:
            with open(path, encoding="utf-8") as keys:
                lines = [line.strip() for line in keys]
        except OSError as exc:
            raise ConfigError(f"subscribe-to {value!r}: cannot read {path}: {exc}") from exc
        entries = [line for line in lines if line and not line.startswith("#")]
    else:
        entries = [rest]
    announces = []
    for entry in entries:
        key, _, modifier = entry.partition(",")
        modifier1 = modifier.partition(",")[0]
        announces.append(
            Announce(
                "subscribe-to",
                server,
                key,
                address,
                modifier1=int(modifier1) if modifier1.isdigit() else 0,
            )
        )
    return announces


def parse_subscribe2(value: str, addresses: list[str]) -> Announce:
    """uWSGI's uwsgi_subscribe2() key=value syntax."""
    fields: dict[str, str] = {}
    for item in value.split(","):
        name, sep, val = item.partition("=")
        if not sep:
            raise ConfigError(f"subscribe2 {value!r}: {item!r} is not key=value")
        fields[name.strip()] = val.strip()
    if not fields.get("server") or not fields.get("key"):
        raise ConfigError(f"subscribe2 {value!r}: server= and key= are required")
    address = fields.get("addr") or fields.get("address") or (addresses[0] if addresses else "")
    if fields.get("socket", "").isdigit():
        index = int(fields["socket"])
        if index >= len(addresses):
            raise ConfigError(f"subscribe2 {value!r}: there is no socket {index}")
        address = addresses[index]
    weight = fields.get("weight", "")
    return Announce(
        "subscribe2",
        fields["server"],
        fields["key"],
        address,
        modifier1=int(fields.get("modifier1") or 0),
        modifier2=int(fields.get("modifier2") or 0),
        weight=int(weight) if weight.isdigit() else None,
        check=fields.get("check", ""),
        extra=tuple((k, fields[k]) for k in ("sni_key", "sni_crt", "sni_ca") if k in fields),
    )


class Announcer:
    """Sends this instance's subscriptions every `subscribe-freq` seconds (from the master)."""

    def __init__(self, announces: list[Announce], freq: float, cores: int, weight: int) -> None:
        self.announces = announces
        self.freq = freq
        self.cores = cores
        self.weight = weight
        self.next_at = 0.0
        self.first = True

    @classmethod
    def from_config(cls, config: object, addresses: list[str]) -> Announcer | None:
        """None when the config subscribes nowhere; ConfigError for a bad value."""
        default = addresses[0] if addresses else ""
        announces = [
            announce
            for value in option_values(config, "subscribe-to")
            for announce in parse_subscribe_to(value, default)
        ]
        announces += [parse_subscribe2(v, addresses) for v in option_values(config, "subscribe2")]
        if not announces:
            return None
        for announce in announces:
            if not announce.address:
                raise ConfigError(
                    f"{announce.option} {announce.server}:{announce.key}: the instance has no "
                    "socket to announce; add `socket` or name the address (addr=...)"
                )
        get = config.get  # type: ignore[attr-defined]
        forced = get("subscribe-with-modifier1")
        if forced not in (None, ""):
            for announce in announces:
                announce.modifier1 = int(forced)
        cores = max(1, get("processes")) * max(1, get("threads"))
        weight = cores if get("auto-weight") else get("weight")
        return cls(announces, get("subscribe-freq"), cores, weight)

    def tick(self) -> None:
        """Announce when due (the master calls this every cycle while running)."""
        now = time.monotonic()
        if now < self.next_at:
            return
        self.next_at = now + self.freq
        self._send_all(unsubscribe=False, verbose=self.first)
        self.first = False

    def unsubscribe(self) -> None:
        """The instance stops: tell every server to drop this node."""
        self._send_all(unsubscribe=True, verbose=True)

    def _send_all(self, unsubscribe: bool, verbose: bool) -> None:
        for announce in self.announces:
            if announce.check and os.path.exists(announce.check):
                continue  # uWSGI: the check file's presence suspends the subscription
            if verbose:
                what = "unsubscribing from" if unsubscribe else "subscribing to"
                log(f"{what} {announce.server}:{announce.key}")
            datagram = encode_subscription(
                Subscription(
                    announce.key,
                    announce.address,
                    unsubscribe=unsubscribe,
                    modifier1=announce.modifier1,
                    modifier2=announce.modifier2,
                    cores=self.cores,
                    load=0,
                    weight=self.weight if announce.weight is None else announce.weight,
                    extra=dict(announce.extra),
                )
            )
            _send(announce.server, datagram)


def _send(server: str, datagram: bytes) -> None:
    try:
        family, sockaddr = datagram_address(server)
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(datagram, sockaddr)
    except (OSError, SocketError) as exc:
        log(f"send_subscription()/sendto() to {server}: {exc}")
