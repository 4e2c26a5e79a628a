"""The `--http` router's connection to a uwsgi node for one request, on a raw socket.

The uwsgi protocol ends a response by closing the connection, so the router opens one per
request; this keeps each to the system calls it needs (socket, connect, send, recv, close) with
no asyncio task, future or transport object: the event loop only watches the descriptor. A
loopback connect completes inside connect(), so the packet goes out at once; a connect still in
progress waits for the socket to be writable. Flow control is asyncio's: past WRITE_BUFFER
unsent bytes the owner is told to pause (`upstream_pause`), once under a quarter to resume.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import os
import socket
from typing import Protocol

from polyhost.router.fastrouter import node_address
from polyhost.router.http_settings import WRITE_BUFFER

#: connect() results that mean "not refused (yet)": in progress, or a full unix backlog
PENDING = frozenset((0, errno.EINPROGRESS, errno.EAGAIN))
RECV_SIZE = 65536


class UpstreamOwner(Protocol):
    """What an Upstream reports to (the router's Exchange)."""

    def upstream_connected(self) -> None: ...
    def upstream_refused(self, exc: OSError) -> None: ...
    def response_data(self, data: bytes) -> None: ...
    def upstream_done(self, exc: Exception | None) -> None: ...
    def upstream_pause(self) -> None: ...
    def upstream_resume(self) -> None: ...


class Upstream:
    """One connection to a node; `connect` sends `first` (the packet) as soon as it is up."""

    __slots__ = ("closed", "connected", "fd", "loop", "out", "owner", "paused", "reading", "sock")

    def __init__(self, loop: asyncio.AbstractEventLoop, owner: UpstreamOwner) -> None:
        self.loop = loop
        self.owner = owner
        #: the C socket type: none of socket.socket's Python-level wrapping per request
        self.sock: _socket.socket | None = None
        self.fd = -1
        self.out = bytearray()  # bytes accepted by write() and not sent yet
        self.connected = False
        self.reading = False
        self.paused = False  # the owner was told to stop writing
        self.closed = False

    def connect(self, address: str, first: bytes) -> bool:
        """True when connected (the packet sent or queued), False while the connect is in
        progress (then `upstream_connected` or `upstream_refused` follows); OSError when it
        is refused at once."""
        family, host, port = node_address(address)
        if family == "unix":
            sock = _socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = host
        else:
            inet = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = _socket.socket(inet, socket.SOCK_STREAM)
            target = (host.strip("[]"), port)
        sock.setblocking(False)
        code = sock.connect_ex(target)
        if code not in PENDING:
            sock.close()
            raise OSError(code, os.strerror(code))
        self.sock, self.fd = sock, sock.fileno()
        self.out += first
        try:
            up = self._flush()  # a loopback connect is done already: this sends the packet
        except OSError:
            self.close()
            raise
        if up or code == 0:
            self._established()
        if self.out or not up:
            self.loop.add_writer(self.fd, self._writable)
        return self.connected

    def _established(self) -> None:
        self.connected = True
        self.resume_reading()

    def _flush(self) -> bool:
        """Send what is queued; True once the connection is known to be up."""
        assert self.sock is not None
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            return self.connected
        del self.out[:sent]
        return True

    def _writable(self) -> None:
        if self.closed:
            return
        if not self.connected:
            assert self.sock is not None
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.close()
                self.owner.upstream_refused(OSError(code, os.strerror(code)))
                return
            self._established()
            self.owner.upstream_connected()
            if self.closed:
                return
        try:
            self._flush()
        except OSError as exc:
            self._lost(exc)
            return
        if not self.out:
            self.loop.remove_writer(self.fd)
        if self.paused and len(self.out) <= WRITE_BUFFER // 4:
            self.paused = False
            self.owner.upstream_resume()

    def _readable(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        if data:
            self.owner.response_data(data)
        else:
            self.pause_reading()
            self.owner.upstream_done(None)

    def _lost(self, exc: Exception) -> None:
        self.close()
        self.owner.upstream_done(exc)

    # -- what the Exchange calls (a subset of asyncio.Transport) -------------------------------
    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        had = bool(self.out)
        self.out += data
        if self.connected and not had:
            try:
                self._flush()
            except OSError as exc:
                self._lost(exc)
                return
            if self.out:
                self.loop.add_writer(self.fd, self._writable)
        if len(self.out) > WRITE_BUFFER and not self.paused:
            self.paused = True
            self.owner.upstream_pause()

    def get_write_buffer_size(self) -> int:
        return len(self.out)

    def pause_reading(self) -> None:
        if self.reading and not self.closed:
            self.reading = False
            self.loop.remove_reader(self.fd)

    def resume_reading(self) -> None:
        if not self.reading and self.connected and not self.closed:
            self.reading = True
            self.loop.add_reader(self.fd, self._readable)

    def close(self) -> None:
        """Stop watching and close the socket (unsent bytes are dropped: the exchange is over)."""
        if self.closed or self.sock is None:
            self.closed = True
            return
        self.closed = True
        if self.reading:
            self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self.sock.close()

    abort = close
