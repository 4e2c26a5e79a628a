"""Real uWSGI (Debian's /usr/bin/uwsgi) started beside polyhost in tests, and the corerouter
stats JSON both speak (fastrouter-stats, http-stats)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from conftest import free_port, wait_for

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


@contextlib.contextmanager
def subscribed_uwsgi_node(
    tmp: Path, app: str, sub_port: int, stats_port: int, key: str
) -> Iterator[None]:
    """A real uWSGI node serving `app` (its NODE_NAME "uwsgi") subscribed to a router's
    `sub_port` for `key`: listed in the router's stats on entry, unsubscribed (as uWSGI does
    when it stops) on exit."""
    proc = start_uwsgi(
        tmp,
        ["--plugin", "python3", "--socket", f"127.0.0.1:{free_port()}", "--wsgi-file", app,
         "--env", "NODE_NAME=uwsgi", "--subscribe-to", f"127.0.0.1:{sub_port}:{key}", "--master"],
    )  # fmt: skip
    try:
        wait_for(lambda: nodes_of(stats_port, key), 15, "uWSGI to subscribe")
        yield
    finally:
        stop_uwsgi(proc)
    wait_for(lambda: not nodes_of(stats_port, key), 10, "the unsubscribe")
