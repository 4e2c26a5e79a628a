"""uWSGI signals: 256 numbers, handlers in any runtime, routed by the master to their targets.

A process registers a handler (`register_signal(num, target, handler)`): the handler stays in
that process (and in its forks), the target goes to the master. `signal(num)` asks the master,
which sends the number to the target process(es) over their control channel; they run the
handler between requests. Timers, red-black timers, crons and file monitors live in the master.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from polyhost.fabric import control
from polyhost.fabric.hooks import HOOKS
from polyhost.log import log, log_exception

if TYPE_CHECKING:
    import socket

    from polyhost.fabric.control import ControlPair


class SignalError(Exception):
    """A bad signal number, target or registration; the message says what to do."""


def check_num(num: int) -> int:
    num = int(num)
    if not 0 <= num <= 255:
        raise SignalError(f"signal {num} is out of range: uWSGI signals are 0..255")
    return num


def check_target(target: str) -> str:
    base = target.rstrip("0123456789")
    if target.startswith("farm_") or target.startswith("/"):
        return target
    if base not in (
        "",
        "worker",
        "workers",
        "active-workers",
        "mule",
        "mules",
        "spooler",
        "spoolers",
    ) or (base in ("workers", "mules", "active-workers") and base != target):
        raise SignalError(
            f"unknown signal target {target!r}: use worker, workers, active-workers, workerN, "
            "mule, mules, muleN, spooler or farm_NAME"
        )
    return target


@dataclass
class SignalHandlers:
    """The handlers registered in this process: num -> (owner, handle), run through the
    owner's hooks."""

    handlers: dict[int, tuple[str, object]] = field(default_factory=dict)
    received: int = -1
    #: signals seen so far, and the condition signal_wait sleeps on
    count: int = 0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def run(self, num: int) -> None:
        """Run the handler of `num` here; an exception is logged, never raised."""
        with self.arrived:  # wake threads blocked in signal_wait
            self.received = num
            self.count += 1
            self.arrived.notify_all()
        entry = self.handlers.get(num)
        if entry is None:
            log(f"signal {num} received but no handler is registered for it in pid {os.getpid()}")
            return
        runtime, handle = entry
        hooks = HOOKS.get(runtime)
        try:
            if hooks is None:
                raise SignalError(f"no {runtime} runtime in this process for signal {num}")
            hooks.run_signal(handle, num)
        except Exception as exc:
            log_exception(f"error in the handler of signal {num} ({runtime}):", exc)


HANDLERS = SignalHandlers()


# -- the master's side ---------------------------------------------------------------------------
@dataclass
class Timer:
    num: int
    interval: float
    iterations: int
    next_fire: float
    fired: int = 0


@dataclass
class Cron:
    num: int
    fields: tuple[int, int, int, int, int]  # minute, hour, day, month, weekday; -1 any, -N every N
    last_minute: int = -1

    def due(self, tm: time.struct_time) -> bool:
        values = (tm.tm_min, tm.tm_hour, tm.tm_mday, tm.tm_mon, (tm.tm_wday + 1) % 7)
        minute, hour, day, month, weekday = (
            _cron_match(spec, value) for spec, value in zip(self.fields, values, strict=True)
        )
        both_set = self.fields[2] >= 0 and self.fields[4] >= 0
        dayish = (day or weekday) if both_set else (day and weekday)  # cron ORs them when set
        return minute and hour and month and dayish


def _cron_match(spec: int, value: int) -> bool:
    if spec == -1:
        return True
    if spec < -1:
        return value % -spec == 0
    return spec == value


@dataclass
class Target:
    """A process the master can signal."""

    kind: str  # worker | mule | spooler
    number: int
    pair: ControlPair
    pid: int = 0
    idle: Callable[[], bool] = lambda: True


class SignalRouter:
    """Lives in the master: who handles which signal, the timers, and delivery."""

    def __init__(self) -> None:
        self.targets: dict[int, str] = {}
        self.processes: list[Target] = []
        self.timers: list[Timer] = []
        self.crons: list[Cron] = []
        self.monitors: dict[int, tuple[int, str]] = {}  # inotify watch descriptor -> (num, path)
        self._inotify: Any = None
        self._registered_events: set[tuple[Any, ...]] = set()
        #: spooler directory -> tasks run, reported by the spooler processes
        self.spooler_tasks: dict[str, int] = {}

    # registration (from the master itself or relayed from a child) ---------------------------
    def handle_message(self, message: list[Any]) -> None:
        op = message[0]
        try:
            if op == "signal":
                self.route(int(message[1]))
            elif op == "register":
                self.targets[check_num(message[1])] = check_target(str(message[2]))
            elif op in ("timer", "rbtimer"):
                self.add_timer(int(message[1]), float(message[2]), int(message[3]))
            elif op == "cron":
                self.add_cron(int(message[1]), *[int(v) for v in message[2:7]])
            elif op == "filemon":
                self.add_file_monitor(int(message[1]), str(message[2]))
            elif op == "spooler_stats":
                self.spooler_tasks[str(message[1])] = int(message[2])
            else:
                log(f"master: unknown control message {op!r}")
        except (SignalError, ValueError, IndexError, OSError) as exc:
            log(f"master: {op} failed: {exc}")

    def _once(self, key: tuple[Any, ...]) -> bool:
        """Every worker of a lazily loaded app registers the same timer: keep one."""
        if key in self._registered_events:
            return False
        self._registered_events.add(key)
        return True

    def add_timer(self, num: int, seconds: float, iterations: int = 0) -> None:
        check_num(num)
        if seconds <= 0:
            raise SignalError(f"timer for signal {num}: the interval must be > 0 seconds")
        if self._once(("timer", num, seconds, iterations)):
            self.timers.append(Timer(num, seconds, iterations, time.monotonic() + seconds))

    def add_cron(
        self, num: int, minute: int, hour: int, day: int, month: int, weekday: int
    ) -> None:
        check_num(num)
        fields = (minute, hour, day, month, weekday)
        if self._once(("cron", num, *fields)):
            self.crons.append(Cron(num, fields))

    def add_file_monitor(self, num: int, path: str) -> None:
        check_num(num)
        if not self._once(("filemon", num, path)):
            return
        from inotify_simple import INotify, flags

        if self._inotify is None:
            self._inotify = INotify(nonblocking=True)
        mask = (
            flags.MODIFY
            | flags.ATTRIB
            | flags.CREATE
            | flags.DELETE
            | flags.MOVED_TO
            | flags.MOVED_FROM
            | flags.CLOSE_WRITE
            | flags.DELETE_SELF
        )
        wd = self._inotify.add_watch(path, mask)
        self.monitors[wd] = (num, path)

    # the master loop's hooks ---------------------------------------------------------------
    def fds(self) -> list[int]:
        fds = [p.pair.master.fileno() for p in self.processes]
        if self._inotify is not None:
            fds.append(self._inotify.fileno())
        return fds

    def on_readable(self, fd: int) -> None:
        if self._inotify is not None and fd == self._inotify.fileno():
            fired = {self.monitors[e.wd][0] for e in self._inotify.read() if e.wd in self.monitors}
            for num in sorted(fired):
                self.route(num)
            return
        for process in self.processes:
            if process.pair.master.fileno() == fd:
                while (message := control.receive(process.pair.master)) is not None:
                    self.handle_message(message)
                return

    def tick(self, now: float, wall: float) -> None:
        """Fire due timers and crons (called every master cycle)."""
        for timer in list(self.timers):
            if now >= timer.next_fire:
                self.route(timer.num)
                timer.fired += 1
                timer.next_fire = now + timer.interval
                if timer.iterations and timer.fired >= timer.iterations:
                    self.timers.remove(timer)
        if self.crons:
            tm = time.localtime(wall)
            minute = int(wall // 60)
            for cron in self.crons:
                if cron.last_minute != minute and cron.due(tm):
                    cron.last_minute = minute
                    self.route(cron.num)
        for process in self.processes:
            if process.pair.pending_report:
                process.pair.pending_report = False
                log(
                    f"*** SIGNAL QUEUE IS FULL: {process.pair.dropped} signal(s) dropped for "
                    f"{process.kind} {process.number} (pid {process.pid}) ***"
                )

    def route(self, num: int) -> None:
        """Deliver `num` to the process(es) its registration names."""
        target = self.targets.get(num)
        if target is None:
            log(f"signal {num} raised but nobody registered a handler for it")
            return
        for process in self._resolve(target):
            process.pair.send_to_child(["signal", num])

    def _resolve(self, target: str) -> list[Target]:
        alive = [p for p in self.processes if p.pid]
        base = target.rstrip("0123456789")
        number = int(target[len(base) :]) if target[len(base) :] else 0
        if base in ("", "worker"):
            workers = [p for p in alive if p.kind == "worker"]
            if number:
                return [p for p in workers if p.number == number]
            idle = [p for p in workers if p.idle()]
            return (idle or workers)[:1]
        if base in ("workers", "active-workers"):
            return [p for p in alive if p.kind == "worker"]
        if base == "mule":
            mules = [p for p in alive if p.kind == "mule"]
            return [p for p in mules if p.number == number] if number else mules[:1]
        if base == "mules":
            return [p for p in alive if p.kind == "mule"]
        if base in ("spooler", "spoolers") or target.startswith("/"):
            return [p for p in alive if p.kind == "spooler"]
        return []


# -- the API every language's binding calls ------------------------------------------------------
@dataclass
class SignalClient:
    """How this process reaches the master: directly (in the master) or over its channel."""

    router: SignalRouter | None = None
    channel: socket.socket | None = None
    #: another thread reads the channel and dispatches (signal_wait then waits for it)
    shared_reader: bool = False

    def send(self, message: list[Any]) -> None:
        """A control message to the master (direct when this is the master)."""
        self._send(message)

    def _send(self, message: list[Any]) -> None:
        if self.router is not None:
            self.router.handle_message(message)
        elif self.channel is not None:
            control.send(self.channel, message)
        else:
            raise SignalError("signals need the master (this process has no channel to it)")

    def register(self, num: int, target: str, runtime: str, handle: object) -> None:
        num, target = check_num(num), check_target(target)
        HANDLERS.handlers[num] = (runtime, handle)
        self._send(["register", num, target])

    def raise_signal(self, num: int) -> None:
        self._send(["signal", check_num(num)])

    def add_timer(self, num: int, seconds: float, iterations: int = 0, rb: bool = False) -> None:
        self._send(["rbtimer" if rb else "timer", check_num(num), float(seconds), int(iterations)])

    def add_cron(
        self, num: int, minute: int, hour: int, day: int, month: int, weekday: int
    ) -> None:
        self._send(["cron", check_num(num), minute, hour, day, month, weekday])

    def add_file_monitor(self, num: int, path: str) -> None:
        self._send(["filemon", check_num(num), os.path.abspath(path)])

    def registered(self, num: int) -> bool:
        return check_num(num) in HANDLERS.handlers

    def wait(self, num: int | None = None, timeout: float | None = None) -> int:
        """Block until a signal arrives (num: that one), run its handler, return its number;
        -1 after `timeout` seconds. When another thread reads the channel (a worker's loop with
        request threads, a script mule's signal thread), wait for it to dispatch; else read."""
        if self.channel is None:
            raise SignalError("signal_wait needs a worker, mule or spooler process")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            got = self._next_by_reader(left) if self.shared_reader else self._next_here(left)
            if got == -1 or (got >= 0 and (num is None or got == num)):
                return got

    def _next_here(self, timeout: float | None) -> int:
        """The next signal read from the channel here: -1 on timeout, -2 for another message."""
        assert self.channel is not None
        readable, _, _ = select.select([self.channel], [], [], timeout)
        if not readable:
            return -1
        message = control.receive(self.channel)
        if not message or message[0] != "signal":
            return -2
        HANDLERS.run(int(message[1]))
        return int(message[1])

    def _next_by_reader(self, timeout: float | None) -> int:
        with HANDLERS.arrived:
            seen = HANDLERS.count
            if not HANDLERS.arrived.wait_for(lambda: HANDLERS.count != seen, timeout):
                return -1
            return HANDLERS.received

    def dispatch_pending(self) -> None:
        """Run the handlers of every signal waiting on the channel (the worker loop calls it)."""
        if self.channel is None:
            return
        while (message := control.receive(self.channel)) is not None:
            if message[0] == "signal":
                HANDLERS.run(int(message[1]))


CLIENT = SignalClient()


def in_master(router: SignalRouter) -> None:
    CLIENT.router, CLIENT.channel = router, None


def in_child(channel: socket.socket) -> None:
    channel.setblocking(False)
    CLIENT.router, CLIENT.channel = None, channel
    with contextlib.suppress(OSError):
        os.set_blocking(channel.fileno(), False)
