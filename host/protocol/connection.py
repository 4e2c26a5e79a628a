"""What the worker sees of a client connection, whatever its protocol (HTTP, uwsgi, FastCGI).

The worker picks the protocol once, when it accepts the socket; from then on it feeds received
bytes in, takes complete requests from `ready`, and asks the connection for each request's
responder and for the bytes harakiri answers a stuck request with. `BodyLimits` is how every
connection of a worker reads request bodies: the worker builds it once from the config and gives
it to each connection it makes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from polyhost.request import Request, Responder

if TYPE_CHECKING:
    import socket

    from polyhost.config import Config
    from polyhost.dispatch import App


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How a connection reads request bodies (the worker's config, one for all its sockets)."""

    #: http-body-timeout: the most seconds a whole body may take to arrive (0: no limit)
    timeout: float
    #: a body that arrives still chunked (the router's http-chunked-input, uwsgi.chunked_read):
    #: the wait per chunk (chunked-input-timeout, else socket-timeout) and the largest chunk
    #: (chunked-input-limit)
    chunk_timeout: float
    chunk_limit: int

    @classmethod
    def from_config(cls, config: Config, socket_timeout: float) -> BodyLimits:
        return cls(
            timeout=float(config.get("http-body-timeout")),
            chunk_timeout=float(config.get("chunked-input-timeout") or socket_timeout),
            chunk_limit=config.get("chunked-input-limit"),
        )


class WireResponder(Responder, Protocol):
    """A responder on a client connection: the worker also reads and clears its keep-alive."""

    keep_alive: bool


class Connection(ABC):
    """One accepted client socket, parsed in one protocol."""

    #: the client's address, when the protocol knows it before the request (HTTP)
    remote_addr: str = ""

    def __init__(self, sock: socket.socket, listener: str, timeout: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        #: the name of the socket it was accepted on, for the log
        self.listener = listener
        self.timeout = timeout
        #: requests whose head is complete, in arrival order
        self.ready: deque[Request] = deque()
        #: the client closed (or aborted) the connection
        self.closed = False
        #: no further request is read on it: it closes once the current one is answered
        self.done = False
        #: requests answered so far
        self.served = 0
        #: in the worker's epoll set
        self.registered = False
        #: (request, app) when an event loop takes the connection over (polyhost.handover)
        self.adopted: tuple[Request, App] | None = None
        #: after a WebSocket upgrade request: the bytes that followed its head (first frames)
        self.upgrade_tail: bytes | None = None

    @abstractmethod
    def feed(self, data: bytes) -> None:
        """Parse received bytes (b"": the client closed); complete requests go to `ready`."""

    @abstractmethod
    def responder(self, request: Request) -> WireResponder:
        """The responder that answers `request` in this connection's protocol."""

    def between_requests(self) -> bool:
        """Nothing of a next request is buffered in user space (polyhost.conn_keeper may then
        pass the connection to another process). By default never: only protocols that keep
        connections say when."""
        return False

    @abstractmethod
    def harakiri_reply(self, request: Request) -> bytes:
        """What to send when harakiri stops `request` before it answered: a 504."""
