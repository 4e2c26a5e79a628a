"""Mules: background processes with the instance's runtimes, no socket, messages and signals.

`mule` (repeatable; `mule = script.py` runs that script) and `mules = N`; `farm = name:1,2`
groups mules. Messages are datagrams on socketpairs the master creates before fork, so a worker
writes straight to a mule's queue: one queue per mule, one shared by all mules (the "first
available" one uWSGI's `mule_msg(msg)` uses) and one per farm.
"""

from __future__ import annotations

import contextlib
import select
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost.config import as_list, option_values

if TYPE_CHECKING:
    from polyhost.config import Config

#: biggest message a mule queue takes (uWSGI's default is 65536 too)
MAX_MESSAGE = 65536


class MuleError(Exception):
    """A bad mule or farm reference, or a full queue."""


@dataclass
class MuleSpec:
    id: int
    script: str = ""


def mule_specs(config: Config) -> list[MuleSpec]:
    specs: list[MuleSpec] = []
    value = config.get("mule")
    # a bare `mule` (an empty or true value) is a mule without a script: each one counts
    for item in value if isinstance(value, list) else as_list(value):
        script = "" if item in ("", True, "true", "True", "1") else str(item)
        specs.append(MuleSpec(len(specs) + 1, script))
    for _ in range(sum(int(count) for count in option_values(config, "mules"))):
        specs.append(MuleSpec(len(specs) + 1))
    return specs


def farm_specs(config: Config, mules: int) -> dict[str, list[int]]:
    farms: dict[str, list[int]] = {}
    for value in option_values(config, "farm"):
        name, sep, ids = value.partition(":")
        if not sep or not name:
            raise MuleError(f"farm = {value!r}: use farm = NAME:1,2 (mule ids from 1)")
        members = [int(i) for i in ids.split(",") if i.strip()]
        bad = [i for i in members if not 1 <= i <= mules]
        if bad:
            raise MuleError(f"farm {name!r} names mule(s) {bad}, but there are {mules} mules")
        farms[name] = members
    return farms


def _pair() -> tuple[socket.socket, socket.socket]:
    reader, writer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    writer.setblocking(False)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return reader, writer


@dataclass
class MuleQueues:
    """Every mule queue of the instance; made in the master, inherited by every process."""

    mules: dict[int, tuple[socket.socket, socket.socket]] = field(default_factory=dict)
    shared: tuple[socket.socket, socket.socket] | None = None
    farms: dict[str, tuple[socket.socket, socket.socket]] = field(default_factory=dict)
    members: dict[str, list[int]] = field(default_factory=dict)
    #: set in a mule process: which mule this is (0 elsewhere)
    mule_id: int = 0

    @classmethod
    def create(cls, specs: list[MuleSpec], farms: dict[str, list[int]]) -> MuleQueues:
        if not specs:
            return cls()
        return cls(
            mules={spec.id: _pair() for spec in specs},
            shared=_pair(),
            farms={name: _pair() for name in farms},
            members=farms,
        )

    def send(self, message: bytes, target: int | str | None = None) -> bool:
        """mule_msg: to mule N, to a farm by name, or (None/0) to the first available mule."""
        if not self.mules:
            raise MuleError("mule_msg needs at least one mule (option mule)")
        if len(message) > MAX_MESSAGE:
            raise MuleError(f"mule message of {len(message)} bytes is over {MAX_MESSAGE}")
        if isinstance(target, str) and not target.isdigit():
            pair = self.farms.get(target)
            if pair is None:
                raise MuleError(f"no farm named {target!r} (farms: {sorted(self.farms)})")
        elif target in (None, 0, "0"):
            pair = self.shared
        else:
            pair = self.mules.get(int(target))  # type: ignore[arg-type]
            if pair is None:
                raise MuleError(f"no mule {target} (mules 1..{len(self.mules)})")
        assert pair is not None
        try:
            pair[1].send(message)
            return True
        except (BlockingIOError, InterruptedError):
            return False

    def readers(self, mule_id: int) -> list[socket.socket]:
        """The queues a mule reads: its own, the shared one, its farms'."""
        own = [self.mules[mule_id][0]] if mule_id in self.mules else []
        shared = [self.shared[0]] if self.shared else []
        farms = [self.farms[name][0] for name, ids in self.members.items() if mule_id in ids]
        return own + shared + farms

    def receive(self, mule_id: int, timeout: float | None = None) -> bytes | None:
        """mule_get_msg: block (bounded by timeout) until a message for this mule arrives."""
        readers = self.readers(mule_id)
        if not readers:
            raise MuleError("mule_get_msg can only be called in a mule")
        readable, _, _ = select.select(readers, [], [], timeout)
        for reader in readable:
            with contextlib.suppress(BlockingIOError):
                return reader.recv(MAX_MESSAGE, socket.MSG_DONTWAIT)
        return None

    def keep_only(self, mule_id: int) -> None:
        """In a mule: close the other mules' read ends (they are not ours to drain)."""
        for number, (reader, _) in self.mules.items():
            if number != mule_id:
                reader.close()
        self.mule_id = mule_id
