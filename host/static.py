"""Static files, served by the host before any runtime sees the request (uWSGI's file server).

`StaticFiles.from_config` reads check-static, static-map, static-map2 and the options around them;
the worker calls `serve(request, responder)` first and skips the app when it returns True.
Every path is resolved to its real location and must lie under the root it was mapped from (or a
`static-safe` path): `..`, `%2e%2e`, NUL bytes and symlinks never reach a file outside the roots
(403). Conditional requests (ETag, If-Modified-Since), single byte ranges (206, on by default),
Expires rules and pre-compressed `.gz` siblings are handled here; the body goes out with sendfile,
or, with `offload-threads`, through an `OffloadPool` so a large download does not hold the worker.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import queue
import re
import select
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from polyhost.config import option_values
from polyhost.log import log as instance_log
from polyhost.request import Request, Responder, simple_error

if TYPE_CHECKING:
    import datetime

    from polyhost.config import Config

#: the MIME map of the system (Debian's media-types package)
SYSTEM_MIME_FILE = "/etc/mime.types"
#: never served as files: the sources of the scripts polyhost itself runs
SCRIPT_EXTENSIONS = (".php", ".cgi")
#: bodies at least this large go to an offload thread when offload-threads is set
OFFLOAD_MIN = 128 * 1024
#: how much one os.sendfile call of an offload thread may send
OFFLOAD_CHUNK = 1 << 20


def _split_rule(value: str, option: str) -> tuple[str, int]:
    """`PATTERN SECONDS` or `PATTERN=SECONDS` (the last separator counts)."""
    pattern, sep, seconds = value.rpartition(" ")
    if not sep:
        pattern, sep, seconds = value.rpartition("=")
    seconds = seconds.strip()
    if not sep or not pattern or not seconds.lstrip("-").isdigit():
        raise ValueError(f"{option} needs PATTERN=SECONDS (or PATTERN SECONDS), got {value!r}")
    return pattern.strip(), int(seconds)


@dataclass(frozen=True)
class ExpiresRule:
    """One static-expires* option: what it matches and how far in the future Expires is."""

    #: "type", "filename", "uri" or "path_info"
    subject: str
    pattern: str
    seconds: int
    #: True: Expires = file mtime + seconds; False: now + seconds
    from_mtime: bool
    regex: re.Pattern[str] | None = None

    def matches(self, content_type: str, filename: str, env: dict[str, str]) -> bool:
        if self.subject == "type":
            return content_type == self.pattern
        subject = {
            "filename": filename,
            "uri": env.get("REQUEST_URI", ""),
            "path_info": env.get("PATH_INFO", ""),
        }[self.subject]
        assert self.regex is not None
        return self.regex.search(subject) is not None


_EXPIRES_OPTIONS = (
    ("static-expires-type", "type", False),
    ("static-expires-type-mtime", "type", True),
    ("static-expires", "filename", False),
    ("static-expires-mtime", "filename", True),
    ("static-expires-uri", "uri", False),
    ("static-expires-uri-mtime", "uri", True),
    ("static-expires-path-info", "path_info", False),
    ("static-expires-path-info-mtime", "path_info", True),
)


@dataclass(frozen=True)
class Root:
    """Where a request path may be looked up: a mapped prefix and a directory (or one file)."""

    #: URL prefix ("" for check-static)
    prefix: str
    #: the directory or file as configured, and its real path
    path: str
    real: str
    #: static-map2: the whole path (prefix included) is appended to the directory
    keep_prefix: bool = False
    is_file: bool = False


class Forbidden(Exception):
    """The request resolves outside every allowed root; the message is for the log."""


@dataclass
class StaticFiles:
    """The host's file server for one worker."""

    roots: list[Root]
    index: list[str] = field(default_factory=list)
    skip_ext: tuple[str, ...] = SCRIPT_EXTENSIONS
    safe: list[str] = field(default_factory=list)
    mime: mimetypes.MimeTypes = field(default_factory=lambda: mimetypes.MimeTypes(()))
    honour_range: bool = True
    expires: list[ExpiresRule] = field(default_factory=list)
    gzip_all: bool = False
    gzip_regex: list[re.Pattern[str]] = field(default_factory=list)
    gzip_prefix: list[str] = field(default_factory=list)
    gzip_suffix: list[str] = field(default_factory=list)
    docroot_from_request: bool = False
    offload: OffloadPool | None = None
    log: Callable[[str], None] = instance_log

    @classmethod
    def from_config(
        cls, config: Config, log: Callable[[str], None] = instance_log
    ) -> StaticFiles | None:
        """The file server the options describe, or None when no static option is set."""
        roots = []
        for option, keep in (("static-map", False), ("static-map2", True)):
            for value in option_values(config, option):
                prefix, sep, path = value.partition("=")
                if not sep or not prefix.startswith("/") or not path:
                    raise ValueError(f"{option} needs /mountpoint=DIR, got {value!r}")
                roots.append(_root(prefix.rstrip("/"), path, keep))
        roots += [_root("", path, False) for path in option_values(config, "check-static")]
        from_docroot = config.get("check-static-docroot")
        if not roots and not from_docroot:
            return None
        skip = {*SCRIPT_EXTENSIONS, *option_values(config, "static-skip-ext")}
        skip.update(option_values(config, "php-allowed-ext"))
        skip.update(option_values(config, "cgi-allowed-ext"))
        mime = mimetypes.MimeTypes(())
        for mime_file in [SYSTEM_MIME_FILE, *option_values(config, "mimefile")]:
            with contextlib.suppress(FileNotFoundError):
                mime.read(mime_file)
        expires = []
        for option, subject, from_mtime in _EXPIRES_OPTIONS:
            for value in option_values(config, option):
                pattern, seconds = _split_rule(value, option)
                regex = None if subject == "type" else re.compile(pattern)
                expires.append(ExpiresRule(subject, pattern, seconds, from_mtime, regex))
        threads = config.get("offload-threads")
        timeout = config.get("socket-timeout")
        return cls(
            roots=roots,
            index=option_values(config, "static-index"),
            skip_ext=tuple(sorted(e.lower() for e in skip if e)),
            safe=[os.path.realpath(p) for p in option_values(config, "static-safe")],
            mime=mime,
            honour_range=config.get("honour-range"),
            expires=expires,
            gzip_all=config.get("static-gzip-all"),
            gzip_regex=[re.compile(p) for p in option_values(config, "static-gzip")],
            gzip_prefix=option_values(config, "static-gzip-dir"),
            gzip_suffix=option_values(config, "static-gzip-ext"),
            docroot_from_request=from_docroot,
            offload=OffloadPool(threads, max(timeout, 30.0), log) if threads > 0 else None,
            log=log,
        )

    # -- lookup --------------------------------------------------------------------------------

    def serve(self, request: Request, responder: Responder) -> bool:
        """Answer the request with a file when one of the roots has it; False: not ours."""
        env = request.vars
        if env.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return False
        path = env.get("PATH_INFO", "")
        try:
            found = self.find(path, env.get("DOCUMENT_ROOT", ""))
        except Forbidden as exc:
            self.log(f"[static] 403 for {env.get('REQUEST_URI', path)!r}: {exc}")
            simple_error(responder, 403)
            return True
        if found is None:
            return False
        real, st = found
        try:
            self.respond(request, responder, real, st)
        except PermissionError:
            self.log(f"[static] 403 for {env.get('REQUEST_URI', path)!r}: {real} is not readable")
            simple_error(responder, 403)
        return True

    def find(self, path: str, document_root: str = "") -> tuple[str, os.stat_result] | None:
        """The real path and stat of the file `path` names, None if no root has one.

        Raises Forbidden when the path tries to leave its root.
        """
        if "\0" in path:
            raise Forbidden("NUL byte in the path")
        fs_path = os.fsdecode(path.encode("latin-1"))
        climbs = ".." in fs_path.split("/")
        roots = self.roots
        if self.docroot_from_request and document_root:
            roots = [*roots, _root("", document_root, False)]
        for root in roots:
            if root.prefix:
                if fs_path != root.prefix and not fs_path.startswith(root.prefix + "/"):
                    continue
                rest = fs_path if root.keep_prefix else fs_path[len(root.prefix) :]
            else:
                rest = fs_path
            if climbs:
                raise Forbidden("'..' in the path")
            if root.is_file:
                if rest.strip("/") and not root.keep_prefix:
                    continue
                candidate = root.path
            else:
                candidate = os.path.join(root.path, rest.lstrip("/"))
            found = self._resolve(root, candidate)
            if found is not None:
                return found
        return None

    def _resolve(self, root: Root, candidate: str) -> tuple[str, os.stat_result] | None:
        try:
            st = os.stat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise Forbidden(f"{candidate}: {exc.strerror}") from None
        if stat.S_ISDIR(st.st_mode):
            for name in self.index:
                index = os.path.join(candidate, name)
                with contextlib.suppress(OSError):
                    st = os.stat(index)
                    if stat.S_ISREG(st.st_mode):
                        candidate = index
                        break
            else:
                return None
        if not stat.S_ISREG(st.st_mode) or candidate.lower().endswith(self.skip_ext):
            return None
        real = os.path.realpath(candidate)
        if real.lower().endswith(self.skip_ext):
            return None
        if not self._allowed(root, real):
            raise Forbidden(
                f"{candidate} resolves to {real}, outside {root.real} (static-safe would allow it)"
            )
        return real, st

    def _allowed(self, root: Root, real: str) -> bool:
        if root.is_file:
            if real == root.real:
                return True
        elif path_within(real, root.real):
            return True
        return self.is_safe(real)

    def is_safe(self, real: str) -> bool:
        """Whether a resolved path is under one of the `static-safe` directories."""
        return any(path_within(real, safe) for safe in self.safe)

    # -- response ------------------------------------------------------------------------------

    def respond(
        self, request: Request, responder: Responder, real: str, st: os.stat_result
    ) -> None:
        env = request.vars
        content_type = self.mime.guess_type(real, strict=False)[0] or "application/octet-stream"
        headers: list[tuple[str, str]] = []
        served_path = real
        if self._gzip_applies(real):
            headers.append(("Vary", "Accept-Encoding"))
            if _accepts_gzip(env.get("HTTP_ACCEPT_ENCODING", "")):
                gz = real + ".gz"
                with contextlib.suppress(OSError):
                    gz_st = os.stat(gz)
                    if stat.S_ISREG(gz_st.st_mode):
                        served_path, st = gz, gz_st
                        headers.append(("Content-Encoding", "gzip"))
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        mtime = int(st.st_mtime)
        headers += [("Last-Modified", _format_http_date(mtime)), ("ETag", etag)]
        expires = self._expires(content_type, real, env, mtime)
        if expires is not None:
            headers.append(("Expires", _format_http_date(expires)))
        if _not_modified(env, etag, mtime):
            responder.start("304 Not Modified", headers)
            return
        size = st.st_size
        offset, count, status = 0, size, "200 OK"
        if self.honour_range:
            headers.append(("Accept-Ranges", "bytes"))
            wanted = env.get("HTTP_RANGE")
            if wanted and _if_range_holds(env.get("HTTP_IF_RANGE"), etag, mtime):
                byte_range = _parse_range(wanted, size)
                if byte_range == "unsatisfiable":
                    responder.start(
                        "416 Range Not Satisfiable",
                        [("Content-Range", f"bytes */{size}"), ("Content-Length", "0")],
                    )
                    return
                if byte_range is not None:
                    offset, count = byte_range
                    status = "206 Partial Content"
                    headers.append(("Content-Range", f"bytes {offset}-{offset + count - 1}/{size}"))
        headers = [("Content-Type", content_type), ("Content-Length", str(count)), *headers]
        with open(served_path, "rb") as file:
            head_only = env.get("REQUEST_METHOD") == "HEAD"
            if self.offload is not None and not head_only and count >= OFFLOAD_MIN:
                client = _raw_socket(responder)
                if client is not None:
                    responder.keep_alive = False  # type: ignore[attr-defined]
                    responder.start(status, headers)
                    responder.sendfile(file, offset, 0)  # flushes the head, sends no body
                    self.offload.submit(client, file, offset, count)
                    responder.bytes_sent += count
                    return
            responder.start(status, headers)
            if not head_only and count:
                responder.sendfile(file, offset, count)

    def _gzip_applies(self, real: str) -> bool:
        return (
            self.gzip_all
            or any(real.startswith(prefix) for prefix in self.gzip_prefix)
            or any(real.endswith(suffix) for suffix in self.gzip_suffix)
            or any(regex.search(real) for regex in self.gzip_regex)
        )

    def _expires(self, content_type: str, real: str, env: dict[str, str], mtime: int) -> int | None:
        for rule in self.expires:
            if rule.matches(content_type, real, env):
                return (mtime if rule.from_mtime else int(time.time())) + rule.seconds
        return None

    def close(self, grace: float = 0.0) -> None:
        """Stop the offload threads, first letting transfers in flight finish (up to grace s)."""
        if self.offload is not None:
            deadline = time.monotonic() + grace
            while self.offload.in_flight() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.offload.close()


def _root(prefix: str, path: str, keep_prefix: bool) -> Root:
    real = os.path.realpath(path)
    return Root(prefix, path, real, keep_prefix, os.path.isfile(real))


def _accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and _qvalue(q[2:]) == 0.0)
    return False


def _qvalue(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 1.0


def _http_date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(_parse_http_date(value).timestamp())
    except (TypeError, ValueError, IndexError):
        return None


def _not_modified(env: dict[str, str], etag: str, mtime: int) -> bool:
    """RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since."""
    if_none_match = env.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = _http_date(env.get("HTTP_IF_MODIFIED_SINCE"))
    return since is not None and mtime <= since


def _if_range_holds(if_range: str | None, etag: str, mtime: int) -> bool:
    if if_range is None:
        return True
    if if_range.startswith(('"', "W/")):
        return if_range == etag
    return _http_date(if_range) == mtime


def _parse_range(value: str, size: int) -> tuple[int, int] | str | None:
    """One `bytes=` range -> (offset, count); "unsatisfiable"; None to ignore the header.

    Several ranges are answered with the whole file (RFC 9110 allows ignoring Range).
    """
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or (not first and last.isdigit())):
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        start = max(0, size - suffix)
        return start, size - start
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    if last and not last.isdigit():
        return None
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return start, end - start + 1


def _raw_socket(responder: Responder) -> socket.socket | None:
    """The client socket of an HTTP or uwsgi responder (FastCGI needs records: no offload)."""
    if getattr(responder, "protocol", "http") == "fastcgi":
        return None
    sock = getattr(responder, "sock", None)
    if sock is None:
        sock = getattr(getattr(responder, "conn", None), "sock", None)
    return sock if isinstance(sock, socket.socket) else None


@dataclass
class _Transfer:
    fd: int
    file: BinaryIO
    offset: int
    left: int
    last_progress: float


class OffloadPool:
    """`offload-threads`: threads of the worker that send file bodies on their own.

    The worker writes the response head, then gives the pool a duplicate of the client socket's
    descriptor and the open file; the response says `Connection: close`, so the worker closes its
    own descriptor and goes on with other requests. Each thread multiplexes any number of
    transfers with epoll and non-blocking sendfile, and closes the connection when the file is
    sent, the client goes away, or it makes no progress for `timeout` seconds.
    """

    def __init__(self, threads: int, timeout: float, log: Callable[[str], None]) -> None:
        self.timeout = timeout
        self.log = log
        self._next = 0
        self._loops = [_OffloadLoop(self, index) for index in range(threads)]
        for loop in self._loops:
            loop.thread.start()

    def submit(self, client: socket.socket, file: BinaryIO, offset: int, count: int) -> None:
        """Send `count` bytes of `file` from `offset` to the client; the pool owns both now."""
        fd = os.dup(client.fileno())
        transfer = _Transfer(
            fd, os.fdopen(os.dup(file.fileno()), "rb"), offset, count, time.monotonic()
        )
        loop = self._loops[self._next % len(self._loops)]
        self._next += 1
        loop.add(transfer)

    def in_flight(self) -> int:
        return sum(len(loop.transfers) for loop in self._loops)

    def close(self) -> None:
        for loop in self._loops:
            loop.stop()


class _OffloadLoop:
    """One offload thread: an epoll set of client sockets waiting to take more file bytes."""

    def __init__(self, pool: OffloadPool, index: int) -> None:
        self.pool = pool
        self.epoll = select.epoll()
        self.transfers: dict[int, _Transfer] = {}
        self.incoming: queue.SimpleQueue[_Transfer | None] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.epoll.register(self.wake_r, select.EPOLLIN)
        self.thread = threading.Thread(target=self.run, name=f"offload {index}", daemon=True)

    def add(self, transfer: _Transfer) -> None:
        self.incoming.put(transfer)
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"t")

    def stop(self) -> None:
        self.incoming.put(None)
        with contextlib.suppress(OSError):
            os.write(self.wake_w, b"s")

    def run(self) -> None:
        while True:
            try:
                events = self.epoll.poll(1.0)
            except InterruptedError:
                continue
            for fd, _ in events:
                if fd == self.wake_r:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 4096)
                    if not self._take_incoming():
                        return
                else:
                    transfer = self.transfers.get(fd)
                    if transfer is not None:
                        self._send(transfer)
            self._expire()

    def _take_incoming(self) -> bool:
        while True:
            try:
                transfer = self.incoming.get_nowait()
            except queue.Empty:
                return True
            if transfer is None:
                for pending in list(self.transfers.values()):
                    self._finish(pending, "the worker is stopping")
                return False
            self.transfers[transfer.fd] = transfer
            self.epoll.register(transfer.fd, select.EPOLLOUT)
            self._send(transfer)

    def _send(self, transfer: _Transfer) -> None:
        while transfer.left > 0:
            try:
                sent = os.sendfile(
                    transfer.fd,
                    transfer.file.fileno(),
                    transfer.offset,
                    min(transfer.left, OFFLOAD_CHUNK),
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._finish(transfer, f"the client went away ({exc.strerror})")
                return
            if sent == 0:
                self._finish(transfer, "the file shrank while it was sent")
                return
            transfer.offset += sent
            transfer.left -= sent
            transfer.last_progress = time.monotonic()
        self._finish(transfer, None)

    def _expire(self) -> None:
        limit = time.monotonic() - self.pool.timeout
        for transfer in list(self.transfers.values()):
            if transfer.last_progress < limit:
                self._finish(transfer, f"no progress for {self.pool.timeout:g}s")

    def _finish(self, transfer: _Transfer, problem: str | None) -> None:
        if self.transfers.pop(transfer.fd, None) is not None:
            with contextlib.suppress(OSError):
                self.epoll.unregister(transfer.fd)
        if problem is not None:
            self.pool.log(f"[offload] transfer stopped with {transfer.left} bytes left: {problem}")
        with contextlib.suppress(OSError):
            os.close(transfer.fd)
        transfer.file.close()


def path_within(path: str, root: str) -> bool:
    """`path` is `root` or below it (both already resolved with realpath)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def _format_http_date(timestamp: float) -> str:
    """An HTTP date (Last-Modified, Expires); email.utils (1 MiB with the email package it
    pulls in) is imported by the first file served, not by every worker (issue 18)."""
    from email.utils import formatdate

    return formatdate(timestamp, usegmt=True)


def _parse_http_date(value: str) -> datetime.datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value)
