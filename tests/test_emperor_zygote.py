"""The Emperor's footprint and its zygote, with real processes: the Emperor imports none of the
instance's modules (python -X importtime on the running Emperor), its vassals are forked by the
zygote yet are the Emperor's own children showing their command line in ps, a killed zygote is
started again for the next vassal, and SIGTERM takes the zygote with everything else."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_emperor import (
    TINY_APP,
    accepting,
    children,
    emperor_with_stats,
    session_members,
    split_response,
    tiny_ini,
    vassal,
)

from conftest import Instance, free_port, get, wait_for

#: what only an instance (a vassal) needs; the Emperor must not pay their memory
INSTANCE_MODULES = (
    "polyhost.master",
    "polyhost.worker",
    "polyhost.dispatch",
    "polyhost.fabric.instance",
    "polyhost.router",
    "polyhost.routing.serve",
    "polyhost.async_cores",
    "polyhost.bridges",
)


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def loyal(port: int, name: str) -> bool:
    info = vassal(port, name)
    return bool(info and info["loyal"])


def zygotes(emperor: Instance) -> list[int]:
    return [p for p in children(emperor.pid) if "polyhost.emperor.zygote" in cmdline(p)]


def test_the_emperor_imports_no_instance_module(tmp_path: Path) -> None:
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    program = [sys.executable, "-X", "importtime", "-m", "polyhost"]
    emperor = Instance(["--emperor", str(vassals)], tmp_path, None, tmp_path, program=program)
    try:
        log = emperor.wait_log("*** starting polyhost Emperor ***")
    finally:
        assert emperor.stop() == 0
    imported = {line.rpartition("|")[2].strip() for line in log.splitlines() if "|" in line}
    assert "polyhost.emperor.emperor" in imported and "polyhost.identity" in imported
    assert not [m for m in imported if m.startswith(INSTANCE_MODULES)]


@pytest.fixture
def realm(tmp_path: Path) -> Iterator[tuple[Path, Instance, int]]:
    (tmp_path / "tiny.py").write_text(TINY_APP)
    (tmp_path / "vassals").mkdir()
    stats_port = free_port()
    emperor = emperor_with_stats(tmp_path, stats_port, "--emperor", str(tmp_path / "vassals"))
    try:
        emperor.wait_log("*** starting polyhost Emperor ***")
        yield tmp_path, emperor, stats_port
    finally:
        emperor.stop()


def test_vassals_forked_by_the_zygote_are_the_emperors_children(
    realm: tuple[Path, Instance, int],
) -> None:
    root, emperor, stats_port = realm
    port = free_port()
    (root / "vassals" / "one.ini").write_text(tiny_ini(root, port))
    wait_for(lambda: accepting(stats_port, "one.ini"), 30, "one.ini accepting")
    assert split_response(get(port))[2] == f"tiny {port}".encode()
    master = vassal(stats_port, "one.ini")["pid"]  # type: ignore[index]
    assert master in children(emperor.pid)  # reparented: the Emperor waits for it
    assert cmdline(master).endswith(f"-m polyhost --ini {root}/vassals/one.ini")
    assert len(zygotes(emperor)) == 1 and master not in zygotes(emperor)
    assert "*** has_emperor mode detected (fd: " in emperor.log()


def test_a_killed_zygote_is_started_again_and_sigterm_leaves_nothing(
    realm: tuple[Path, Instance, int],
) -> None:
    root, emperor, stats_port = realm
    (first,) = wait_for(lambda: zygotes(emperor), 20, "the zygote")  # type: ignore[misc]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: first not in children(emperor.pid), 20, "the dead zygote reaped")
    port = free_port()
    (root / "vassals" / "two.ini").write_text(tiny_ini(root, port))
    wait_for(lambda: accepting(stats_port, "two.ini"), 30, "two.ini accepting")
    assert split_response(get(port))[2] == f"tiny {port}".encode()
    (second,) = zygotes(emperor)
    assert second != first
    assert emperor.stop() == 0
    wait_for(lambda: not session_members(emperor.pid), 20, "the session empty")


def test_the_zygote_imports_the_bridges_once_for_every_vassal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each vassal's master asks the catalog for every runtime's app options: the zygote has
    imported every bridge, so two vassals print no import of one (PYTHONPROFILEIMPORTTIME is
    inherited by the zygote, and by its forks; it times `import` statements, not the catalog's
    importlib.import_module, hence modules the bridges import)."""
    (tmp_path / "tiny.py").write_text(TINY_APP)
    (tmp_path / "vassals").mkdir()
    stats_port = free_port()
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    emperor = emperor_with_stats(tmp_path, stats_port, "--emperor", str(tmp_path / "vassals"))
    try:
        emperor.wait_log("*** starting polyhost Emperor ***")
        ports = {name: free_port() for name in ("one", "two")}
        for name, port in ports.items():
            (tmp_path / "vassals" / f"{name}.ini").write_text(tiny_ini(tmp_path, port))
        for name, port in ports.items():
            wait_for(lambda n=name: accepting(stats_port, f"{n}.ini"), 30, f"{name} accepting")
            assert split_response(get(port))[2] == f"tiny {port}".encode()
        log = emperor.log()
    finally:
        assert emperor.stop() == 0
    imports = [line.rpartition("|")[2].strip() for line in log.splitlines() if "|" in line]
    for bridge in ("polyhost.bridges.child_runtime", "polyhost.bridges.php.php_cgi"):
        assert imports.count(bridge) == 1, bridge  # the zygote's, none in the two vassals


def test_vassal_logto_and_daemonize_and_the_emperors_logto(tmp_path: Path) -> None:
    """A zygote's vassal writes where an exec'd one would: its own `logto` file; with
    `daemonize = FILE` it logs there and stays in the foreground, the Emperor's child (uWSGI's
    uwsgi_setup_log: under an Emperor, daemonize is logto), not an orphan the Emperor takes for
    dead; without either, the Emperor's `logto` file."""
    (tmp_path / "tiny.py").write_text(TINY_APP)
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    emperor_log = tmp_path / "emperor.log"
    stats_port = free_port()
    ports = {name: free_port() for name in ("own", "daemon", "plain")}
    extra = {"own": f"logto = {tmp_path}/own.log\n", "daemon": f"daemonize = {tmp_path}/d.log\n"}
    emperor = emperor_with_stats(
        tmp_path, stats_port, "--emperor", str(vassals), "--logto", str(emperor_log)
    )
    try:
        for name, port in ports.items():
            (vassals / f"{name}.ini").write_text(tiny_ini(tmp_path, port) + extra.get(name, ""))
        for name, port in ports.items():
            wait_for(lambda n=name: accepting(stats_port, f"{n}.ini"), 30, f"{name} accepting")
            assert split_response(get(port))[2] == f"tiny {port}".encode()
        daemon = vassal(stats_port, "daemon.ini")["pid"]  # type: ignore[index]
        assert daemon in children(emperor.pid)
        # loyal after serving a request: a vassal whose first process had exited would not be
        wait_for(lambda: loyal(stats_port, "daemon.ini"), 20, "daemon.ini loyal")
        assert vassal(stats_port, "daemon.ini")["pid"] == daemon  # type: ignore[index]
    finally:
        assert emperor.stop() == 0
    logs = ("own.log", "d.log", "emperor.log")
    own, daemon_log, main = ((tmp_path / name).read_text() for name in logs)
    assert f"127.0.0.1:{ports['own']}" in own and f"127.0.0.1:{ports['own']}" not in main
    assert f"127.0.0.1:{ports['daemon']}" in daemon_log
    assert f"127.0.0.1:{ports['daemon']}" not in main
    assert f"127.0.0.1:{ports['plain']}" in main and "*** starting polyhost Emperor ***" in main


def test_emperor_sighup_after_log_rotation_keeps_the_inherited_log(tmp_path: Path) -> None:
    """logrotate renames the logs, then SIGHUP reloads every vassal: the Emperor, like uWSGI's
    (emperor.c: SIGHUP is emperor_massive_reload, no log reopen), keeps writing to its renamed
    file, and so does a reloaded vassal without a `logto` (the zygote handed it the Emperor's
    fds, as an exec'd vassal inherits them); a vassal with its own `logto` and `log-reopen`
    starts the new file."""
    (tmp_path / "tiny.py").write_text(TINY_APP)
    vassals = tmp_path / "vassals"
    vassals.mkdir()
    stats_port = free_port()
    ports = {"plain": free_port(), "own": free_port()}
    own_log = tmp_path / "own.log"
    emperor_log = tmp_path / "emperor.log"
    emperor = emperor_with_stats(
        tmp_path, stats_port, "--emperor", str(vassals), "--logto", str(emperor_log)
    )
    try:
        (vassals / "plain.ini").write_text(tiny_ini(tmp_path, ports["plain"]))
        own = tiny_ini(tmp_path, ports["own"]) + f"logto = {own_log}\nlog-reopen = true\n"
        (vassals / "own.ini").write_text(own)
        for name in ports:
            wait_for(lambda n=name: accepting(stats_port, f"{n}.ini"), 30, f"{name} accepting")
        emperor_log.rename(tmp_path / "emperor.log.1")
        own_log.rename(tmp_path / "own.log.1")
        os.kill(emperor.pid, signal.SIGHUP)
        wait_for(lambda: own_log.exists(), 60, "own.ini reloaded into a new own.log")
        rotated = tmp_path / "emperor.log.1"
        wait_for(lambda: "binary reloading" in rotated.read_text(), 60, "plain.ini reloaded")
        for name, port in ports.items():
            wait_for(lambda p=port: split_response(get(p))[0] == 200, 30, f"{name} serving")
    finally:
        assert emperor.stop() == 0
    old = rotated.read_text()
    assert "SIGHUP: reloading every vassal" in old and not emperor_log.exists()
    assert old.count("binary reloading") == 1  # plain.ini's; own.ini logs to its own file
    assert "binary reloading" in (tmp_path / "own.log.1").read_text()
    assert "*** Starting polyhost" in own_log.read_text()
