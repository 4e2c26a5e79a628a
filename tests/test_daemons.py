"""Attached daemons (plain, smart, touch, control, stop and reload signals) and the exec-*/hook-*
phases."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, free_port, wait_for
from supervision_support import alive, kill_leftovers, pids_with_cmdline

BASIC = str(APPS / "wsgi" / "basic.py")


@pytest.fixture
def commands() -> Iterator[list[str]]:
    """The daemon command lines a test runs; whatever is left of them is killed at the end
    (a smart daemon outlives its instance by design, a failed test must not leak it)."""
    started: list[str] = []
    yield started
    kill_leftovers(started)


def one_pid(command: str) -> int:
    return wait_for(
        lambda: len(pids_with_cmdline(command)) == 1 and pids_with_cmdline(command)[0], 30, command
    )


def replaced(command: str, old_pid: int, what: str) -> int:
    """Wait until `command` runs again under another pid than `old_pid`; the new pid."""
    wait_for(lambda: pids_with_cmdline(command) not in ([], [old_pid]), 30, what)
    return one_pid(command)


def test_plain_and_smart_daemons_respawn_reload_and_stop(
    polyhost, commands: list[str], tmp_path: Path
) -> None:
    tag = f"{os.getpid()}{time.monotonic_ns() % 100000}"
    plain, smart, touched = f"sleep 30{tag}1", f"sleep 30{tag}2", f"sleep 30{tag}3"
    commands += [plain, smart, touched]
    pidfile, touch = tmp_path / "smart.pid", tmp_path / "daemon.touch"
    touch.write_text("")
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--attach-daemon",
            plain,
            "--attach-daemon2",
            f"cmd={smart} & echo $! > {pidfile},pidfile={pidfile},freq=1",
            "--attach-daemon2",
            f"cmd={touched},touch={touch}",
        ],
        port=port,
    )
    plain_pid, touched_pid = one_pid(plain), one_pid(touched)
    smart_pid = one_pid(smart)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() == str(smart_pid), 30)
    # a plain daemon that dies is respawned (throttled, as uWSGI)
    os.kill(plain_pid, signal.SIGKILL)
    inst.wait_log(f'daemon "{plain}" (pid: ')  # its /bin/sh -c, as uWSGI runs daemons
    inst.wait_log(") annihilated")
    inst.wait_log(f'[uwsgi-daemons] throttling "{plain}" for 1 seconds')
    plain_pid = replaced(plain, plain_pid, "the plain daemon respawned")
    # a smart daemon whose pid is gone is spawned again at the next pidfile check
    os.kill(smart_pid, signal.SIGKILL)
    smart_pid = replaced(smart, smart_pid, "the smart daemon respawned")
    # a touch file restarts its daemon
    os.utime(touch, (time.time() + 5, time.time() + 5))
    inst.wait_log(f'has been touched... reloading daemon "{touched}"')
    replaced(touched, touched_pid, "the touched daemon restarted")
    # a reload stops and restarts the plain daemon, the smart one is only re-attached
    inst.signal(signal.SIGHUP)
    inst.wait_log("binary reloading")
    inst.wait_log(f'found valid/active pidfile for "{smart} & echo $! > {pidfile}"')
    replaced(plain, plain_pid, "the plain daemon started again after the reload")
    assert pids_with_cmdline(smart) == [smart_pid]
    assert not alive(plain_pid)
    # stopping the instance leaves nothing running
    plain_pid, touched_pid = one_pid(plain), one_pid(touched)
    assert inst.stop() == 0
    for pid in (plain_pid, smart_pid, touched_pid):
        wait_for(lambda p=pid: not alive(p), 30, f"daemon {pid} stopped")


def test_control_daemon_death_stops_the_instance(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--attach-control-daemon=sleep 1",
        ],
        port=port,
    )
    assert inst.proc.wait(15) == 0
    assert 'control daemon "sleep 1" died: stopping' in inst.log()


def test_hooks_and_exec_phases_run_in_order(polyhost, tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    (tmp_path / "hookmod.py").write_text(
        f"def mark():\n    open({str(trace)!r}, 'a').write('call as-user\\n')\n"
    )
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--pythonpath",
            str(tmp_path),
            "--exec-as-root",
            f"echo exec as-root >> {trace}",
            "--hook-as-user",
            "call:hookmod.mark",
            "--hook-pre-app",
            f"exec:echo hook pre-app >> {trace}",
            "--exec-post-app",
            f"echo exec post-app >> {trace}",
            "--hook-master-start",
            f"appendn:{trace} master-start",
        ],
        port=port,
    )
    assert trace.read_text().splitlines() == [
        "exec as-root",
        "call as-user",
        "hook pre-app",
        "exec post-app",
        "master-start",
    ]
    assert f'running "exec:echo hook pre-app >> {trace}" (pre app)...' in inst.log()
    assert 'running "call:hookmod.mark" (as user)...' in inst.log()


def test_failing_exec_phase_is_a_startup_error(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC, "--exec-pre-app", "false"],
        port=port,
        ready=False,
    )
    assert inst.proc.wait(15) == 1
    assert 'command "false" exited with non-zero code: 1' in inst.log()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("smart-attach-daemon = /run/x.pid", "write the pidfile, a space, then the command"),
        ("attach-daemon2 = freq=3", "you need to specify a 'command' key"),
    ],
)
def test_bad_daemon_lines_name_their_file_and_line(
    polyhost, tmp_path: Path, line: str, message: str
) -> None:
    ini = tmp_path / "site.ini"
    ini.write_text(f"[uwsgi]\nwsgi-file = {BASIC}\n{line}\n")
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--ini", str(ini)], port=port, ready=False
    )
    assert inst.proc.wait(15) == 1
    assert f"{line} ({ini}:3): {message}" in inst.log()


SIGNAL_LOGGER = """import signal, sys, time
def got(number, frame):
    with open(sys.argv[1], "a") as out:
        out.write(signal.Signals(number).name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGUSR1, got)
signal.signal(signal.SIGUSR2, got)
with open(sys.argv[1], "a") as out:
    out.write("started\\n")
while True:
    time.sleep(1)
"""


def test_daemon_stopsignal_and_reloadsignal(polyhost, commands: list[str], tmp_path: Path) -> None:
    """attach-daemon2's `stopsignal` is what a stop sends, `reloadsignal` what a reload sends
    (the daemon is then started again), by name or number, as uWSGI."""
    script, record = tmp_path / "signal_logger.py", tmp_path / "signals.txt"
    script.write_text(SIGNAL_LOGGER)
    command = f"{sys.executable} {script} {record}"
    commands.append(command)
    port = free_port()
    inst = polyhost(
        [
            "--http-socket", f"127.0.0.1:{port}",
            "--wsgi-file", BASIC,
            "--attach-daemon2", f"cmd={command},stopsignal=USR1,reloadsignal={signal.SIGUSR2:d}",
        ],
        port=port,
    )  # fmt: skip

    def record_is(*lines: str) -> None:
        wait_for(lambda: record.exists() and record.read_text().split() == list(lines), 30, lines)

    record_is("started")
    first = one_pid(command)
    inst.signal(signal.SIGHUP)
    record_is("started", "SIGUSR2", "started")
    assert not alive(first)
    second = one_pid(command)
    assert inst.stop() == 0
    record_is("started", "SIGUSR2", "started", "SIGUSR1")
    wait_for(lambda: not alive(second), 30, "the daemon stopped")


def test_smart_attach_daemon_follows_its_pidfile_across_a_reload(
    polyhost, commands: list[str], tmp_path: Path
) -> None:
    """`smart-attach-daemon PIDFILE CMD`: a daemon that forks itself is followed by its
    pidfile; a reload re-attaches it (same pid), a stop ends it."""
    smart = f"sleep 30{os.getpid()}{time.monotonic_ns() % 100000}4"
    commands.append(smart)
    pidfile = tmp_path / "forked.pid"
    port = free_port()
    inst = polyhost(
        [
            "--http-socket", f"127.0.0.1:{port}",
            "--wsgi-file", BASIC,
            "--smart-attach-daemon", f"{pidfile} {smart} & echo $! > {pidfile}",
        ],
        port=port,
    )  # fmt: skip
    pid = one_pid(smart)
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() == str(pid), 30)
    inst.signal(signal.SIGHUP)
    inst.wait_log(f'found valid/active pidfile for "{smart} & echo $! > {pidfile}"')
    assert pids_with_cmdline(smart) == [pid]
    assert inst.stop() == 0
    wait_for(lambda: not alive(pid), 30, "the smart daemon stopped with the instance")
