"""The floors under a cache write from Python: what the cheapest pieces of a cache_update or a
cache_inc cost alone, in the same loop shape as bench/cache_ops.py's MEASURE, so the report
can put each beside uWSGI's whole operation (`cache_ops.py --floors`).

- `update floor: bare LMDB write txn`: `begin(write=True); replace(); commit()` on an
  environment with the cache's settings (writemap, sync and metasync off): any cache_update
  that keeps every returned write in LMDB pays at least this.
- `inc floor: flock + shm add`: a cross-process lock from the standard library (flock on a
  file, released by the kernel when the holder is killed) around an int64 add in a shared map.
- `inc floor: posix_ipc semaphore + shm add`: the same with a POSIX semaphore (posix_ipc from
  PyPI, uncontended: no system call), the shape a shared-memory counter table would have.
  A semaphore is not released when its holder is killed: such a table needs an owner word and
  a timed acquire that recovers. Skipped when posix_ipc is not installed.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import lmdb

Writer = Callable[[bytes, bytes, int, str], object]


def _rate(write: Writer, calls: int, counter: bool) -> float:
    keys = [b"key-%d" % i for i in range(500)]
    value = b"v" * 100
    start = time.perf_counter()
    if counter:
        for _ in range(calls):
            write(b"counter", 1, 0, "bench")  # type: ignore[arg-type]
    else:
        for i in range(calls):
            write(keys[i % 500], value, 0, "bench")
    return calls / (time.perf_counter() - start)


@contextmanager
def _lmdb_update(directory: str) -> Iterator[Writer]:
    env = lmdb.open(
        os.path.join(directory, "floor.lmdb"),
        subdir=False,
        map_size=64 << 20,
        writemap=True,
        sync=False,
        metasync=False,
        max_spare_txns=0,
    )
    begin = env.begin

    def update(key: bytes, value: bytes, expires: int, cache: str) -> bool:
        txn = begin(write=True)
        txn.replace(key, value)
        txn.commit()
        return True

    try:
        yield update
    finally:
        env.close()


def _shared_word(directory: str, stack: ExitStack) -> memoryview:
    fd = os.open(os.path.join(directory, "floor.map"), os.O_RDWR | os.O_CREAT, 0o600)
    stack.callback(os.close, fd)
    os.ftruncate(fd, mmap.PAGESIZE)
    page = mmap.mmap(fd, mmap.PAGESIZE)
    stack.callback(page.close)
    view = memoryview(page).cast("q")
    stack.callback(view.release)
    return view


@contextmanager
def _flock_inc(directory: str) -> Iterator[Writer]:
    with ExitStack() as stack:
        view = _shared_word(directory, stack)
        fd = os.open(os.path.join(directory, "floor.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        stack.callback(os.close, fd)
        lock, exclusive, unlock = fcntl.flock, fcntl.LOCK_EX, fcntl.LOCK_UN

        def inc(key: bytes, amount: int, expires: int, cache: str) -> int:
            lock(fd, exclusive)
            try:
                new = view[1] = view[1] + amount
            finally:
                lock(fd, unlock)
            return new

        yield inc


@contextmanager
def _semaphore_inc(directory: str) -> Iterator[Writer]:
    import posix_ipc  # type: ignore[import-not-found]

    name = f"/polyhost-floor-{os.getpid()}"
    semaphore = posix_ipc.Semaphore(name, posix_ipc.O_CREX, initial_value=1)
    with ExitStack() as stack:
        stack.callback(semaphore.unlink)
        view = _shared_word(directory, stack)
        acquire, release = semaphore.acquire, semaphore.release

        def inc(key: bytes, amount: int, expires: int, cache: str) -> int:
            acquire()
            try:
                new = view[2] = view[2] + amount
            finally:
                release()
            return new

        yield inc


def measure_floors(calls: int, directory: str) -> dict[str, float]:
    """Each floor's operations per second; the key names the uWSGI operation after a colon."""
    os.makedirs(directory, exist_ok=True)
    floors: list[tuple[str, Callable[[str], Any], bool]] = [
        ("update floor: bare LMDB write txn", _lmdb_update, False),
        ("inc floor: flock + shm add", _flock_inc, True),
    ]
    try:
        import posix_ipc  # type: ignore[import-not-found]  # noqa: F401

        floors.append(("inc floor: posix_ipc semaphore + shm add", _semaphore_inc, True))
    except ImportError:
        pass
    rates = {}
    for name, make, counter in floors:
        with make(directory) as write:
            rates[name] = _rate(write, calls, counter)
    return rates
