"""Freed heap back to the kernel: glibc keeps what Python freed (the config parse, the option
table's scratch, start-up imports) mapped, and every forked child would carry it in its RSS.

`trim()` runs in the master right before it forks (after gc.collect): the children start from
the smaller heap (issue 18, worker RSS). Without glibc's malloc_trim it does nothing.
"""

from __future__ import annotations

import ctypes


def trim() -> None:
    """malloc_trim(0): give free heap pages back (a no-op where libc has no malloc_trim)."""
    malloc_trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)
