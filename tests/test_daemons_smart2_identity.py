"""smart-attach-daemon2 (the master daemonizes the command and writes its pidfile) and a
daemon's uid/gid (attach-daemon2 uid=,gid=) with a test user created and removed here."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, free_port, wait_for
from supervision_support import alive, kill_leftovers, pids_with_cmdline

BASIC = str(APPS / "wsgi" / "basic.py")


@pytest.fixture
def tag() -> Iterator[str]:
    """A unique suffix for daemon command lines; whatever runs with it is killed at the end."""
    unique = f"{os.getpid()}{time.monotonic_ns() % 100000}"
    yield unique
    kill_leftovers([f"sleep 30{unique}{n}" for n in range(3)])


@pytest.fixture
def test_user() -> Iterator[pwd.struct_passwd]:
    """A system user (and its group) for this test only, removed afterwards."""
    if os.getuid() != 0:
        pytest.skip("creating a test user needs root")
    name = f"phd{os.getpid() % 100000}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=True)


def one_pid(command: str) -> int:
    return wait_for(
        lambda: len(pids_with_cmdline(command)) == 1 and pids_with_cmdline(command)[0], 30, command
    )


def test_smart_attach_daemon2_writes_the_pidfile_survives_reload_and_respawns(
    polyhost, tag: str, tmp_path: Path
) -> None:
    command = f"sleep 30{tag}0"
    pidfile = tmp_path / "daemon.pid"
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--smart-attach-daemon2",
            f"{pidfile} {command}",
        ],
        port=port,
    )
    pid = one_pid(command)
    # the master wrote the pidfile of the daemonized command (the command writes none)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() == str(pid), 30, "pidfile")
    assert os.getsid(pid) != os.getsid(inst.pid)
    # a reload only re-attaches it
    inst.signal(signal.SIGHUP)
    inst.wait_log(f'[uwsgi-daemons] found valid/active pidfile for "{command}" (pid: {pid})')
    assert pids_with_cmdline(command) == [pid]
    # gone: spawned again, with a new pidfile
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pids_with_cmdline(command) not in ([], [pid]), 30, "respawned")
    new = one_pid(command)
    wait_for(lambda: pidfile.read_text().strip() == str(new), 30, "the new pid in the pidfile")
    assert inst.stop() == 0
    wait_for(lambda: not alive(new), 30, "the daemon stopped with the instance")


def test_daemon_runs_as_its_uid_and_gid(
    polyhost, tag: str, test_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    command = f"sleep 30{tag}1"
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--attach-daemon2",
            f"cmd={command},uid={test_user.pw_name},gid={test_user.pw_name}",
        ],
        port=port,
    )
    pid = one_pid(command)
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    assert status["Uid"].split()[:2] == [str(test_user.pw_uid)] * 2
    assert status["Gid"].split()[:2] == [str(test_user.pw_gid)] * 2
    assert status["Groups"].split() in ([], [str(test_user.pw_gid)])
    inst.wait_log(
        f'[uwsgi-daemons] spawning "{command}" (uid: {test_user.pw_uid} gid: {test_user.pw_gid})'
    )
    assert inst.stop() == 0
    wait_for(lambda: not alive(pid), 30, "the daemon stopped with the instance")
