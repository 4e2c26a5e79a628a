"""What the uWSGI docs' own examples tripped over (issue 12), each fix shown on a real instance:
Django's `module = mysite.wsgi`, factories, `from uwsgidecorators import *` ..."""

from __future__ import annotations

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
