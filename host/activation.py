"""systemd socket activation: the listening sockets a `.socket` unit passes (sd_listen_fds(3)).

systemd starts the instance with fds 3 .. 3+LISTEN_FDS-1, LISTEN_PID = the instance's pid and
LISTEN_FDNAMES = their `FileDescriptorName=`s. uWSGI attaches every passed fd as a uwsgi-protocol
socket; polyhost gives each passed fd to the `socket` / `http-socket` / `fastcgi-socket` whose
address it is bound to (so its protocol is right, and nothing is bound twice), `fd://N` takes fd
N as uWSGI documents, and a passed fd no option claims serves uwsgi as in uWSGI, or the protocol
its name says (`http`/`http-socket`, `fastcgi`/`fastcgi-socket`, `uwsgi`/`socket`). The LISTEN_*
variables are removed at once (as sd_listen_fds(1) does), so neither a re-exec'd master nor a
child mistakes them for its own; a reload hands the sockets over like the others.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from polyhost.log import log

#: SD_LISTEN_FDS_START
FIRST_FD = 3
ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
#: LISTEN_FDNAMES name -> protocol, for a passed fd that no socket option claims
PROTOCOL_NAMES = {
    "uwsgi": "uwsgi",
    "socket": "uwsgi",
    "http": "http",
    "http-socket": "http",
    "fastcgi": "fastcgi",
    "fastcgi-socket": "fastcgi",
}


class ActivationError(Exception):
    """The passed fds are not what systemd promises; the message says which."""


@dataclass
class PassedSocket:
    fd: int
    #: its LISTEN_FDNAMES entry ("" when none)
    fd_name: str
    sock: socket.socket

    @property
    def address(self) -> str:
        return describe(self.sock)


def describe(sock: socket.socket) -> str:
    """An address as the socket options write it: host:port, [v6]:port, /path or @name."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        if isinstance(name, bytes):  # abstract
            return "@" + name[1:].decode("latin-1")
        return str(name)
    host, port = name[:2]
    return f"[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"


def passed_sockets() -> list[PassedSocket]:
    """The sockets systemd passed to this process; the LISTEN_* variables are removed."""
    pid, count, names = (os.environ.pop(key, "") for key in ENV)
    if not pid or not pid.isdigit() or int(pid) != os.getpid():
        return []
    if not count.isdigit():
        raise ActivationError(f"LISTEN_FDS={count!r} is not a number of fds")
    fd_names = names.split(":") if names else []
    passed = []
    for index in range(int(count)):
        fd = FIRST_FD + index
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise ActivationError(
                f"LISTEN_FDS={count}: fd {fd} is not a socket ({exc.strerror}); check the "
                "ListenStream= lines of the .socket unit"
            ) from exc
        sock.set_inheritable(False)  # attached daemons must not keep it
        fd_name = fd_names[index] if index < len(fd_names) else ""
        passed.append(PassedSocket(fd, fd_name, sock))
    return passed


def _same_address(sock: socket.socket, address: str) -> bool:
    """Is `sock` bound to what a socket option's `address` names?"""
    if address.startswith("@"):
        return sock.family == socket.AF_UNIX and describe(sock) == address
    if "/" in address or address.endswith(".sock"):
        return sock.family == socket.AF_UNIX and describe(sock) == os.path.abspath(address)
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    host, _, port = address.rpartition(":")
    bound_host, bound_port = sock.getsockname()[:2]
    if not port.isdigit() or int(port) != bound_port:
        return False
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        return bound_host in ("0.0.0.0", "::")
    try:
        infos = socket.getaddrinfo(host, None, sock.family, socket.SOCK_STREAM)
    except OSError:
        return False
    return any(info[4][0] == bound_host for info in infos)


class Activation:
    """The passed sockets of this start, claimed one by one by the socket options."""

    def __init__(self, passed: list[PassedSocket]) -> None:
        self.passed = passed
        if passed:
            log("- SystemD socket activation detected -")

    @classmethod
    def from_env(cls) -> Activation:
        return cls(passed_sockets())

    def take(self, option: str, address: str) -> socket.socket | None:
        """The passed socket `address` names (`fd://N`, or the address it is bound to)."""
        for passed in self.passed:
            if address == f"fd://{passed.fd}" or (
                not address.startswith("fd://") and _same_address(passed.sock, address)
            ):
                self.passed.remove(passed)
                log(f"systemd socket activation: fd {passed.fd} is {option} = {address}")
                return passed.sock
        return None

    def leftovers(self) -> list[tuple[str, str, socket.socket]]:
        """(protocol, name, socket) of the passed sockets no option claimed; named fd://N so
        a reload finds them again."""
        found = []
        for passed in self.passed:
            proto = PROTOCOL_NAMES.get(passed.fd_name, "uwsgi")
            log(
                f"systemd socket activation: fd {passed.fd} ({passed.address}"
                f"{', ' + passed.fd_name if passed.fd_name else ''}) serves the {proto} protocol"
            )
            found.append((proto, f"fd://{passed.fd}", passed.sock))
        self.passed = []
        return found
