"""What the rule engine works on for one request, and what it decides.

`RouteContext` carries the request vars (changed in place by the actions: rewrite, setpathinfo,
addvar ...), the captures of the rule being run, and what the actions collected for later: the
headers to add and remove, log vars, response caching, a `donotlog`. An action that answers the
request itself leaves an `Answer` (a status, headers and a body or a file to send) or a
`Forward` (another uwsgi or HTTP server to hand the request to). The engine never touches a
socket: the worker (or a router process) writes what was decided.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

#: what an action tells the chain: go on with the next rule, stop the chain and serve the
#: request (continue/last), or stop and serve nothing more (break: the request is answered)
NEXT, CONTINUE, BREAK = 0, 1, 2


@dataclass(slots=True)
class Answer:
    """A response decided by the rules."""

    status: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    #: a file to send as the body through the static-file rules (`static:`)
    file: str | None = None
    #: the connection closes after it (uWSGI's `break:STATUS` sends Connection: close)
    close: bool = False
    #: `file:`: the file is sent as it is, with `status` and `headers`, not as a static file
    plain: bool = False
    #: with `plain`: announce the file's size as Content-Length
    length: bool = True


@dataclass(slots=True)
class Forward:
    """Hand the request to another server: `uwsgi:` (uwsgi protocol) or `http:`."""

    protocol: str
    address: str
    modifier1: int | None = None
    modifier2: int | None = None
    host: str = ""
    #: the request target sent to an HTTP backend (default: REQUEST_URI)
    url: str = ""


@dataclass(slots=True)
class CacheStore:
    """`cachestore:`: the response body goes into a cache when the response succeeds."""

    key: str
    cache: str | None
    expires: int
    status: int
    value: str | None = None
    #: store the body gzip-compressed (`gzip=KEY`)
    gzip: bool = False


@dataclass(slots=True)
class RouteContext:
    """One request as the rules see it."""

    vars: dict[str, str]
    wid: int = 0
    started: float = field(default_factory=time.time)
    modifier1: int = 0
    modifier2: int = 0
    #: groups of the current rule's match: $0 (the whole match), $1 ...
    captures: tuple[str | None, ...] = ()
    #: the response status once known (error, response and final chains)
    status: int = 0
    response_size: int = 0
    ended: float = 0.0
    answer: Answer | None = None
    forward: Forward | None = None
    #: raw bytes for the client, before any answer (`send:`)
    sent: list[bytes] = field(default_factory=list)
    add_headers: list[tuple[str, str]] = field(default_factory=list)
    remove_headers: set[str] = field(default_factory=set)
    logvars: dict[str, str] = field(default_factory=dict)
    donotlog: bool = False
    stores: list[CacheStore] = field(default_factory=list)
    #: response transformations asked for (`gzip:`, `chunked:`, `fixcl:` ...)
    transforms: list[str] = field(default_factory=list)
    #: a per-request harakiri (seconds) asked for by `harakiri:`
    harakiri: int = 0
    #: a rule ended the chain with break (what the stats count as routed)
    routed: bool = False
    #: the label (or rule number) a `goto:` jumps to, taken by the chain's loop
    jump: str | None = None
    #: `clearheaders:STATUS`: the response gets this status and none of the app's headers
    reset_status: str | None = None
