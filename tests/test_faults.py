"""Process hygiene under faults (issue 13): nothing serves on once the master is gone, even
killed with SIGKILL; a killed instance's shared state is reclaimed by the next start."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from conftest import APPS, free_port, get, split_response, wait_for


def session_members(session: int) -> list[int]:
    """PIDs of the live (not zombie) processes of a session."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry))
    return members


def test_every_process_dies_with_a_master_killed_by_sigkill(polyhost, tmp_path: Path) -> None:
    port = free_port()
    spool = tmp_path / "spool"
    spool.mkdir()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--threads",
            "2",
            "--mount",
            f"/={APPS / 'wsgi' / 'basic.py'}",
            "--mount",
            f"/pl={APPS / 'psgi' / 'hello.psgi'}",
            "--mount",
            f"/rb={APPS / 'rack' / 'hello.ru'}",
            "--mount",
            f"/php={APPS / 'php'}",
            "--mule",
            "--spooler",
            str(spool),
            "--cache2",
            "name=c,items=10",
        ],
        port=port,
    )
    for path in ("/", "/pl/", "/rb/", "/php/hello.php") * 3:
        status, _, body = split_response(get(port, path))
        assert status == 200, (path, body)
    before = session_members(inst.pid)
    assert len(before) >= 8, before  # master, 2 workers, mule, spooler, perl, ruby, php-cgi
    shared = Path(f"/dev/shm/polyhost-{inst.pid}")
    assert shared.is_dir()
    os.kill(inst.pid, signal.SIGKILL)
    wait_for(lambda: not session_members(inst.pid), 5, f"every process of {before} to exit")
    # a restart binds the same port, and reclaims the dead instance's shared state
    again = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            str(APPS / "wsgi" / "basic.py"),
            "--cache2",
            "name=c,items=10",
        ],
        port=port,
    )
    assert split_response(get(port, "/"))[0] == 200
    assert not shared.exists()
    assert again.proc.poll() is None
