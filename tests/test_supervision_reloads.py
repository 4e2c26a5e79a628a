"""touch-mules-reload, touch-spoolers-reload and the master FIFO commands the other FIFO tests
leave out (`l`, `s`, `w`, `r`, `R`, `f`, `q`), each checked on a real instance."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from conftest import APPS, free_port, get, wait_for
from supervision_support import alive, send_fifo, serves

BASIC = str(APPS / "wsgi" / "basic.py")


def pids_of(log: str, name: str) -> list[int]:
    """The pids of every `spawned polyhost NAME (pid: N` line, in order."""
    return [int(pid) for pid in re.findall(rf"spawned polyhost {name} \(pid: (\d+)", log)]


def touch(path: Path) -> None:
    later = time.time() + 5
    os.utime(path, (later, later))


def test_touch_mules_and_spoolers_reload_replace_only_their_kind(polyhost, tmp_path: Path) -> None:
    mules_touch, spoolers_touch = tmp_path / "mules.touch", tmp_path / "spoolers.touch"
    mules_touch.write_text("")
    spoolers_touch.write_text("")
    spool = tmp_path / "spool"
    spool.mkdir()
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--mules",
            "1",
            "--spooler",
            str(spool),
            "--touch-mules-reload",
            str(mules_touch),
            "--touch-spoolers-reload",
            str(spoolers_touch),
        ],
        port=port,
    )
    wait_for(lambda: pids_of(inst.log(), "mule 1") and pids_of(inst.log(), "spooler 1"), 30)
    (mule,) = pids_of(inst.log(), "mule 1")
    (spooler,) = pids_of(inst.log(), "spooler 1")
    touch(mules_touch)
    inst.wait_log(f"*** {mules_touch} has been touched... reloading mules !!! ***")
    wait_for(lambda: len(pids_of(inst.log(), "mule 1")) == 2, 30, "a new mule")
    wait_for(lambda: not alive(mule), 30, "the old mule gone")
    assert alive(spooler)
    touch(spoolers_touch)
    inst.wait_log(f"*** {spoolers_touch} has been touched... reloading spoolers !!! ***")
    wait_for(lambda: len(pids_of(inst.log(), "spooler 1")) == 2, 30, "a new spooler")
    wait_for(lambda: not alive(spooler), 30, "the old spooler gone")
    # the worker was left alone by both
    (worker,) = pids_of(inst.log(), "worker 1")
    assert alive(worker)
    assert get(port, "/").startswith(b"HTTP/1.1 200")


def test_fifo_log_reopen_status_worker_reloads_refork_and_stop(polyhost, tmp_path: Path) -> None:
    fifo, logfile = tmp_path / "fifo", tmp_path / "instance.log"
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--master-fifo",
            str(fifo),
            "--logto",
            str(logfile),
        ],
        port=port,
        ready=False,
    )

    def logged(text: str, count: int = 1) -> str:
        wait_for(
            lambda: logfile.exists() and logfile.read_text().count(text) >= count, 30, repr(text)
        )
        return logfile.read_text()

    logged("spawned polyhost worker 1")
    wait_for(lambda: serves(port), 30, "the first request")
    # l reopens the log: a file moved away stops receiving, the new one gets the next lines
    moved = tmp_path / "moved.log"
    logfile.rename(moved)
    send_fifo(fifo, "l")
    logged("log reopened")
    # s writes the status to the log
    send_fifo(fifo, "s")
    status = logged("*** polyhost status ***")
    assert re.search(r"worker 1 pid \d+ status idle requests 1", status), status
    # w reloads the workers gracefully (the master stays)
    (old,) = inst.worker_pids()
    send_fifo(fifo, "w")
    wait_for(lambda: inst.worker_pids() and old not in inst.worker_pids(), 30, "new worker (w)")
    assert inst.proc.poll() is None and serves(port)
    # r (graceful) and R (brutal) reload the whole instance: same master pid, new workers
    for command in ("r", "R"):
        (old,) = inst.worker_pids()
        spawned = logfile.read_text().count("spawned polyhost worker 1")
        send_fifo(fifo, command)
        logged("spawned polyhost worker 1", spawned + 1)
        wait_for(lambda old=old: inst.worker_pids() and old not in inst.worker_pids(), 30, command)
        wait_for(lambda: serves(port), 30, f"serving after {command}")
        assert inst.proc.poll() is None
    # f forks a fresh copy of the master in its own session, with the same sockets
    send_fifo(fifo, "f")
    copy = int(re.findall(r"new master copy spawned with pid (\d+)", logged("new master copy"))[0])
    try:
        assert alive(copy)
        assert os.getsid(copy) == copy
    finally:
        os.kill(copy, signal.SIGINT)
        wait_for(lambda: not alive(copy), 30, "the copy stopped")
    # q stops the instance gracefully
    send_fifo(fifo, "q")
    assert inst.proc.wait(30) == 0
    assert "log reopened" not in moved.read_text()
