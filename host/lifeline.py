"""Processes that die with their parent: a worker, mule, spooler or router must not go on
serving (and holding the listening sockets) once the master is gone, even when the master was
killed with SIGKILL and could not stop them.

`die_with_parent()` runs first thing in a forked child: the kernel sends the child SIGKILL when
the thread that forked it ends (PR_SET_PDEATHSIG; the master forks from its main thread), and a
parent that died before the call is caught by comparing getppid() with the pid it had."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
#: the C library already in the process (ctypes.util.find_library would run ldconfig and import
#: subprocess and tempfile into every child)
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Have the kernel send `sig` to this process when its parent dies; exit now if it has."""
    if _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent_pid:
        os._exit(1)
