"""Real uWSGI 2.0 (Debian's /usr/bin/uwsgi with its plugins) started side by side with
polyhost, to pin what the reference answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from conftest import free_port, wait_for

UWSGI = "/usr/bin/uwsgi"


class Reference:
    """A running uWSGI with an http-socket on `port`; its log in `log_path`."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def reference_uwsgi(tmp: Path, args: list[str], plugins: str) -> Iterator[Reference]:
    """uWSGI with `--plugins python3,PLUGINS` and `args` on a fresh 127.0.0.1 http-socket;
    stopped (SIGINT: uWSGI 2.0 reloads on SIGTERM) when the block ends."""
    port = free_port()
    log_path = tmp / f"uwsgi-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [UWSGI, "--plugins", f"python3,{plugins}", "--http-socket", f"127.0.0.1:{port}",
             "--master", *args],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True,
        )  # fmt: skip
    reference = Reference(proc, port, log_path)
    try:
        wait_for(lambda: _ready(reference), 30, "uWSGI to accept connections")
        yield reference
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _ready(reference: Reference) -> bool:
    if reference.proc.poll() is not None:
        raise AssertionError(f"uWSGI exited with {reference.proc.returncode}:\n{reference.log()}")
    try:
        socket.create_connection(("127.0.0.1", reference.port), timeout=0.5).close()
    except OSError:
        return False
    return "spawned uWSGI worker" in reference.log()
