"""The fastrouter: a uwsgi-protocol proxy choosing the backend by the request's key.

`fastrouter = ADDR` accepts uwsgi requests (from nginx `uwsgi_pass`, or anything speaking the
protocol), reads the header and the vars, takes the key (`UWSGI_FASTROUTER_KEY`, else
`HTTP_HOST`, else `SERVER_NAME`, as uWSGI) and maps it to a node, in uWSGI's order:
`fastrouter-use-pattern` (`%s` is the key), the subscription table (`fastrouter-subscription-
server`), `fastrouter-use-base` (base + key), `fastrouter-to` (round robin over static nodes, a
refusing one skipped for `fastrouter-gracetime` seconds). The packet and then the raw bytes are
relayed both ways; a refused connection is retried on another node (3 tries); no node at all is
answered 502 `no node for KEY`. One asyncio loop per process; `fastrouter-stats` serves uWSGI's
corerouter stats JSON. The master binds the `fastrouter` sockets and keeps the process through a
graceful reload and its re-exec (router/supervision): SIGHUP changes nothing here, SIGTERM,
SIGINT and SIGQUIT stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.log import log, printable
from polyhost.protocol.http import error_response
from polyhost.protocol.uwsgi import HEADER, PacketError, find_vars
from polyhost.router.stats import router_stats
from polyhost.router.subscription_server import serve_subscriptions
from polyhost.router.subscriptions import SubscriptionTable
from polyhost.sockets import SocketError, parse_inet
from polyhost.stats import StatsServer

if TYPE_CHECKING:
    from polyhost.router.supervision import RouterContext, RouterSocket

NAME = "fastrouter"
#: connection attempts per request, as uWSGI's corerouter max_retries
MAX_TRIES = 3
RELAY_SIZE = 65536
#: the vars the key is taken from, in uWSGI's order of preference
KEY_VARS = frozenset((b"UWSGI_FASTROUTER_KEY", b"HTTP_HOST", b"SERVER_NAME"))


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


@functools.lru_cache(maxsize=1024)
def node_address(address: str) -> tuple[str, str, int]:
    """("unix", path, 0) or ("tcp", host, port) of a node named as uWSGI names sockets:
    host:port, :port, /path, @abstract (parsed once per address)."""
    if address.startswith("@"):
        return "unix", "\0" + address[1:], 0
    if "/" in address:
        return "unix", address, 0
    _, (host, port) = parse_inet(address)
    return "tcp", "127.0.0.1" if host in ("0.0.0.0", "") else host, port


async def connect_backend(
    address: str, protocol: Callable[[], asyncio.Protocol], timeout: float | None
) -> asyncio.Transport:
    """Connect to a node; `timeout` None: the caller bounds the wait itself (no extra task)."""
    loop = asyncio.get_running_loop()
    family, host, port = node_address(address)
    if family == "unix":  # (uvloop refuses an abstract name: the socket is connected first)
        connecting = _unix_connection(loop, protocol, host)
    else:
        connecting = loop.create_connection(protocol, host, port)
    if timeout is None:
        transport, _ = await connecting
    else:
        transport, _ = await asyncio.wait_for(connecting, timeout)
    return transport  # type: ignore[return-value]


async def _unix_connection(
    loop: asyncio.AbstractEventLoop, protocol: Callable[[], asyncio.Protocol], path: str
) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, path)
        return await loop.create_unix_connection(protocol, sock=sock)
    except BaseException:
        sock.close()
        raise


class _BackendSide(asyncio.Protocol):
    """The node's side of a session: what the node answers goes to the client."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def data_received(self, data: bytes) -> None:
        session = self.session
        session.last = session.loop.time()
        session.client.write(data)

    def eof_received(self) -> bool:
        self.session.client.close()  # after what is buffered for the client has been sent
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.client.close()

    def pause_writing(self) -> None:  # the node reads slower than the client sends
        self.session.client.pause_reading()

    def resume_writing(self) -> None:
        self.session.client.resume_reading()


class Session(asyncio.Protocol):
    """One client connection: collect the uwsgi head, connect a node, then relay both ways
    with flow control (a slow side pauses the reading of the other: memory stays flat)."""

    def __init__(self, router: FastRouter) -> None:
        self.router = router
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.client: asyncio.Transport = None  # type: ignore[assignment]
        self.backend: asyncio.Transport | None = None
        self.routing = False
        self.client_eof = False
        self.closed = False
        self.last = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client = transport  # type: ignore[assignment]
        self.last = self.loop.time()
        self.router.sessions.add(self)

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        if self.backend is not None:
            self.backend.write(data)
            return
        self.buf += data
        if self.routing:
            if len(self.buf) > RELAY_SIZE:
                self.client.pause_reading()  # resumed once the node is connected
            return
        if len(self.buf) < 4:
            return
        modifier1, size, modifier2 = HEADER.unpack_from(self.buf)
        if len(self.buf) < 4 + size:
            return
        try:
            env = find_vars(memoryview(self.buf)[4 : 4 + size], KEY_VARS)
        except PacketError as exc:
            log(f"[uwsgi-{NAME}] invalid uwsgi request: {exc}")
            self.client.close()
            return
        key = env.get("UWSGI_FASTROUTER_KEY") or env.get("HTTP_HOST") or env.get("SERVER_NAME", "")
        if not key or len(key) > 0xFF:
            log(f"[uwsgi-{NAME}] request without a usable key (HTTP_HOST): closing")
            self.client.close()
            return
        self.routing = True
        self.loop.create_task(self._route(key, (modifier1, modifier2)))

    async def _route(self, key: str, modifiers: tuple[int, int]) -> None:
        backend, sent = await self.router.connect(key, modifiers, self)
        if backend is None:
            return
        if self.closed:  # the client left while we were connecting
            backend.close()
            return
        self.backend = backend
        self.buf[0], self.buf[3] = sent
        backend.write(bytes(self.buf))
        self.buf = bytearray()
        if self.client_eof and backend.can_write_eof():
            backend.write_eof()
        self.client.resume_reading()

    def refuse(self, reason: str) -> None:
        """Answer 502 and close (no node, or none accepted the connection)."""
        if not self.closed:
            self.client.write(error_response(502, reason))
            self.client.close()

    def eof_received(self) -> bool:
        if self.backend is not None and self.backend.can_write_eof():
            self.backend.write_eof()  # the request is complete; the answer may still come
            return True
        self.client_eof = True
        return self.routing  # still connecting: keep the connection for the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.router.sessions.discard(self)
        if self.backend is not None:
            self.backend.close()

    def pause_writing(self) -> None:  # the client reads slower than the node answers
        if self.backend is not None:
            self.backend.pause_reading()

    def resume_writing(self) -> None:
        if self.backend is not None:
            self.backend.resume_reading()


class FastRouter:
    """One fastrouter process: its listeners, its mapper, its subscription table."""

    def __init__(self, config: object) -> None:
        get = config.get  # type: ignore[attr-defined]
        self.addresses = option_values(config, "fastrouter")
        self.timeout = get("fastrouter-timeout")
        self.gracetime = get("fastrouter-gracetime")
        self.pattern = get("fastrouter-use-pattern") or ""
        self.base = get("fastrouter-use-base") or ""
        self.static = [StaticNode(n) for n in option_values(config, "fastrouter-to")]
        self.next_static = 0
        self.subscription_servers = option_values(config, "fastrouter-subscription-server")
        tolerance = get("subscription-tolerance")
        self.table = SubscriptionTable(NAME, tolerance) if self.subscription_servers else None
        self.stats_address = get("fastrouter-stats") or ""
        self.quiet = get("fastrouter-quiet")
        self.sessions: set[Session] = set()
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

    # -- connecting a session to a node -----------------------------------------------------
    async def connect(
        self, key: str, modifiers: tuple[int, int], session: Session
    ) -> tuple[asyncio.Transport | None, tuple[int, int]]:
        """A node's transport (refusals retried on others), or None once the client got a 502."""
        for attempt in range(1, MAX_TRIES + 1):
            try:
                address, sent = self.choose(key, modifiers)
            except NoNode:
                log(f"[uwsgi-{NAME}] no node for key {printable(key)}")
                session.refuse(f"no node for {printable(key)}")
                return None, modifiers
            try:
                backend = await connect_backend(
                    address, lambda: _BackendSide(session), self.timeout
                )
                return backend, sent
            except (OSError, TimeoutError, SocketError) as exc:
                if not self.quiet:
                    why = "timeout" if isinstance(exc, TimeoutError) else exc.strerror or exc
                    log(
                        f'[uwsgi-{NAME}] unable to connect() to node "{printable(address)}" '
                        f"({attempt - 1} retries): {why}"
                    )
                self.failed(key, address)
        session.refuse(f"no node for {printable(key)} accepted the connection")
        return None, modifiers

    def close_idle(self) -> None:
        """fastrouter-timeout: drop sessions where nothing moved for that long."""
        limit = asyncio.get_running_loop().time() - self.timeout
        for session in [s for s in self.sessions if s.last < limit]:
            session.client.abort()
            if session.backend is not None:
                session.backend.abort()

    # -- the process -----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, object]:
        statics = [
            {"name": n.name, "hits": n.hits, "grace": int(n.dead_since)} for n in self.static
        ]
        return router_stats(NAME, self.addresses, len(self.sessions), statics, self.table)

    async def serve(self, sockets: list[RouterSocket]) -> None:
        """Serve the master-bound `sockets` until SIGTERM/SIGINT/SIGQUIT or the master's end."""
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(lambda: Session(self), sock=s.listener.sock) for s in sockets
        ]
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
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the master's reload: keep serving
        master = os.getppid()
        while not stop.is_set():  # a router never outlives its master
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            self.close_idle()
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


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (several times faster at relaying), else None."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def run(context: RouterContext) -> int:
    """The body of a fastrouter process (forked by the master, which bound its sockets)."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        router = FastRouter(context.config)
    except RouterConfigError as exc:
        log(f"!!! {exc} !!!")
        return 1
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(router.serve(context.sockets))
    except (OSError, SocketError) as exc:
        log(f"!!! {NAME}: {exc} !!!")
        return 1
    return 0


def check_config(config: object) -> None:
    """Called by the master before forking: RouterConfigError for options that cannot work."""
    FastRouter(config)
    processes = config.get("fastrouter-processes")  # type: ignore[attr-defined]
    if processes > 1 and option_values(config, "fastrouter-subscription-server"):
        raise RouterConfigError(
            "fastrouter-processes > 1 with a fastrouter-subscription-server is not supported "
            "yet (each process would see only part of the subscriptions): use one process"
        )
