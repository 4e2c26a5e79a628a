"""The master FIFO's uWSGI commands beyond reload/stop, and the touch-*-reload files."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import APPS, free_port, get, wait_for

BASIC = str(APPS / "wsgi" / "basic.py")


def test_fifo_slots_pause_pidfiles_log_rotation_and_brutal_worker_reload(
    polyhost, tmp_path: Path
) -> None:
    fifo0, fifo1 = tmp_path / "fifo0", tmp_path / "fifo1"
    logfile, pidfile = tmp_path / "instance.log", tmp_path / "instance.pid"
    touch = tmp_path / "workers.touch"
    touch.write_text("")
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--master-fifo",
            str(fifo0),
            "--master-fifo",
            str(fifo1),
            "--logto",
            str(logfile),
            "--pidfile",
            str(pidfile),
            "--touch-workers-reload",
            str(touch),
        ],
        port=port,
        ready=False,
    )
    wait_for(
        lambda: logfile.exists() and "spawned polyhost worker" in logfile.read_text(), 20, "start"
    )
    wait_for(lambda: _serves(port), 10, "the first request")

    def send(fifo: Path, command: str) -> None:
        fd = wait_for(lambda: _open_writer(fifo), 10, f"a reader on {fifo}")
        os.write(fd, command.encode())
        os.close(fd)

    def logged(text: str) -> str:
        wait_for(lambda: text in logfile.read_text(), 10, repr(text))
        return logfile.read_text()

    send(fifo0, "S")
    logged("subscriptions blocked")
    send(fifo0, "1")
    logged(f"active master fifo is now {fifo1}")
    send(fifo1, "S")
    logged("subscriptions re-enabled")
    send(fifo1, "0")
    logged(f"active master fifo is now {fifo0}")
    # p pauses the workers (requests wait in the queue), p again resumes them
    send(fifo0, "p")
    logged("*** PAUSE")
    send(fifo0, "p")
    logged("resuming workers")
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    # P rewrites the pidfile
    pidfile.unlink()
    send(fifo0, "P")
    wait_for(pidfile.exists, 10, "the pidfile")
    assert pidfile.read_text().strip() == str(inst.pid)
    # W kills the workers at once; they are respawned
    old = set(inst.worker_pids())
    send(fifo0, "W")
    logged("killing worker 1")
    wait_for(lambda: inst.worker_pids() and not set(inst.worker_pids()) & old, 10, "respawn")
    # touch-workers-reload replaces them gracefully
    old = set(inst.worker_pids())
    os.utime(touch, (time.time() + 5, time.time() + 5))
    logged("has been touched... reloading workers")
    wait_for(lambda: inst.worker_pids() and not set(inst.worker_pids()) & old, 10, "new workers")
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    # L rotates the log file
    send(fifo0, "L")
    wait_for(lambda: len(list(tmp_path.glob("instance.log.*"))) == 1, 10, "the rotated log")
    logged("logfile rotated to")
    rotated = next(tmp_path.glob("instance.log.*"))
    assert "subscriptions blocked" in rotated.read_text()
    assert "subscriptions blocked" not in logfile.read_text()


def _serves(port: int) -> bool:
    try:
        return get(port, "/", timeout=2).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _open_writer(fifo: Path) -> int:
    """A write end of the FIFO, or 0 while nobody reads it (no blocking open)."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return 0
