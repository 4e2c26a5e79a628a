"""Listening sockets: parse uWSGI address forms, bind, or inherit them across a reload.

Forms: `host:port`, `:port`, `[v6]:port`, `/unix/path`, `@abstract`, `fd://N`, `=N` (the Nth
`shared-socket`); systemd's passed sockets are taken by address (polyhost.activation). The
master binds everything before forking; on reload it re-execs itself with
the listeners' fds named in POLYHOST_INHERITED_FDS so no connection is refused.
"""

from __future__ import annotations

import contextlib
import functools
import grp
import os
import pwd
import socket
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyhost.activation import Activation, ActivationError
from polyhost.config import option_values
from polyhost.listen_queue import queue_of

if TYPE_CHECKING:
    from polyhost.config import Config

INHERIT_ENV = "POLYHOST_INHERITED_FDS"
#: name prefixes of listeners no socket option binds: systemd's unclaimed fds, a zerg server's
EXTERNAL = ("fd://", "zerg ")
#: what `protocol` (uWSGI: the protocol of `socket`) may say; the first is the default
SOCKET_PROTOCOLS = ("uwsgi", "http", "fastcgi")

#: option -> protocol served on it
SOCKET_OPTIONS: dict[str, str] = {
    "socket": "uwsgi",
    "http-socket": "http",
    "fastcgi-socket": "fastcgi",
}


class SocketError(Exception):
    """A socket could not be bound or inherited; the message says which and how to fix it."""


@dataclass
class Listener:
    """One bound socket and how requests on it are read."""

    name: str
    proto: str
    sock: socket.socket
    #: forced (modifier1, modifier2), or None to take them from the packet (uwsgi) / 0,0 (http)
    modifiers: tuple[int, int] | None
    #: unix socket path we created (for vacuum), "" otherwise
    path: str = ""
    shared: bool = False

    @functools.cached_property
    def server_addr(self) -> tuple[str, str]:
        """SERVER_NAME / SERVER_PORT defaults for requests on this socket (asked of the kernel
        once: a bound socket's address does not change, and each accept used to ask again)."""
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            host, port = self.sock.getsockname()[:2]
            return str(host), str(port)
        return self.name, ""

    def stats(self) -> dict[str, object]:
        queue, max_queue = queue_of(self.sock)
        return {
            "name": self.name,
            "proto": self.proto,
            "queue": queue,
            "max_queue": max_queue,
            "shared": int(self.shared),
            "can_offload": 0,
        }


def parse_inet(address: str) -> tuple[int, tuple[str, int]]:
    """'host:port' -> (family, (host, port)); ':port' binds every IPv4 address."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise SocketError(f"{address!r} is not an address: use host:port, :port, /path or @name")
    if host.startswith("[") and host.endswith("]"):
        return socket.AF_INET6, (host[1:-1], int(port))
    if ":" in host:
        return socket.AF_INET6, (host, int(port))
    return socket.AF_INET, (host or "0.0.0.0", int(port))


def bind(address: str, *, backlog: int, reuse_port: bool = False) -> tuple[socket.socket, str]:
    """Bind and listen; returns (socket, unix path created or "")."""
    if address.startswith("fd://"):
        fd = int(address[5:])
        return socket.socket(fileno=fd), ""
    if address.startswith("@"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        _bind_or_explain(sock, "\0" + address[1:], address)
        sock.listen(backlog)
        return sock, ""
    if "/" in address or address.endswith(".sock"):  # inet addresses never contain a slash
        path = os.path.abspath(address)
        _remove_stale_unix(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        _bind_or_explain(sock, path, address)
        sock.listen(backlog)
        return sock, path
    family, addr = parse_inet(address)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    _bind_or_explain(sock, addr, address)
    # clients of every protocol we serve speak first: wake the accept only when data is there
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
    sock.listen(backlog)
    return sock, ""


def _bind_or_explain(sock: socket.socket, addr: object, name: str) -> None:
    try:
        sock.bind(addr)  # type: ignore[arg-type]
    except OSError as exc:
        sock.close()
        hint = {
            98: "another process is listening there: stop it or pick another port",
            13: "permission denied: ports below 1024 need root or shared-socket; for a unix "
            "socket, check the directory's permissions",
            2: "the directory does not exist: create it first",
            99: "that address is not on this machine",
        }.get(exc.errno or 0, "")
        message = f"cannot bind {name}: {exc.strerror}" + (f" ({hint})" if hint else "")
        raise SocketError(message) from None


def _remove_stale_unix(path: str) -> None:
    """Remove a leftover unix socket file nobody listens on (as uWSGI does on bind)."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise SocketError(f"cannot bind {path}: it exists and is not a socket")
    except FileNotFoundError:
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
    else:
        raise SocketError(f"cannot bind {path}: another process is listening on it")
    finally:
        probe.close()


def apply_unix_permissions(path: str, config: Config) -> None:
    """chmod-socket / chown-socket for a unix socket we created."""
    mode = config.get("chmod-socket")
    if mode:
        os.chmod(path, int(str(mode), 8))
    owner = config.get("chown-socket")
    if owner:
        user, _, group = str(owner).partition(":")
        uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
        gid = -1
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        os.chown(path, uid, gid)


def socket_modifiers(config: Config, proto: str) -> tuple[int, int] | None:
    """The forced (modifier1, modifier2) of a socket of protocol `proto` (None: the packet's)."""
    if proto == "http":
        mod1 = config.get("http-socket-modifier1")
        mod2 = config.get("http-socket-modifier2")
        if mod1 is None:
            mod1 = config.get("http-modifier1")
        if mod2 is None:
            mod2 = config.get("http-modifier2")
        return mod1 or 0, mod2 or 0
    if proto == "uwsgi":
        mod1 = config.get("socket-modifier1")
        return None if mod1 is None else (mod1, 0)
    return config.get("fastcgi-modifier1"), config.get("fastcgi-modifier2")


def default_protocol(config: Config) -> str:
    """The protocol of `socket` (and of a zerg's sockets): `protocol`, uwsgi by default."""
    proto = config.get("protocol") or SOCKET_PROTOCOLS[0]
    if proto not in SOCKET_PROTOCOLS:
        raise SocketError(
            f"protocol = {proto} ({config.origin('protocol')}): polyhost serves "
            f"{', '.join(SOCKET_PROTOCOLS)} on a socket; use http-socket/fastcgi-socket or one "
            "of those"
        )
    return proto


def inherited_fds() -> dict[str, int]:
    """Listener fds handed over by the master that re-exec'd us: "proto name" -> fd."""
    raw = os.environ.pop(INHERIT_ENV, "")
    result: dict[str, int] = {}
    for item in filter(None, raw.split(";")):
        key, _, fd = item.rpartition("=")
        result[key] = int(fd)
    return result


def export_fds(listeners: list[Listener]) -> str:
    """The value of POLYHOST_INHERITED_FDS for a re-exec; marks the fds inheritable."""
    parts = []
    for listener in listeners:
        listener.sock.set_inheritable(True)
        parts.append(f"{listener.proto} {listener.name}={listener.sock.fileno()}")
    return ";".join(parts)


def open_listeners(
    config: Config, log: object, extra: list[tuple[str, str]] | None = None
) -> list[Listener]:
    """Bind (or inherit, or take from systemd) every socket of the config, in config order,
    then the `extra` (proto, address) pairs (the routers' sockets); when one fails, the unix
    sockets bound before it are removed."""
    listeners: list[Listener] = []
    try:
        return _open_listeners(config, listeners, extra)
    except BaseException:
        for listener in listeners:
            listener.sock.close()
            if listener.path:
                with contextlib.suppress(OSError):
                    os.unlink(listener.path)
        raise


def _open_listeners(
    config: Config, listeners: list[Listener], extra: list[tuple[str, str]] | None
) -> list[Listener]:
    inherited = inherited_fds()
    try:
        activation = Activation.from_env()
    except ActivationError as exc:
        raise SocketError(str(exc)) from exc
    backlog = config.get("listen")
    reuse_port = config.get("reuse-port")
    umask = config.get("umask")
    if umask:
        os.umask(int(str(umask), 8))
    shared_addresses = option_values(config, "shared-socket")
    shared: dict[int, socket.socket] = {}  # bound on first use: an inherited `=N` needs none
    wanted: list[tuple[str, str, str]] = []
    for option, proto in SOCKET_OPTIONS.items():
        values = option_values(config, option)
        if option == "socket":
            values += option_values(config, "uwsgi-socket")
            proto = default_protocol(config)
        wanted += [(option, proto, address) for address in values]
    wanted += [(proto, proto, address) for proto, address in extra or ()]
    for option, proto, address in wanted:
        key = f"{proto} {address}"
        path = ""
        is_shared = False
        if key in inherited:
            sock = socket.socket(fileno=inherited.pop(key))
            if sock.family == socket.AF_UNIX and address[:1] not in ("@", "="):
                path = os.path.abspath(address)
        elif (passed := activation.take(option, address)) is not None:
            sock = passed
        elif address.startswith("="):
            index = int(address[1:] or 0)
            if index >= len(shared_addresses):
                raise SocketError(
                    f"{option} = {address}: there is no shared-socket number {index} "
                    f"({len(shared_addresses)} defined; they count from 0)"
                )
            if index not in shared:
                shared[index] = bind(
                    shared_addresses[index], backlog=backlog, reuse_port=reuse_port
                )[0]
            sock = shared[index].dup()
            is_shared = True
        else:
            sock, path = bind(address, backlog=backlog, reuse_port=reuse_port)
            if path:
                apply_unix_permissions(path, config)
        sock.setblocking(False)
        listeners.append(
            Listener(address, proto, sock, socket_modifiers(config, proto), path, is_shared)
        )
    # sockets from outside the config (systemd's that no option claimed, a zerg server's),
    # received now or by an earlier life of this master
    unclaimed = activation.leftovers()
    for key in [k for k in inherited if k.partition(" ")[2].startswith(EXTERNAL)]:
        proto, _, name = key.partition(" ")
        unclaimed.append((proto, name, socket.socket(fileno=inherited.pop(key))))
    for proto, name, sock in unclaimed:
        sock.setblocking(False)
        listeners.append(Listener(name, proto, sock, socket_modifiers(config, proto)))
    for sock in shared.values():
        sock.close()
    for fd in inherited.values():  # listeners the new config no longer has
        os.close(fd)
    return listeners
