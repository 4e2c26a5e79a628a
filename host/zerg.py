"""Zerg mode: one instance lends its listening sockets, others attach to them and serve the same
ports (how uWSGI users add capacity under load without a restart).

`zerg-server PATH` (a unix socket, `@name` abstract) answers each connection with uWSGI's message
(core/socket.c uwsgi_manage_zerg): the 10 bytes `uwsgi-zerg`, the number of fds as a native int,
the fds themselves as SCM_RIGHTS, then closes. polyhost adds a second line after it,
`polyhost-zerg <json>`, with each socket's protocol and address, which uWSGI's zergs never read
(they close after the first message). `zerg PATH` attaches at start-up: as in uWSGI the attached
sockets speak the uwsgi protocol unless `protocol` says otherwise, and from a polyhost lender
they speak the lender's protocol for each socket (beyond uWSGI). `zerg-fallback` starts with the
instance's own sockets when no zerg server answers, instead of refusing to start. `zergpool`
lends sockets of its own instead of the instance's.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyhost.activation import describe
from polyhost.config import option_values
from polyhost.log import log, printable
from polyhost.sockets import Listener, SocketError, bind, default_protocol, socket_modifiers

if TYPE_CHECKING:
    from polyhost.config import Config

MAGIC = b"uwsgi-zerg"
_COUNT = struct.Struct("=i")
EXTENSION = b"polyhost-zerg "
#: the most fds one zerg server may hand over (uWSGI starts at 8 and retries with the count)
MAX_FDS = 64
#: the most bytes of the polyhost extension line read after the fds
MAX_EXTENSION = 16384
#: seconds to connect and to read a zerg server's answer (uWSGI: 30 to connect)
TIMEOUT = 10.0
PROTOCOLS = ("uwsgi", "http", "fastcgi")


class ZergError(SocketError):
    """Attaching to a zerg server failed; the message says which server and why."""


@dataclass
class Lent:
    """One socket received from a zerg server."""

    sock: socket.socket
    #: the lender's protocol for it ("" when the lender did not say: a uWSGI zerg server)
    proto: str
    address: str


class ZergServer:
    """The lender: a unix socket in the master's select set; `answer()` when it is readable."""

    def __init__(self, path: str, listeners: Callable[[], list[Listener]], config: Config) -> None:
        self.path = path
        self.listeners = listeners
        try:
            self.sock, self.created = bind(path, backlog=config.get("listen"))
        except OSError as exc:
            raise ZergError(f"zerg-server = {path}: cannot bind it: {exc}") from exc
        if self.created:
            os.chmod(self.created, 0o600)  # lending listeners is for this user only by default
            mode = config.get("chmod-socket")
            if mode:
                os.chmod(self.created, int(str(mode), 8))
        self.sock.setblocking(False)
        os.register_at_fork(after_in_child=self._close_in_child)
        log(f"*** Zerg server enabled on {path} ***")

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def _close_in_child(self) -> None:
        self.sock.close()
        self.created = ""

    def answer(self) -> None:
        """Hand every listener to the zerg that connected (never blocks the master for long)."""
        try:
            client, _ = self.sock.accept()
        except OSError:
            return
        with client:
            client.settimeout(TIMEOUT)
            listeners = self.listeners()
            fds = [listener.sock.fileno() for listener in listeners]
            described = [{"proto": ls.proto, "name": ls.name} for ls in listeners]
            try:
                socket.send_fds(client, [MAGIC + _COUNT.pack(len(fds))], fds)
                client.sendall(EXTENSION + json.dumps(described).encode() + b"\n")
            except OSError as exc:
                log(f"zerg-server {self.path}: a zerg went away before its sockets: {exc}")

    def close(self) -> None:
        self.sock.close()
        if self.created:
            with contextlib.suppress(OSError):
                os.unlink(self.created)
            self.created = ""


def attach(address: str) -> list[Lent]:
    """Connect to a zerg server and receive its sockets (uWSGI's uwsgi_zerg_attach)."""
    family = socket.AF_UNIX
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(family, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        try:
            conn.connect(target)
            message, fds, flags, _ = socket.recv_fds(conn, len(MAGIC) + _COUNT.size, MAX_FDS)
        except OSError as exc:
            raise ZergError(f"--- unable to connect to zerg server {address} --- ({exc})") from exc
        received: list[socket.socket] = []
        try:
            for fd in fds:
                try:
                    received.append(socket.socket(fileno=fd))
                except OSError:
                    os.close(fd)
                    raise ZergError(
                        f"zerg server {address} passed an fd that is not a socket"
                    ) from None
            return _lent(address, conn, message, received, flags)
        except ZergError:
            for sock in received:
                sock.close()
            for fd in fds[len(received) + 1 :]:
                os.close(fd)
            raise


def _lent(
    address: str, conn: socket.socket, message: bytes, received: list[socket.socket], flags: int
) -> list[Lent]:
    if not message.startswith(MAGIC) or len(message) != len(MAGIC) + _COUNT.size:
        raise ZergError(f"--- invalid data received from zerg-server {address} ---")
    (count,) = _COUNT.unpack_from(message, len(MAGIC))
    if flags & socket.MSG_CTRUNC or count != len(received) or count > MAX_FDS:
        raise ZergError(
            f"zerg server {address} announced {count} sockets and passed {len(received)} "
            f"(at most {MAX_FDS} are taken)"
        )
    for sock in received:
        if sock.type != socket.SOCK_STREAM:
            raise ZergError(f"zerg server {address} passed something that is not a stream socket")
    described = _extension(conn, count)
    lent = []
    for index, sock in enumerate(received):
        sock.set_inheritable(False)
        proto = described[index].get("proto", "") if described else ""
        lent.append(Lent(sock, proto if proto in PROTOCOLS else "", describe(sock)))
    return lent


def _extension(conn: socket.socket, count: int) -> list[dict[str, str]]:
    """polyhost's description line after the fds; [] from a uWSGI zerg server (it closes)."""
    data = b""
    with contextlib.suppress(OSError):
        while len(data) <= MAX_EXTENSION and b"\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.startswith(EXTENSION) or b"\n" not in data:
        return []
    try:
        described = json.loads(data[len(EXTENSION) : data.index(b"\n")])
    except ValueError:
        return []
    if not isinstance(described, list) or len(described) != count:
        return []
    return [item if isinstance(item, dict) else {} for item in described]


def zergpools(config: Config) -> list[ZergServer]:
    """`zergpool = PATH:ADDR[,ADDR...]`: a zerg server lending sockets of its own, bound from
    the addresses (uWSGI's zergpool plugin); zergs choose their protocol (`protocol`)."""
    backlog = config.get("listen")
    pools = []
    for value in option_values(config, "zergpool"):
        path, _, addresses = value.partition(":")
        if not path or not addresses:
            raise ZergError(f"zergpool = {value}: write PATH:ADDRESS[,ADDRESS...]")
        lent = []
        for address in addresses.split(","):
            sock, _ = bind(address, backlog=backlog)
            sock.setblocking(False)
            kind = "UNIX" if sock.family == socket.AF_UNIX else "TCP"
            log(f"zergpool {path} bound to {kind} socket {describe(sock)} (fd: {sock.fileno()})")
            lent.append(Listener(address, "", sock, None))
        pools.append(ZergServer(path, lambda lent=lent: lent, config))
    return pools


def zerg_listeners(config: Config, inherited: list[Listener]) -> list[Listener]:
    """The sockets of every `zerg` server, as listeners (none again after a reload: the
    re-exec'd master inherited them); `zerg-fallback` turns a failure into a log line."""
    servers = option_values(config, "zerg")
    if not servers or any(listener.name.startswith("zerg ") for listener in inherited):
        return []
    forced = default_protocol(config) if config.get("protocol") else ""
    listeners: list[Listener] = []
    for server in servers:
        try:
            lent = attach(server)
        except ZergError as exc:
            if not config.get("zerg-fallback"):
                raise
            log(f"{exc}: zerg-fallback, serving on the instance's own sockets")
            continue
        for item in lent:
            proto = forced or item.proto or "uwsgi"
            number = len(listeners)
            log(
                f"polyhost zerg socket {number} attached to {printable(item.address)} "
                f"fd {item.sock.fileno()} ({proto})"
            )
            item.sock.setblocking(False)
            listeners.append(
                Listener(f"zerg {item.address}", proto, item.sock, socket_modifiers(config, proto))
            )
    if listeners:
        log("zerg sockets attached")
    return listeners
