"""The fastrouter: a uwsgi-protocol proxy choosing the backend by the request's key.

`fastrouter = ADDR` accepts uwsgi requests (from nginx `uwsgi_pass`, or anything speaking the
protocol), reads the header and the vars, takes the key (`UWSGI_FASTROUTER_KEY`, else
`HTTP_HOST`, else `SERVER_NAME`, as uWSGI) and maps it to a node, in uWSGI's order:
`fastrouter-use-pattern` (`%s` is the key), the subscription table (`fastrouter-subscription-
server`), `fastrouter-use-base` (base + key), `fastrouter-to` (round robin over static nodes, a
refusing one skipped for `fastrouter-gracetime` seconds). The packet and then the raw bytes are
relayed both ways; a refused connection is retried on another node (3 tries); no node at all is
answered 502 `no node for KEY`. One asyncio loop per process; `fastrouter-stats` serves uWSGI's
corerouter stats JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass

from polyhost.config import option_values
from polyhost.log import log, printable
from polyhost.protocol.http import error_response
from polyhost.protocol.uwsgi import HEADER, PacketError, decode_vars
from polyhost.router.stats import router_stats
from polyhost.router.subscription_server import serve_subscriptions
from polyhost.router.subscriptions import DEFAULT_TOLERANCE, SubscriptionTable
from polyhost.sockets import SocketError, bind, parse_inet
from polyhost.stats import StatsServer

NAME = "fastrouter"
#: connection attempts per request, as uWSGI's corerouter max_retries
MAX_TRIES = 3
RELAY_SIZE = 65536


class RouterConfigError(ValueError):
    """The router's options cannot work together; the message says what to change."""


@dataclass
class StaticNode:
    """A `fastrouter-to` node; `dead_since` is when it last refused (0: alive)."""

    name: str
    hits: int = 0
    dead_since: float = 0.0


class NoNode(Exception):
    """No node serves the request's key."""


async def connect_backend(
    address: str, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a node named as uWSGI names sockets: host:port, :port, /path, @abstract."""
    if address.startswith("@"):
        connecting = asyncio.open_unix_connection("\0" + address[1:], limit=RELAY_SIZE)
    elif "/" in address:
        connecting = asyncio.open_unix_connection(address, limit=RELAY_SIZE)
    else:
        _, (host, port) = parse_inet(address)
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        connecting = asyncio.open_connection(host, port, limit=RELAY_SIZE)
    return await asyncio.wait_for(connecting, timeout)


class FastRouter:
    """One fastrouter process: its listeners, its mapper, its subscription table."""

    def __init__(self, config: object) -> None:
        get = config.get  # type: ignore[attr-defined]
        self.addresses = option_values(config, "fastrouter")
        self.timeout = float(get("fastrouter-timeout") or 60)
        self.gracetime = float(get("fastrouter-gracetime") or 30)
        self.pattern = str(get("fastrouter-use-pattern") or "")
        self.base = str(get("fastrouter-use-base") or "")
        self.static = [StaticNode(n) for n in option_values(config, "fastrouter-to")]
        self.next_static = 0
        self.subscription_servers = option_values(config, "fastrouter-subscription-server")
        tolerance = float(get("subscription-tolerance") or DEFAULT_TOLERANCE)
        self.table = SubscriptionTable(NAME, tolerance) if self.subscription_servers else None
        self.stats_address = str(get("fastrouter-stats") or "")
        self.quiet = bool(get("fastrouter-quiet"))
        self.active = 0
        if not (self.pattern or self.table or self.base or self.static):
            raise RouterConfigError(
                "fastrouter has nowhere to send requests: add fastrouter-to, "
                "fastrouter-subscription-server, fastrouter-use-pattern or fastrouter-use-base"
            )

    # -- choosing the node -------------------------------------------------------------------
    def choose(self, key: str, modifiers: tuple[int, int]) -> tuple[str, tuple[int, int]]:
        """-> (address, modifiers to send); NoNode when the key has none."""
        if self.pattern or self.base:
            if not _safe_key(key):
                raise NoNode(key)
            address = self.pattern.replace("%s", key) if self.pattern else self.base + key
            return address, modifiers
        if self.table is not None:
            node = self.table.pick_node(key)
            if node is None:
                raise NoNode(key)
            return node.name, (node.announce.modifier1, node.announce.modifier2)
        return self._next_static(key), modifiers

    def _next_static(self, key: str) -> str:
        now = time.monotonic()
        count = len(self.static)
        for step in range(count):
            node = self.static[(self.next_static + step) % count]
            if node.dead_since and node.dead_since + self.gracetime <= now:
                node.dead_since = 0.0
            if not node.dead_since:
                self.next_static = (self.next_static + step + 1) % count
                node.hits += 1
                return node.name
        self.next_static = (self.next_static + 1) % count
        raise NoNode(key)

    def failed(self, key: str, address: str) -> None:
        """`address` refused the connection: drop it from the table, or rest a static node."""
        if self.table is not None and not (self.pattern or self.base):
            self.table.failed(address, key)
            return
        for node in self.static:
            if node.name == address:
                node.dead_since = time.monotonic()
                log(f"[uwsgi-{NAME}] {printable(key)} => marking {printable(address)} as failed")

    # -- one client ----------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.active += 1
        backend: asyncio.StreamWriter | None = None
        try:
            head = await asyncio.wait_for(reader.readexactly(4), self.timeout)
            modifier1, size, modifier2 = HEADER.unpack(head)
            block = await asyncio.wait_for(reader.readexactly(size), self.timeout)
            env = decode_vars(block)
            key = (
                env.get("UWSGI_FASTROUTER_KEY")
                or env.get("HTTP_HOST")
                or env.get("SERVER_NAME", "")
            )
            if not key or len(key) > 0xFF:
                log(f"[uwsgi-{NAME}] request without a usable key (HTTP_HOST): closing")
                return
            connected = await self._connect(key, (modifier1, modifier2), writer)
            if connected is None:
                return
            backend_reader, backend, (mod1, mod2) = connected
            backend.write(HEADER.pack(mod1, size, mod2) + block)
            await self._relay(reader, writer, backend_reader, backend)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass  # the client went away or stalled: nothing to answer
        except PacketError as exc:
            log(f"[uwsgi-{NAME}] invalid uwsgi request: {exc}")
        finally:
            self.active -= 1
            for stream in (backend, writer):
                if stream is not None:
                    stream.close()

    async def _connect(
        self, key: str, modifiers: tuple[int, int], client: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, tuple[int, int]] | None:
        """A connected node (retrying refusals on others), or None once the client got a 502."""
        for attempt in range(1, MAX_TRIES + 1):
            try:
                address, sent = self.choose(key, modifiers)
            except NoNode:
                log(f"[uwsgi-{NAME}] no node for key {printable(key)}")
                client.write(error_response(502, f"no node for {printable(key)}"))
                with contextlib.suppress(ConnectionError):
                    await client.drain()
                return None
            try:
                reader, writer = await connect_backend(address, self.timeout)
                return reader, writer, sent
            except (OSError, TimeoutError, SocketError) as exc:
                if not self.quiet:
                    why = "timeout" if isinstance(exc, TimeoutError) else exc.strerror or exc
                    log(
                        f'[uwsgi-{NAME}] unable to connect() to node "{printable(address)}" '
                        f"({attempt - 1} retries): {why}"
                    )
                self.failed(key, address)
        client.write(error_response(502, f"no node for {printable(key)} accepted the connection"))
        with contextlib.suppress(ConnectionError):
            await client.drain()
        return None

    async def _relay(
        self,
        client_reader: asyncio.StreamReader,
        client: asyncio.StreamWriter,
        backend_reader: asyncio.StreamReader,
        backend: asyncio.StreamWriter,
    ) -> None:
        """Copy both ways until the backend has answered (or either side goes away)."""
        upstream = asyncio.ensure_future(self._copy(client_reader, backend, half_close=True))
        try:
            await self._copy(backend_reader, client, half_close=False)
        finally:
            upstream.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await upstream

    async def _copy(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, half_close: bool
    ) -> None:
        while True:
            data = await asyncio.wait_for(source.read(RELAY_SIZE), self.timeout)
            if not data:
                if half_close and sink.can_write_eof():
                    with contextlib.suppress(OSError):
                        sink.write_eof()
                return
            sink.write(data)
            await sink.drain()  # back-pressure: a slow reader slows the writer, memory stays flat

    # -- the process -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, object]:
        statics = [
            {"name": n.name, "hits": n.hits, "grace": int(n.dead_since)} for n in self.static
        ]
        return router_stats(NAME, self.addresses, self.active, statics, self.table)

    async def serve(self) -> None:
        servers = []
        for address in self.addresses:
            sock, _ = bind(address, backlog=1024, reuse_port=True)
            sock.setblocking(False)
            servers.append(await asyncio.start_server(self.handle, sock=sock, limit=RELAY_SIZE))
            log(f"uWSGI {NAME} bound on {address} fd {sock.fileno()}")
        assert self.table is not None or not self.subscription_servers
        transports = [
            await serve_subscriptions(address, self.table, f"uWSGI {NAME}")  # type: ignore[arg-type]
            for address in self.subscription_servers
        ]
        stats = None
        if self.stats_address:
            stats = StatsServer(self.stats_address, self.snapshot)
            stats.start()
            log(f"*** {NAME} stats server enabled on {self.stats_address} ***")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        master = os.getppid()
        while not stop.is_set():  # a router never outlives its master
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if self.table is not None:
                self.table.expire()
            if os.getppid() != master:
                log(f"{NAME} (pid: {os.getpid()}): the master is gone, exiting")
                break
        for server in servers:
            server.close()
        for transport in transports:
            transport.close()
        if stats is not None:
            stats.close()


def _safe_key(key: str) -> bool:
    """A key going into a socket path (pattern, base) must not walk out of it."""
    return not ("/" in key or "\0" in key or key.startswith(".") or ".." in key)


def run(config: object) -> int:
    """The body of a fastrouter process (forked by the master)."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        router = FastRouter(config)
    except RouterConfigError as exc:
        log(f"!!! {exc} !!!")
        return 1
    try:
        asyncio.run(router.serve())
    except (OSError, SocketError) as exc:
        log(f"!!! {NAME}: {exc} !!!")
        return 1
    return 0


def check_config(config: object) -> None:
    """Called by the master before forking: RouterConfigError for options that cannot work."""
    FastRouter(config)
    processes = int(config.get("fastrouter-processes") or 1)  # type: ignore[attr-defined]
    if processes > 1 and option_values(config, "fastrouter-subscription-server"):
        raise RouterConfigError(
            "fastrouter-processes > 1 with a fastrouter-subscription-server is not supported "
            "yet (each process would see only part of the subscriptions): use one process"
        )
