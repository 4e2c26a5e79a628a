"""Cheaper: adaptive worker counts between `cheaper` (minimum) and `processes` (maximum).

Once a second the master shows the algorithm what its workers are doing and the algorithm
answers how many to spawn (> 0) or to retire (-1), as uWSGI's `uwsgi_calc_cheaper` does; the
algorithms are uWSGI's: `spare` (the default), `spare2`, `backlog` (and its plugin copy
`backlog2`) and `busyness` (plugins/cheaper_busyness). `cheaper-rss-limit-soft` stops spawning,
`cheaper-rss-limit-hard` retires workers, the master FIFO's `+`/`-` ask for one more or less.
A retired worker gets SIGHUP: it stops accepting, finishes its request, exits, and is not
respawned until the algorithm asks for it again; it shows as `cheap` in the stats.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from polyhost.log import log
from polyhost.stats import memory_of

if TYPE_CHECKING:
    from polyhost.config import Config
    from polyhost.master import ChildProc, Master

#: seconds between two decisions (uWSGI's master_interval)
CHECK_INTERVAL = 1.0


class CheaperError(ValueError):
    """A cheaper option combination that cannot work; the message says which and why."""


@dataclass
class WorkerView:
    """What an algorithm sees of one worker slot at a decision."""

    number: int
    #: running and not retired
    active: bool
    #: retired and gone: it can be spawned again
    cheaped: bool
    busy: bool
    last_spawn: float
    #: µs spent in requests since the first spawn (the scoreboard's running_time)
    running_time: int


@dataclass
class Settings:
    """The cheaper options as uWSGI reads them."""

    minimum: int
    maximum: int
    initial: int
    step: int
    overload: int
    idle: int
    config: Config


class Algorithm(Protocol):
    def decide(self, workers: list[WorkerView], backlog: int, can_spawn: bool) -> int:
        """Workers to spawn (> 0), to retire (< 0) or 0."""


def _spawnable(workers: list[WorkerView], step: int) -> int:
    """uWSGI's "decheaped" count: retired slots that can come back, at most `step`."""
    return min(step, sum(1 for w in workers if w.cheaped))


def _active(workers: list[WorkerView]) -> list[WorkerView]:
    return [w for w in workers if w.active]


class Spare:
    """All active workers busy for `cheaper-overload` checks: spawn `cheaper-step`; one idle
    spare is the stable state; more idle than that for `cheaper-overload` checks: retire one."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.overload_count = 0
        self.idle_count = 0

    def decide(self, workers: list[WorkerView], backlog: int, can_spawn: bool) -> int:
        active = _active(workers)
        if any(not w.busy for w in active):
            self.overload_count = max(0, self.overload_count - 1)
        else:
            self.overload_count += 1
            self.idle_count = 0
        if can_spawn and self.overload_count >= self.s.overload:
            self.overload_count = 0
            return _spawnable(workers, self.s.step)
        if self.overload_count == 0:
            busy = sum(1 for w in active if w.busy)
            if len(active) - busy == 1:
                return 0
            self.idle_count += 1
            if len(active) > self.s.minimum and self.idle_count % self.s.overload == 0:
                return -1
        return 0


class Spare2:
    """Keep `cheaper` idle workers ready: spawn before the overload (at most `cheaper-step` at a
    time), retire one after `cheaper-idle` checks with more idle workers than that."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.idle_count = 0

    def decide(self, workers: list[WorkerView], backlog: int, can_spawn: bool) -> int:
        active = _active(workers)
        idle = sum(1 for w in active if not w.busy)
        if idle < self.s.minimum:
            self.idle_count = 0
            if not can_spawn:
                return 0
            return min(self.s.minimum - idle, _spawnable(workers, self.s.step))
        if idle == self.s.minimum:
            self.idle_count = 0
            return 0
        self.idle_count += 1
        if self.idle_count < self.s.idle:
            return 0
        self.idle_count = 0
        return -1


class Backlog:
    """Listen queue longer than `cheaper-overload`: spawn; shorter: retire one (Linux)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def decide(self, workers: list[WorkerView], backlog: int, can_spawn: bool) -> int:
        if can_spawn and backlog > self.s.overload:
            return _spawnable(workers, self.s.step)
        if backlog < self.s.overload and len(_active(workers)) > self.s.minimum:
            return -1
        return 0


class Busyness:
    """uWSGI's busyness algorithm (Łukasz Mierzwa): the share of each `cheaper-overload` window
    the workers spent in requests decides; a long listen queue spawns emergency workers."""

    def __init__(self, settings: Settings) -> None:
        cfg = settings.config
        self.s = settings
        self.max = cfg.get("cheaper-busyness-max")
        self.min = cfg.get("cheaper-busyness-min")
        self.min_multi = self.multi = cfg.get("cheaper-busyness-multiplier")
        self.penalty = cfg.get("cheaper-busyness-penalty")
        self.verbose = cfg.get("cheaper-busyness-verbose")
        self.backlog_alert = cfg.get("cheaper-busyness-backlog-alert")
        self.backlog_multi = cfg.get("cheaper-busyness-backlog-multiplier")
        self.backlog_step = cfg.get("cheaper-busyness-backlog-step")
        self.backlog_nonzero_alert = cfg.get("cheaper-busyness-backlog-nonzero")
        self.window = float(settings.overload)
        self.last_values: dict[int, int] = {}
        self.was_busy: dict[int, int] = {}
        self.last_cheaped = 0.0
        self.last_action = 0  # 1 spawned, 2 cheaped
        self.tolerance = 0
        self.emergency = 0
        self.backlog_nonzero_since = 0.0
        self.tcheck = time.monotonic()
        self.next_cheap = 0.0
        self._set_next_cheap(self.tcheck)
        log(
            f"[busyness] settings: min={self.min}%, max={self.max}%, overload="
            f"{settings.overload}, multiplier={self.multi}, respawn penalty={self.penalty}"
        )
        log(
            f"[busyness] backlog alert is set to {self.backlog_alert} request(s), step is "
            f"{self.backlog_step}"
        )
        log(f"[busyness] backlog non-zero alert is set to {self.backlog_nonzero_alert} second(s)")

    def _set_next_cheap(self, now: float) -> None:
        multi = self.backlog_multi if self.emergency > 0 else self.multi
        self.next_cheap = now + self.window * multi

    def _decrease_multi(self) -> None:
        if self.multi > self.min_multi:
            self.multi -= 1
            log(f"[busyness] decreasing cheaper multiplier to {self.multi}")

    def _emergency(self, workers: list[WorkerView], backlog: int, now: float) -> int:
        self.multi = self.min_multi
        self.last_action = 1
        spawn = _spawnable(workers, self.backlog_step)
        self._set_next_cheap(now)
        if spawn:
            self.emergency += spawn
            log(
                f"[busyness] {backlog} requests in listen queue, spawning {spawn} emergency "
                f"worker(s) ({self.emergency})!"
            )
        else:
            log(
                f"[busyness] {backlog} requests in listen queue but we are already started "
                f"maximum number of workers ({self.s.maximum})"
            )
        return spawn

    def decide(self, workers: list[WorkerView], backlog: int, can_spawn: bool) -> int:
        active = _active(workers)
        for w in workers:
            self.was_busy[w.number] = self.was_busy.get(w.number, 0) + w.busy if w.active else 0
        now = time.monotonic()
        if now - self.tcheck >= self.window:
            return self._window_decision(workers, active, backlog, can_spawn, now)
        if can_spawn and backlog > self.backlog_alert and len(active) < self.s.maximum:
            return self._emergency(workers, backlog, now)
        if backlog > 0:
            if not self.backlog_nonzero_since:
                if self.verbose:
                    log(f"[busyness] backlog is starting to fill ({backlog})")
                self.backlog_nonzero_since = now
            elif can_spawn and now - self.backlog_nonzero_since >= self.backlog_nonzero_alert:
                log(
                    f"[busyness] backlog was non-zero for "
                    f"{int(now - self.backlog_nonzero_since)} second(s), spawning new worker(s)"
                )
                self.backlog_nonzero_since = now
                return self._emergency(workers, backlog, now)
        elif self.backlog_nonzero_since:
            if self.verbose:
                log("[busyness] backlog is now empty")
            self.backlog_nonzero_since = 0.0
        return 0

    def _average_busyness(self, workers: list[WorkerView], elapsed: float) -> int:
        total = 0
        count = 0
        for w in workers:
            if w.active:
                spent = w.running_time - self.last_values.get(w.number, w.running_time)
                percent = min(100, int(spent / (elapsed * 10_000)))
                if spent == 0 and self.was_busy.get(w.number, 0) > 0:
                    percent = 100  # busy the whole window with a request still running
                total += percent
                count += 1
                if self.verbose:
                    log(f"[busyness] worker nr {w.number} average busyness is at {percent}%")
            self.was_busy[w.number] = 0
            self.last_values[w.number] = w.running_time
        return total // count if count else 0

    def _window_decision(
        self,
        workers: list[WorkerView],
        active: list[WorkerView],
        backlog: int,
        can_spawn: bool,
        now: float,
    ) -> int:
        elapsed = now - self.tcheck
        self.tcheck = now
        busyness = self._average_busyness(workers, elapsed)
        overload = self.s.overload
        if self.verbose:
            log(
                f"[busyness] {overload}s average busyness of {len(active)} worker(s) is at "
                f"{busyness}%"
            )
        if busyness > self.max:
            self.tolerance = 0
            spawn = _spawnable(workers, self.s.step) if can_spawn else 0
            if not spawn:
                log(
                    f"[busyness] {overload}s average busyness is at {busyness}% but we already "
                    f"started maximum number of workers available with current limits "
                    f"({len(active)})"
                )
                return 0
            self.last_action = 1
            if (now - self.last_cheaped) / overload <= self.multi:
                self.multi += self.penalty
                log(
                    f"[busyness] worker(s) respawned to fast, increasing cheaper multiplier "
                    f"to {self.multi} (+{self.penalty})"
                )
            else:
                self._decrease_multi()
            self._set_next_cheap(now)
            log(
                f"[busyness] {overload}s average busyness is at {busyness}%, will spawn "
                f"{spawn} new worker(s)"
            )
            return spawn
        if can_spawn and backlog > self.backlog_alert and len(active) < self.s.maximum:
            return self._emergency(workers, backlog, now)
        if len(active) == 1:
            return 0
        if busyness < self.min:
            self.tolerance = 0
            if len(active) > self.s.minimum and now >= self.next_cheap:
                if self.last_action == 2:
                    self._decrease_multi()
                self._set_next_cheap(now)
                log(
                    f"[busyness] {overload}s average busyness is at {busyness}%, cheap one of "
                    f"{len(active)} running workers"
                )
                self.last_cheaped = now
                self.last_action = 2
                self.emergency = max(0, self.emergency - 1)
                return -1
            return 0
        self.emergency = max(0, self.emergency - 1)
        self.tolerance += 1
        if self.tolerance >= 3:
            self._set_next_cheap(now)
        else:
            self.next_cheap += self.window
        return 0


ALGORITHMS: dict[str, type[Spare | Spare2 | Backlog | Busyness]] = {
    "spare": Spare,
    "spare2": Spare2,
    "backlog": Backlog,
    "backlog2": Backlog,
    "busyness": Busyness,
}


def settings_from_config(config: Config, maximum: int) -> Settings | None:
    """The cheaper settings, None without `cheaper`; a combination that cannot work raises."""
    minimum = config.get("cheaper")
    if minimum <= 0:
        return None
    where = config.origin("cheaper")
    if minimum >= maximum:
        raise CheaperError(
            f"cheaper = {minimum} ({where}) must be lower than processes/workers = {maximum}: "
            "cheaper is the minimum number of workers and workers the maximum"
        )
    initial = config.get("cheaper-initial") or minimum
    if not minimum <= initial <= maximum:
        raise CheaperError(
            f"cheaper-initial = {initial} ({config.origin('cheaper-initial')}) must be between "
            f"cheaper ({minimum}) and processes ({maximum})"
        )
    _check_rss_limits(config)
    overload = config.get("cheaper-overload")
    return Settings(
        minimum=minimum,
        maximum=maximum,
        initial=initial,
        step=max(1, config.get("cheaper-step")),
        overload=max(1, overload),
        idle=max(1, config.get("cheaper-idle")),
        config=config,
    )


def _check_rss_limits(config: Config) -> None:
    """uWSGI's start-up checks: a hard limit needs a lower soft one (bytes, both)."""
    soft, hard = config.get("cheaper-rss-limit-soft"), config.get("cheaper-rss-limit-hard")
    if hard and not soft:
        raise CheaperError(
            f"cheaper-rss-limit-hard = {hard} ({config.origin('cheaper-rss-limit-hard')}) needs "
            "cheaper-rss-limit-soft too: set the soft limit (bytes) below the hard one"
        )
    if hard and hard <= soft:
        raise CheaperError(
            f"cheaper-rss-limit-hard = {hard} ({config.origin('cheaper-rss-limit-hard')}) must be "
            f"higher than cheaper-rss-limit-soft = {soft} "
            f"({config.origin('cheaper-rss-limit-soft')})"
        )


def algorithm_for(config: Config, settings: Settings) -> Algorithm:
    name = config.get("cheaper-algo")
    algo = ALGORITHMS.get(name)
    if algo is None:
        raise CheaperError(
            f"cheaper-algo = {name} ({config.origin('cheaper-algo')}) is not an algorithm: "
            f"use one of {', '.join(ALGORITHMS)}"
        )
    return algo(settings)


class CheaperControl:
    """The master's side: decide once a second, spawn or retire workers."""

    def __init__(self, master: Master, settings: Settings, algorithm: Algorithm) -> None:
        self.master = master
        self.settings = settings
        self.algorithm = algorithm
        self.fifo_delta = 0
        self.rss_soft = settings.config.get("cheaper-rss-limit-soft")
        self.rss_hard = settings.config.get("cheaper-rss-limit-hard")
        self.next_check = 0.0

    @classmethod
    def from_master(cls, master: Master) -> CheaperControl | None:
        settings = settings_from_config(master.config, master.numproc)
        if settings is None:
            return None
        return cls(master, settings, algorithm_for(master.config, settings))

    def starts_cheap(self, number: int) -> bool:
        """Workers above `cheaper-initial` start retired."""
        return number > self.settings.initial

    def views(self) -> list[WorkerView]:
        board = self.master.board
        views = []
        for proc in self.master.workers:
            slot = board.worker(proc.number)
            views.append(
                WorkerView(
                    number=proc.number,
                    active=bool(proc.pid) and not proc.cheap,
                    cheaped=proc.cheap and not proc.pid,
                    busy=bool(proc.pid) and slot.busy,
                    last_spawn=proc.spawned_at,
                    running_time=slot.running_time,
                )
            )
        return views

    def tick(self, now: float, backlog: int) -> None:
        if now < self.next_check or self.master.state != "running":
            return
        self.next_check = now + CHECK_INTERVAL
        views = self.views()
        can_spawn, needed = self._memory_limits(views)
        if self.fifo_delta:
            if can_spawn or self.fifo_delta < 0:
                needed = self.fifo_delta
            self.fifo_delta = 0
        elif not needed:
            needed = self.algorithm.decide(views, backlog, can_spawn)
            if needed > 0 and not can_spawn:
                needed = 0
        if needed > 0:
            self._spawn(views, needed)
        elif needed < 0:
            self._retire(views, -needed)

    def _memory_limits(self, views: list[WorkerView]) -> tuple[bool, int]:
        """(can spawn, forced change): the rss limits override the algorithm."""
        if not self.rss_soft:
            return True, 0
        active = [w for w in views if w.active]
        pids = {p.number: p.pid for p in self.master.workers}
        total = sum(memory_of(pids[w.number])[0] for w in active)
        if self.rss_hard and len(active) > 1 and total >= self.rss_hard:
            log(f"cheaper hard rss memory limit exceeded, cheap one of {len(active)} workers")
            return False, -1
        return total < self.rss_soft, 0

    def _spawn(self, views: list[WorkerView], count: int) -> None:
        by_number = {p.number: p for p in self.master.workers}
        for view in views:
            if count <= 0:
                return
            if view.cheaped:
                proc = by_number[view.number]
                proc.cheap = False
                self.master.spawn(proc)
                count -= 1

    def _retire(self, views: list[WorkerView], count: int) -> None:
        """Retire the oldest idle workers (uWSGI's choice), never below the minimum."""
        by_number = {p.number: p for p in self.master.workers}
        active = sum(1 for v in views if v.active)
        for view in sorted((v for v in views if v.active and not v.busy), key=_spawn_order):
            if count <= 0 or active <= self.settings.minimum:
                return
            retire(self.master, by_number[view.number])
            count -= 1
            active -= 1


def _spawn_order(view: WorkerView) -> float:
    return view.last_spawn


def retire(master: Master, proc: ChildProc, sig: int = signal.SIGHUP) -> None:
    """Stop a worker without respawning it: SIGHUP lets it finish its request first."""
    proc.cheap = True
    master.board.worker(proc.number).set_cheap(True)
    if proc.pid:
        proc.stopping = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
