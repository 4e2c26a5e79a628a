"""The master FIFO's uWSGI commands beyond reload/stop, and the touch-*-reload files."""

from __future__ import annotations

import os
import time
from pathlib import Path

from conftest import APPS, free_port, get, wait_for
from supervision_support import alive, send_fifo
from uwsgi_helper import reference_uwsgi

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
    wait_for(lambda: _serves(port), 30, "the first request")

    def logged(text: str) -> str:
        # after a rotation the master reopens the file: it may not exist for a moment
        wait_for(lambda: logfile.exists() and text in logfile.read_text(), 30, repr(text))
        return logfile.read_text()

    send_fifo(fifo0, "S")
    logged("subscriptions blocked")
    send_fifo(fifo0, "1")
    logged(f"active master fifo is now {fifo1}")
    send_fifo(fifo1, "S")
    logged("subscriptions re-enabled")
    send_fifo(fifo1, "0")
    logged(f"active master fifo is now {fifo0}")
    # p pauses the workers (requests wait in the queue), p again resumes them
    send_fifo(fifo0, "p")
    logged("*** PAUSE")
    send_fifo(fifo0, "p")
    logged("resuming workers")
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    # P rewrites the pidfile
    pidfile.unlink()
    send_fifo(fifo0, "P")
    wait_for(pidfile.exists, 30, "the pidfile")
    assert pidfile.read_text().strip() == str(inst.pid)
    # W kills the workers at once; they are respawned
    old = set(inst.worker_pids())
    send_fifo(fifo0, "W")
    logged("killing worker 1")
    wait_for(lambda: inst.worker_pids() and not set(inst.worker_pids()) & old, 30, "respawn")
    # touch-workers-reload replaces them gracefully
    old = set(inst.worker_pids())
    os.utime(touch, (time.time() + 5, time.time() + 5))
    logged("has been touched... reloading workers")
    wait_for(lambda: inst.worker_pids() and not set(inst.worker_pids()) & old, 30, "new workers")
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    # L rotates the log file
    send_fifo(fifo0, "L")
    wait_for(lambda: len(list(tmp_path.glob("instance.log.*"))) == 1, 30, "the rotated log")
    logged("logfile rotated to")
    rotated = next(tmp_path.glob("instance.log.*"))
    assert "subscriptions blocked" in rotated.read_text()
    assert "subscriptions blocked" not in logfile.read_text()
    # B: a vassal's SOS to its Emperor; this instance has none, and says so as uWSGI does
    send_fifo(fifo0, "B")
    logged("[broodlord] instance not governed by an Emperor !!!")
    # E: the Emperor this master runs (polyhost's Emperor is its own process: the log says how)
    send_fifo(fifo0, "E")
    logged("master-fifo: E rescans an Emperor run by this master, and it runs none")
    # Q stops at once: the master and its workers are gone
    workers = inst.worker_pids()
    send_fifo(fifo0, "Q")
    inst.proc.wait(30)
    wait_for(lambda: not any(alive(pid) for pid in workers), 30, "the workers gone")


def _serves(port: int) -> bool:
    try:
        return get(port, "/", timeout=2).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def test_uwsgi_answers_b_without_an_emperor_as_polyhost_does(tmp_path: Path) -> None:
    """The reference for `B` above: uWSGI 2.0's vassal_sos outside an Emperor."""
    fifo = tmp_path / "uwsgi.fifo"
    args = ["--master-fifo", str(fifo), "--wsgi-file", BASIC]
    with reference_uwsgi(tmp_path, args, "") as ref:
        send_fifo(fifo, "B")
        wait_for(lambda: "[broodlord] instance not governed by an Emperor !!!" in ref.log(), 30)
