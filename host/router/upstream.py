"""The `--http` router's connection to a uwsgi node for one request, on a raw socket.

The uwsgi protocol ends a response by closing the connection, so the router opens one per
request; this keeps each to the system calls it needs (socket, connect, send, one epoll_ctl,
recv, close) with no asyncio task, future or transport object. The event loop does not watch
the descriptor itself: uvloop's add_reader costs five system calls per descriptor (libuv probes
it with an epoll add and delete, sets it non-blocking again, then registers it) and two more to
remove it. Instead one `Poller` per loop owns an epoll set the loop watches once; a socket joins
it with one epoll_ctl and leaves it by being closed. A loopback connect completes inside
connect(), so the packet goes out at once; a connect still in progress waits for the socket to
be writable; a unix connect refused for a full backlog (EAGAIN: nothing under way) is
made again every BACKLOG_RETRY seconds. Flow control is asyncio's: past WRITE_BUFFER
unsent bytes the owner is told to pause (`upstream_pause`), once under a quarter to resume.
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import os
import select
import socket
import weakref
from typing import Protocol

from polyhost.router.fastrouter import node_address
from polyhost.router.http_settings import WRITE_BUFFER

#: connect() results that mean "not refused (yet)": in progress, or a full unix backlog
PENDING = frozenset((0, errno.EINPROGRESS, errno.EAGAIN))
#: a unix connect refused for a full backlog is not in progress: it is made again this often
#: (the session's connect timeout bounds the tries)
BACKLOG_RETRY = 0.005
RECV_SIZE = 65536
#: a stream socket created non-blocking (no separate ioctl)
NONBLOCKING_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK


class Poller:
    """One epoll set for a loop's upstream sockets, watched by the loop as one descriptor
    (level-triggered: the loop reports it while any of its sockets has an event)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.epoll = select.epoll()
        self.watched: dict[int, Upstream] = {}
        #: descriptors registered while a batch of events is handled: an event of the batch for
        #: that number belongs to the socket closed before, so it waits for the next poll
        self.fresh: set[int] = set()
        loop.add_reader(self.epoll.fileno(), self._ready)

    def set(self, upstream: Upstream, mask: int) -> None:
        """Watch `upstream.fd` for `mask` (0: not at all) instead of what it had."""
        fd = upstream.fd
        if upstream.mask == 0:
            self.epoll.register(fd, mask)
            self.watched[fd] = upstream
            self.fresh.add(fd)
        elif mask == 0:
            self.epoll.unregister(fd)
            del self.watched[fd]
        else:
            self.epoll.modify(fd, mask)
        upstream.mask = mask

    def forget(self, upstream: Upstream) -> None:
        """`upstream` is about to close its socket (which leaves the epoll set by itself)."""
        if upstream.mask:
            self.watched.pop(upstream.fd, None)
            upstream.mask = 0

    def _ready(self) -> None:
        self.fresh.clear()
        watched, fresh = self.watched, self.fresh
        for fd, events in self.epoll.poll(0):
            upstream = watched.get(fd)
            if upstream is None or fd in fresh:
                continue
            if upstream.mask & select.EPOLLOUT and (
                events & select.EPOLLOUT or not upstream.connected
            ):  # writable, or a connect that failed (SO_ERROR says)
                upstream._writable()
            if events & READ_EVENTS and upstream.reading and not upstream.closed:
                upstream._readable()


#: what wakes a reading upstream: data, the node's close, an error
READ_EVENTS = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR | select.EPOLLRDHUP
_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Poller] = weakref.WeakKeyDictionary()


def poller(loop: asyncio.AbstractEventLoop) -> Poller:
    """The loop's Poller, made on first use."""
    found = _POLLERS.get(loop)
    if found is None:
        found = _POLLERS[loop] = Poller(loop)
    return found


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

    __slots__ = (
        "closed",
        "connected",
        "fd",
        "loop",
        "mask",
        "out",
        "owner",
        "paused",
        "poller",
        "reading",
        "sock",
        "target",
        "write_error",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, owner: UpstreamOwner) -> None:
        self.loop = loop
        self.poller = poller(loop)
        self.target: str | tuple[str, int] = ""
        self.mask = 0  # the events its Poller watches
        self.owner = owner
        #: the C socket type: none of socket.socket's Python-level wrapping per request
        self.sock: _socket.socket | None = None
        self.fd = -1
        self.out = bytearray()  # bytes accepted by write() and not sent yet
        self.connected = False
        self.reading = False
        self.paused = False  # the owner was told to stop writing
        self.closed = False
        #: why sending failed: the node may still have answered (it read the head, answered
        #: and closed before the body was all sent), so reading goes on until it ends
        self.write_error: OSError | None = None

    def connect(self, address: str, first: bytes) -> bool:
        """True when connected (the packet sent or queued), False while the connect is in
        progress (then `upstream_connected` or `upstream_refused` follows); OSError when it
        is refused at once."""
        family, host, port = node_address(address)
        if family == "unix":
            sock = _socket.socket(socket.AF_UNIX, NONBLOCKING_STREAM)
            target: str | tuple[str, int] = host
        else:
            inet = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = _socket.socket(inet, NONBLOCKING_STREAM)
            target = (host.strip("[]"), port)
        code = sock.connect_ex(target)
        if code not in PENDING:
            sock.close()
            raise OSError(code, os.strerror(code))
        self.sock, self.fd = sock, sock.fileno()
        self.out += first
        if code == errno.EAGAIN:  # a full unix backlog: no connect under way, try again soon
            self.target = target
            self.loop.call_later(BACKLOG_RETRY, self._connect_again)
            return False
        try:
            up = self._flush()  # a loopback connect is done already: this sends the packet
        except OSError:
            self.close()
            raise
        if up or code == 0:
            self._established()
        if self.out or not up:
            self._watch()
        return self.connected

    def _connect_again(self) -> None:
        if self.closed:
            return
        assert self.sock is not None
        code = self.sock.connect_ex(self.target)
        if code == errno.EAGAIN:
            self.loop.call_later(BACKLOG_RETRY, self._connect_again)
            return
        if code not in (0, errno.EISCONN):
            self.close()
            self.owner.upstream_refused(OSError(code, os.strerror(code)))
            return
        self._established()
        self.owner.upstream_connected()
        if not self.closed:
            self._writable()

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
            self._send_failed(exc)
            return
        if not self.out:
            self._watch()
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
            self._lost(self.write_error or exc)
            return
        if data:
            self.owner.response_data(data)
        else:
            self.pause_reading()
            self.owner.upstream_done(self.write_error)

    def _lost(self, exc: Exception) -> None:
        self.close()
        self.owner.upstream_done(exc)

    def _send_failed(self, exc: OSError) -> None:
        """The node stopped reading: drop what is unsent, read what it answered (a reset
        with nothing read ends the exchange with this error)."""
        self.write_error = exc
        self.out.clear()
        self._watch()

    # -- what the Exchange calls (a subset of asyncio.Transport) -------------------------------
    def write(self, data: bytes) -> None:
        if self.closed or not data or self.write_error is not None:
            return
        had = bool(self.out)
        self.out += data
        if self.connected and not had:
            try:
                self._flush()
            except OSError as exc:
                self._send_failed(exc)
                return
            if self.out:
                self._watch()
        if len(self.out) > WRITE_BUFFER and not self.paused:
            self.paused = True
            self.owner.upstream_pause()

    def get_write_buffer_size(self) -> int:
        return len(self.out)

    def _watch(self) -> None:
        """Tell the Poller what to wake this socket for: readable while reading, writable while
        connecting or holding unsent bytes."""
        if self.closed:
            return
        mask = select.EPOLLIN if self.reading else 0
        if self.out or not self.connected:
            mask |= select.EPOLLOUT
        if mask != self.mask:
            self.poller.set(self, mask)

    def pause_reading(self) -> None:
        if self.reading and not self.closed:
            self.reading = False
            self._watch()

    def resume_reading(self) -> None:
        if not self.reading and self.connected and not self.closed:
            self.reading = True
            self._watch()

    def close(self) -> None:
        """Stop watching and close the socket (unsent bytes are dropped: the exchange is over)."""
        if self.closed or self.sock is None:
            self.closed = True
            return
        self.closed = True
        self.poller.forget(self)
        self.sock.close()

    abort = close
