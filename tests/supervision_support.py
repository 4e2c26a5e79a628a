"""Helpers of the supervision tests (cheaper, chain reload, FIFO, daemons, zerg, systemd): the
stats JSON, master FIFO commands that never block, a bounded client load, and the processes a
test started outside the `polyhost` fixture, stopped by pid whatever the test's outcome."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from conftest import APPS, Instance, free_port, get, wait_for

#: a plain GET / as a uwsgi-protocol request (conftest.uwsgi_request's vars)
UWSGI_ENV = {
    "REQUEST_METHOD": "GET",
    "REQUEST_URI": "/",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "t",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "t",
}
#: real uWSGI 2.0 with its Python 3 plugin, run side by side with polyhost
UWSGI = ["/usr/bin/uwsgi", "--plugin", "python3", "--master"]


def start_cheaper(polyhost, *options: str) -> tuple[Instance, int, int]:  # type: ignore[no-untyped-def]
    """An http-socket instance of 3 workers, cheaper 1, decisions every second, stats on a
    port: (instance, http port, stats port)."""
    port, stats_port = free_port(), free_port()
    inst = polyhost(
        [
            "--http-socket", f"127.0.0.1:{port}",
            "--processes", "3",
            "--cheaper", "1",
            "--cheaper-overload", "1",
            "--stats", f"127.0.0.1:{stats_port}",
            "--wsgi-file", str(APPS / "wsgi" / "basic.py"),
            "--disable-logging",
            *options,
        ],
        port=port,
    )  # fmt: skip
    return inst, port, stats_port


def stop_uwsgi(inst: Instance) -> None:
    """uWSGI 2.0 stops on SIGINT (SIGTERM reloads it)."""
    inst.signal(signal.SIGINT)
    inst.proc.wait(30)


def read_stats(port: int) -> dict:
    """The stats JSON of the server on 127.0.0.1:`port` (one document per connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data)


def statuses(stats_port: int) -> list[str]:
    return [w["status"] for w in read_stats(stats_port)["workers"]]


def serves(port: int) -> bool:
    """GET / on 127.0.0.1:`port` answers 200 (False while it refuses or resets: for wait_for)."""
    try:
        return get(port, "/", timeout=2).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def send_fifo(fifo: Path, commands: str, timeout: float = 20.0) -> None:
    """Write `commands` to a master FIFO once its master reads it (never blocks on a FIFO that
    nobody reads, as a plain open() would when the instance died)."""
    fd = wait_for(lambda: _open_writer(fifo), timeout, f"a reader on {fifo}")
    try:
        os.write(fd, commands.encode())
    finally:
        os.close(fd)


def _open_writer(fifo: Path) -> int:
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # ENXIO: no reader yet; ENOENT: not created yet
        return 0


@contextlib.contextmanager
def client_load(
    port: int,
    clients: int,
    path: str = "/",
    seconds: float = 60,
    check: Callable[[bytes], str] | None = None,
) -> Iterator[list[str]]:
    """`clients` threads requesting `path` in a loop until the block ends (at most `seconds`);
    yields the failures (refused, reset, or what `check` says about a response, "" = good)."""
    stop = threading.Event()
    failures: list[str] = []

    def is_200(raw: bytes) -> str:
        return "" if raw.startswith(b"HTTP/1.1 200") else f"not 200: {raw[:60]!r}"

    def client() -> None:
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                problem = (check or is_200)(get(port, path, timeout=20))
            except Exception as exc:  # a refused or reset connection is a failure
                problem = repr(exc)
            if problem:
                failures.append(problem)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield failures
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def pids_with_cmdline(command: str) -> list[int]:
    """Live processes whose command line is exactly `command` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                if cmdline.decode(errors="replace") == command and alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


def kill_leftovers(commands: list[str]) -> list[int]:
    """SIGKILL every live process running one of `commands` (unique per test); the pids."""
    killed = []
    for command in commands:
        for pid in pids_with_cmdline(command):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed
