"""The `--http` router process: one asyncio loop (uvloop when installed) over its sockets.

Thousands of idle or slow clients cost it memory, never a worker: a request is forwarded only
once its head has arrived (http_session). Its nodes are the instance's own uwsgi sockets, the
`http-to` list, or the nodes announced to its `http-subscription-server`; `http-stats` serves
them as uWSGI's corerouter JSON. SIGTERM/SIGINT/SIGQUIT stop it: it closes its listeners, lets
the requests in flight finish (bounded) and exits; SIGHUP reloads its TLS certificates. The
master respawns it if it dies otherwise.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.identity import switch_user
from polyhost.log import log, log_exception
from polyhost.router.backends import StaticNodes
from polyhost.router.fastrouter import loop_factory
from polyhost.router.http_listeners import (
    ListenerConfigError,
    RouterListener,
    check_tls_files,
    router_listener,
)
from polyhost.router.http_session import HttpSession, RouterState
from polyhost.router.http_settings import HttpSettings
from polyhost.router.stats import router_stats
from polyhost.router.subscription_server import serve_subscriptions
from polyhost.router.subscriptions import SubscriptionTable
from polyhost.stats import StatsServer

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.router.supervision import RouterContext

NAME = "http"
#: how long a stopping router waits for the requests in flight
STOP_GRACE = 10.0


def run(context: RouterContext) -> int:
    """The router child's body: serve until told to stop."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        _drop_privileges(context.config)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve(context))
    except (OSError, ValueError) as exc:
        log(f"!!! {context.name}: {exc} !!!")
        return 1
    return 0


def check_config(config: Config) -> None:
    """Called by the master before forking: ValueError for options that cannot work."""
    HttpSettings.from_config(config)
    for option in ("https", "https2"):
        for value in option_values(config, option):
            check_tls_files(option, value)
    processes = int(config.get("http-processes"))
    if processes > 1 and option_values(config, "http-subscription-server"):
        raise ListenerConfigError(
            "http-processes > 1 with an http-subscription-server is not supported yet (each "
            "process would see only part of the subscriptions): use one process"
        )


def _drop_privileges(config: Config) -> None:
    """--http-uid / --http-gid (only possible while the router still runs as root)."""
    if os.getuid() == 0:
        switch_user(config.get("http-uid"), config.get("http-gid"))


def _state(context: RouterContext, settings: HttpSettings) -> RouterState:
    config = context.config
    nodes = option_values(config, "http-to") or context.backends
    table = None
    if option_values(config, "http-subscription-server"):
        tolerance = float(config.get("subscription-tolerance"))
        table = SubscriptionTable(NAME, tolerance)
    return RouterState(settings, StaticNodes(nodes, settings.gracetime), table, context.name)


async def serve(context: RouterContext) -> None:
    loop = asyncio.get_running_loop()
    settings = HttpSettings.from_config(context.config)
    state = _state(context, settings)
    http2 = bool(context.config.get("http2"))
    listeners = [router_listener(s, http2) for s in context.sockets]
    servers = []
    for listener in listeners:

        def factory(where: RouterListener = listener) -> HttpSession:
            return HttpSession(state, where)

        handshake = settings.headers_timeout if listener.context else None
        servers.append(
            await loop.create_server(
                factory, sock=listener.sock, ssl=listener.context, ssl_handshake_timeout=handshake
            )
        )
    datagrams = []
    for address in option_values(context.config, "http-subscription-server"):
        assert state.table is not None
        datagrams.append(await serve_subscriptions(address, state.table, f"uWSGI {NAME}"))
    stats = None
    stats_address = str(context.config.get("http-stats") or "")
    if stats_address:
        addresses = [s.listener.name for s in context.sockets]
        stats = StatsServer(
            stats_address,
            lambda: router_stats(
                NAME, addresses, len(state.sessions), state.static.stats(), state.table
            ),
        )
        stats.start()
        log(f"*** {NAME} stats server enabled on {stats_address} ***")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload_certificates(context, listeners))
    sweeper = asyncio.ensure_future(_sweep(state))
    await stop.wait()
    state.stopping = True
    for server in servers:
        server.close()
    for datagram in datagrams:
        datagram.close()
    if stats is not None:
        stats.close()
    for session in list(state.sessions):
        if session.idle():
            session.close()
    deadline = time.monotonic() + STOP_GRACE
    while state.sessions and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    sweeper.cancel()
    if state.sessions:
        log(f"{context.name}: {len(state.sessions)} connection(s) still open at exit")
    for session in list(state.sessions):
        session.close()


def _reload_certificates(context: RouterContext, listeners: list[RouterListener]) -> None:
    for listener in listeners:
        try:
            listener.reload_certificates()
        except ListenerConfigError as exc:  # the old certificate keeps serving
            log(f"{context.name}: {exc}")
    if any(listener.tls is not None for listener in listeners):
        log(f"{context.name}: TLS certificates reloaded")


async def _sweep(state: RouterState) -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            state.sweep(time.monotonic())
        except Exception as exc:  # a bug in one session must not stop the timeouts of all
            log_exception(f"{state.name}: timeout sweep failed:", exc)
