"""Idle mode: `idle N` retires every worker after N seconds without a request (cheap mode) and
the master spawns them again when a connection arrives; `die-on-idle` stops the instance instead.
The master FIFO's `C` goes cheap at once. As uWSGI's `uwsgi_master_check_idle`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from polyhost.cheaper import retire
from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.master import Master


class IdleMode:
    def __init__(self, master: Master) -> None:
        self.master = master
        self.idle = master.config.get("idle")
        self.die = master.config.get("die-on-idle")
        #: every worker is retired until a connection arrives
        self.cheap = False
        self.last_requests = -1
        self.last_change = time.monotonic()

    def tick(self, now: float) -> None:
        if not self.idle or self.cheap or self.master.state != "running":
            return
        board = self.master.board
        if any(p.pid and board.worker(p.number).busy for p in self.master.workers):
            self.last_change = time.monotonic()
            return
        requests = board.total_requests()
        mono = time.monotonic()
        if requests != self.last_requests:
            self.last_requests, self.last_change = requests, mono
        elif mono - self.last_change > self.idle:
            log(
                f"workers have been inactive for more than {self.idle} seconds "
                f"({int(time.time())}-{int(time.time() - (mono - self.last_change))})"
            )
            if self.die:
                log("die-on-idle: shutting down")
                self.master.begin_stop(graceful=True)
            else:
                self.go_cheap()

    def go_cheap(self) -> None:
        if self.cheap:
            return
        log("going cheap...")
        self.cheap = True
        for proc in self.master.workers:
            retire(self.master, proc)
        log("cheap mode enabled: waiting for socket connection...")

    def wake_fds(self) -> list[int]:
        """While cheap, the master watches the listeners itself."""
        if not self.cheap:
            return []
        return [listener.sock.fileno() for listener in self.master.listeners]

    def wake(self) -> None:
        """A connection arrived while cheap: spawn the workers again (cheaper-initial of them
        with cheaper)."""
        self.cheap = False
        self.last_change = time.monotonic()
        cheaper = self.master.supervision.cheaper
        count = cheaper.settings.initial if cheaper else len(self.master.workers)
        for proc in sorted(self.master.workers, key=lambda p: p.number)[:count]:
            if proc.cheap and not proc.pid:
                proc.cheap = False
                self.master.spawn(proc)
            elif proc.cheap:  # still finishing: respawned as soon as it exits
                proc.cheap = False
