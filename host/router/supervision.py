"""Which router processes an instance runs, the sockets they listen on, and how the master keeps
them across its own re-exec.

A router kind declares the options that bind its sockets, the option counting its processes and
the function its process runs. The master binds the sockets with its own listeners (a reload
inherits them), forks one child per router process after binding, respawns it when it dies,
leaves it running through a worker reload and a master re-exec (the re-exec'd master adopts the
pids named in POLYHOST_ROUTER_PIDS) and stops it last, once the workers are gone.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost.config import option_values

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.sockets import Listener

#: "http 1=1234;http 2=1235": routers a re-exec'd master adopts instead of spawning
ADOPT_ENV = "POLYHOST_ROUTER_PIDS"
#: where the master binds the instance's own uwsgi socket when a router needs one and the
#: config has none (uWSGI does the same, "port auto-assigned")
AUTO_SOCKET = "127.0.0.1:0"


def local_socket() -> str:
    """The abstract unix socket the master binds beside AUTO_SOCKET for its own routers: a
    router on the same host connects there (a unix connect costs the router and the worker
    less than loopback TCP: 0.83x router CPU measured), while the TCP socket stays socket 0,
    the one logged as auto-assigned and announced to subscription servers. Named after the
    master's pid, which a re-exec keeps, so the re-exec'd master inherits it by name and the
    routers it adopts keep their node."""
    return f"@polyhost-{os.getpid()}-uwsgi"


def first_field(value: str) -> str:
    """The address of `ADDR[,more,...]` (https's `ADDR,CERT,KEY`)."""
    return value.split(",", 1)[0].strip()


def keyval_address(value: str) -> str:
    """The `addr=` item of a keyval value (https2 `addr=:443,cert=...,key=...`)."""
    for item in value.split(","):
        key, _, found = item.partition("=")
        if key.strip() == "addr":
            return found.strip()
    return ""


@dataclass(frozen=True)
class RouterKind:
    """One kind of router process, as the master needs to know it."""

    #: the process is "<name> <number>" (uWSGI's "http 1"); its sockets' proto "<name>:<option>"
    name: str
    #: option -> how to find the bind address in one of its values
    socket_options: dict[str, Callable[[str], str]]
    #: the option giving the number of processes (default 1)
    processes_option: str
    #: "module:function" called in the child with a RouterContext; returns the exit code
    entry: str
    #: "module:function" called by the master with the config before any fork (ValueError)
    check: str
    #: True when the config makes this router forward to the instance's own uwsgi sockets
    feeds_workers: Callable[[Config], bool] = lambda _config: True

    def configured(self, config: Config) -> bool:
        return any(option_values(config, option) for option in self.socket_options)


@dataclass
class RouterSocket:
    """One socket of a router: the option and value that made it, and the bound listener."""

    option: str
    value: str
    listener: Listener


@dataclass
class RouterContext:
    """What a router process gets from the master."""

    config: Config
    kind: RouterKind
    number: int
    sockets: list[RouterSocket]
    #: the instance's own uwsgi listeners ("host:port" or unix path), when it feeds the workers
    backends: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.kind.name} {self.number}"


def _http_feeds_workers(config: Config) -> bool:
    """Without http-to or a subscription server the router's nodes are the instance's own."""
    return not (
        option_values(config, "http-to") or option_values(config, "http-subscription-server")
    )


def _never_feeds_workers(_config: Config) -> bool:
    """The fastrouter's nodes are its fastrouter-to/pattern/base/subscriptions, never ours."""
    return False


#: the router kinds bound by the master and kept through its reloads and re-exec
ROUTER_KINDS: tuple[RouterKind, ...] = (
    RouterKind(
        "http",
        {
            "http": first_field,
            "https": first_field,
            "https2": keyval_address,
            "http-to-https": first_field,
        },
        "http-processes",
        "polyhost.router.http_router:run",
        "polyhost.router.http_router:check_config",
        _http_feeds_workers,
    ),
    RouterKind(
        "fastrouter",
        {"fastrouter": str.strip},
        "fastrouter-processes",
        "polyhost.router.fastrouter:run",
        "polyhost.router.fastrouter:check_config",
        _never_feeds_workers,
    ),
)


def configured_kinds(config: Config) -> list[RouterKind]:
    return [kind for kind in ROUTER_KINDS if kind.configured(config)]


def proto_of(kind: RouterKind, option: str) -> str:
    return f"{kind.name}:{option}"


def is_router_proto(proto: str) -> bool:
    return ":" in proto


def router_binds(config: Config) -> list[tuple[str, str]]:
    """(proto, address) of every router socket to bind; plus the instance's own uwsgi socket
    when a router feeds the workers and the config names none."""
    binds: list[tuple[str, str]] = []
    feeds = False
    for kind in configured_kinds(config):
        feeds = feeds or kind.feeds_workers(config)
        for option, address_of in kind.socket_options.items():
            proto = proto_of(kind, option)
            binds += [(proto, address_of(value)) for value in option_values(config, option)]
    if feeds and not (option_values(config, "socket") or option_values(config, "uwsgi-socket")):
        binds += [("uwsgi", AUTO_SOCKET), ("uwsgi", local_socket())]
    return binds


def listener_address(listener: Listener) -> str:
    """The address a router connects to for `listener` (the real port of a `:0` bind)."""
    sock_name = listener.sock.getsockname()
    if isinstance(sock_name, tuple):
        host = sock_name[0]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"[{host}]:{sock_name[1]}" if ":" in host else f"{host}:{sock_name[1]}"
    if listener.name.startswith("@"):
        return listener.name
    return listener.path or listener.name


def announced_address(listener: Listener) -> str:
    """The name subscriptions announce for `listener`: its config name, or the real port of
    the auto-assigned socket."""
    return listener_address(listener) if listener.name == AUTO_SOCKET else listener.name


def plan_routers(config: Config, listeners: list[Listener]) -> list[RouterContext]:
    """One context per router process, in kind order, numbered from 1 within a kind."""
    backends = [listener_address(lst) for lst in listeners if lst.proto == "uwsgi"]
    local = local_socket()
    if local in backends:  # the auto sockets: the routers use the unix one only
        backends = [local]
    plans: list[RouterContext] = []
    for kind in configured_kinds(config):
        sockets: list[RouterSocket] = []
        taken: set[int] = set()
        for option, address_of in kind.socket_options.items():
            proto = proto_of(kind, option)
            for value in option_values(config, option):
                address = address_of(value)
                listener = next(
                    lst
                    for lst in listeners
                    if lst.proto == proto and lst.name == address and id(lst) not in taken
                )
                taken.add(id(listener))
                sockets.append(RouterSocket(option, value, listener))
        count = max(1, config.get(kind.processes_option))
        feeds = kind.feeds_workers(config)
        plans += [
            RouterContext(config, kind, n, sockets, backends if feeds else [])
            for n in range(1, count + 1)
        ]
    return plans


def _function(target: str) -> Callable[..., object]:
    module_name, _, function = target.partition(":")
    return getattr(importlib.import_module(module_name), function)  # type: ignore[no-any-return]


def check_config(config: Config) -> None:
    """Each configured router's options, checked before any fork (ValueError says what)."""
    for kind in configured_kinds(config):
        _function(kind.check)(config)


def run_router(context: RouterContext) -> int:
    """The body of a router child process."""
    return int(_function(context.kind.entry)(context))  # type: ignore[call-overload]


def export_pids(pids: dict[str, int]) -> str:
    return ";".join(f"{name}={pid}" for name, pid in pids.items() if pid)


def adopted_pids() -> dict[str, int]:
    """Routers left running by the master that re-exec'd into us: name -> pid (still alive)."""
    raw = os.environ.pop(ADOPT_ENV, "")
    result: dict[str, int] = {}
    for item in filter(None, raw.split(";")):
        name, _, pid = item.rpartition("=")
        if pid.isdigit() and _alive(int(pid)):
            result[name] = int(pid)
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
