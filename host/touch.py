"""Files whose modification time triggers an action (`touch-reload`, `touch-chain-reload` ...)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable


def mtime(path: str) -> float:
    """The file's mtime, 0.0 when it does not exist (yet)."""
    try:
        return os.stat(path).st_mtime
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return 0.0
        raise


class TouchWatch:
    """Calls `action(path)` once each time a watched file's mtime changes."""

    def __init__(self) -> None:
        self._watched: dict[str, tuple[float, Callable[[str], None]]] = {}

    def watch(self, paths: list[str], action: Callable[[str], None]) -> None:
        for path in paths:
            self._watched[path] = (mtime(path), action)

    def check(self) -> None:
        for path, (before, action) in list(self._watched.items()):
            now = mtime(path)
            if now != before:
                self._watched[path] = (now, action)
                action(path)
