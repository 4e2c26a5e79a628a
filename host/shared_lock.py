"""A lock shared by the processes forked after it was made (the metrics page, the RPC count).

It is the POSIX semaphore multiprocessing's fork-context Lock is built on (uncontended: no
system call), made straight from the `_multiprocessing` extension: importing the multiprocessing
package would bring pickle, tempfile, shutil, bz2 and lzma (~1.5 MiB) into every worker
(issue 18, worker RSS). The semaphore's name is unlinked at once, as multiprocessing does.
"""

from __future__ import annotations

import _multiprocessing
import itertools
import os

#: multiprocessing.synchronize.SEMAPHORE: a counting semaphore (a Lock is one of maximum 1)
_SEMAPHORE = 1
_serial = itertools.count()


def shared_lock() -> _multiprocessing.SemLock:
    """A non-recursive lock (acquire/release, a context manager) for this process and its
    future children."""
    name = f"/polyhost-{os.getpid()}-{next(_serial)}"
    return _multiprocessing.SemLock(_SEMAPHORE, 1, 1, name, True)
