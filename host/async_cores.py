"""Async cores for WSGI apps: `--gevent N`, `--async N` (`--greenlet`, `--ugreen`), `--asyncio N`.

A worker with async cores serves up to N requests at once in one thread, each on a core of its
own running in a greenlet: a request that waits (gevent.sleep or a monkey-patched socket under
gevent; `uwsgi.wait_fd_read`/`wait_fd_write`/`async_sleep` then `uwsgi.suspend()`; an asyncio
future under --asyncio) lets the others run. The worker's epoll loop still accepts and parses
requests; each complete one goes to the scheduler thread, which runs it on a free core and gives
the connection back when it is answered. The cores are the scoreboard's cores, so the stats and
harakiri are per core as with threads.

The scheduler is gevent's hub for `--gevent`, and an asyncio loop switching plain greenlets for
`--asyncio` and `--async` (uWSGI's suspend engines `greenlet` and `ugreen` both map to it). Under
`--gevent` the apps load in each worker (as with lazy-apps), so `gevent-monkey-patch` and
`gevent-early-monkey-patch` patch before the app is imported.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from polyhost.log import log

if TYPE_CHECKING:
    import asyncio

    from polyhost.config import Config
    from polyhost.protocol.connection import Connection

#: serve(conn, core): the worker serving a connection's requests on a core
Serve = Callable[["Connection", int], None]


class AsyncCoresError(Exception):
    """An async option that cannot work (a missing package, a bad value)."""


def async_cores(config: Config) -> int:
    """N of `gevent`, `asyncio` or `async` (0: the worker uses threads)."""
    return max(config.get(name) for name in ("gevent", "asyncio", "async"))


def request_threads(config: Config) -> int:
    """The request threads of each worker: `threads`, or N for `--coroae N` (uWSGI's
    Coro::AnyEvent loop: each thread drives one of the N bridge lanes of the app's child,
    whose own event loop interleaves their requests; the runtime reading `coroae` does that)."""
    return max(config.get("threads"), config.get("coroae"), 1)


def cores_of(config: Config) -> int:
    """The cores of each worker: the async cores, else the request threads."""
    return max(async_cores(config), request_threads(config))


def apps_load_per_worker(config: Config) -> bool:
    """Under gevent the apps load after the worker's monkey patching, never in the master."""
    return bool(config.get("gevent"))


class AsyncCores(ABC):
    """N cores in a scheduler thread; the worker's loop `submit`s connections to it."""

    #: what uWSGI's log calls the loop engine
    engine: str

    def __init__(self, cores: int) -> None:
        self.cores = cores
        self.free = list(range(cores - 1, -1, -1))
        self.waiting: deque[Connection] = deque()
        self.inbox: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.serve: Serve | None = None
        self.started = threading.Event()
        #: what the current request asked to wait for before its next `suspend()`
        self.pending: dict[Any, tuple[str, int, float]] = {}
        #: the fd that ended the last suspend of each greenlet (-1: the timeout)
        self.ready: dict[Any, int] = {}

    @abstractmethod
    def prepare(self, config: Config) -> None:
        """In the worker, before its apps load: the package is there (gevent: monkey patching)."""

    def start(self, serve: Serve) -> None:
        self.serve = serve
        threading.Thread(target=self.run, name=f"{self.engine}-cores", daemon=True).start()
        self.started.wait(30)
        log(f"*** running {self.engine} loop engine with {self.cores} async cores ***")

    def submit(self, conn: Connection) -> None:
        """From the worker's loop: serve this connection's ready requests on a core."""
        self.inbox.put(conn)
        with contextlib.suppress(BlockingIOError):
            os.write(self.wake_w, b"c")

    # -- in the scheduler thread ---------------------------------------------------------------
    @abstractmethod
    def run(self) -> None:
        """The scheduler thread: take submitted connections (`take_submitted`) until exit."""

    @abstractmethod
    def spawn(self, conn: Connection, core: int) -> None:
        """Run `run_core(conn, core)` in a new greenlet."""

    def take_submitted(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 4096)
        while True:
            try:
                self.waiting.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        self.dispatch()

    def dispatch(self) -> None:
        while self.waiting and self.free:
            self.spawn(self.waiting.popleft(), self.free.pop())

    def run_core(self, conn: Connection, core: int) -> None:
        assert self.serve is not None
        me = self.current()
        try:
            self.serve(conn, core)
        finally:
            self.pending.pop(me, None)
            self.ready.pop(me, None)
            self.free.append(core)
            self.dispatch()

    # -- uWSGI's suspend API, from the app's greenlet ------------------------------------------
    @abstractmethod
    def current(self) -> Any:
        """The running greenlet (None outside the cores)."""

    def suspend(self) -> None:
        """Give the other cores the CPU until what the app asked for is ready (or just once)."""
        me = self.current()
        mode, fd, timeout = self.pending.pop(me, ("yield", -1, 0.0))
        self.ready[me] = self.wait(mode, fd, timeout)

    @abstractmethod
    def wait(self, mode: str, fd: int, timeout: float) -> int:
        """Switch away until `fd` is ready ("read"/"write"), `timeout` passed ("sleep"), or
        at once ("yield"); the fd that is ready, or -1."""

    def ready_fd(self) -> int:
        return self.ready.get(self.current(), -1)


class GeventCores(AsyncCores):
    """`--gevent N`: gevent's hub in the scheduler thread, a greenlet per request."""

    engine = "gevent"

    def prepare(self, config: Config) -> None:
        try:
            from gevent import monkey
        except ImportError as exc:
            raise AsyncCoresError(
                "--gevent needs the gevent package: pip install gevent (polyhost's dependencies "
                "list it)"
            ) from exc
        if config.get("gevent-monkey-patch") or config.get("gevent-early-monkey-patch"):
            # the worker's own threads (its epoll loop, harakiri, the scheduler) stay threads
            monkey.patch_all(thread=False, signal=False, aggressive=False)
            log("gevent monkey patching done (threads and signals left alone)")

    def run(self) -> None:
        import gevent.socket

        self.started.set()
        while True:
            gevent.socket.wait_read(self.wake_r)
            self.take_submitted()

    def spawn(self, conn: Connection, core: int) -> None:
        import gevent

        gevent.spawn(self.run_core, conn, core)

    def current(self) -> Any:
        import gevent

        return gevent.getcurrent()

    def wait(self, mode: str, fd: int, timeout: float) -> int:
        import gevent
        import gevent.socket

        if mode == "sleep" or mode == "yield":
            gevent.sleep(timeout)
            return -1
        wait = gevent.socket.wait_read if mode == "read" else gevent.socket.wait_write
        try:
            wait(fd, timeout=timeout or None)
        except gevent.socket.timeout:
            return -1
        return fd


class GreenletCores(AsyncCores):
    """`--asyncio N` and `--async N`: an asyncio loop in the scheduler thread switches plain
    greenlets (a request greenlet's parent is the loop's, so `greenlet.getcurrent().parent
    .switch()` after arranging a callback that switches back works as under uWSGI's asyncio)."""

    def __init__(self, cores: int, engine: str) -> None:
        super().__init__(cores)
        self.engine = engine
        self.loop: asyncio.AbstractEventLoop | None = None
        self.main: Any = None

    def prepare(self, config: Config) -> None:
        try:
            import greenlet  # noqa: F401
        except ImportError as exc:
            raise AsyncCoresError(
                f"--{self.engine} needs the greenlet package: pip install greenlet"
            ) from exc

    def run(self) -> None:
        import asyncio  # here: a worker without --asyncio/--async does not load it

        import greenlet

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop, self.main = loop, greenlet.getcurrent()
        loop.add_reader(self.wake_r, self.take_submitted)
        self.started.set()
        loop.run_forever()

    def spawn(self, conn: Connection, core: int) -> None:
        import greenlet

        assert self.loop is not None
        child = greenlet.greenlet(lambda: self.run_core(conn, core), parent=self.main)
        self.loop.call_soon(child.switch)

    def current(self) -> Any:
        import greenlet

        return greenlet.getcurrent()

    def wait(self, mode: str, fd: int, timeout: float) -> int:
        loop, me = self.loop, self.current()
        if loop is None or me is self.main:
            return _blocking_wait(mode, fd, timeout)
        handles: list[asyncio.TimerHandle] = []

        def resume(ready: int) -> None:
            for handle in handles:
                handle.cancel()
            if mode == "read":
                loop.remove_reader(fd)
            elif mode == "write":
                loop.remove_writer(fd)
            me.switch(ready)

        if mode == "read":
            loop.add_reader(fd, resume, fd)
        elif mode == "write":
            loop.add_writer(fd, resume, fd)
        if mode in ("sleep", "yield") or timeout:
            handles.append(loop.call_later(timeout, resume, -1))
        return int(self.main.switch())


def _blocking_wait(mode: str, fd: int, timeout: float) -> int:
    """Outside async cores (a thread, the master): the same wait, blocking this thread."""
    if mode in ("sleep", "yield"):
        time.sleep(timeout)
        return -1
    readers, writers = ([fd], []) if mode == "read" else ([], [fd])
    ready = select.select(readers, writers, [], timeout or None)
    return fd if ready[0] or ready[1] else -1


#: this worker's async cores, once started (None: threads)
ENGINE: AsyncCores | None = None


def for_worker(config: Config) -> AsyncCores | None:
    """The async cores the config asks for, or None."""
    global ENGINE
    cores = async_cores(config)
    if not cores:
        return None
    if config.get("gevent"):
        ENGINE = GeventCores(cores)
    else:
        ENGINE = GreenletCores(cores, "asyncio" if config.get("asyncio") else "async")
    return ENGINE


# -- uWSGI's Python API on the cores (uwsgi.suspend(), ...) -----------------------------------
def wait_fd_read(fd: int, timeout: float = 0) -> bool:
    """`uwsgi.wait_fd_read`: the next `suspend()` waits until `fd` is readable."""
    _want("read", int(fd), float(timeout))
    return True


def wait_fd_write(fd: int, timeout: float = 0) -> bool:
    """`uwsgi.wait_fd_write`: the next `suspend()` waits until `fd` is writable."""
    _want("write", int(fd), float(timeout))
    return True


def async_sleep(seconds: float) -> bool:
    """`uwsgi.async_sleep`: the next `suspend()` waits `seconds`."""
    _want("sleep", -1, float(seconds))
    return True


def suspend() -> None:
    """`uwsgi.suspend`: let the other cores run until the requested wait is over."""
    if ENGINE is not None and ENGINE.current() is not None:
        ENGINE.suspend()
        return
    mode, fd, timeout = _OUTSIDE.pop(threading.get_ident(), ("yield", -1, 0.0))
    _OUTSIDE_READY[threading.get_ident()] = _blocking_wait(mode, fd, timeout)


def ready_fd() -> int:
    """`uwsgi.ready_fd`: the fd that ended the last suspend, -1 after a timeout."""
    if ENGINE is not None:
        return ENGINE.ready_fd()
    return _OUTSIDE_READY.get(threading.get_ident(), -1)


_OUTSIDE: dict[int, tuple[str, int, float]] = {}
_OUTSIDE_READY: dict[int, int] = {}


def _want(mode: str, fd: int, timeout: float) -> None:
    if ENGINE is not None:
        ENGINE.pending[ENGINE.current()] = (mode, fd, timeout)
    else:
        _OUTSIDE[threading.get_ident()] = (mode, fd, timeout)


EXPORTS = (wait_fd_read, wait_fd_write, async_sleep, suspend, ready_fd)
