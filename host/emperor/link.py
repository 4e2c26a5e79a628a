"""The vassal's side of the Emperor channel: an instance started by an Emperor talks to it.

uWSGI's protocol, one byte per message over the socket named by `UWSGI_EMPEROR_FD`:
vassal -> Emperor: 1 spawned, 5 accepting, 17 loyal (after the first request), 22 voluntary
shutdown (`die-on-idle`), 26 heartbeat (`heartbeat N`); Emperor -> vassal: 0 stop, 1 reload,
2 graceful stop. EOF on the channel means the Emperor is gone: the vassal stops.

An on-demand vassal finds its listening socket on fd 0 (the Emperor bound it); it is adopted as
a listener instead of being bound again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost.emperor.channel import (
    EMPEROR_FD_ENV,
    MSG_ACCEPTING,
    MSG_GOODBYE,
    MSG_GRACEFUL_STOP,
    MSG_HEARTBEAT,
    MSG_LOYAL,
    MSG_RELOAD,
    MSG_SPAWNED,
    MSG_STOP,
    ON_DEMAND_ENV,
)
from polyhost.log import log
from polyhost.sockets import INHERIT_ENV, SOCKET_OPTIONS, Listener

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.scoreboard import Scoreboard


def under_emperor() -> bool:
    """Whether this instance is a vassal (its Emperor handed it the channel)."""
    return os.environ.get(EMPEROR_FD_ENV, "").isdigit()


def _socket_name(sock: socket.socket) -> str:
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return name.decode() if isinstance(name, bytes) else str(name)
    return f"{name[0]}:{name[1]}"


@dataclass
class EmperorLink:
    """The channel to the Emperor, owned by the vassal's master."""

    fd: int
    heartbeat: int = 0
    idle: int = 0
    die_on_idle: bool = False
    sent: set[int] = field(default_factory=set)
    next_beat: float = 0.0
    last_requests: int = -1
    last_activity: float = field(default_factory=time.monotonic)

    @classmethod
    def from_env(cls, config: Config) -> EmperorLink | None:
        raw = os.environ.get(EMPEROR_FD_ENV, "")
        if not raw.isdigit():
            return None
        fd = int(raw)
        try:
            os.set_inheritable(fd, True)  # survives the master's re-exec on reload
            os.set_blocking(fd, False)
        except OSError:
            return None
        log(f"*** has_emperor mode detected (fd: {fd}) ***")
        return cls(
            fd,
            heartbeat=config.get("heartbeat"),
            idle=config.get("idle"),
            die_on_idle=config.get("die-on-idle"),
        )

    def send(self, byte: int) -> None:
        try:
            os.write(self.fd, bytes([byte]))
        except BlockingIOError:
            pass
        except OSError:
            log("lost connection with my emperor !!!")

    def send_once(self, byte: int) -> None:
        if byte not in self.sent:
            self.sent.add(byte)
            self.send(byte)

    # -- on demand: the Emperor's socket on fd 0 --------------------------------------------
    @staticmethod
    def keep_stdin_socket(config: Config) -> None:
        """Before stdin goes to /dev/null: if fd 0 is a listening socket (on demand), keep it.
        A configured socket with its address inherits it (POLYHOST_INHERITED_FDS); otherwise
        it becomes an extra uwsgi listener (ON_DEMAND_ENV), kept across reloads."""
        inherited = os.environ.get(INHERIT_ENV, "")
        extra_key = os.environ.get(ON_DEMAND_ENV, "").rpartition("=")[0]
        if extra_key:  # a reload: the master exported it with the other listeners
            items = [i for i in inherited.split(";") if i]
            mine = [i for i in items if i.rpartition("=")[0] == extra_key]
            if mine:
                os.environ[ON_DEMAND_ENV] = mine[0]
                os.environ[INHERIT_ENV] = ";".join(i for i in items if i not in mine)
            return
        try:
            sock = socket.socket(fileno=os.dup(0))
        except OSError:
            return
        try:
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        except OSError:
            listening = False
        if not listening:
            sock.close()
            return
        name = _socket_name(sock)
        sock.set_inheritable(True)
        fd = sock.detach()
        key = _configured_key(config, name)
        if key:
            os.environ[INHERIT_ENV] = f"{inherited};{key}={fd}" if inherited else f"{key}={fd}"
        else:
            os.environ[ON_DEMAND_ENV] = f"uwsgi {name}={fd}"

    @staticmethod
    def extra_listeners() -> list[Listener]:
        """The on-demand socket when no configured socket has its address."""
        key, _, fd = os.environ.get(ON_DEMAND_ENV, "").rpartition("=")
        if not fd.isdigit():
            return []
        sock = socket.socket(fileno=int(fd))
        sock.setblocking(False)
        name = key.partition(" ")[2]
        log(f"uwsgi socket inherited from the Emperor (on demand) {name} fd {fd}")
        return [Listener(name, "uwsgi", sock, None)]

    # -- the master loop ----------------------------------------------------------------------
    def poll(self, board: Scoreboard, workers_busy: Callable[[], bool]) -> str | None:
        """Called every master cycle: report state, beat, read commands; returns "stop",
        "graceful-stop" or "reload" when the Emperor asks (or "stop" when it is gone)."""
        self.send_once(MSG_SPAWNED)
        if board.worker(1).accepting:
            self.send_once(MSG_ACCEPTING)
        requests = board.total_requests()
        if requests and MSG_LOYAL not in self.sent:
            log("announcing my loyalty to the Emperor...")
            self.send_once(MSG_LOYAL)
        now = time.monotonic()
        if self.heartbeat and now >= self.next_beat:
            self.next_beat = now + self.heartbeat
            self.send(MSG_HEARTBEAT)
        if requests != self.last_requests or workers_busy():
            self.last_requests, self.last_activity = requests, now
        elif self.idle and self.die_on_idle and now - self.last_activity > self.idle:
            log(f"workers have been inactive for more than {self.idle} seconds")
            self.send_once(MSG_GOODBYE)
            self.last_activity = float("inf")
        return self._read_command()

    def _read_command(self) -> str | None:
        try:
            data = os.read(self.fd, 16)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            log("lost connection with my emperor !!!")
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
            return "stop"
        byte = data[-1]
        log(f"received message {byte} from emperor")
        return {MSG_STOP: "stop", MSG_RELOAD: "reload", MSG_GRACEFUL_STOP: "graceful-stop"}.get(
            byte
        )

    @property
    def alive(self) -> bool:
        return self.fd >= 0


def _configured_key(config: Config, name: str) -> str:
    from polyhost.config import option_values

    for option, proto in SOCKET_OPTIONS.items():
        values = option_values(config, option)
        if option == "socket":
            values += option_values(config, "uwsgi-socket")
        for address in values:
            if address == name or os.path.abspath(address) == name:
                return f"{proto} {address}"
    return ""
