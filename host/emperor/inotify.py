"""inotify for the Emperor's loop: the three syscalls through libc, events unpacked by struct.

inotify_simple would do, but it imports ctypes.util (subprocess, shutil, tempfile, bz2, lzma:
about 2 MiB of the Emperor's RSS, bench/RESULTS.md issue 14); the loop needs only
inotify_init1, inotify_add_watch and read(2).
"""

from __future__ import annotations

import ctypes
import os
import struct

# <sys/inotify.h>
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
#: struct inotify_event without its name: wd, mask, cookie, len
_HEADER = struct.Struct("iIII")
#: one read: many events at once (the kernel's queue holds 16384 by default)
_READ_SIZE = 64 * 1024

_libc = ctypes.CDLL(None, use_errno=True)


class Event:
    """One inotify event: the watch it came from, what happened, the file name in it."""

    __slots__ = ("mask", "name", "wd")

    def __init__(self, wd: int, mask: int, name: str) -> None:
        self.wd, self.mask, self.name = wd, mask, name


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


class INotify:
    """A non-blocking inotify instance (close-on-exec)."""

    def __init__(self) -> None:
        self.fd = _check(_libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC), "inotify_init1")

    def fileno(self) -> int:
        return self.fd

    def add_watch(self, path: str, mask: int) -> int:
        """The watch descriptor of `path` (OSError with the errno when it cannot be watched)."""
        return _check(
            _libc.inotify_add_watch(self.fd, os.fsencode(path), ctypes.c_uint32(mask)),
            f"inotify_add_watch {path}",
        )

    def read(self) -> list[Event]:
        """The events queued now (none: an empty list)."""
        try:
            data = os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return []
        events = []
        offset = 0
        while offset + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            raw = data[offset : offset + length].rstrip(b"\0")
            offset += length
            events.append(Event(wd, mask, os.fsdecode(raw)))
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
