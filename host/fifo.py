"""The master FIFO (`master-fifo`): one-character commands, uWSGI's table (core/fifo.c).

`0`-`9` choose which of the `master-fifo` paths is the active one (uWSGI's slots), `+`/`-` add
or retire a worker under cheaper, `B` ask the Emperor for reinforcements (a vassal's SOS),
`c` chain reload, `C` cheap mode, `E` rescan the Emperor the master runs, `f` fork a fresh master
copy, `l` reopen / `L` rotate the log, `p` pause or resume the workers, `P` rewrite the
pidfiles, `q`/`Q` stop gracefully/brutally, `r`/`R` reload gracefully/brutally, `s` status to
the log, `S` block/unblock subscriptions, `w`/`W` reload the workers gracefully/brutally.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.log import log, open_logfile

if TYPE_CHECKING:
    from polyhost.master import Master

#: the byte a vassal sends its Emperor to ask for reinforcements (uWSGI's vassal_sos)
MSG_SOS = 30

#: commands that act whatever the instance is doing (the others only while it runs)
ALWAYS = set("0123456789lLPsS")


class FifoError(Exception):
    """The FIFO cannot be created; the message says where and why."""


class MasterFifo:
    def __init__(self, master: Master) -> None:
        self.master = master
        self.paths = option_values(master.config, "master-fifo")
        self.slot = 0
        self.fd = -1
        self.subscriptions_blocked = False
        self.paused = False
        self.commands: dict[str, Callable[[], None]] = {
            **{str(n): (lambda n=n: self.set_slot(n)) for n in range(10)},
            "+": lambda: self._cheaper_delta(1),
            "-": lambda: self._cheaper_delta(-1),
            "B": self.ask_for_reinforcements,
            "c": master.supervision.chain.start,
            "C": master.supervision.idle.go_cheap,
            "E": self.rescan_emperor,
            "f": self.refork_master,
            "l": self.reopen_log,
            "L": self.rotate_log,
            "p": self.pause_resume,
            "P": self.update_pidfiles,
            "q": lambda: master.begin_stop(graceful=True),
            "Q": lambda: master.begin_stop(graceful=False),
            "r": master.handle_hup,
            "R": lambda: master.begin_reload(graceful=False),
            "s": master.handle_usr1,
            "S": self.block_subscriptions,
            "w": master.reload_workers,
            "W": self.brutally_reload_workers,
        }

    @property
    def path(self) -> str:
        return self.paths[self.slot] if self.slot < len(self.paths) else self.paths[0]

    def open(self) -> None:
        if not self.paths:
            return
        path = self.path
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISFIFO(os.stat(path).st_mode):
                raise FifoError(f"master-fifo {path} exists and is not a FIFO: remove it")
            os.unlink(path)
        os.mkfifo(path, 0o600)
        # read-write: the master is a writer too, so the FIFO never reads as EOF. uWSGI opens it
        # read-only and re-creates it at each EOF, and a writer that opens it between that EOF
        # and the close gets EPIPE; here one FIFO serves every writer.
        self.fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self.fd = -1

    def unlink(self) -> None:
        for path in self.paths:
            with contextlib.suppress(OSError):
                if stat.S_ISFIFO(os.stat(path).st_mode):
                    os.unlink(path)

    def read(self) -> None:
        try:
            data = os.read(self.fd, 64)
        except BlockingIOError:
            return
        slot = self.slot
        for command in data.decode("latin-1"):
            self.run(command)
        if self.slot != slot:  # the new path takes over after this batch; writers of the
            self.close()  # old one get ENOENT instead of blocking on a FIFO nobody reads
            with contextlib.suppress(OSError):
                os.unlink(self.paths[slot])
            self.open()
            log(f"active master fifo is now {self.path}")

    def run(self, command: str) -> None:
        action = self.commands.get(command)
        if action is None:
            if command not in "\n\r ":
                log(f"master-fifo: unknown command {command!r} (known: {''.join(self.commands)})")
            return
        if self.master.state == "running" or command in ALWAYS:
            action()

    # -- the commands -----------------------------------------------------------------------
    def set_slot(self, slot: int) -> None:
        if slot >= len(self.paths):
            log(f"master-fifo: there is no fifo number {slot} ({len(self.paths)} configured)")
            return
        self.slot = slot

    def _cheaper_delta(self, delta: int) -> None:
        cheaper = self.master.supervision.cheaper
        if cheaper is None:
            log("master-fifo: + and - need cheaper mode (option cheaper)")
            return
        cheaper.fifo_delta += delta

    def ask_for_reinforcements(self) -> None:
        """As uWSGI: a vassal's SOS to its Emperor (which answers it in broodlord mode)."""
        if self.master.emperor is None:
            log("[broodlord] instance not governed by an Emperor !!!")
            return
        self.master.emperor.send(MSG_SOS)

    def rescan_emperor(self) -> None:
        """uWSGI signals the Emperor its master runs; polyhost's Emperor is a process of its own
        (`polyhost --emperor`), which rescans on SIGWINCH."""
        log(
            "master-fifo: E rescans an Emperor run by this master, and it runs none "
            "(send the Emperor process SIGWINCH)"
        )

    def refork_master(self) -> None:
        """As uWSGI: a copy of the master in its own session re-execs with the sockets."""
        pid = os.fork()
        if pid:
            log(f"new master copy spawned with pid {pid}")
            return
        try:
            os.setsid()
            self.master.reexec()
        finally:
            os._exit(1)

    def reopen_log(self) -> None:
        logto = self.master.config.get("logto")
        if logto:
            open_logfile(str(logto))
            log("log reopened")

    def rotate_log(self) -> None:
        """Rename the log to LOG.<timestamp> and start a new one (uWSGI's log rotation)."""
        logto = self.master.config.get("logto") or self.master.config.get("daemonize")
        if not logto:
            log("master-fifo: L rotates the logto/daemonize file and none is set")
            return
        rotated = f"{logto}.{int(time.time())}"
        os.rename(str(logto), rotated)
        open_logfile(str(logto))
        log(f"logfile rotated to {rotated}")

    def pause_resume(self) -> None:
        self.paused = not self.paused
        if self.paused:
            log("*** PAUSE (press start to resume, if you do not have a joypad send SIGTSTP) ***")
        else:
            log("*** (SIGTSTP received) resuming workers ***")
        sig = signal.SIGSTOP if self.paused else signal.SIGCONT
        for proc in self.master.workers:
            self.master.board.worker(proc.number).set_paused(self.paused)
            if proc.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)

    def update_pidfiles(self) -> None:
        for option in ("pidfile", "pidfile2"):
            path = self.master.config.get(option)
            if path:
                with open(str(path), "w") as pidfile:
                    pidfile.write(f"{self.master.pid}\n")
                log(f"pidfile {path} updated")

    def block_subscriptions(self) -> None:
        self.subscriptions_blocked = not self.subscriptions_blocked
        log("subscriptions blocked" if self.subscriptions_blocked else "subscriptions re-enabled")

    def brutally_reload_workers(self) -> None:
        for proc in self.master.workers:
            if proc.pid:
                log(f"killing worker {proc.number} (pid: {proc.pid})")
                self.master._stop_worker(proc, signal.SIGINT)
