"""Blocking-with-timeout I/O on non-blocking sockets, one syscall in the common case.

Client sockets stay non-blocking for their whole life (the worker's epoll loop needs that), and a
Python socket with a timeout polls before every call; these helpers try the call first and only
poll when the kernel says EAGAIN, bounded by `socket-timeout`.
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import BinaryIO

from polyhost.request import BodyTimeout, ClientGone

#: http-body-timeout grows by a second for every this many bytes received, so only a body that
#: trickles in slower than this (64 KiB/s) can run out of time
BODY_RATE = 65536

_POLLIN = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_POLLOUT = select.POLLOUT | select.POLLERR | select.POLLHUP


def _wait(sock: socket.socket, events: int, timeout: float, what: str) -> None:
    poller = select.poll()
    poller.register(sock.fileno(), events)
    if not poller.poll(timeout * 1000):
        raise ClientGone(f"{what} timed out after {timeout:g}s (socket-timeout)")


def recv(sock: socket.socket, size: int, timeout: float) -> bytes:
    """Receive up to `size` bytes, waiting at most `timeout` seconds; b'' means EOF."""
    while True:
        try:
            return sock.recv(size)
        except (BlockingIOError, InterruptedError):
            _wait(sock, _POLLIN, timeout, "reading from the client")
        except OSError as exc:
            raise ClientGone(f"reading from the client failed: {exc}") from exc


def send_all(sock: socket.socket, data: bytes | memoryview, timeout: float) -> None:
    """Send everything, waiting at most `timeout` seconds each time the buffer is full."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, InterruptedError):
            _wait(sock, _POLLOUT, timeout, "writing to the client")
            continue
        except OSError as exc:
            raise ClientGone(f"writing to the client failed: {exc}") from exc
        view = view[sent:]


def send_file(sock: socket.socket, file: BinaryIO, offset: int, count: int, timeout: float) -> int:
    """os.sendfile the range [offset, offset+count) of `file`; returns the bytes sent."""
    total = 0
    out_fd, in_fd = sock.fileno(), file.fileno()
    while total < count:
        try:
            sent = os.sendfile(out_fd, in_fd, offset + total, min(count - total, 1 << 30))
        except (BlockingIOError, InterruptedError):
            _wait(sock, _POLLOUT, timeout, "sending a file to the client")
            continue
        except OSError as exc:
            raise ClientGone(f"sending a file to the client failed: {exc}") from exc
        if sent == 0:  # the file is shorter than announced
            break
        total += sent
    return total


def discard_unread(
    sock: socket.socket, linger: float = 1.0, limit: int = 1 << 20, most: float = 5.0
) -> None:
    """Before closing a connection whose request was not read to its end (a refusal, a 408):
    send FIN after the answer and read away what the client still sends, until it closes, or
    sends nothing for `linger` seconds, or `most` seconds or `limit` bytes have passed, so the
    close does not reset the connection and destroy the answer before the client reads it
    (nginx's lingering close: lingering_timeout between reads, lingering_time in all)."""
    now = time.monotonic()
    deadline, last = now + linger, now + most
    try:
        sock.shutdown(socket.SHUT_WR)
        while limit > 0:
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                left = min(deadline, last) - time.monotonic()
                if left <= 0:
                    return
                _wait(sock, _POLLIN, left, "lingering")
                continue
            if not data:
                return
            limit -= len(data)
            deadline = time.monotonic() + linger
    except OSError:  # ClientGone (the linger ran out) or a reset: nothing more to do
        pass


class BodyDeadline:
    """`http-body-timeout` for one request body, on any socket: `timeout` seconds from the first
    read of it (when the app starts reading; after a `100 Continue`), one more per BODY_RATE
    bytes received (0: none). What has arrived is always read; a body that keeps the reader
    waiting past that fails with BodyTimeout (a 408), so a client trickling a byte a second
    cannot hold a worker."""

    __slots__ = ("_started", "_timeout")

    def __init__(self, timeout: float) -> None:
        self._started = 0.0
        self._timeout = timeout

    def recv(self, sock: socket.socket, size: int, timeout: float, received: int) -> bytes:
        """`recv` bounded by socket-timeout (`timeout`) and by what is left of the deadline."""
        if not self._timeout:
            return recv(sock, size, timeout)
        if not self._started:
            self._started = time.monotonic()
        try:
            return recv(sock, size, min(timeout, max(0.0, self._left(received))))
        except ClientGone:
            if self._left(received) <= 0:  # the deadline, not socket-timeout, ran out: say so
                elapsed = time.monotonic() - self._started
                raise BodyTimeout(
                    f"{received} bytes of the body in {elapsed:.0f}s (http-body-timeout"
                    f" {self._timeout:g}s): raise http-body-timeout for slow uploads"
                ) from None
            raise

    def _left(self, received: int) -> float:
        return self._timeout + received / BODY_RATE - (time.monotonic() - self._started)
