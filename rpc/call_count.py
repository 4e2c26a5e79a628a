"""How many RPC calls the instance ran, counted without a lock on the call path.

The count is one shared memory page made in the master before fork: a slot (owner pid, calls)
per process. A process claims a free slot (never used, or left by a dead process: the count it
holds is kept) under a lock at its first call, then adds to its own slot alone, a memory add as
the cache's hit counters (`polyhost.fabric.cache`): no other process writes that slot, and under
the GIL the add of one int64 in a memoryview is not interrupted by another thread. The total is
the sum of the slots; `core.rpc_calls` in the metrics is derived from it.

The hottest caller (Python's local `uwsgi.rpc`) adds in line, without a call: `view[index] += 1`
while `index` (this process's word in `view`) is >= 0, and `count()` otherwise, which claims.
"""

from __future__ import annotations

import mmap
import os
import weakref

from polyhost.shared_lock import shared_lock

#: slots of (owner pid, calls); a process that finds none free adds to the shared one under lock
SLOTS = 1024
_SHARED = SLOTS - 1


class CallCounter:
    """The instance's count of RPC calls, shared by every process forked after it was made."""

    def __init__(self) -> None:
        self._page = mmap.mmap(-1, SLOTS * 16)
        self._view = memoryview(self._page).cast("q")
        #: the shared page, and this process's word in it (-1 until claimed, and after fork)
        self.view = self._view
        self.index = -1
        self._lock = shared_lock()
        self._slot = -1
        forked = weakref.WeakMethod(self._forked)
        os.register_at_fork(after_in_child=lambda: (method := forked()) and method())

    def _forked(self) -> None:
        self._slot = self.index = -1  # the parent's slot stays the parent's

    def count(self) -> None:
        """One call more (the hot path: one add to this process's own slot)."""
        slot = self._slot
        if slot < 0:
            slot = self._claim()
        if slot != _SHARED:
            self._view[2 * slot + 1] += 1
            return
        with self._lock:
            self._view[2 * slot + 1] += 1

    def _claim(self) -> int:
        view, pid = self._view, os.getpid()
        with self._lock:
            for slot in range(_SHARED):
                owner = view[2 * slot]
                if owner == 0 or (owner != pid and not _alive(owner)):
                    view[2 * slot] = pid
                    self._slot, self.index = slot, 2 * slot + 1
                    return slot
        self._slot = _SHARED  # every slot taken: this process counts under the lock
        return _SHARED

    def total(self) -> int:
        view = self._view
        return int(sum(view[1::2]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
