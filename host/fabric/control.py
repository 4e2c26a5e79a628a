"""The control channel between the master and each of its processes (workers, mules, spoolers).

A SOCK_SEQPACKET socketpair per process: messages keep their boundaries and are msgpack lists
(`["signal", 17]`, `["register", 17, "workers"]` ...). The master's end is non-blocking so a
slow process can never block it: a full queue is reported, not waited for.
"""

from __future__ import annotations

import contextlib
import select
import socket
from dataclasses import dataclass, field
from typing import Any

import msgpack

MAX_MESSAGE = 65536


@dataclass
class ControlPair:
    """Both ends, made by the master before fork; each side closes the other's end."""

    master: socket.socket
    child: socket.socket
    dropped: int = 0
    #: messages that could not be sent, to log once per burst
    pending_report: bool = field(default=False)

    @classmethod
    def create(cls) -> ControlPair:
        master, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        master.setblocking(False)
        return cls(master, child)

    def send_to_child(self, message: list[Any]) -> bool:
        """Non-blocking; False (and counted) when the child's queue is full."""
        try:
            self.master.send(msgpack.packb(message))
            return True
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
            self.pending_report = True
            return False
        except OSError:
            return False

    def close(self) -> None:
        for sock in (self.master, self.child):
            with contextlib.suppress(OSError):
                sock.close()


def send(sock: socket.socket, message: list[Any], timeout: float = 5.0) -> None:
    """Child side: send a message to the master, waiting (bounded) if its queue is full."""
    data = msgpack.packb(message)
    while True:
        try:
            sock.send(data)
            return
        except (BlockingIOError, InterruptedError):
            if not select.select([], [sock], [], timeout)[1]:
                raise TimeoutError("the master did not read its control channel") from None


def receive(sock: socket.socket) -> list[Any] | None:
    """Read one message; None when the other side is gone or nothing is there (non-blocking)."""
    try:
        data = sock.recv(MAX_MESSAGE)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return None
    if not data:
        return None
    message = msgpack.unpackb(data)
    return message if isinstance(message, list) else None
