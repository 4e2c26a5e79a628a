"""The `--http` router process: one asyncio loop (uvloop when installed) over its sockets.

Thousands of idle or slow clients cost it memory, never a worker: a request is forwarded only
once its head has arrived (http_session). SIGTERM/SIGINT/SIGQUIT stop it: it closes its
listeners, lets the requests in flight finish (bounded) and exits; the master respawns it if it
dies otherwise.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from typing import TYPE_CHECKING

from polyhost.bridges.channel import die_with_parent
from polyhost.log import log, log_exception
from polyhost.router.backends import StaticNodes
from polyhost.router.http_session import HttpSession, RouterState
from polyhost.router.http_settings import HttpSettings

if TYPE_CHECKING:
    from polyhost.router.supervision import RouterContext, RouterSocket

#: how long a stopping router waits for the requests in flight
STOP_GRACE = 10.0


def run(context: RouterContext) -> int:
    """The router child's body: serve until told to stop."""
    die_with_parent(os.getppid())()
    _drop_privileges(context)
    try:
        import uvloop
    except ImportError:  # plain asyncio serves too, a bit slower
        asyncio.run(serve(context))
    else:
        uvloop.run(serve(context))
    return 0


def _drop_privileges(context: RouterContext) -> None:
    """--http-uid / --http-gid (only possible while the router still runs as root)."""
    if os.getuid() != 0:
        return
    gid, uid = context.config.get("http-gid"), context.config.get("http-uid")
    if gid:
        import grp

        os.setgid(int(gid) if str(gid).isdigit() else grp.getgrnam(str(gid)).gr_gid)
        os.setgroups([])
    if uid:
        import pwd

        os.setuid(int(uid) if str(uid).isdigit() else pwd.getpwnam(str(uid)).pw_uid)


def _server_addr(router_socket: RouterSocket) -> tuple[str, str]:
    sock = router_socket.listener.sock
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host, port = sock.getsockname()[:2]
        return str(host), str(port)
    return router_socket.listener.name, ""


async def serve(context: RouterContext) -> None:
    loop = asyncio.get_running_loop()
    settings = HttpSettings.from_config(context.config)
    from polyhost.config import option_values

    nodes = option_values(context.config, "http-to") or context.backends
    state = RouterState(settings, StaticNodes(nodes, settings.gracetime), context.name)
    servers = []
    for router_socket in context.sockets:
        server_addr = _server_addr(router_socket)

        def factory(addr: tuple[str, str] = server_addr) -> HttpSession:
            return HttpSession(state, addr, "http")

        servers.append(await loop.create_server(factory, sock=router_socket.listener.sock))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the master's reload is not ours
    sweeper = asyncio.ensure_future(_sweep(state))
    await stop.wait()
    state.stopping = True
    for server in servers:
        server.close()
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


async def _sweep(state: RouterState) -> None:
    while True:
        await asyncio.sleep(1.0)
        try:
            state.sweep(time.monotonic())
        except Exception as exc:  # a bug in one session must not stop the timeouts of all
            log_exception(f"{state.name}: timeout sweep failed:", exc)
