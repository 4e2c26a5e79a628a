"""Scope-first request heads for the connections the ASGI loop serves: no CGI vars dict.

The worker parses a connection's first request into CGI vars (`HeadParser.head_env`); once the
loop owns the connection (`channel.HttpChannel`), its next requests are built here straight from
the httptools callbacks, with the same `http_rules` checks (the same 400/413/431/501/505
answers): the header list as ASGI wants it (names lower-cased, in order) and a few fields. The
request's `vars` is a `ScopeVars` view: routing, the responder and the log line read CGI
variables from it, each derived on demand; only something that lists them all (the request log
line, a WSGI app the connection is given back to) builds the whole dict, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from polyhost.protocol.http import HttpBody, _ChunkedEnd
from polyhost.protocol.http_rules import (
    cgi_variable,
    check_host,
    check_transfer_encoding,
    check_underscores,
    check_version,
    request_target,
)
from polyhost.request import Request

if TYPE_CHECKING:
    from polyhost.protocol.http import HttpConnection


#: the variables a ScopeVars answers from its attributes, and the attribute of each
_FIELDS = {
    "REQUEST_METHOD": "method",
    "REQUEST_URI": "uri",
    "PATH_INFO": "path_info",
    "QUERY_STRING": "query",
    "SERVER_PROTOCOL": "protocol",
    "SCRIPT_NAME": "script_name",
    "SERVER_NAME": "server_name",
    "SERVER_PORT": "server_port",
    "REMOTE_ADDR": "remote_addr",
    "REMOTE_PORT": "remote_port",
    "UWSGI_SCHEME": "scheme",
}  # (head_env's order)


class ScopeVars(MutableMapping[str, str]):
    """The CGI vars of a scope-first request head, derived when asked for: the fixed ones from
    attributes, a header's from the header list; the whole dict is built once, when something
    lists the variables (the request log line) or deletes one."""

    __slots__ = (
        "_all",
        "_set",
        "allow_underscores",
        "content_length",
        "headers",
        "method",
        "path_info",
        "protocol",
        "query",
        "remote_addr",
        "remote_port",
        "scheme",
        "script_name",
        "server_name",
        "server_port",
        "uri",
    )

    def __init__(
        self,
        method: str,
        target: bytes,
        path: bytes,
        query: bytes,
        version: str,
        headers: list[tuple[bytes, bytes]],
        conn: HttpConnection,
        server_name: str,
        content_length: str | None,
    ) -> None:
        self.method = method
        self.uri = target.decode("latin-1")
        self.path_info = (unquote_to_bytes(path) if b"%" in path else path).decode("latin-1")
        self.query = query.decode("latin-1")
        self.protocol = f"HTTP/{version}"
        #: the header fields, names lower-cased, in order (the ASGI scope's `headers`)
        self.headers = headers
        self.remote_addr = conn.remote_addr
        self.remote_port = conn.remote_port
        self.server_name = server_name
        self.server_port = conn.server_port
        self.scheme = conn.scheme
        self.script_name = ""
        self.allow_underscores = conn.head_limits.allow_underscores
        self.content_length = content_length
        #: every variable, once something needed them all
        self._all: dict[str, str] | None = None
        #: variables set that are not fields (a route's var)
        self._set: dict[str, str] = {}

    def header(self, name: bytes) -> str | None:
        """The value CGI gives the header `name` (lower-case): its fields joined by ", "."""
        values = [value for field, value in self.headers if field == name]
        if not values:
            return None
        return b", ".join(values).decode("latin-1")

    def _every(self) -> dict[str, str]:
        """All the variables, in head_env's order and form (built once)."""
        if self._all is None:
            env = {key: getattr(self, attr) for key, attr in _FIELDS.items()}
            for name, raw in self.headers:
                key = cgi_variable(name, self.allow_underscores)
                if key is None:
                    continue
                value = raw.decode("latin-1")
                if key == "CONTENT_LENGTH" or key == "CONTENT_TYPE":
                    env[key] = value
                else:
                    env[key] = f"{env[key]}, {value}" if key in env else value
            env.update(self._set)
            self._all = env
        return self._all

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if self._all is not None:
            return self._all.get(key, default)
        attr = _FIELDS.get(key)
        if attr is not None:
            return getattr(self, attr)  # type: ignore[no-any-return]
        if self._set and key in self._set:
            return self._set[key]
        if key == "CONTENT_LENGTH":
            return default if self.content_length is None else self.content_length
        if key.startswith("HTTP_") and not self.allow_underscores:
            # names with `_` are dropped: HTTP_X_Y can only come from `x-y`
            value = self.header(key[5:].lower().replace("_", "-").encode("latin-1"))
            return default if value is None else value
        if key == "UWSGI_APPID":  # asked by routing on every request, never from a header
            return default
        return self._every().get(key, default)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __setitem__(self, key: str, value: str) -> None:
        if self._all is not None:
            self._all[key] = value
        elif key in _FIELDS:
            setattr(self, _FIELDS[key], value)
        else:
            self._set[key] = value

    def __delitem__(self, key: str) -> None:
        del self._every()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())

    def copy(self) -> dict[str, str]:
        return dict(self._every())


def scope_request(conn: HttpConnection) -> Request:
    """The request whose head `conn`'s parser just completed, scope-first (HttpError for a head
    the rules refuse, as `HeadParser.head_env`); sets up the framing of its body."""
    conn._in_body = True
    parser = conn.parser
    version = parser.get_http_version()
    check_version(version)
    method = conn._method or parser.get_method().decode("latin-1")
    conn._method = method
    target = request_target(method, conn._url)
    path, _, query = target.partition(b"?")
    if method == "CONNECT":  # the target is an authority, not a path
        path = b""
    headers: list[tuple[bytes, bytes]] = []
    hosts = 0
    host = ""
    content_length: bytes | None = None
    expect_continue = chunked = False
    allow_underscores = conn.head_limits.allow_underscores
    seen: dict[str, bool] = {}
    for raw_name, value in conn._headers:
        name = raw_name.lower()
        headers.append((name, value))
        if b"_" in name and not allow_underscores:
            continue  # dropped from the vars (kept in the scope's headers, as before)
        if allow_underscores:
            variable = cgi_variable(raw_name, True)
            assert variable is not None
            check_underscores(raw_name, variable, seen)
            if b"_" in name:
                continue  # never a framing or Host header
        if name == b"host":
            hosts += 1
            host = value.decode("latin-1")
        elif name == b"content-length":
            content_length = value
        elif name == b"transfer-encoding":
            check_transfer_encoding(version, value.decode("latin-1"))
            chunked = True
        elif name == b"expect" and value.lower() == b"100-continue":
            expect_continue = version == "1.1"
    check_host(version, hosts)
    server_name = conn.server_addr
    if hosts:
        bracketed = host.endswith("]")
        name_part, _, port = (host, "", "") if bracketed else host.rpartition(":")
        server_name = name_part if name_part and port.isdigit() else host
    if chunked:
        content_length = None
        conn._chunked_end = _ChunkedEnd()
    else:
        if content_length is None:
            conn._body_left = 0
        else:  # else llhttp refuses it
            conn._body_left = int(content_length) if content_length.isdigit() else None
    length = None if content_length is None else content_length.decode("latin-1")
    env = ScopeVars(method, target, path, query, version, headers, conn, server_name, length)
    body = HttpBody(conn, expect_continue, conn.body_timeout)
    if not chunked and length in (None, "", "0"):
        body.complete = True
    conn._body = body
    mod1, mod2 = conn.modifiers
    return Request(
        env,  # type: ignore[arg-type]
        body,
        mod1,
        mod2,
        vars_size=conn._head_size,
        started=time.time(),
        extra={
            "keep_alive": parser.should_keep_alive() and method != "CONNECT",
            "head": method == "HEAD",
        },
    )


def scope_first(conn: HttpConnection) -> None:
    """The connection's next request heads are built by `scope_request` (the loop owns it)."""
    conn._build_request = lambda: scope_request(conn)  # type: ignore[method-assign]


def cgi_again(conn: HttpConnection) -> None:
    """The worker takes the connection back: its heads are CGI vars again, and so are the
    requests already parsed (a WSGI app's environ is a dict)."""
    conn.__dict__.pop("_build_request", None)
    for request in conn.ready:
        if isinstance(request.vars, ScopeVars):
            request.extra["headers"] = request.vars.headers
            request.vars = request.vars.copy()
