"""The spooler: uWSGI's on-disk task queue, written and served by every language of the instance.

`spool()` writes a task file atomically (a hidden temp file in the same directory, fsync, rename),
so a crash mid-write never leaves a half task. A `Spooler` serves one directory from one or more
spooler processes: it scans for due tasks in uWSGI's order, locks each with fcntl as uWSGI does
(so two processes, polyhost's or uWSGI's, never run one task twice) and hands vars and body to the
spooler functions. Return codes are uWSGI's: SPOOL_OK (-2) deletes the task, SPOOL_RETRY (-1),
an exception or a non-int keep it for the next scan, SPOOL_IGNORE (0) keeps it for another runtime.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import random
import select
import signal
import socket
import stat
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from polyhost.fabric.redis_url import is_redis_url, redacted
from polyhost.fabric.spoolfile import (
    TASK_PREFIX,
    SpoolError,
    decode_spool_file,
    encode_spool_file,
    version_sort_key,
)

__all__ = [
    "SPOOL_IGNORE",
    "SPOOL_OK",
    "SPOOL_RETRY",
    "SpoolError",
    "Spooler",
    "decode_spool_file",
    "encode_spool_file",
    "spool",
]

SPOOL_OK, SPOOL_RETRY, SPOOL_IGNORE = -2, -1, 0

#: handler(vars, body, task_name) -> return code; task_name is the file's basename
SpoolHandler = Callable[[dict[bytes, bytes], bytes, bytes], object]

#: a task being written: `.spooling-` + its final name (invisible to uWSGI's and our scans)
TEMP_PREFIX = ".spooling-"
#: longest a spooler loop sleeps before looking at should_stop() again
MAX_WAIT = 1.0

_counter = itertools.count(1)
_counter_lock = threading.Lock()


# -- writing tasks -------------------------------------------------------------------------------
def spool(
    directories: list[str],
    task: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]],
    *,
    body: bytes = b"",
    spooler: str | None = None,
    priority: str | None = None,
    at: float | None = None,
    log: Callable[[str], None] | None = None,
) -> str:
    """Write one task file and return its absolute path.

    uWSGI's reserved vars are honoured: `spooler` (one of `directories`), `priority` (a numeric
    subdirectory) and `at` (the file's mtime; the task runs once that time has passed). The
    keyword arguments fill those vars when the task lacks them; the vars stay in the file.
    """
    vars = _task_vars(task)
    if spooler is not None:
        vars.setdefault(b"spooler", os.fsencode(spooler))
    if priority is not None:
        vars.setdefault(b"priority", str(priority).encode())
    if at is not None:
        vars.setdefault(b"at", b"%d" % at if float(at).is_integer() else repr(float(at)).encode())
    directory = _choose_directory(directories, vars.get(b"spooler"))
    priority_name = _priority_name(vars.get(b"priority"))
    run_at = _parse_at(vars.get(b"at"))
    if is_redis_url(directory):
        from polyhost.fabric.spooler_redis import StreamWriter

        name = StreamWriter.of(directory).spool(vars, body, priority_name, run_at)
        if log is not None:
            log(f"[spooler] task {name} queued")
        return name
    head = encode_spool_file(vars)
    if priority_name:
        directory = os.path.join(directory, priority_name)
        try:
            os.mkdir(directory, 0o777)
        except FileExistsError:
            pass
        except OSError as exc:
            raise SpoolError(
                f"cannot create priority directory {directory}: {exc.strerror}"
            ) from None
    with _counter_lock:
        counter = next(_counter)
    sec, usec = divmod(time.time_ns() // 1000, 1_000_000)
    name = (
        f"{TASK_PREFIX}{socket.gethostname()}_{os.getpid()}_{counter}_"
        f"{random.randrange(2**31)}_{sec}_{usec}"
    )
    path = os.path.join(directory, name)
    _write_atomically(directory, name, head, body, run_at)
    if log is not None:
        log(f"[spooler] written {len(head) + len(body)} bytes to file {path}")
    return path


def _task_vars(task: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    items = task.items() if isinstance(task, Mapping) else task
    vars: dict[bytes, bytes] = {}
    for key, value in items:
        if not isinstance(key, bytes):
            raise ValueError(f"spooler task keys must be bytes, got {type(key).__name__} {key!r}")
        if not isinstance(value, bytes | bytearray | memoryview):
            raise ValueError(
                f"spooler task value of {key!r} must be bytes, got {type(value).__name__} {value!r}"
            )
        vars[key] = bytes(value)
    return vars


def _choose_directory(directories: list[str], wanted: bytes | None) -> str:
    if not directories:
        raise SpoolError("no spooler is configured: add `spooler = DIR` to spool tasks")
    if not wanted:
        return _spooler_place(directories[0])
    wanted_place = _spooler_place(os.fsdecode(wanted))
    for directory in directories:
        if _spooler_place(directory) == wanted_place:
            return wanted_place
    raise SpoolError(
        f"no spooler on {os.fsdecode(wanted)!r}: the configured spoolers are "
        + ", ".join(redacted(_spooler_place(d)) for d in directories)
    )


def spools_to_redis(directories: list[str], wanted: bytes | str | None) -> bool:
    """Whether a task for the spooler `wanted` (None: the default one) goes to a Redis stream."""
    if not directories:
        return False
    chosen = _choose_directory(directories, os.fsencode(wanted) if wanted else None)
    return is_redis_url(chosen)


def _spooler_place(spooler: str) -> str:
    """A directory's real path, or a Redis stream's URL as configured."""
    return spooler if is_redis_url(spooler) else os.path.realpath(spooler)


def _priority_name(value: bytes | None) -> str | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValueError(
            f"spooler priority must be a number (the name of a subdirectory that "
            f"spooler-ordered runs, lower first), got {value!r}"
        )
    return value.decode()


def _parse_at(value: bytes | None) -> int:
    """uWSGI's reading of `at`: the Unix time's whole seconds (a fraction is ignored)."""
    if not value:
        return 0
    seconds = value.split(b".", 1)[0]
    if not (seconds.isascii() and seconds.isdigit()):
        raise ValueError(
            f"spooler `at` must be a Unix time in seconds such as b'1700000000', got {value!r}"
        )
    return int(seconds)


def _write_atomically(directory: str, name: str, head: bytes, body: bytes, run_at: int) -> None:
    """Temp file in the same directory, written, mtime set, fsynced, renamed: all or nothing."""
    temp = os.path.join(directory, TEMP_PREFIX + name)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, head)
            _write_all(fd, body)
            if run_at > 0:
                os.utime(fd, (run_at, run_at))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        os.close(fd)
        os.rename(temp, os.path.join(directory, name))
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise SpoolError(f"cannot write a spooler task in {directory}: {exc.strerror}") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- running tasks -------------------------------------------------------------------------------
class TaskRunner:
    """What every spooler process does with a task, wherever it came from: the log lines, the
    spooler function under `spooler-harakiri`, uWSGI's return codes and the counters."""

    def __init__(
        self,
        where: str,
        *,
        frequency: float = 30,
        max_tasks: int = 0,
        harakiri: int = 0,
        log: Callable[[str], None],
        quiet: bool = False,
        chdir: str | None = None,
    ) -> None:
        #: what the log lines and stats call this spooler (a directory, a Redis stream)
        self.directory = where
        #: seconds between scans; `uwsgi.set_spooler_frequency` may change it at run time
        self.frequency = frequency
        self.max_tasks = max_tasks
        self.harakiri = harakiri
        self.quiet = quiet
        self.chdir = chdir
        self.log = log
        #: tasks run by this process (uWSGI resets it when a spooler process starts)
        self.tasks = 0
        #: kept by the master, which respawns spooler processes
        self.respawns = 0
        self.running = False
        self.pid = 0
        self._unclaimed: set[str] = set()
        self._wake_pipe: tuple[int, int] | None = None
        self._wake_pipe_pid = 0

    def execute(
        self, name: str, vars: dict[bytes, bytes], body: bytes, handler: SpoolHandler
    ) -> int:
        """Run one task through `handler(vars, body, task_name)`; return its code (an exception
        or a non-int answer is SPOOL_RETRY)."""
        prefix = f"[spooler {self.directory} pid: {os.getpid()}]"
        if not self.quiet:
            self.log(f"{prefix} managing request {name} ...")
        started = time.time()
        self.running = True
        try:
            result = self._call(handler, vars, body, name)
        except Exception:
            self.log(
                f"{prefix} task {name} raised an exception; it stays for the next scan:\n"
                + traceback.format_exc().rstrip("\n")
            )
            result = SPOOL_RETRY
        finally:
            self.running = False
        if not isinstance(result, int):
            self.log(
                f"{prefix} the spooler function returned {result!r} for task {name}, not "
                "an int (SPOOL_OK -2, SPOOL_RETRY -1, SPOOL_IGNORE 0): kept for retry"
            )
            result = SPOOL_RETRY
        code = int(result)
        if code == SPOOL_IGNORE:
            if name not in self._unclaimed:
                self._unclaimed.add(name)
                self.log(
                    f"{prefix} no spooler function took task {name} (every runtime "
                    "returned SPOOL_IGNORE); it stays: load the spooler function in the "
                    "spooler processes (spooler-import, shared-import)"
                )
            return code
        self.tasks += 1
        if code == SPOOL_OK and not self.quiet:
            self.log(f"{prefix} done with task {name} after {int(time.time() - started)} seconds")
        return code

    def _call(
        self, handler: SpoolHandler, vars: dict[bytes, bytes], body: bytes, name: str
    ) -> object:
        """The handler under `spooler-harakiri`: past the limit the process kills itself."""
        if self.chdir:
            os.chdir(self.chdir)
        if not self.harakiri:
            return handler(vars, body, os.fsencode(name))

        def expire(signum: int, frame: object) -> None:
            self.log(
                f"*** HARAKIRI ON THE SPOOLER (pid: {os.getpid()}) *** task {name} ran "
                f"over spooler-harakiri ({self.harakiri} s); it stays in {self.directory}"
            )
            os.kill(os.getpid(), signal.SIGKILL)

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.harakiri)
        try:
            return handler(vars, body, os.fsencode(name))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def reached_max_tasks(self) -> bool:
        if self.max_tasks and self.tasks >= self.max_tasks:
            self.log(
                f"[spooler {self.directory} pid: {self.pid}] maximum number of "
                f"tasks reached ({self.max_tasks}) recycling ..."
            )
            return True
        return False

    def wake(self) -> None:
        """Scan now (uWSGI's SIGUSR1): safe to call from a signal handler or another thread."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_fds()[1], b"\0")

    def _wake_fds(self) -> tuple[int, int]:
        """The wake pipe of this process (a spooler built before fork gets a new one after)."""
        if self._wake_pipe is None or self._wake_pipe_pid != os.getpid():
            self._wake_pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self._wake_pipe_pid = os.getpid()
        return self._wake_pipe

    def stats(self) -> dict[str, Any]:
        """This spooler's entry of the stats JSON `spoolers[]`."""
        return {
            "dir": self.directory,
            "pid": self.pid,
            "tasks": self.tasks,
            "respawns": self.respawns,
            "running": int(self.running),
        }


# -- serving a directory -------------------------------------------------------------------------
class Spooler(TaskRunner):
    """One spooler directory, served by the process(es) that call `loop`."""

    def __init__(self, directory: str, *, ordered: bool = False, **settings: Any) -> None:
        """`settings` are TaskRunner's: frequency, max_tasks, harakiri, log, quiet, chdir."""
        try:
            os.makedirs(directory, 0o750, exist_ok=True)
        except OSError as exc:
            raise SpoolError(
                f"cannot create spooler directory {directory}: {exc.strerror}"
            ) from None
        super().__init__(os.path.realpath(directory), **settings)
        self.ordered = ordered
        self._hostname = socket.gethostname()
        self._next_due: float | None = None
        self._priority_dirs: list[str] = []
        self._warned_unordered = False

    # scanning
    def scan(self, now: float) -> list[str]:
        """Paths of the tasks due at `now`, in the order uWSGI's spooler runs them.

        With `ordered`, numeric priority subdirectories come first, lower numbers first (glibc
        versionsort, as uWSGI's scandir), each listed in the same order; then the directory's
        own tasks. Files whose mtime (`at`) is in the future wait. Temp files left by writers
        that died mid-write are removed on the way.
        """
        self._next_due = None
        self._priority_dirs = []
        due: list[str] = []
        for entry in self._entries(self.directory):
            if _is_priority(entry.name) and entry.is_dir(follow_symlinks=False):
                self._priority_dirs.append(entry.path)
                if self.ordered:
                    for task in self._entries(entry.path):
                        self._consider(task, now, due)
                elif not self._warned_unordered:
                    self._warned_unordered = True
                    self.log(
                        f"[spooler {self.directory}] WARNING: priority subdirectory "
                        f"{entry.path} is never run without spooler-ordered (uWSGI "
                        "skips it too): add `spooler-ordered = true`"
                    )
                continue
            self._consider(entry, now, due)
        return due

    def _entries(self, directory: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as exc:
            self.log(f"[spooler {self.directory}] cannot list {directory}: {exc.strerror}")
            return []
        return sorted(entries, key=lambda entry: version_sort_key(entry.name))

    def _consider(self, entry: os.DirEntry[str], now: float, due: list[str]) -> None:
        if not entry.name.startswith(TASK_PREFIX):
            if entry.name.startswith(TEMP_PREFIX):
                self._remove_if_abandoned(entry)
            return
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(info.st_mode):
            return
        if info.st_mtime > now:
            self._next_due = min(self._next_due or info.st_mtime, info.st_mtime)
            return
        due.append(entry.path)

    def _remove_if_abandoned(self, entry: os.DirEntry[str]) -> None:
        """Delete a temp file whose writer (a process of this host) is gone."""
        fields = entry.name[len(TEMP_PREFIX) + len(TASK_PREFIX) :].rsplit("_", 5)
        if len(fields) != 6 or fields[0] != self._hostname or not fields[1].isdigit():
            return
        try:
            os.kill(int(fields[1]), 0)
        except ProcessLookupError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                self.log(
                    f"[spooler {self.directory}] removed {entry.path}: its writer "
                    f"(pid {fields[1]}) died before finishing it"
                )
        except PermissionError:
            return

    # running one task
    def run_task(self, path: str, handler: SpoolHandler) -> int | None:
        """Run one task file through `handler(vars, body, task_name)`; return its code.

        None means the task was not run here: another process holds it (or already ran and
        deleted it), a uWSGI writer is still filling it, or it is corrupt (then it is renamed
        `corrupt-<name>` and logged, never deleted).
        """
        name = os.path.basename(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.log(f"[spooler {self.directory}] cannot open task {path}: {exc.strerror}")
            return None
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    return None
                raise
            # another spooler may have run and unlinked it between our open and our lock
            try:
                on_disk = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                return None
            opened = os.fstat(fd)
            if (on_disk.st_dev, on_disk.st_ino) != (opened.st_dev, opened.st_ino):
                return None
            data = _read_all(fd)
            if len(data) < 4:
                return None  # a uWSGI writer creates the file, then locks it and writes
            try:
                vars, body = decode_spool_file(data)
            except SpoolError as exc:
                self._set_aside(path, name, exc)
                return None
            return self._run(path, name, vars, body, handler)
        finally:
            os.close(fd)  # releases the lock

    def _run(
        self, path: str, name: str, vars: dict[bytes, bytes], body: bytes, handler: SpoolHandler
    ) -> int:
        code = self.execute(name, vars, body, handler)
        if code == SPOOL_OK:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return code

    def _set_aside(self, path: str, name: str, problem: SpoolError) -> None:
        aside = os.path.join(os.path.dirname(path), "corrupt-" + name)
        try:
            os.rename(path, aside)
        except OSError as exc:
            self.log(
                f"[spooler {self.directory}] task {path} is corrupt ({problem}) and could "
                f"not be set aside ({exc.strerror}): delete or fix it"
            )
            return
        self.log(
            f"[spooler {self.directory}] task {path} is corrupt ({problem}): moved to "
            f"{aside}; fix it (rename it back) or delete it"
        )

    # the process loop
    def loop(self, handler: SpoolHandler, should_stop: Callable[[], bool]) -> None:
        """Serve the directory until should_stop() or, with max_tasks, until that many ran.

        Scans every `frequency` seconds, when woken, when a polyhost writer renames a task into
        the directory (inotify), and when the earliest `at` task falls due.
        """
        from inotify_simple import INotify

        self.pid = os.getpid()
        self.tasks = 0
        with INotify() as watcher:
            watches: dict[str, int] = {}
            self._watch(watcher, watches)
            while not should_stop():
                for path in self.scan(time.time()):
                    if should_stop():
                        return
                    self.run_task(path, handler)
                    if self.reached_max_tasks():
                        return
                # a task renamed into a new priority directory before its watch: scan again
                if not self._watch(watcher, watches):
                    self._wait(watcher, should_stop)

    def _watch(self, watcher: Any, watches: dict[str, int]) -> bool:
        """Watch the directory and the priority directories scan found; True if any is new."""
        from inotify_simple import flags

        added = False
        for directory in [self.directory, *(self._priority_dirs if self.ordered else [])]:
            if directory not in watches:
                with contextlib.suppress(OSError):  # a priority directory just removed
                    watches[directory] = watcher.add_watch(
                        directory, flags.MOVED_TO | flags.CREATE | flags.ONLYDIR
                    )
                    added = directory != self.directory
        return added

    def _wait(self, watcher: Any, should_stop: Callable[[], bool]) -> None:
        timeout = self.frequency
        if self._next_due is not None:
            timeout = min(timeout, max(0.0, self._next_due - time.time()))
        deadline = time.monotonic() + timeout
        wake_fd = self._wake_fds()[0]
        while not should_stop():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            watched = [wake_fd, watcher.fileno()]
            ready, _, _ = select.select(watched, [], [], min(remaining, MAX_WAIT))
            if wake_fd in ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_fd, 4096):
                        pass
                return
            if ready and any(_announces_task(event) for event in watcher.read(timeout=0)):
                return


def _is_priority(name: str) -> bool:
    return name.isascii() and name.isdigit()


def _announces_task(event: Any) -> bool:
    """A task renamed into place (polyhost's writers), or a new priority directory."""
    from inotify_simple import flags

    if event.mask & flags.ISDIR:
        return _is_priority(event.name)
    return bool(event.mask & flags.MOVED_TO) and event.name.startswith(TASK_PREFIX)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
