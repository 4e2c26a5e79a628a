"""The rules in a process that serves requests: `Routing` is built once from the config (the
table compiled, the files server for `static:`), then `begin()` runs the request chain on each
request before dispatch and `end()` the final chain after the response.

`decide()` is the engine alone (request vars in, the decision out), for a process that routes
without serving, such as the HTTP router.
"""

from __future__ import annotations

import functools
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyhost.config.values import option_values
from polyhost.log import log, log_exception, printable
from polyhost.process_state import CURRENT
from polyhost.protocol.sockio import send_all
from polyhost.request import simple_error
from polyhost.routing import is_route_option
from polyhost.routing.actions import ACTIONS
from polyhost.routing.auth import AUTH_ACTIONS
from polyhost.routing.cache import CACHE_ACTIONS, CACHE_CONDITIONS
from polyhost.routing.conditions import CONDITIONS, RuleError
from polyhost.routing.context import BREAK, RouteContext
from polyhost.routing.files import FILE_ACTIONS
from polyhost.routing.forward import FORWARD_ACTIONS, BackendError, relay
from polyhost.routing.respond import RoutedResponder, send_answer
from polyhost.routing.rules import RoutingError, RoutingTable, build_table, run
from polyhost.static import StaticFiles

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.protocol.connection import WireResponder
    from polyhost.request import Request


#: every action the rules know, by name (what `router-list` prints)
ALL_ACTIONS = {
    **ACTIONS,
    **AUTH_ACTIONS,
    **CACHE_ACTIONS,
    **FORWARD_ACTIONS,
    **FILE_ACTIONS,
}
ALL_CONDITIONS = {**CONDITIONS, **CACHE_CONDITIONS}


def table_from_config(config: Config) -> RoutingTable:
    """The routing options, in the order written, compiled (a ConfigError names file:line),
    with the response headers `collect-header` / `pull-header` copy into vars."""
    entries = [
        (entry.option.name, entry.value or "", str(entry.origin))
        for entry in config.entries()
        if entry.option is not None and is_route_option(entry.option.name)
    ]
    table = build_table(entries, ALL_ACTIONS, ALL_CONDITIONS)
    for entry in config.entries():
        if entry.option is not None and entry.option.name in ("collect-header", "pull-header"):
            header, space, var = (entry.value or "").strip().partition(" ")
            if not space or not var.strip():
                raise RoutingError(
                    f"{entry.origin}: {entry.option.name} = {entry.value}: "
                    "write HEADER VAR, e.g. X-Sendfile X_SENDFILE"
                )
            table.collect[header.lower()] = (var.strip(), entry.option.name == "pull-header")
    return table


def router_list() -> list[str]:
    """What `--router-list` logs: the actions as uWSGI lists them, then the conditions."""
    lines = ["*** uWSGI loaded routers ***", *ALL_ACTIONS, "--- end of routers list ---"]
    lines += ["*** route conditions ***", *ALL_CONDITIONS, "--- end of route conditions list ---"]
    return lines


def routing_startup_lines(config: Config) -> list[str]:
    """What the master logs at start: the compiled tables (uWSGI's dump) and, with
    `router-list`, the actions and conditions. Raises RoutingError for a bad rule."""
    table = table_from_config(config)
    lines = table.dump()
    lines += [
        f"{'pulling' if pull else 'collecting'} header {header} to var {var}"
        for header, (var, pull) in table.collect.items()
    ]
    return [*router_list(), *lines] if config.get("router-list") else lines


def decide(table: RoutingTable, env: dict[str, str], wid: int = 0) -> tuple[int, RouteContext]:
    """Run the request chain on `env` (changed in place): (BREAK or CONTINUE, the context with
    the answer, forward or header changes the rules decided)."""
    ctx = RouteContext(env, wid)
    return run(table.request, ctx) if table.request else 1, ctx


@dataclass(slots=True)
class Routed:
    """One request under the rules: the responder to answer with, and whether it is done."""

    ctx: RouteContext
    responder: WireResponder
    handled: bool


class Routing:
    """The routing table of a worker, with what its actions need to answer."""

    def __init__(self, table: RoutingTable, wid: int, timeout: float, files: StaticFiles) -> None:
        self.table = table
        self.wid = wid
        self.timeout = timeout
        self.files = files
        self._wrap = bool(table.error or table.response or table.collect)
        #: the request chain (None when empty) and the final one, looked up once
        self._request = table.request or None
        self._final = table.final or None
        #: the request chain alone, made of regexps that may all fail: tested first, cheaply
        self._gated = not (table.error or table.response or table.final) and (
            table.request.gate is not None
        )

    @classmethod
    def from_config(cls, config: Config, wid: int, files: StaticFiles | None) -> Routing | None:
        """The worker's routing, or None without rules; `files` is its static-file server (or
        None: `static:` then uses the mime types and `static-safe` alone)."""
        table = table_from_config(config)
        if not table:
            return None
        if files is None:
            safe = [os.path.realpath(p) for p in option_values(config, "static-safe")]
            files = StaticFiles(roots=[], safe=safe)
        return cls(table, wid, config.get("socket-timeout"), files)

    def begin(
        self, request: Request, responder: WireResponder, sock: socket.socket
    ) -> Routed | None:
        """Run the request chain; None when no rule could apply (nothing changed)."""
        chain = self._request
        if self._gated and not chain.may_apply(request.vars):  # type: ignore[union-attr]
            return None
        ctx = RouteContext(
            request.vars, self.wid, request.started, request.modifier1, request.modifier2
        )
        outcome = run(chain, ctx) if chain is not None else 1
        ctx.reset_status = None  # as uWSGI: the app's own status comes after clearheaders
        request.modifier1, request.modifier2 = ctx.modifier1, ctx.modifier2
        if ctx.harakiri and CURRENT.set_user_harakiri is not None:
            CURRENT.set_user_harakiri(ctx.harakiri)
        if outcome == BREAK and ctx.answer is not None and not (ctx.sent or ctx.stores):
            # the common answer (a cache hit, a redirect, return:): nothing wraps it but the
            # header actions and transformations, which RoutedResponder applies
            if self._wrap or ctx.add_headers or ctx.remove_headers or ctx.transforms:
                responder = RoutedResponder(
                    responder, self.table, ctx, request, self.files, self._raw_writer(sock)
                )
            send_answer(ctx.answer, request, responder, self.files)
            return Routed(ctx, responder, True)
        if (
            self._wrap
            or ctx.add_headers
            or ctx.remove_headers
            or ctx.stores
            or ctx.transforms
            or ctx.reset_status
        ):
            responder = RoutedResponder(
                responder, self.table, ctx, request, self.files, self._raw_writer(sock)
            )
        if ctx.sent:  # `send:` writes raw bytes: the connection cannot carry another request
            responder.keep_alive = False
            self._raw_writer(sock)(b"".join(ctx.sent))
        if outcome != BREAK:
            return Routed(ctx, responder, False)
        if ctx.answer is not None:
            send_answer(ctx.answer, request, responder, self.files)
        elif ctx.forward is not None:
            try:
                relay(ctx.forward, request, responder, self.timeout)
            except BackendError as exc:
                log(f"[uwsgi-route] {printable(str(exc))}")
                simple_error(responder, 502)
        else:  # break: without a status: nothing is sent, the connection closes (as uWSGI)
            responder.keep_alive = False
        return Routed(ctx, responder, True)

    def _raw_writer(self, sock: socket.socket) -> Callable[[bytes], None]:
        """Bytes straight to the client (`send:`, `disableheaders:`), within socket-timeout."""
        return functools.partial(send_all, sock, timeout=self.timeout)

    def end(self, routed: Routed) -> None:
        """After the response: the final chain, with the status and size known."""
        if self._final is None:
            return
        ctx = routed.ctx
        ctx.status = routed.responder.status
        ctx.response_size = routed.responder.bytes_sent
        ctx.ended = time.time()
        ctx.answer = None
        try:
            run(self._final, ctx)
        except Exception as exc:  # the response is out: a failing rule must not stop the worker
            log_exception("[uwsgi-route] the final chain failed:", exc)


__all__ = ["ALL_ACTIONS", "ALL_CONDITIONS", "Routing", "RuleError", "decide", "router_list"]
