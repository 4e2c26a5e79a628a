"""Shared test helpers: start real polyhost instances, talk to them over real sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
POLYHOST = [sys.executable, "-m", "polyhost"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "") -> object:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class Instance:
    """A running `polyhost` process with its log file."""

    def __init__(
        self,
        args: list[str],
        tmp: Path,
        port: int | None,
        cwd: Path | None,
        program: list[str] = POLYHOST,
    ) -> None:
        self.args = args
        self.port = port
        #: the uwsgi-protocol port, for instances started by `serving(..., uwsgi_socket=True)`
        self.uwsgi_port: int | None = None
        self.log_path = tmp / f"polyhost-{port or os.getpid()}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*program, *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd or ROOT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 30.0) -> str:
        wait_for(
            lambda: text in self.log() or self.proc.poll() is not None,
            timeout,
            f"{text!r} in the log",
        )
        log = self.log()
        assert text in log, f"{text!r} not in log:\n{log}"
        return log

    def wait_ready(self, timeout: float = 20.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"polyhost exited with {self.proc.returncode}:\n{self.log()}")
            return self.log().count("spawned polyhost worker") >= 1 and _connectable(self.port)

        wait_for(ready, timeout, "polyhost to accept connections")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:  # shown with the failure: where did it hang?
                print(f"no exit {timeout:g}s after SIGTERM; its log:\n{self.log()[-4000:]}")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


@contextlib.contextmanager
def serving(
    tmp: Path,
    args: list[str],
    uwsgi_socket: bool = False,
    timeout: float = 20.0,
    program: list[str] = POLYHOST,
) -> Iterator[Instance]:
    """A ready polyhost (or `program`, a script that runs polyhost) with `args` on a fresh
    127.0.0.1 HTTP port (and a uwsgi socket on `uwsgi_port` when asked for); it must exit with
    status 0 when the block ends."""
    port = free_port()
    sockets = ["--http-socket", f"127.0.0.1:{port}"]
    uwsgi_port = None
    if uwsgi_socket:
        uwsgi_port = free_port()
        sockets += ["--socket", f"127.0.0.1:{uwsgi_port}"]
    inst = Instance([*sockets, *args], tmp, port, None, program)
    inst.uwsgi_port = uwsgi_port
    try:
        inst.wait_ready(timeout)
        yield inst
    finally:
        assert inst.stop() == 0


def _connectable(port: int | None) -> bool:
    if port is None:
        return True
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def polyhost(tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    """Start instances with `polyhost(args, port=...)`; all are stopped at the end."""
    started: list[Instance] = []

    def start(
        args: list[str],
        port: int | None = None,
        ready: bool = True,
        cwd: Path | None = None,
        program: list[str] = POLYHOST,
    ) -> Instance:
        inst = Instance(args, tmp_path, port, cwd, program)
        started.append(inst)
        if ready:
            inst.wait_ready()
        return inst

    yield start
    with contextlib.ExitStack() as stops:  # every one is stopped even when a stop fails
        for inst in started:
            stops.callback(inst.stop)


def http_request(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the server closes; returns everything received."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def uwsgi_request(port: int, env: dict[str, str], body: bytes = b"", mod1: int = 0) -> bytes:
    """One request over the uwsgi protocol (as nginx `uwsgi_pass`); returns the raw answer."""
    from polyhost.protocol.uwsgi import encode_vars, pack_header

    block = encode_vars(env)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(pack_header(mod1, len(block), 0) + block + body)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def get(
    port: int, path: str = "/", headers: str = "", timeout: float = 10.0, host: str = "t"
) -> bytes:
    return http_request(
        port,
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n".encode(),
        timeout,
    )


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


@contextlib.contextmanager
def under_load(
    request: Callable[[], str | None], clients: int = 4, most: int = 20_000
) -> Iterator[Callable[[str], None]]:
    """`clients` threads sending `request` (None when answered right, else what was wrong)
    until the block ends or `most` were answered, then no failure allowed; yields
    `progress(what)`, which waits for 20 more answers."""
    failures: list[str] = []
    answered = [0]
    done = threading.Event()

    def load() -> None:
        while not done.is_set() and answered[0] < most:
            try:
                failure = request()
            except OSError as exc:
                failure = repr(exc)
            if failure is None:
                answered[0] += 1
            else:
                failures.append(failure)

    def progress(what: str) -> None:
        count = answered[0]
        wait_for(lambda: answered[0] > count + 20, 20, what)

    threads = [threading.Thread(target=load) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield progress
    finally:
        done.set()
        for thread in threads:
            thread.join(30)
    assert not failures, failures[:5]


def django_project(directory: Path) -> list[str]:
    """A real `django-admin startproject mysite` in `directory`; returns the polyhost options
    that serve it (chdir, settings, mounted at /)."""
    directory.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(directory)],
        check=True,
        timeout=60,
    )
    return [
        "--chdir",
        str(directory),
        "--env",
        "DJANGO_SETTINGS_MODULE=mysite.settings",
        "--mount",
        "/=mysite.wsgi:application",
    ]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The seeds corpus count (tests/test_seeds.py): how many of the docs' examples run."""
    stats = terminalreporter.stats

    def seeds(kind: str) -> int:
        return sum("test_seed_example[" in getattr(r, "nodeid", "") for r in stats.get(kind, []))

    passed, xpassed, xfailed = seeds("passed"), seeds("xpassed"), seeds("xfailed")
    total = passed + xpassed + xfailed + seeds("failed") + seeds("skipped")
    if total:
        corpus = sys.modules.get("test_seeds")
        size = len(getattr(corpus, "EXAMPLES", ())) or total
        terminalreporter.write_line(
            f"seed examples: {passed + xpassed} of {total} run as the docs say"
            f" ({xfailed} wait on other open issues, {xpassed} of those already pass)"
            + (f"; {size - total} of the corpus's {size} not run here" if size > total else "")
        )
