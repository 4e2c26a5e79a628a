"""Handing a request to another server from the rules: `uwsgi:ADDR,MOD1,MOD2[,APPID]` (the
uwsgi protocol, as router_uwsgi; an empty ADDR only sets the modifiers and the app id) and
`http:ADDR[,HOST[,URL]]` (HTTP/1.0 to a backend, as router_http).

The backend's answer is parsed (httptools) and written through the client's responder, so its
framing, keep-alive and header checks are the ones of the client's own protocol. Sizes are
bounded: the request vars must fit a uwsgi packet (64 KiB), the backend's head 64 KiB.
"""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING

import httptools

from polyhost.protocol.response_head import BadResponse, checked_header
from polyhost.protocol.uwsgi import encode_vars, pack_header
from polyhost.request import BytesBody
from polyhost.routing.actions import Action
from polyhost.routing.conditions import RuleError
from polyhost.routing.context import BREAK, CONTINUE, Forward, RouteContext
from polyhost.routing.template import Template

if TYPE_CHECKING:
    from polyhost.request import Request, Responder

#: the largest response head a backend may send
MAX_HEAD = 65536
#: the largest chunked request body read to forward it with a Content-Length
MAX_CHUNKED_BODY = 16 << 20
#: request headers a proxy does not pass on (hop by hop, or re-framed here)
_NOT_FORWARDED = frozenset(
    {"HOST", "CONNECTION", "KEEP_ALIVE", "TRANSFER_ENCODING", "TE", "UPGRADE", "PROXY_CONNECTION",
     "CONTENT_LENGTH", "CONTENT_TYPE"}
)  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"[\x21-\x7e\x80-\xff]+")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})


class BackendError(Exception):
    """The backend could not be reached or answered something unusable."""


def _uwsgi(arg: str) -> Action:
    parts = arg.split(",", 3)
    if len(parts) < 3:
        raise RuleError(f"uwsgi needs ADDR,MODIFIER1,MODIFIER2[,APPID], got {arg!r}")
    address, mod1_text, mod2_text = (p.strip() for p in parts[:3])
    appid = parts[3] if len(parts) > 3 else ""
    mod1, mod2 = _modifier(mod1_text), _modifier(mod2_text)
    target = Template(address)

    def forward(ctx: RouteContext) -> int:
        if appid:
            ctx.vars["UWSGI_APPID"] = appid
        if not address:
            ctx.modifier1, ctx.modifier2 = mod1, mod2
            return CONTINUE
        ctx.forward = Forward("uwsgi", target.render(ctx), mod1, mod2)
        return BREAK

    return forward


def _modifier(text: str) -> int:
    if not text:
        return 0
    if not text.isdigit() or int(text) > 255:
        raise RuleError(f"a modifier is a number 0-255, not {text!r}")
    return int(text)


def _http(arg: str) -> Action:
    address, _, rest = arg.partition(",")
    host, _, url = rest.partition(",")
    if not address:
        raise RuleError(f"http needs ADDR[,HOST[,URL]], got {arg!r}")
    target, host_t, url_t = Template(address), Template(host), Template(url)

    def forward(ctx: RouteContext) -> int:
        ctx.forward = Forward("http", target.render(ctx), host=host_t.render(ctx))
        if url:
            ctx.forward.url = url_t.render(ctx)
        return BREAK

    return forward


def connect(address: str, timeout: float) -> socket.socket:
    """A connection to `HOST:PORT` or a unix socket path."""
    try:
        if ":" in address and not address.startswith("/"):
            host, _, port = address.rpartition(":")
            return socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout)
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        sock.connect(address)
        return sock
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot connect to {address}: {exc}") from None


def _request_bytes(forward: Forward, request: Request) -> bytes:
    env = request.vars
    if forward.protocol == "uwsgi":
        block = encode_vars(env)
        if len(block) > 0xFFFF:
            raise BackendError("the request vars do not fit a uwsgi packet (64 KiB)")
        return pack_header(forward.modifier1 or 0, len(block), forward.modifier2 or 0) + block
    target = forward.url or env.get("REQUEST_URI", "/") or "/"
    method = env.get("REQUEST_METHOD", "GET")
    if not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target):
        raise BackendError(f"refusing to forward the request line {method!r} {target!r}")
    lines = [f"{method} {target} HTTP/1.0"]
    headers = [
        (key[5:].replace("_", "-").title(), value)
        for key, value in env.items()
        if key.startswith("HTTP_") and key[5:] not in _NOT_FORWARDED
    ]
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if env.get(key):
            headers.append((name, env[key]))
    headers.append(("Host", forward.host or env.get("HTTP_HOST", "")))
    headers.append(("X-Forwarded-For", env.get("REMOTE_ADDR", "")))
    try:  # vars from a uwsgi peer may hold anything: no header can be forged on the way
        lines += [checked_header(name, value) for name, value in headers]
    except BadResponse as exc:
        raise BackendError(f"refusing to forward a header: {exc}") from None
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _ResponseHead:
    """httptools callbacks collecting a response head, then the body pieces."""

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.head_done = False
        self.complete = False
        self.body: list[bytes] = []
        self.size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.size += len(name) + len(value)
        if self.size > MAX_HEAD:
            raise BackendError("the backend's response head is over 64 KiB")
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, data: bytes) -> None:
        self.body.append(bytes(data))

    def on_message_complete(self) -> None:
        self.complete = True


def relay(forward: Forward, request: Request, responder: Responder, timeout: float) -> None:
    """Send the request (and its body) to the backend and its response to the client."""
    if request.content_length is None and "HTTP_TRANSFER_ENCODING" in request.vars:
        # a chunked body: backends get it with its length (uwsgi needs CONTENT_LENGTH)
        body = request.body.read(MAX_CHUNKED_BODY + 1)
        if len(body) > MAX_CHUNKED_BODY:
            raise BackendError("a chunked request body over 16 MiB cannot be forwarded")
        request.vars["CONTENT_LENGTH"] = str(len(body))
        request.body = BytesBody(body)
    with connect(forward.address, timeout) as sock:
        _send(sock, _request_bytes(forward, request), forward)
        length = request.content_length or 0
        while length > 0:
            chunk = request.body.read(min(length, 65536))
            if not chunk:
                break
            _send(sock, chunk, forward)
            length -= len(chunk)
        head = _ResponseHead()
        parser = httptools.HttpResponseParser(head)
        started = False
        while not head.complete:
            try:
                data = sock.recv(65536)
            except OSError as exc:
                raise BackendError(f"reading from {forward.address} failed: {exc}") from None
            try:
                parser.feed_data(data) if data else parser.feed_data(b"")
            except httptools.HttpParserError as exc:
                raise BackendError(f"unparsable response from {forward.address}: {exc}") from None
            if head.head_done and not started:
                status = f"{parser.get_status_code()} "
                headers = [(n, v) for n, v in head.headers if n.lower() not in _HOP_BY_HOP]
                responder.start(status.strip(), headers)
                started = True
            if started:
                for piece in head.body:
                    responder.write(piece)
                head.body.clear()
            if not data:
                break
        if not started:
            raise BackendError(f"{forward.address} closed the connection before answering")


def _send(sock: socket.socket, data: bytes, forward: Forward) -> None:
    try:
        sock.sendall(data)
    except OSError as exc:
        raise BackendError(f"writing to {forward.address} failed: {exc}") from None


FORWARD_ACTIONS = {"uwsgi": _uwsgi, "http": _http}
