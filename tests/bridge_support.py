"""Test helpers for child runtimes: a Responder that collects the answer, requests, runtimes."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import pytest

from polyhost.bridges.channel import CallError, CallHandler
from polyhost.bridges.child_runtime import ChildRuntime
from polyhost.config import Config, load_config
from polyhost.dispatch import AppSpec, RuntimeContext
from polyhost.request import BodyReader, BytesBody, Request


class CollectingResponder:
    """A real Responder that keeps the response in memory (or only its hash, for big bodies)."""

    def __init__(self, keep_body: bool = True) -> None:
        self.status = 0
        self.status_line = ""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()
        self.keep_body = keep_body
        self.digest = hashlib.sha256()
        self.bytes_sent = 0
        self.headers_count = 0
        self.headers_size = 0
        self.writes = 0
        self.sendfiles: list[tuple[str, int, int | None]] = []
        self.finished = False
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    def start(self, status: str, headers: list[tuple[str, str]]) -> None:
        assert not self._started, "start() called twice"
        self._started = True
        self.status_line = status
        self.status = int(status.split(" ", 1)[0])
        self.headers = list(headers)
        self.headers_count = len(headers)

    def write(self, data: bytes) -> None:
        assert self._started, "write() before start()"
        self.writes += 1
        self.bytes_sent += len(data)
        self.digest.update(data)
        if self.keep_body:
            self.body += data

    def sendfile(self, file: BinaryIO, offset: int = 0, count: int | None = None) -> None:
        self.sendfiles.append((file.name, offset, count))  # type: ignore[arg-type]
        file.seek(offset)
        left = count
        while left is None or left > 0:
            piece = file.read(65536 if left is None else min(65536, left))
            if not piece:
                break
            if left is not None:
                left -= len(piece)
            self.write(piece)

    def finish(self) -> None:
        self.finished = True

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def text(self) -> str:
        return bytes(self.body).decode("utf-8", "replace")


class PatternBody:
    """A request body of `size` bytes generated as it is read, never held whole."""

    BLOCK = bytes(range(256)) * 256

    def __init__(self, size: int, piece: int | None = None) -> None:
        self.size = size
        self.pos = 0
        #: at most this many bytes per read, like a socket would give
        self.piece = piece
        self.digest = hashlib.md5()
        expected = hashlib.md5()
        block = self.BLOCK
        for start in range(0, size, len(block)):
            expected.update(block[: min(len(block), size - start)])
        self.expected_md5 = expected.hexdigest()

    def read(self, size: int = -1) -> bytes:
        left = self.size - self.pos
        want = left if size is None or size < 0 else min(size, left)
        if self.piece:
            want = min(want, self.piece)
        out = bytearray()
        while len(out) < want:
            offset = (self.pos + len(out)) % len(self.BLOCK)
            out += self.BLOCK[offset : offset + want - len(out)]
        self.pos += want
        return bytes(out)

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def peak_rss_kib(pid: int | str = "self") -> int:
    """VmHWM of a process: its peak resident memory."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match, status
    return int(match.group(1))


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def make_request(
    method: str = "GET",
    path: str = "/",
    query: str = "",
    body: bytes | BodyReader = b"",
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
    script_name: str = "",
) -> Request:
    """A Request as the worker builds it: CGI vars plus a body reader."""
    reader = BytesBody(body) if isinstance(body, bytes) else body
    length = len(body) if isinstance(body, bytes) else content_length
    env = {
        "REQUEST_METHOD": method,
        "REQUEST_URI": path + (f"?{query}" if query else ""),
        "PATH_INFO": path,
        "SCRIPT_NAME": script_name,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8080",
    }
    if length is not None and (length or method in ("POST", "PUT", "PATCH")):
        env["CONTENT_LENGTH"] = str(length)
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return Request(vars=env, body=reader, modifier1=0)


class LogLines:
    """The instance log as the runtime writes it, thread-safe, with a bounded wait."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, line: str) -> None:
        with self._cond:
            self.lines.append(line)
            self._cond.notify_all()

    def wait_for(self, fragment: str, timeout: float = 10.0) -> str:
        with self._cond:
            found = self._cond.wait_for(
                lambda: any(fragment in line for line in self.lines), timeout=timeout
            )
            assert found, f"{fragment!r} not logged; log was:\n" + "\n".join(self.lines)
            return next(line for line in self.lines if fragment in line)

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)


def config_of(options: Mapping[str, object] | None = None) -> Config:
    """A real Config from {option: value or [values]}, as if given on the command line."""
    argv = []
    for name, value in (options or {}).items():
        for item in value if isinstance(value, list | tuple) else [value]:
            argv.append(f"--{name}={item}")
    return load_config(argv, environ={})


def load_runtime(
    cls: type[ChildRuntime],
    target: str,
    threads: int = 1,
    options: dict[str, object] | None = None,
    worker_id: int = 1,
    mountpoint: str = "",
) -> tuple[ChildRuntime, LogLines]:
    """Load one app in a runtime as a worker does after fork; the caller closes the runtime."""
    log = LogLines()
    ctx = RuntimeContext(config=config_of(options), log=log, worker_id=worker_id, threads=threads)
    runtime = cls(ctx, [AppSpec(cls.name, target, mountpoint, "test")])
    runtime.load(0)
    return runtime, log


def serve(runtime: ChildRuntime, request: Request, keep_body: bool = True) -> CollectingResponder:
    responder = CollectingResponder(keep_body)
    runtime.handle(runtime.apps[0], request, responder)
    responder.finish()
    return responder


def basic_calls(log: Callable[[str], None]) -> CallHandler:
    """A call handler for protocol tests: `log` works, every other op is an error."""

    def handle(op: bytes, args: list[bytes]) -> list[bytes]:
        if op == b"log":
            for arg in args:
                log(arg.decode("utf-8", "replace").rstrip("\n"))
            return []
        name = op.decode("latin-1")
        raise CallError(f"{name} is not handled by this test")

    return handle


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split(") ")[1].startswith("Z"):
            return  # a zombie waiting for its parent to reap it
        time.sleep(0.01)
    raise AssertionError(f"process {pid} still alive after {timeout}s")


def runs(*command: str) -> bool:
    """The program is installed and this command succeeds."""
    return (
        shutil.which(command[0]) is not None
        and subprocess.run(command, capture_output=True).returncode == 0
    )


needs_plack = pytest.mark.skipif(
    not runs("perl", "-MPlack::Util", "-e1"),
    reason="needs perl and Plack (apt-get install libplack-perl)",
)
needs_rack = pytest.mark.skipif(
    not runs("ruby", "-e", "require 'rack'"),
    reason="needs ruby and rack (apt-get install ruby-rack)",
)
