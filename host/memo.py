"""`Memo`: what a pure function gave for a key, kept for the next time the same key comes.

Response heads repeat: an app sends a handful of distinct (status, headers), so each is checked
and encoded once. A key that varies per request (a date, a cookie) would grow a table without
end: at `size` entries the table starts again. An unhashable key (headers given as lists) is
never kept: the caller computes the value each time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """A bounded table of values by key (see the module)."""

    __slots__ = ("_size", "_table")

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._table: dict[Hashable, V] = {}

    def get(self, key: object) -> V | None:
        """The value kept for `key`, None when there is none (or `key` is unhashable)."""
        try:
            return self._table.get(key)  # type: ignore[call-overload]
        except TypeError:
            return None

    def put(self, key: object, value: V) -> V:
        """Keep `value` for `key` (not when unhashable); returns `value`."""
        table = self._table
        if len(table) >= self._size:
            table.clear()
        with contextlib.suppress(TypeError):
            table[key] = value  # type: ignore[index]
        return value
