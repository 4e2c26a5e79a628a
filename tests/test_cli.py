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
    assert "--help-option" in result.stdout and len(lines) < 600


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
go-load = app.go
processes = 2
""")
    inst = polyhost([str(ini)], port=port)
    assert split_response(get(port, "/"))[2] == b"Hello World"
    log = inst.log()
    assert f"{ini}:5" in log and "karakiri" in log and "harakiri" in log
    assert f"{ini}:6" in log and "not available yet" in log
    assert "plugins" in log


def test_options_that_change_what_clients_get_stop_the_start(polyhost, tmp_path: Path) -> None:
    """Options whose feature is not built (error pages, jails ...) stop the start: polyhost says
    so and what to use instead, rather than serving something else than the config asks (issue
    12 point 8)."""
    port = free_port()
    ini = tmp_path / "app.ini"
    ini.write_text(f"""[uwsgi]
http-socket = 127.0.0.1:{port}
wsgi-file = {APPS / "wsgi" / "basic.py"}
add-header = X-Added: yes
chroot = /
""")
    refused = run(str(ini))
    assert refused.returncode == 1 and not refused.stdout
    assert f"{ini}:4: add-header is not built yet in internal routing; meanwhile" in refused.stderr
    assert f"{ini}:5: chroot needs jails and namespaces" in refused.stderr
    assert "--allow-unavailable" in refused.stderr
    inst = polyhost([str(ini), "--allow-unavailable"], port=port)
    _, headers, body = split_response(get(port, "/"))
    assert body == b"Hello World" and "x-added" not in headers  # the option is ignored
    assert f"{ini}:4: option 'add-header' is not available yet in polyhost" in inst.log()


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


def test_management_commands_say_what_failed_and_start_nothing(tmp_path: Path) -> None:
    """--stop/--reload PIDFILE and --connect-and-read act and exit (the seeds corpus runs them
    against live instances); each failure names the file or address and exits 1."""
    missing = run("--stop", str(tmp_path / "none.pid"), "--http-socket", f":{free_port()}")
    assert missing.returncode == 1 and "cannot read" in missing.stderr and not missing.stdout
    junk = tmp_path / "junk.pid"
    junk.write_text("not a pid\n")
    assert "invalid pidfile" in run("--reload", str(junk)).stderr
    gone = tmp_path / "gone.pid"
    gone.write_text("999999999\n")
    assert "No such process; is the instance running?" in run("--stop", str(gone)).stderr
    refused = run("--connect-and-read", f"127.0.0.1:{free_port()}")
    assert refused.returncode == 1 and "cannot connect to 127.0.0.1:" in refused.stderr


def test_extract_prints_a_file_or_a_url_and_config_files_come_over_http(tmp_path: Path) -> None:
    """uWSGI's schemes: `--extract SOURCE` and `--ini http://...` read the same sources (the
    seeds corpus starts an instance from a URL); failures name the source."""
    import functools
    import http.server
    import threading

    (tmp_path / "remote.ini").write_text("[uwsgi]\nprocesses = 3\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert run("--extract", f"{url}/remote.ini").stdout == "[uwsgi]\nprocesses = 3\n"
        assert run("--extract", str(tmp_path / "remote.ini")).stdout.endswith("processes = 3\n")
        shown = run("--ini", f"{url}/remote.ini", "--show-config")
        assert "processes = 3" in shown.stdout, shown.stderr
        missing = run("--ini", f"{url}/nope.ini")
        assert missing.returncode == 1 and "nope.ini: HTTP 404" in missing.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert "cannot fetch it" in run("--extract", f"{url}/remote.ini").stderr
