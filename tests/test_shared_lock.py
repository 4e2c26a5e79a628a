"""polyhost.shared_lock: one lock across the processes forked after it was made (the metrics
page, the RPC count and uwsgi.lock use it), without the multiprocessing package. Real forks."""

from __future__ import annotations

import os
from collections.abc import Callable

from polyhost.shared_lock import shared_lock


def _in_child(body: Callable[[], bool]) -> bool:
    """Fork; the child runs `body` and exits 1 when it returned True."""
    pid = os.fork()
    if pid == 0:
        code = 2
        try:
            code = int(body())
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 1


def test_a_child_waits_while_the_parent_holds_it() -> None:
    lock = shared_lock()
    with lock:
        assert not _in_child(lambda: lock.acquire(timeout=0.2))
    assert _in_child(lambda: lock.acquire(timeout=5))


def test_the_parent_waits_while_a_child_holds_it() -> None:
    lock = shared_lock()
    taken_r, taken_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        lock.acquire()
        os.write(taken_w, b"x")
        os.read(done_r, 1)
        lock.release()
        os._exit(0)
    assert os.read(taken_r, 1) == b"x"
    assert lock.acquire(timeout=0.2) is False
    os.write(done_w, b"x")
    assert lock.acquire(timeout=5) is True
    lock.release()
    os.waitpid(pid, 0)
    for fd in (taken_r, taken_w, done_r, done_w):
        os.close(fd)
