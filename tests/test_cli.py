"""The `polyhost` command itself: version, help, show-config, config errors, a config file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import APPS, ROOT, free_port, get, split_response

POLYHOST = [sys.executable, "-m", "polyhost"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POLYHOST, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("polyhost 0.")
    assert "2.0.21" in result.stdout


def test_help_is_grouped_and_short() -> None:
    result = run("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert any("--http-socket" in line for line in lines)
    # one line per implemented option (uWSGI's --help has over 1000, mostly plugin options)
    assert "--help-option" in result.stdout and len(lines) < 400


def test_help_option() -> None:
    result = run("--help-option", "harakiri")
    assert result.returncode == 0 and "-t" in result.stdout and "harakiri" in result.stdout
    bad = run("--help-option", "karakiri")
    assert bad.returncode == 1 and "harakiri" in bad.stderr


def test_show_config_resolves_the_ini(tmp_path: Path) -> None:
    ini = tmp_path / "site.ini"
    ini.write_text(
        "[uwsgi]\nbase = /srv/%n\nchdir = %(base)\nprocesses = %(%k * 2)\n"
        "master\nsocket = :3031\nsocket = /tmp/%n.sock\n"
    )
    result = run(str(ini), "--show-config")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "chdir = /srv/site" in out and "socket = :3031" in out
    assert "socket = /tmp/site.sock" in out and "master = true" in out


def test_missing_config_file() -> None:
    result = run("--ini", "/nonexistent/app.ini")
    assert result.returncode == 1
    assert "/nonexistent/app.ini" in result.stderr and "No such file" in result.stderr


def test_bad_value_names_file_and_line(tmp_path: Path) -> None:
    ini = tmp_path / "bad.ini"
    ini.write_text("[uwsgi]\nmaster = true\nprocesses = many\n")
    result = run(str(ini))
    assert result.returncode == 1
    assert f"{ini}:3" in result.stderr and "processes" in result.stderr


def test_strict_rejects_unknown_key(tmp_path: Path) -> None:
    ini = tmp_path / "typo.ini"
    ini.write_text("[uwsgi]\nkarakiri = 30\n")
    result = run(str(ini), "--strict")
    assert result.returncode == 1
    assert "karakiri" in result.stderr and f"{ini}:2" in result.stderr


def test_ini_instance_warns_on_typos_and_unavailable_options(polyhost, tmp_path: Path) -> None:
    port = free_port()
    ini = tmp_path / "app.ini"
    ini.write_text(f"""[uwsgi]
plugins = python3
http-socket = 127.0.0.1:{port}
wsgi-file = {APPS / "wsgi" / "basic.py"}
karakiri = 30
route = ^/old redirect:/new
processes = 2
""")
    inst = polyhost([str(ini)], port=port)
    assert split_response(get(port, "/"))[2] == b"Hello World"
    log = inst.log()
    assert f"{ini}:5" in log and "karakiri" in log and "harakiri" in log
    assert f"{ini}:6" in log and "not available yet" in log
    assert "plugins" in log


def test_daemonize_writes_the_log_file(tmp_path: Path) -> None:
    port = free_port()
    logfile = tmp_path / "daemon.log"
    pidfile = tmp_path / "daemon.pid"
    result = run(
        "--http-socket",
        f"127.0.0.1:{port}",
        "--daemonize",
        str(logfile),
        "--pidfile",
        str(pidfile),
        "--wsgi-file",
        str(APPS / "wsgi" / "basic.py"),
    )
    assert result.returncode == 0  # the foreground process returns at once
    from conftest import wait_for

    wait_for(
        lambda: pidfile.exists() and "spawned polyhost worker" in logfile.read_text(),
        20,
        "the daemon",
    )
    pid = int(pidfile.read_text())
    try:
        wait_for(lambda: split_response(get(port, "/"))[2] == b"Hello World", 10, "a response")
    finally:
        import os
        import signal

        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: "goodbye" in logfile.read_text(), 20, "the daemon to stop")


def test_demo_runs_once() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "run.py"), "--once", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "GET / -> 200: Hello from Django" in out and "visit 1 " in out
    assert "GET /sinatra/ -> 200: Hello from Sinatra" in out
    assert "visit 2, SINATRA CALLS DJANGO!" in out
    assert "GET /perl/ -> 200: Hello from Perl" in out and "visit 3, PERL CALLS DJANGO!" in out
    assert "GET /clojure/ -> 200: Hello from Clojure" in out
    assert "visit 4, CLOJURE CALLS DJANGO!" in out
