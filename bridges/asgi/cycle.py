"""One ASGI HTTP request: the `http` scope from a Request, and the receive/send events.

The scope comes from the request's CGI vars and, on an http-socket, its raw header list (names
lower-cased, in order). The response goes through the listener's Responder (HTTP framing,
keep-alive, HEAD, chunked), so ASGI and WSGI answers are framed by the same code. Where the
channel advertises `http.response.trailers` (HTTP/1.1 keep-alive, so chunked), a start with
`trailers: True` ends with the fields of the app's `http.response.trailers` events. `CycleIO`
is where the bytes come from and go: the event loop's own transport for adopted connections
(`channel.HttpChannel`), or a worker thread's blocking socket (`run_blocking`).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Protocol

from polyhost.bridges.asgi.lifespan import ASGI_INFO
from polyhost.dispatch import App
from polyhost.log import log, log_exception, printable
from polyhost.memo import Memo
from polyhost.protocol.http_rules import FORBIDDEN_TRAILERS
from polyhost.protocol.response_head import checked_header
from polyhost.request import REASONS, ClientGone, Request, Responder, ResponseAborted, simple_error

#: how much request body one `http.request` event carries at most
BODY_CHUNK = 65536


class CycleIO(Protocol):
    """The connection side of one request cycle."""

    async def read_body(self) -> tuple[bytes, bool] | None:
        """The next piece of the body and whether more follows; None: the client is gone."""

    async def wait_disconnect(self) -> None:
        """Return when the client is gone (or the response is complete)."""

    async def call(self, fn: Any, *args: Any) -> Any:
        """Run a Responder method (a blocking one in a thread, on a worker's socket)."""

    def response_complete(self) -> None:
        """The response has been sent in full."""


def http_scope(request: Request, app: App, state: dict[str, Any]) -> dict[str, Any]:
    """The ASGI `http` (or `websocket`) scope of a request."""
    env = request.vars
    headers = request_headers(request)
    uri = env.get("REQUEST_URI", "").encode("latin-1")
    raw_path = uri.partition(b"?")[0] or env.get("PATH_INFO", "/").encode("latin-1")
    root_path = env.get("SCRIPT_NAME", "")
    path_info = env.get("PATH_INFO", "")
    path = (root_path + path_info).encode("latin-1").decode("utf-8", "replace")
    scheme = env.get("UWSGI_SCHEME") or (
        "https" if env.get("HTTPS", "").lower() in ("on", "1") else "http"
    )
    upgrade = env.get("HTTP_UPGRADE", "").lower() == "websocket"
    port = env.get("REMOTE_PORT", "")
    server_port = env.get("SERVER_PORT", "")
    scope: dict[str, Any] = {
        "type": "websocket" if upgrade else "http",
        "asgi": ASGI_INFO,
        "http_version": env.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2] or "1.1",
        "scheme": ("wss" if scheme == "https" else "ws") if upgrade else scheme,
        "path": path,
        "raw_path": raw_path,
        "query_string": env.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": root_path.encode("latin-1").decode("utf-8", "replace"),
        "headers": headers,
        "client": (env.get("REMOTE_ADDR", ""), int(port)) if port.isdigit() else None,
        "server": (env.get("SERVER_NAME", ""), int(server_port) if server_port.isdigit() else None),
        "state": state,
    }
    if upgrade:
        protocols = env.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "")
        scope["subprotocols"] = [p.strip() for p in protocols.split(",") if p.strip()]
        scope["extensions"] = {"websocket.http.response": {}}
    else:
        scope["method"] = env.get("REQUEST_METHOD", "GET")
        scope["extensions"] = {"http.response.pathsend": {}}
    return scope


def request_headers(request: Request) -> list[tuple[bytes, bytes]]:
    """The request's headers as lower-cased byte pairs: in order from an http-socket's parser,
    else rebuilt from the CGI vars (a uwsgi or FastCGI request)."""
    raw = request.extra.get("headers")
    if raw is not None:
        return [(name.lower(), value) for name, value in raw]  # type: ignore[attr-defined]
    return _headers_from_vars(request.vars)


def _headers_from_vars(env: dict[str, str]) -> list[tuple[bytes, bytes]]:
    headers = []
    for key, value in env.items():
        if key.startswith("HTTP_"):
            name = key[5:].lower().replace("_", "-")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:  # nginx sends them empty
            name = key.lower().replace("_", "-")
        else:
            continue
        headers.append((name.encode("latin-1"), value.encode("latin-1")))
    return headers


#: an `http.response.start` as the Responder takes it: status line text, headers as text, and
#: whether they carry a Content-Length
Start = tuple[str, list[tuple[str, str]], bool]
#: decoded starts by (status, headers as sent): an app sends a handful of distinct ones
_STARTS: Memo[Start] = Memo()


def response_start(status: int, raw_headers: Any) -> Start:
    """The Responder's form of an `http.response.start` (decoded once per distinct start;
    headers as lists are decoded each time)."""
    key = (status, *raw_headers)
    known = _STARTS.get(key)
    if known is not None:
        return known
    headers = [
        (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
        for name, value in raw_headers
    ]
    start = (
        f"{status} {REASONS.get(status, 'Unknown')}",
        headers,
        any(name.lower() == "content-length" for name, _ in headers),
    )
    return _STARTS.put(key, start)


class HttpCycle:
    """The receive and send callables of one request, and running the app on them."""

    def __init__(self, app: App, request: Request, responder: Responder, io: CycleIO) -> None:
        self.app = app
        self.request = request
        self.responder = responder
        self.io = io
        self.body_done = False
        self.pending: Start | None = None
        self.complete = False
        #: the connection can end a chunked response with trailers (scope extension
        #: `http.response.trailers`, set by the channel on HTTP/1.1)
        self.trailers_allowed = False
        #: the app's start announced trailers: the response ends with them
        self.trailers = False
        #: the trailer section so far (field lines)
        self.trailer = b""
        #: the last body event of a response with trailers was sent: trailers come next
        self.body_done_sent = False

    async def receive(self) -> dict[str, Any]:
        if not self.body_done and not self.complete:
            piece = await self.io.read_body()
            if piece is not None:
                data, more = piece
                self.body_done = not more
                return {"type": "http.request", "body": data, "more_body": more}
        await self.io.wait_disconnect()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.pending is not None or self.responder.started:
                raise RuntimeError("http.response.start sent twice")
            self.pending = response_start(int(message["status"]), message.get("headers", ()))
            self.trailers = self.trailers_allowed and bool(message.get("trailers", False))
            return
        if kind == "http.response.trailers" and self.trailers:
            await self._send_trailers(message)
            return
        if kind not in ("http.response.body", "http.response.pathsend"):
            raise ValueError(f"unknown ASGI message type {kind!r} for an HTTP request")
        if self.complete:
            raise RuntimeError(f"{kind} sent after the response was complete")
        if self.pending is None and not self.responder.started:
            raise RuntimeError(f"{kind} sent before http.response.start")
        if kind == "http.response.pathsend":
            await self._send_path(str(message["path"]))
            return
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        await self.io.call(self._respond, body, more)  # one call (and wait) per body event
        if not more and not self.trailers:
            self.complete = True
            self.io.response_complete()
        elif not more:
            self.body_done_sent = True

    async def _send_trailers(self, message: dict[str, Any]) -> None:
        """An `http.response.trailers` event: its fields (those RFC 9110 §6.5.1 keeps out of a
        trailer are dropped, logged); the last one ends the chunked response."""
        if not self.body_done_sent:
            raise RuntimeError("http.response.trailers sent before the last http.response.body")
        for raw_name, raw_value in message.get("headers", ()):
            name = bytes(raw_name).decode("latin-1")
            if name.lower().encode("latin-1") in FORBIDDEN_TRAILERS:
                log(
                    f"the ASGI app {self.app.target} sent the trailer field {printable(name)}: "
                    "RFC 9110 keeps it out of trailers, it is dropped"
                )
                continue
            line = checked_header(name, bytes(raw_value).decode("latin-1"))
            self.trailer += line.encode("latin-1") + b"\r\n"
        if not message.get("more_trailers", False):
            await self._end_with_trailers()

    async def _end_with_trailers(self) -> None:
        """The last chunk and the trailer section so far end the response."""
        self.trailers = self.body_done_sent = False
        await self.io.call(self.responder.finish, self.trailer)  # type: ignore[call-arg]
        self.complete = True
        self.io.response_complete()

    def _respond(self, body: bytes, more: bool) -> None:
        """The head (on the first body event), the body, the end: the Responder's calls."""
        responder = self.responder
        if self.pending is not None:
            status, headers, has_length = self.pending
            self.pending = None
            if not more and not has_length and not self.trailers:
                headers = [*headers, ("Content-Length", str(len(body)))]
            responder.start(status, headers)
        if body:
            responder.write(body)
        if not more and not self.trailers:
            responder.finish()

    async def _send_path(self, path: str) -> None:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if self.pending is not None:
                status, headers, has_length = self.pending
                self.pending = None
                if not has_length:
                    headers = [*headers, ("Content-Length", str(size))]
                await self.io.call(self.responder.start, status, headers)
            while chunk := await self.io.call(file.read, BODY_CHUNK):
                await self.io.call(self.responder.write, chunk)
        await self._finish()

    async def _finish(self) -> None:
        await self.io.call(self.responder.finish)
        self.complete = True
        self.io.response_complete()

    async def run(self, scope: dict[str, Any]) -> bool:
        """Run the app for this request; True when the response completed normally."""
        env = self.request.vars
        try:
            await self.app.handle(scope, self.receive, self.send)  # type: ignore[operator]
        except ClientGone:
            return False  # the client went away mid-response: nothing to answer
        except Exception as exc:
            self.app.exceptions += 1
            log_exception(
                f"{env.get('REQUEST_METHOD')} {env.get('REQUEST_URI')}: "
                f"exception in the ASGI app {self.app.target}:",
                exc,
            )
            if not self.responder.started:
                await self.io.call(simple_error, self.responder, 500)
                await self._finish()
                return True
            return self.complete  # a complete response stays valid: the connection too
        if self.complete:
            return True
        if self.body_done_sent:  # the app returned without its trailers (or not all)
            await self._end_with_trailers()
            return True
        if not self.responder.started:
            self.app.exceptions += 1
            log_exception(
                f"{env.get('REQUEST_METHOD')} {env.get('REQUEST_URI')}: the ASGI app "
                f"{self.app.target} returned without a response:",
                RuntimeError("no http.response.start/body sent"),
            )
            await self.io.call(simple_error, self.responder, 500)
            await self._finish()
            return True
        return False  # started, never finished: the connection is closed


class BlockingIO:
    """CycleIO over a worker thread's Request/Responder: blocking calls run in the executor."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.done = asyncio.Event()
        self.remaining = request.content_length

    async def read_body(self) -> tuple[bytes, bool] | None:
        loop = asyncio.get_running_loop()
        size = BODY_CHUNK if self.remaining is None else min(self.remaining, BODY_CHUNK)
        data = await loop.run_in_executor(None, self.request.body.read, size) if size else b""
        if self.remaining is not None:
            self.remaining -= len(data)
            return data, self.remaining > 0 and bool(data)
        return data, bool(data)

    async def wait_disconnect(self) -> None:
        await self.done.wait()

    async def call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    def response_complete(self) -> None:
        self.done.set()


async def run_blocking(engine: Any, app: App, request: Request, responder: Responder) -> None:
    """Serve a request of a worker thread (uwsgi/FastCGI listener) on the loop."""
    scope = http_scope(request, app, engine.state_for(app))
    if scope["type"] == "websocket":
        await asyncio.get_running_loop().run_in_executor(
            None,
            simple_error,
            responder,
            400,
            "WebSockets to ASGI apps need an http-socket or a uwsgi socket",
        )
        return
    if not await HttpCycle(app, request, responder, BlockingIO(request)).run(scope):
        raise ResponseAborted
