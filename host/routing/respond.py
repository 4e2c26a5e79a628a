"""The response side of the rules: a responder wrapped around the client's one that runs the
error chain (at every status, as uWSGI) and the response chain (once the app's headers are
known, before the body), applies `addheader`/`delheader`/`clearheaders`, and keeps the body for
`cachestore`; and the writing of an Answer the rules decided.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from polyhost.log import log, printable
from polyhost.request import simple_error
from polyhost.routing import cache
from polyhost.routing.rules import run

if TYPE_CHECKING:
    from polyhost.protocol.connection import WireResponder
    from polyhost.request import Request
    from polyhost.routing.context import Answer, RouteContext
    from polyhost.routing.rules import RoutingTable
    from polyhost.static import StaticFiles

#: the largest body kept for `cachestore` (bigger responses are sent, not cached)
MAX_CACHED_BODY = 16 << 20


def send_answer(
    answer: Answer, request: Request, responder: WireResponder, files: StaticFiles
) -> None:
    """Write what a rule decided (a status with headers and body, or a file)."""
    if answer.close:
        responder.keep_alive = False
    if answer.file is not None:
        path = os.fsdecode(answer.file.encode("latin-1"))
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            simple_error(responder, 404)
            return
        real = os.path.realpath(path)
        if not answer.plain and not real.startswith(path) and not files.is_safe(real):
            # as uWSGI: a path that resolves elsewhere (.., symlinks) needs static-safe
            log(f"[uwsgi-route] static: {printable(path)} resolves to {printable(real)}")
            simple_error(responder, 403)
            return
        if not answer.plain:
            files.respond(request, responder, real, st)
            return
        length = [("Content-Length", str(st.st_size))] if answer.length else []
        with open(path, "rb") as file:
            responder.start(answer.status, [*length, *answer.headers])
            if request.vars.get("REQUEST_METHOD") != "HEAD":
                responder.sendfile(file, 0, st.st_size)
        return
    responder.start(answer.status, answer.headers)
    if answer.body:
        responder.write(answer.body)


class RoutedResponder:
    """The client's responder with the response-side rules applied."""

    def __init__(
        self,
        inner: WireResponder,
        table: RoutingTable,
        ctx: RouteContext,
        request: Request,
        files: StaticFiles,
        raw: Callable[[bytes], None],
    ) -> None:
        self.inner = inner
        #: writes to the client's socket as they are (`disableheaders:` bodies)
        self.raw = raw
        #: `disableheaders:`: the status the app gave, none of its head is sent
        self._headless_status = 0
        self.table = table
        self.ctx = ctx
        self.request = request
        self.files = files
        #: the app's response was replaced by a rule's answer: its body is dropped
        self.replaced = False
        self.kept: list[bytes] | None = None
        self.kept_size = 0
        self._responding = False
        #: `gzip:`: the body is compressed as it is written
        self._gzip: zlib._Compress | None = None
        #: `fixcl:`: the head waits for the whole body, to send its Content-Length
        self._held: tuple[str, list[tuple[str, str]], list[bytes]] | None = None

    # what the worker reads and sets on a responder
    @property
    def status(self) -> int:
        return self._headless_status or self.inner.status

    @property
    def bytes_sent(self) -> int:
        return self.inner.bytes_sent

    @bytes_sent.setter
    def bytes_sent(self, value: int) -> None:
        self.inner.bytes_sent = value

    @property
    def headers_count(self) -> int:
        return self.inner.headers_count

    @property
    def headers_size(self) -> int:
        return self.inner.headers_size

    @property
    def keep_alive(self) -> bool:
        return self.inner.keep_alive

    @keep_alive.setter
    def keep_alive(self, value: bool) -> None:
        self.inner.keep_alive = value

    @property
    def started(self) -> bool:
        return self.replaced or self.inner.started

    def __getattr__(self, name: str) -> object:  # protocol, conn ... of the wire responder
        return getattr(self.inner, name)

    def start(self, status: str, headers: list[tuple[str, str]]) -> None:
        ctx = self.ctx
        code = status[:3]
        ctx.status = int(code) if code.isdigit() else 0
        collect = self.table.collect
        if collect:
            kept = []
            for name, value in headers:
                wanted = collect.get(name.lower())
                if wanted is not None:
                    ctx.vars[wanted[0]] = value
                if wanted is None or not wanted[1]:
                    kept.append((name, value))
            headers = kept
        if not self._responding:
            self._responding = True
            for chain in (self.table.error, self.table.response):
                if not chain:
                    continue
                run(chain, ctx)
                if ctx.answer is not None:
                    answer, ctx.answer = ctx.answer, None
                    # written through this responder (header actions apply, the chains are
                    # not run again); the app's own body is dropped after it
                    send_answer(answer, self.request, self, self.files)
                    self.replaced = True
                    return
        if "noheaders" in ctx.transforms:
            self._headless_status = ctx.status
            self.inner.keep_alive = False  # a body without a head has no framing
            return
        if ctx.reset_status is not None:
            status, headers, ctx.reset_status = ctx.reset_status, [], None
        if ctx.stores:
            self.kept = []
        headers = self._edited(headers)
        transforms = ctx.transforms
        if transforms:
            if "gzip" in transforms or "chunked" in transforms or "fixcl" in transforms:
                headers = [h for h in headers if h[0].lower() != "content-length"]
            if "gzip" in transforms:
                self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
                headers.append(("Content-Encoding", "gzip"))
            if "fixcl" in transforms:
                self._held = (status, headers, [])
                return
        self.inner.start(status, headers)

    def _edited(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        ctx = self.ctx
        removed = ctx.remove_headers
        if removed:
            headers = [h for h in headers if h[0].lower() not in removed]
        if ctx.add_headers:
            headers = [*headers, *(h for h in ctx.add_headers if h[0].lower() not in removed)]
        return headers

    def write(self, data: bytes) -> None:
        if self.replaced:
            return
        kept = self.kept
        if kept is not None and self.kept_size <= MAX_CACHED_BODY:
            kept.append(bytes(data))
            self.kept_size += len(data)
        if self._gzip is not None:
            data = self._gzip.compress(data)
        if self._held is not None:
            self._held[2].append(data)
        elif self._headless_status:
            self.raw(data)
            self.inner.bytes_sent += len(data)
        elif data:
            self.inner.write(data)

    def sendfile(self, file: BinaryIO, offset: int = 0, count: int | None = None) -> None:
        if self.replaced:
            return
        if (
            self.kept is None
            and self._gzip is None
            and self._held is None
            and not (self._headless_status)
        ):
            self.inner.sendfile(file, offset, count)
            return
        file.seek(offset)
        remaining = count if count is not None else -1
        while remaining:
            chunk = file.read(65536 if remaining < 0 else min(remaining, 65536))
            if not chunk:
                break
            self.write(chunk)
            if remaining > 0:
                remaining -= len(chunk)

    def finish(self) -> None:
        if self._gzip is not None:
            tail, self._gzip = self._gzip.flush(), None
            if self._held is not None:
                self._held[2].append(tail)
            else:
                self.inner.write(tail)
        if self._held is not None:
            status, headers, body = self._held
            self._held = None
            data = b"".join(body)
            self.inner.start(status, [*headers, ("Content-Length", str(len(data)))])
            self.inner.write(data)
        self.inner.finish()
        kept, self.kept = self.kept, None
        if kept is not None and self.kept_size <= MAX_CACHED_BODY:
            body = b"".join(kept)
            for store in self.ctx.stores:
                cache.commit(store, self.inner.status, body)
