"""systemd's notify protocol (`Type=notify` / `Type=notify-reload`): datagrams to $NOTIFY_SOCKET.

uWSGI sends `STATUS=initializing uWSGI` at start and `STATUS=uWSGI is ready` + `READY=1` once;
polyhost also sends, as sd_notify(3) describes: `READY=1` only once the workers accept (again
after each reload), `STATUS=` lines with the workers busy/idle/cheap when that changes,
`RELOADING=1` (with `MONOTONIC_USEC`, for `Type=notify-reload`) when a reload starts,
`STOPPING=1` when the instance stops, and `WATCHDOG=1` every half `WATCHDOG_USEC` when systemd's
watchdog is on for this process (`WatchdogSec=`). A reload re-execs the same pid, so systemd
keeps following the main process.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.master import Master

#: the longest NOTIFY_SOCKET path a sockaddr_un holds
MAX_PATH = 107


class Notifier:
    """One datagram socket to systemd; a failed send is logged once and never fatal."""

    def __init__(self, address: str, watchdog_usec: int) -> None:
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.watchdog_interval = watchdog_usec / 2_000_000 if watchdog_usec > 0 else 0.0
        self.next_watchdog = 0.0
        self.failed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Notifier | None:
        address = environ.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        if len(address) > MAX_PATH or not (address.startswith("/") or address.startswith("@")):
            log(
                f"systemd: NOTIFY_SOCKET={address!r} is not a unix socket path or @abstract "
                "name of at most 107 bytes: no notifications are sent"
            )
            return None
        return cls(address, _watchdog_usec(environ))

    def send(self, *fields: str) -> None:
        message = "".join(f"{field}\n" for field in fields).encode()
        try:
            self.sock.sendto(message, self.address)
        except OSError as exc:
            if not self.failed:
                log(f"systemd: cannot notify {self.address!r}: {exc.strerror or exc}")
            self.failed = True

    def close(self) -> None:
        self.sock.close()


def _watchdog_usec(environ: Mapping[str, str]) -> int:
    """WATCHDOG_USEC when the watchdog is meant for this process (WATCHDOG_PID unset or ours)."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", "0"))
        pid = int(environ.get("WATCHDOG_PID", "0") or 0)
    except ValueError:
        return 0
    return usec if not pid or pid == os.getpid() else 0


class SystemdNotify:
    """The master's notifications, driven from its checks (four times a second)."""

    def __init__(self, master: Master, notifier: Notifier) -> None:
        self.master = master
        self.notifier = notifier
        self.ready = False
        self.state = "running"
        self.last_status = ""
        notifier.send("STATUS=initializing polyhost")

    @classmethod
    def from_master(cls, master: Master) -> SystemdNotify | None:
        notifier = Notifier.from_env()
        return cls(master, notifier) if notifier is not None else None

    def tick(self, now: float) -> None:
        self._watchdog(now)
        state = self.master.state
        if state in ("reloading", "stopping"):
            self._leaving(state)
            return
        if not self.ready and self._workers_accept():
            self.ready = True
            self.last_status = self._status()
            self.notifier.send("READY=1", f"STATUS={self.last_status}")
        elif self.ready:
            status = self._status()
            if status != self.last_status:
                self.last_status = status
                self.notifier.send(f"STATUS={status}")

    def finish(self, reloading: bool) -> None:
        """Just before the re-exec or the exit."""
        self._leaving("reloading" if reloading else "stopping")
        self.notifier.close()

    def _leaving(self, state: str) -> None:
        if self.state == state:
            return
        self.state = state
        if state == "reloading":
            usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
            self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")
        else:
            self.notifier.send("STOPPING=1", "STATUS=stopping")

    def _watchdog(self, now: float) -> None:
        interval = self.notifier.watchdog_interval
        if interval and now >= self.notifier.next_watchdog:
            self.notifier.next_watchdog = now + interval
            self.notifier.send("WATCHDOG=1")

    def _serving(self) -> list[int]:
        return [p.number for p in self.master.workers if p.pid and not p.cheap]

    def _workers_accept(self) -> bool:
        board = self.master.board
        serving = self._serving()
        return all(board.worker(n).accepting for n in serving) and (
            bool(serving) or not self.master.workers
        )

    def _status(self) -> str:
        board = self.master.board
        serving = self._serving()
        busy = sum(1 for n in serving if board.worker(n).busy)
        cheap = len(self.master.workers) - len(serving)
        text = f"polyhost is ready: {busy} busy, {len(serving) - busy} idle workers"
        return f"{text}, {cheap} cheap" if cheap else text
