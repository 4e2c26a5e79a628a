"""What the uWSGI docs' own examples tripped over (issue 12), each fix shown on a real instance:
Django's `module = mysite.wsgi`, factories, `from uwsgidecorators import *` ..."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from polyhost.config import ConfigError, load_config

from conftest import APPS, POLYHOST, get, serving, split_response, wait_for

SEED_APPS = APPS / "seeds"


def test_django_module_form_without_callable(tmp_path: Path) -> None:
    """The Django tutorial's `--module mysite.wsgi`: the module, not a file called so."""
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(tmp_path)],
        check=True,
        timeout=60,
    )
    (tmp_path / "site.ini").write_text(
        f"[uwsgi]\nchdir = {tmp_path}\nmodule = mysite.wsgi\n"
        "env = DJANGO_SETTINGS_MODULE=mysite.settings\nmaster = true\n"
    )
    with serving(tmp_path, ["--ini", str(tmp_path / "site.ini")]) as inst:
        status, _, body = split_response(get(inst.port, "/admin/login/", host="127.0.0.1"))
        assert status == 200 and b"Django administration" in body


def test_wsgi_file_stays_a_file_and_a_factory_is_called_once(tmp_path: Path) -> None:
    (tmp_path / "factoryapp.py").write_text(
        "CALLS = []\n"
        "def create_app():\n"
        "    CALLS.append(1)\n"
        "    def app(env, start_response):\n"
        "        start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "        return [b'made %d' % len(CALLS)]\n"
        "    return app\n"
    )
    args = ["--chdir", str(tmp_path), "--module", "factoryapp:create_app()"]
    with serving(tmp_path, args) as inst:
        for _ in range(3):
            assert split_response(get(inst.port))[2] == b"made 1"
    args = ["--chdir", str(tmp_path), "--module", "factoryapp", "--callable", "create_app()"]
    with serving(tmp_path, args) as inst:
        assert split_response(get(inst.port))[2] == b"made 1"
    # `wsgi-file` names a file even when a module of that name exists
    missing = subprocess.run(
        [
            *POLYHOST,
            "--http-socket",
            "127.0.0.1:0",
            "--chdir",
            str(tmp_path),
            "--wsgi-file",
            "factoryapp.wsgi",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode != 0 and "no such file" in missing.stdout + missing.stderr


def test_star_import_of_uwsgidecorators_runs_a_spooler_task(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    done = tmp_path / "done.txt"
    (tmp_path / "tasks.py").write_text(
        "from uwsgidecorators import *\n"
        "\n"
        "@spool\n"
        "def write_down(arguments):\n"
        f"    open({str(done)!r}, 'a').write(arguments['word'])\n"
        "\n"
        "@lock\n"
        "def guarded():\n"
        "    return b'locked'\n"
        "\n"
        "def application(env, start_response):\n"
        "    write_down.spool(word='hello')\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [guarded()]\n"
    )
    args = ["--chdir", str(tmp_path), "--module", "tasks", "--spooler", str(spool)]
    with serving(tmp_path, args) as inst:
        assert split_response(get(inst.port))[2] == b"locked"
        wait_for(lambda: done.exists() and done.read_text() == "hello", what="the spooled task")


def test_star_import_exports_what_uwsgis_module_does() -> None:
    from polyhost.bridges.python import uwsgidecorators

    namespace: dict[str, object] = {}
    exec("from polyhost.bridges.python.uwsgidecorators import *", namespace)
    expected = "spool spoolforever spoolraw mulefunc timer rbtimer cron filemon signal rpc"
    for name in (*expected.split(), "postfork", "thread", "lock", "harakiri", "erlang"):
        assert namespace[name] is getattr(uwsgidecorators, name), name


def test_classic_sinatra_with_logging_answers_200(tmp_path: Path) -> None:
    app_dir = SEED_APPS / "sinatra_classic"
    with serving(tmp_path, ["--chdir", str(app_dir), "--rack", "config.ru"]) as inst:
        status, _, body = split_response(get(inst.port))
        assert (status, body) == (200, b"Hello classic")
        inst.wait_log("INFO -- : serving root")  # Sinatra's Logger on rack.errors
        status, _, _ = split_response(get(inst.port, "/boom"))
        assert status == 500
        inst.wait_log("RuntimeError - kaboom")
        inst.wait_log("app.rb:8:in")  # the backtrace, not only the request line


def test_psgi_errors_is_an_io_handle(tmp_path: Path) -> None:
    with serving(tmp_path, ["--psgi", str(SEED_APPS / "errors.psgi")]) as inst:
        assert split_response(get(inst.port))[2] == b"logged"
        for line in ("printed line", "said line", "written line", "formatted line"):
            inst.wait_log(line)
        assert "and more" not in inst.log()


def test_xml_config_forms(tmp_path: Path) -> None:
    """The docs' `<uwsgi>` files: repeated elements, bare elements, `id` blocks, `<app>`."""
    plain = tmp_path / "app.xml"
    plain.write_text(
        "<uwsgi>\n  <socket>127.0.0.1:3031</socket>\n  <master/>\n  <processes>4</processes>\n"
        "  <env>A=1</env>\n  <env>B=2</env>\n"
        '  <app mountpoint="/x">myapp.py</app>\n  <threads id="big">8</threads>\n</uwsgi>\n'
    )
    cfg = load_config(["--xml", str(plain)], environ={})
    assert cfg.get("socket") == ["127.0.0.1:3031"] and cfg.get("master") is True
    assert cfg.get("processes") == 4 and cfg.get("env") == ["A=1", "B=2"]
    assert cfg.get("mount") == ["/x=myapp.py"]
    assert cfg.get("threads") == 8  # as uWSGI: without a selector, id'd elements count too
    assert cfg.origin("processes") == f"{plain}:4"
    picked = load_config([f"{plain}:other"], environ={})
    assert picked.get("threads") == 1 and picked.get("processes") == 4  # the default
    several = tmp_path / "several.xml"
    several.write_text(
        '<all><uwsgi id="one"><processes>1</processes></uwsgi>'
        '<uwsgi id="two"><processes>2</processes></uwsgi></all>'
    )
    assert load_config(["-x", f"{several}:two"], environ={}).get("processes") == 2
    with pytest.raises(ConfigError, match=r"no <uwsgi> element with id='three'.*'one', id='two'"):
        load_config(["--xml", f"{several}:three"], environ={})
    (tmp_path / "bad.xml").write_text("<uwsgi>\n<socket>\n")
    with pytest.raises(ConfigError, match=r"bad.xml:3: invalid XML"):
        load_config(["--xml", str(tmp_path / "bad.xml")], environ={})


def test_section_selectors_and_keys_outside_sections(tmp_path: Path) -> None:
    ini = tmp_path / "myconf.ini"
    ini.write_text(
        "processes = 9\n[uwsgi]\nini = :app1\n[app1]\nprocesses = 2\n[app2]\nprocesses = 3\n"
    )
    cfg = load_config(["--ini", f"{ini}:app2"], environ={})
    assert cfg.get("processes") == 3
    cfg = load_config(["--ini", str(ini)], environ={})
    assert cfg.get("processes") == 2  # `ini = :app1`: that section of this file
    assert any(
        "ignored processes (line 1): keys before any [section] header" in warning
        for warning in cfg.warnings
    ), cfg.warnings
    yml = tmp_path / "conf.yaml"
    yml.write_text("uwsgi:\n  processes: 1\napp1:\n  processes: 5\n")
    assert load_config(["--yaml", f"{yml}:app1"], environ={}).get("processes") == 5
    js = tmp_path / "conf.json"
    js.write_text('{"uwsgi": {"processes": 1}, "app1": {"processes": 6}}')
    assert load_config(["--json", f"{js}:app1"], environ={}).get("processes") == 6


def test_autoreloader_sees_an_edited_module_and_skips_ignored_ones(tmp_path: Path) -> None:
    """py-autoreload's scan (the seeds corpus shows the reload on a live instance)."""
    from polyhost.bridges.python.autoreload import AutoReloader

    module = tmp_path / "seed_autoreload_probe.py"
    module.write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        __import__("seed_autoreload_probe")
        watching = AutoReloader(2, (), print, 0)
        ignoring = AutoReloader(2, ("seed_autoreload_probe",), print, 0)
        assert watching.changed() == "" and ignoring.changed() == ""
        module.write_text("VALUE = 22\n")
        assert watching.changed() == str(module)
        assert ignoring.changed() == ""
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("seed_autoreload_probe", None)


def test_py_tracebacker_dumps_the_threads_of_a_busy_worker(tmp_path: Path) -> None:
    """The tracebacker page's slow.py: while requests sleep in dormi(), `--connect-and-read
    BASE1` prints each thread's stack; what a client sends the socket is never read."""
    shutil.copy(SEED_APPS / "corpus" / "slow.py", tmp_path)
    base = tmp_path / "tbsocket."
    args = ["--wsgi-file", str(tmp_path / "slow.py"), "--master", "--processes", "1"]
    with serving(tmp_path, [*args, "--threads", "4", "--py-tracebacker", str(base)]) as inst:
        sleepers = [socket.create_connection(("127.0.0.1", inst.port), timeout=10) for _ in "ab"]
        try:
            for sleeper in sleepers:
                sleeper.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")

            def dump() -> str:
                if not Path(f"{base}1").exists():  # worker 1 is still starting
                    return ""
                with socket.socket(socket.AF_UNIX) as fuzz:  # garbage first: ignored
                    fuzz.connect(f"{base}1")
                    fuzz.sendall(os.urandom(4096))
                done = subprocess.run(
                    [*POLYHOST, "--connect-and-read", f"{base}1"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=True,
                )
                return done.stdout if done.stdout.count("function = dormi line") == 2 else ""

            out = str(wait_for(dump, 30, "two requests asleep in the dump"))
            assert out.startswith("*** uWSGI Python tracebacker output ***\n")
            assert "function = dormi5 line = dormi4()" in out
            assert f"python tracebacker for worker 1 available on {base}1" in inst.log()
        finally:
            for sleeper in sleepers:
                sleeper.close()
            inst.proc.send_signal(signal.SIGINT)  # the sleepers would hold a graceful stop
            inst.proc.wait(30)


def test_ctrl_c_is_a_quiet_tidy_shutdown(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group) with Rack, PSGI, a mule and a spooler: no
    "DAMN ! ... trying respawn" for the children being stopped, no Interrupt backtraces."""
    corpus = SEED_APPS / "corpus"
    (tmp_path / "spool").mkdir()
    args = ["--mount", f"/ruby={corpus / 'config.ru'}", "--mount", f"/perl={corpus / 'myapp.pl'}"]
    args += ["--mule", "--spooler", str(tmp_path / "spool"), "--master", "--processes", "2"]
    with serving(tmp_path, args) as inst:
        assert get(inst.port, "/ruby/hi").endswith(b"Hello World")
        assert get(inst.port, "/perl/").endswith(b"<h1>Hello World</h1>")
        os.killpg(inst.pid, signal.SIGINT)
        assert inst.proc.wait(30) == 0
    log = inst.log()
    assert "SIGINT/SIGQUIT received" in log and "goodbye to polyhost" in log
    assert "DAMN" not in log and "Interrupt" not in log, log


@pytest.mark.parametrize(
    "app",
    [
        ["--wsgi-file", "nope.py"],  # the master cannot load it
        ["--rack", "nope.ru", "--master"],  # a worker cannot: the instance stops
        ["--socket", "/nonexistent-dir/b.sock", "--wsgi-file", "nope.py"],  # the second bind fails
    ],
)
def test_a_failed_start_removes_the_unix_socket_it_bound(tmp_path: Path, app: list[str]) -> None:
    sock = tmp_path / "a.sock"
    done = subprocess.run(
        [*POLYHOST, "--socket", str(sock), *app], capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0 and not sock.exists(), done.stdout.decode(errors="replace")


def test_limit_as_limits_the_master_and_its_workers(tmp_path: Path) -> None:
    args = ["--wsgi-file", str(APPS / "wsgi" / "basic.py"), "--limit-as", "1024", "-p", "2", "-M"]
    with serving(tmp_path, args) as inst:
        assert get(inst.port, "/").endswith(b"Hello World")
        assert "your process address space limit is 1073741824 bytes (1024 MB)" in inst.log()
        limits = Path(f"/proc/{inst.pid}/limits").read_text()
        assert "Max address space         1073741824           1073741824" in limits


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_uid_that_cannot_reach_the_app_stops_the_start_with_the_list(tmp_path: Path) -> None:
    """uid = nobody with the app and chdir in a directory only root may enter: the start stops
    naming each path, instead of every request failing after the drop (pytest's tmp_path is
    0700); the unix socket it bound is removed."""
    site = tmp_path / "site"
    site.mkdir(mode=0o700)
    (site / "app.py").write_text((SEED_APPS / "corpus" / "foobar.py").read_text())
    sock = tmp_path / "app.sock"
    args = ["--socket", str(sock), "--uid", "nobody", "--chdir", str(site), "--wsgi-file"]
    done = subprocess.run(
        [*POLYHOST, *args, str(site / "app.py")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and not sock.exists()
    log = done.stdout + done.stderr
    assert "uid nobody (gid 0) cannot reach what the workers need" in log
    assert f"  uid nobody cannot read {site}: chdir" in log
    assert f"  uid nobody cannot read {site / 'app.py'}: the app" in log


@pytest.mark.parametrize(
    ("mapping", "message"),
    [("0-1", "expected SOCKET:WORKER[,WORKER...]"), ("0:3", "invalid worker num '3'")],
)
def test_a_bad_map_socket_stops_the_start(tmp_path: Path, mapping: str, message: str) -> None:
    args = ["--socket", "127.0.0.1:0", "-p", "2", "--map-socket", mapping]
    done = subprocess.run(
        [*POLYHOST, *args, "--wsgi-file", str(APPS / "wsgi" / "basic.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and f"map-socket = {mapping}: {message}" in done.stderr
