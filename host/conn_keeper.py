"""Idle keep-alive connections outlive a worker killed -9 (`keep-idle-connections`, default on).

The first time a connection goes idle after a keep-alive response, its worker hands a duplicate
of the fd to the master (SCM_RIGHTS over a SOCK_SEQPACKET socketpair per worker number). From
then on the worker records the connection's state in a shared-memory table, one byte per slot
(the worker's fd number), with no syscall: BUSY before it recv()s from it, IDLE once the
response is out and nothing unread is buffered in user space, FREE when it closes it (after a
shutdown(), so the client sees the FIN although the master still holds a duplicate). The master
closes the duplicates of FREE slots lazily, a bounded number per turn of its loop.

When a worker dies, the master sends the connections whose slot says IDLE down the dead
worker's channel, where its successor (or, when that one's respawn is delayed, a living worker)
adopts them as fresh connections: the request the client already sent waits, unread, in the
kernel's buffer. BUSY ones are closed: they were being served.
"""

from __future__ import annotations

import array
import contextlib
import mmap
import os
import resource
import socket
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from polyhost.log import log

if TYPE_CHECKING:
    from polyhost.protocol.connection import Connection

#: slot states (one byte per worker fd number)
FREE, IDLE, BUSY = 0, 1, 2
#: fd numbers a worker may keep connections under (higher ones are simply not kept)
SLOTS = 4096
#: the most duplicates the master closes per turn of its loop
SWEEP_BATCH = 256
#: fds the master keeps free for everything else (stats, FIFO, pipes) under its RLIMIT_NOFILE
RESERVED_FDS = 256
#: worker -> master: "K", the slot, the listener's name; the fd rides as SCM_RIGHTS
KEEP = b"K"
#: worker -> master: "F", the slot; closed now, close the duplicate now (no fd rides)
FREED = b"F"
#: master -> worker: "A", the listener's name; adopt the fd as a fresh connection
ADOPT = b"A"
_SLOT = struct.Struct("=I")
_FD_SIZE = array.array("i").itemsize
#: longest message (a listener name is a socket address)
MAX_MESSAGE = 1024


def _recv_fd(sock: socket.socket) -> tuple[bytes, int] | None:
    """One message and its fd (-1 without one); None once nothing is queued. The fd is
    close-on-exec, so a re-exec'd master inherits none."""
    try:
        data, ancillary, _, _ = sock.recvmsg(
            MAX_MESSAGE, socket.CMSG_SPACE(_FD_SIZE), socket.MSG_CMSG_CLOEXEC
        )
    except (BlockingIOError, InterruptedError):
        return None
    if not data:
        return None
    fd = -1
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % _FD_SIZE])
            for extra in fds[1:]:  # one fd per message: anything more is closed
                os.close(extra)
            fd = fds[0] if fds else -1
    return data, fd


@dataclass
class Channel:
    """One worker number's table and socketpair, kept by the master across respawns."""

    number: int
    table: mmap.mmap = field(default_factory=lambda: mmap.mmap(-1, SLOTS))
    pair: tuple[socket.socket, socket.socket] = field(
        default_factory=lambda: socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    )
    #: slot -> (the master's duplicate, the listener's name)
    held: dict[int, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pair[0].setblocking(False)
        self.pair[1].setblocking(False)

    @property
    def master_end(self) -> socket.socket:
        return self.pair[0]

    @property
    def worker_end(self) -> socket.socket:
        return self.pair[1]

    def drain(self, room: int = SLOTS) -> None:
        """Take every hand-off the worker queued (a newer one replaces a slot's old dup); past
        `room` new duplicates, the connections are simply not kept."""
        while (message := _recv_fd(self.master_end)) is not None:
            data, fd = message
            if fd < 0:
                if data[:1] == FREED and len(data) == 1 + _SLOT.size:
                    freed = self.held.pop(_SLOT.unpack_from(data, 1)[0], None)
                    if freed is not None:
                        os.close(freed[0])
                continue
            if data[:1] != KEEP or len(data) < 1 + _SLOT.size:
                os.close(fd)
                continue
            (slot,) = _SLOT.unpack_from(data, 1)
            if slot >= SLOTS:  # never sent by a worker: not a slot of the table
                os.close(fd)
                continue
            old = self.held.pop(slot, None)
            if old is not None:
                os.close(old[0])
                room += 1
            if room <= 0:  # the master's fds are for more than this
                os.close(fd)
                continue
            room -= 1
            self.held[slot] = (fd, data[1 + _SLOT.size :].decode(errors="replace"))

    def sweep(self, budget: int) -> int:
        """Close up to `budget` duplicates of slots the worker freed; returns how many."""
        closed = 0
        for slot in [s for s in self.held if self.table[s] == FREE][:budget]:
            os.close(self.held.pop(slot)[0])
            closed += 1
        return closed

    def take_idle(self) -> list[tuple[int, str]]:
        """The worker is gone (its hand-offs drained): its idle connections; busy and freed
        ones are closed."""
        idle = []
        for slot, (fd, listener) in self.held.items():
            if self.table[slot] == IDLE:
                idle.append((fd, listener))
            else:
                os.close(fd)
        self.held.clear()
        self.table[:] = bytes(SLOTS)
        return idle

    def send_adopt(self, fd: int, listener: str) -> bool:
        """Queue a connection for this channel's worker (the queue outlives a dead one)."""
        try:
            self.master_end.sendmsg(
                [ADOPT + listener.encode()],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))],
            )
        except OSError as exc:
            log(f"worker {self.number}: cannot pass a kept connection on: {exc}: it is closed")
            return False
        return True

    def close(self) -> None:
        for fd, _ in self.held.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.held.clear()
        self.pair[0].close()
        self.pair[1].close()


class Keeper:
    """The master's side: a Channel per worker number."""

    def __init__(self, numbers: list[int]) -> None:
        self.channels = {n: Channel(n) for n in numbers}
        self._by_fd = {ch.master_end.fileno(): ch for ch in self.channels.values()}
        #: the most duplicates held at once: the master's fd limit, less what it needs itself
        self.limit = max(0, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - RESERVED_FDS)

    def fds(self) -> list[int]:
        return list(self._by_fd)

    def on_readable(self, fd: int) -> None:
        self._by_fd[fd].drain(self.limit - self.held())

    def tick(self) -> None:
        """Close freed duplicates lazily, at most SWEEP_BATCH per turn."""
        budget = SWEEP_BATCH
        for channel in self.channels.values():
            budget -= channel.sweep(budget)
            if budget <= 0:
                return

    def held(self) -> int:
        return sum(len(ch.held) for ch in self.channels.values())

    def worker_gone(self, number: int, successor: int | None) -> int:
        """Worker `number` died: its idle connections go to `successor`'s channel (None: the
        instance stops, they are closed). Returns how many were passed on."""
        channel = self.channels[number]
        channel.drain(self.limit - self.held())
        idle = channel.take_idle()
        target = self.channels.get(successor) if successor is not None else None
        passed = 0
        for fd, listener in idle:
            if target is not None and target.send_adopt(fd, listener):
                passed += 1
            os.close(fd)  # the one in flight keeps the connection open
        if passed:
            log(
                f"worker {number}: {passed} idle keep-alive connection(s) passed to worker"
                f" {successor}"
            )
        return passed

    def link(self, number: int, lends: bool = False) -> WorkerLink:
        channel = self.channels[number]
        return WorkerLink(channel.table, channel.worker_end, lends)

    def close_in_child(self, number: int) -> None:
        """After fork: a child keeps only its own worker end (and no duplicate of anything)."""
        for n, channel in self.channels.items():
            for fd, _ in channel.held.values():
                os.close(fd)
            channel.held.clear()
            channel.master_end.close()
            if n != number:
                channel.worker_end.close()

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()


class WorkerLink:
    """The worker's side: writes slot states, hands connections over, receives adoptions."""

    def __init__(self, table: mmap.mmap, sock: socket.socket, lends: bool = False) -> None:
        self.table = table
        self.sock = sock
        #: the worker lends client sockets on (offload-threads send a file after the worker
        #: closed its fd): a shutdown() would cut them, so the master is told to close its
        #: duplicate at once instead
        self.lends = lends
        #: fds of the connections the master holds a duplicate of
        self.kept: set[int] = set()

    def fileno(self) -> int:
        return self.sock.fileno()

    def busy(self, conn: Connection) -> None:
        """Before reading from a kept connection: a death from now on loses it."""
        if conn.fd in self.kept:
            self.table[conn.fd] = BUSY

    def idle(self, conn: Connection) -> None:
        """A read found no request: a kept connection with nothing unread in user space is
        idle again."""
        if conn.fd in self.kept and conn.between_requests():
            self.table[conn.fd] = IDLE

    def answered(self, conn: Connection) -> None:
        """A keep-alive response is out and the connection waits for its next request, nothing
        of it unread in user space: kept (handed to the master the first time), so it outlives
        this worker."""
        fd = conn.fd
        if fd in self.kept:
            if conn.between_requests():
                self.table[fd] = IDLE
            return
        if fd >= SLOTS or not conn.between_requests():
            return
        self.table[fd] = IDLE  # before the hand-off: the master never sweeps the new dup
        try:
            self.sock.sendmsg(
                [KEEP + _SLOT.pack(fd) + conn.listener.encode()],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))],
            )
        except OSError:  # the master's queue is full: this one is simply not kept
            self.table[fd] = FREE
            return
        self.kept.add(fd)

    def closing(self, conn: Connection) -> None:
        """Before close(): FREE, and a shutdown so the client sees the FIN now (or, when the
        socket may be lent on, the master closes its duplicate now)."""
        fd = conn.fd
        if fd in self.kept:
            self.kept.discard(fd)
            self.table[fd] = FREE
            with contextlib.suppress(OSError):
                if self.lends:
                    self.sock.send(FREED + _SLOT.pack(fd))
                else:
                    conn.sock.shutdown(socket.SHUT_RDWR)

    def release(self, conn: Connection) -> None:
        """The connection leaves the worker's loop (an event loop adopts it): not kept."""
        if conn.fd in self.kept:
            self.kept.discard(conn.fd)
            self.table[conn.fd] = FREE

    def adoptions(self) -> list[tuple[socket.socket, str]]:
        """Connections a dead worker held idle, passed on by the master: (socket, listener)."""
        adopted = []
        while (message := _recv_fd(self.sock)) is not None:
            data, fd = message
            if fd < 0:
                continue
            if data[:1] != ADOPT:
                os.close(fd)
                continue
            sock = socket.socket(fileno=fd)
            sock.setblocking(False)
            adopted.append((sock, data[1:].decode(errors="replace")))
        return adopted
