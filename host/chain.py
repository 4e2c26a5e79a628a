"""Chain reload: replace the workers one at a time (master FIFO `c`, `touch-chain-reload`).

As uWSGI's `uwsgi_master_check_chain`: the next worker gets SIGHUP only once the one replaced
before it has been respawned and accepts again, so at most one worker is missing at any time.
A replacement that cannot load its app (lazy-apps with broken code) stops the chain: the old
workers keep serving the old code and the log says which worker failed and what to do; the next
chain starts by spawning that missing worker.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.master import ChildProc, Master


class ChainReload:
    def __init__(self, master: Master) -> None:
        self.master = master
        #: when the running chain started (workers spawned before it are replaced); 0: none
        self.started = 0.0
        self.victim: ChildProc | None = None
        self.victim_pid = 0
        self.last_wait_log = 0.0

    @property
    def running(self) -> bool:
        return self.started > 0

    def start(self) -> None:
        if self.started:
            log("chain reload already running...")
            return
        log("chain reload starting...")
        self.started = time.time()
        lost = [
            p
            for p in self.master.workers
            if not p.pid and not p.cheap and p not in self.master.pending
        ]
        if lost:  # left out by a failed chain: it comes back first, as the chain's first link
            self.victim, self.victim_pid = lost[0], 0
            self.master.spawn(lost[0])

    def tick(self) -> None:
        if not self.started or self.master.state != "running":
            return
        if self.victim is not None and not self._victim_ready(self.victim):
            return
        self.victim = None
        board = self.master.board
        for proc in sorted(self.master.workers, key=lambda p: p.number):
            if not proc.pid or proc.cheap or proc.spawned_at >= self.started:
                continue
            if not board.worker(proc.number).accepting:
                return  # still starting: it is replaced once it serves
            log(f"chain next victim is worker {proc.number}")
            self.victim, self.victim_pid = proc, proc.pid
            self.master._stop_worker(proc, signal.SIGHUP)
            return
        self.started = 0.0
        log("chain reloading complete")

    def _victim_ready(self, proc: ChildProc) -> bool:
        """The replaced worker runs again (a new pid) and accepts."""
        slot = self.master.board.worker(proc.number)
        if proc.pid and proc.pid != self.victim_pid and slot.accepting:
            return True
        now = time.monotonic()
        if now - self.last_wait_log >= 1.0:
            self.last_wait_log = now
            log(f"chain is still waiting for worker {proc.number}...")
        return False

    def failed(self, proc: ChildProc) -> bool:
        """A worker could not load its app: True (and the chain stops) if it was the chain's."""
        if self.victim is not proc:
            return False
        log(
            f"chain reload stopped: worker {proc.number} could not load the app (see above); "
            "the other workers keep serving the code they loaded. Fix the app, then start "
            "the chain again (master FIFO c or touch-chain-reload)"
        )
        self.victim = None
        self.started = 0.0
        return True
