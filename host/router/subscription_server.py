"""The subscription server: a UDP (or unix datagram) socket feeding a SubscriptionTable."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

from polyhost.log import log
from polyhost.protocol.uwsgi import PacketError
from polyhost.router.subscriptions import SubscriptionTable, datagram_address, decode_subscription


# -- the server --------------------------------------------------------------------------------
class _SubscriptionProtocol(asyncio.DatagramProtocol):
    def __init__(self, table: SubscriptionTable, address: str) -> None:
        self.table = table
        self.address = address

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            sub = decode_subscription(data)
        except PacketError as exc:
            log(f"[uwsgi-{self.table.router}] subscription server {self.address}: {exc}")
            return
        self.table.apply(sub)


async def serve_subscriptions(
    address: str, table: SubscriptionTable, name: str
) -> asyncio.DatagramTransport:
    """Bind a subscription server (UDP host:port or a unix datagram socket) feeding `table`."""
    family, sockaddr = datagram_address(address)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_UNIX:
            with contextlib.suppress(FileNotFoundError):
                if isinstance(sockaddr, str) and os.path.exists(sockaddr):
                    os.unlink(sockaddr)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno, f"{name} subscription server: cannot bind {address}: {exc.strerror}"
        ) from exc
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _SubscriptionProtocol(table, address), sock=sock
    )
    log(f"{name} subscription server bound on {address} fd {sock.fileno()}")
    return transport
