"""Real uWSGI (Debian's /usr/bin/uwsgi) started beside polyhost in tests, and the corerouter
stats JSON both speak (fastrouter-stats, http-stats)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

from conftest import free_port

UWSGI = "/usr/bin/uwsgi"


def start_uwsgi(tmp: Path, args: list[str]) -> subprocess.Popen[bytes]:
    log = open(tmp / f"uwsgi-{free_port()}.log", "wb")  # noqa: SIM115 - the process owns it
    return subprocess.Popen([UWSGI, *args], stdout=log, stderr=subprocess.STDOUT, cwd=tmp,
                            start_new_session=True)  # fmt: skip


def stop_uwsgi(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGINT)  # uWSGI 2.0: SIGINT stops, SIGTERM reloads
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def stats(port: int) -> dict[str, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data)  # type: ignore[no-any-return]


def nodes_of(stats_port: int, key: str) -> list[str]:
    """The nodes a router's stats list for subscription `key`."""
    for slot in stats(stats_port).get("subscriptions", []):  # type: ignore[attr-defined]
        if slot["key"] == key:
            return [n["name"] for n in slot["nodes"]]
    return []
