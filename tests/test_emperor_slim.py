"""The Emperor's hand-over, with real processes: once cli.py knows it is an Emperor it exec's
(same PID) into the slim loop of host/emperor/boot.py, which imports none of the heavy modules
(python -X importtime of that interpreter, apart from the zygote's), still writes its pidfile,
watches its folder and obeys SIGTERM; what the vassals' user cannot reach is refused before
the exec."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_emperor import TINY_APP, tiny_ini
from test_emperor_zygote import cmdline

from conftest import POLYHOST, Instance, free_port, get, split_response, wait_for

#: what the slim loop must not load: the config package and the stdlib modules that cost the
#: Emperor's RSS (bench/RESULTS.md issue 14)
HEAVY_MODULES = {
    "dataclasses",
    "inspect",
    "typing",
    "json",
    "subprocess",
    "ctypes.util",
    "inotify_simple",
    "enum",
    "socket",
    "signal",
    "re",
    "yaml",
    "polyhost.sockets",
    "polyhost.reachable",
}
IMPORT_HEADER = "import time: self [us] | cumulative | imported package"


def interpreters(log: str) -> list[set[str]]:
    """The modules each interpreter writing to the log imported, in the order they started
    (-X importtime: each begins with its header line)."""
    sections: list[set[str]] = []
    for line in log.splitlines():
        if line.startswith(IMPORT_HEADER):
            sections.append(set())
        elif line.startswith("import time:") and sections:
            sections[-1].add(line.rpartition("|")[2].strip())
    return sections


def test_the_emperor_loop_runs_slim_in_the_same_process(tmp_path: Path) -> None:
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    pidfile = tmp_path / "emperor.pid"
    program = [sys.executable, "-X", "importtime", "-m", "polyhost"]
    args = ["--emperor", str(vassals), "--emperor-pidfile", str(pidfile)]
    emperor = Instance(args, tmp_path, None, tmp_path, program=program)
    try:
        log = emperor.wait_log("*** starting polyhost Emperor ***")
        assert pidfile.read_text().strip() == str(emperor.pid)  # the same process, exec'd
        assert "emperor/boot.py" in cmdline(emperor.pid)
        (tmp_path / "tiny.py").write_text(TINY_APP)
        port = free_port()
        (vassals / "one.ini").write_text(tiny_ini(tmp_path, port))
        wait_for(lambda: _answers(port), timeout=30, what="the vassal's first 200")
    finally:
        assert emperor.stop() == 0
    assert not pidfile.exists()
    # the parsing process, then the slim Emperor, then its zygote (spawned after the loop's
    # imports), which may import everything
    first, slim, *_zygote = interpreters(log)
    assert "polyhost.config" in first
    assert "polyhost.emperor.emperor" in slim and "polyhost.emperor.inotify" in slim
    assert not [m for m in slim if m in HEAVY_MODULES or m.startswith("polyhost.config")]


def _answers(port: int) -> bool:
    try:
        return split_response(get(port, "/"))[0] == 200
    except OSError:
        return False


def test_the_hand_over_refuses_a_vassal_user_who_cannot_reach_python(tmp_path: Path) -> None:
    """The check of what `uid` can reach runs before the exec (it needs the config package):
    the Emperor stops with the list and never writes its pidfile."""
    import pwd

    from polyhost import reachable

    nobody = pwd.getpwnam("nobody")
    if os.getuid() != 0 or not reachable.unreachable(
        nobody.pw_uid, nobody.pw_gid, reachable.needed_paths(None, [])
    ):
        pytest.skip("needs root and a Python that uid nobody cannot read (e.g. under /root)")
    (tmp_path / "vassals").mkdir()
    pidfile = tmp_path / "emperor.pid"
    args = ["--emperor", str(tmp_path / "vassals"), "--emperor-pidfile", str(pidfile)]
    done = subprocess.run(
        [*POLYHOST, *args, "--uid", "nobody", "--gid", str(nobody.pw_gid)],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert b"uid nobody" in done.stderr and b"cannot reach what its vassals need" in done.stderr
    assert not pidfile.exists()
