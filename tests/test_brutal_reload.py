"""`polyhost --brutal-reload PIDFILE` (issue 12 point 5) and the other pidfile commands pinned
against real uWSGI 2.0: they act on the running instance named by the file and exit, never
start one; a file that names no running master is a clear error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import APPS, POLYHOST, Instance, free_port, wait_for
from supervision_support import serves

APP = str(APPS / "wsgi" / "basic.py")
#: real uWSGI 2.0 with its Python 3 plugin
UWSGI = ["/usr/bin/uwsgi", "--plugin", "python3"]


def command(program: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """A management command run to its end (bounded)."""
    return subprocess.run([*program, *args], capture_output=True, text=True, timeout=60)


def start(tmp_path: Path, program: list[str], processes: int) -> tuple[Instance, Path]:
    """An instance (polyhost or uWSGI) with a master pidfile, serving once its workers are up."""
    port, pidfile = free_port(), tmp_path / f"master-{program[0].rsplit('/', 1)[-1]}.pid"
    args = ["--http-socket", f"127.0.0.1:{port}", "--master", "--processes", str(processes)]
    args += ["--pidfile", str(pidfile), "--wsgi-file", APP]
    inst = Instance(args, tmp_path, port, None, program)
    try:
        wait_for(
            lambda: len(inst.worker_pids()) == processes and serves(port) and pidfile.exists(),
            30,
            f"{program[0]} to serve with {processes} workers",
        )
    except AssertionError:
        inst.stop()
        raise
    return inst, pidfile


def new_workers(inst: Instance, old: set[int], processes: int) -> set[int]:
    """Wait until all `processes` workers are new ones, serving; their pids."""
    assert inst.port is not None
    port = inst.port

    def replaced() -> set[int]:
        pids = set(inst.worker_pids())
        return pids if len(pids) == processes and not pids & old and serves(port) else set()

    return wait_for(replaced, 30, "new workers")  # type: ignore[return-value]


def test_brutal_reload_acts_on_the_running_instance_and_exits(tmp_path: Path) -> None:
    inst, pidfile = start(tmp_path, POLYHOST, 2)
    try:
        before = set(inst.worker_pids())
        done = command(POLYHOST, "--brutal-reload", str(pidfile))
        assert done.returncode == 0, done
        assert done.stdout == "" and "Starting polyhost" not in done.stderr, done
        log = inst.wait_log("SIGURG received: brutal reload (polyhost --brutal-reload)")
        new_workers(inst, before, 2)
        log = inst.log()
        assert log.index("...brutally killing workers...") < log.index("binary reloading")
        assert inst.proc.poll() is None  # the same master, re-executed
        assert pidfile.read_text().strip() == str(inst.pid)
    finally:
        assert inst.stop() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "polyhost --brutal-reload: cannot read {path}: No such file or directory"),
        ("garbage\n", "polyhost --brutal-reload: {path} holds no pid: invalid pidfile"),
        ("0\n", "polyhost --brutal-reload: {path} holds no pid: invalid pidfile"),
        ("999999999\n", "cannot send SIGURG to pid 999999999 (from {path}): No such process"),
    ],
)
def test_brutal_reload_without_a_running_instance_says_so(
    tmp_path: Path, content: str | None, message: str
) -> None:
    """Exit 1 with what failed; nothing starts (the socket given beside it is never bound).
    (uWSGI signals pid 0, its whole process group, for a pidfile holding no number.)"""
    pidfile = tmp_path / "master.pid"
    if content is not None:
        pidfile.write_text(content)
    port = free_port()
    done = command(POLYHOST, "--brutal-reload", str(pidfile), "--http-socket", f":{port}")
    assert done.returncode == 1, done
    assert message.format(path=pidfile) in done.stderr, done
    assert done.stdout == ""
    assert not serves(port)


@pytest.mark.skipif(shutil.which("uwsgi") is None, reason="needs Debian's uWSGI")
@pytest.mark.parametrize("name", ["uwsgi", "polyhost"])
def test_reload_then_stop_pidfile_as_uwsgi_does(tmp_path: Path, name: str) -> None:
    """Real uWSGI 2.0.21 and polyhost alike: `--reload PIDFILE` exits 0 at once and the
    instance reloads gracefully (new workers, same master); `--stop PIDFILE` exits 0 and the
    instance shuts down."""
    program = UWSGI if name == "uwsgi" else POLYHOST
    inst, pidfile = start(tmp_path, program, 1)
    try:
        before = set(inst.worker_pids())
        reload = command(program, "--reload", str(pidfile))
        assert reload.returncode == 0, reload
        new_workers(inst, before, 1)
        assert "...gracefully killing workers..." in inst.log()
        assert inst.proc.poll() is None
        stop = command(program, "--stop", str(pidfile))
        assert stop.returncode == 0, stop
        inst.proc.wait(30)
        assert "goodbye to " in inst.log()
    finally:
        inst.stop()
