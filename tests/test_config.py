"""Configuration layer: uWSGI-compatible command line, config files, expansion, logic, and the
option table, through load_config and the render_* functions."""

from __future__ import annotations

import grp
import os
import pwd
import re
import socket
import time
from pathlib import Path

import pytest

from polyhost import UWSGI_COMPAT_VERSION, __version__
from polyhost.config import (
    OPTIONS,
    Config,
    ConfigError,
    Option,
    load_config,
    render_help,
    render_option_help,
    render_show_config,
    render_version,
)
from polyhost.config.option_lookup import find_option, find_short_option

from conftest import ROOT


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def load(*argv: str, env: dict[str, str] | None = None) -> Config:
    return load_config(list(argv), environ=env or {})


def ini(directory: Path, body: str, name: str = "app.ini") -> str:
    return write(directory, name, "[uwsgi]\n" + body)


# ---- the option table ------------------------------------------------------------------


def test_option_table_names_aliases_and_shorts_are_unique() -> None:
    names = [name for option in OPTIONS for name in (option.name, *option.aliases)]
    assert len(names) == len(set(names))
    shorts = [option.short for option in OPTIONS if option.short]
    assert len(shorts) == len(set(shorts))
    assert len(OPTIONS) > 900  # every uWSGI 2.0.21 core and language-plugin option


def test_option_table_rows_are_consistent() -> None:
    for option in OPTIONS:
        assert isinstance(option, Option)
        assert option.type in ("bool", "int", "str", "float"), option
        assert option.help and "\n" not in option.help, option
        assert option.group and option.component, option
        if option.repeatable:
            assert isinstance(option.default, tuple), option
        elif option.type == "bool":
            assert isinstance(option.default, bool), option
        elif option.default is not None:
            assert isinstance(option.default, {"int": int, "str": str}[option.type]), option
        assert isinstance(option.available, bool), option


def test_options_are_read_typed_with_the_table_default() -> None:
    unset = load_config([], environ={})
    assert unset.get("buffer-size") == find_option("buffer-size").default == 4096
    assert unset.get("socket-timeout") == 4
    assert unset.get("spooler-processes") == 1
    assert unset.get("php-index") == ["index.php"]
    given = load_config(["--buffer-size", "8192", "--php-index", "main.php"], environ={})
    assert given.get("buffer-size") == 8192
    assert given.get("php-index") == ["main.php"]


def test_no_code_restates_an_option_default() -> None:
    """`config.get(name)` is typed and defaulted by the table: `int(config.get(name) or 4096)`
    or `option_values(config, name) or [...]` would say the default a second time."""
    restated = re.compile(
        r"""(?:\.get|option_values\([\w.]+,)\s*\(?\s*"([a-z][a-z0-9-]*)"\s*\)\s*or\s*(?:[\d\[(]|"[^"]|'[^'])"""
    )
    found = []
    for package in ("host", "bridges", "rpc"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for match in restated.finditer(line):
                    if find_option(match.group(1)) is not None:
                        found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_available_options_are_exactly_the_implemented_ones() -> None:
    for name in (
        "socket",
        "processes",
        "workers",
        "master",
        "wsgi-file",
        "file",
        "module",
        "wsgi",
        "pythonpath",
        "pp",
        "python-path",
        "home",
        "virtualenv",
        "venv",
        "pyhome",
        "stats-server",
        "logformat",
        "log-date",
        "logdate",
        "socket-modifier1",
    ):
        assert find_option(name).available, name
    for name, component in (
        ("psgi", "psgi"),
        ("rack", "rack"),
        ("cache2", "cache"),
        ("spooler", "spooler"),
        ("mule", "mule"),
        ("http", "http"),
        ("emperor", "emperor"),
        ("route", "router"),
        ("error-route-status", "router"),
    ):
        option = find_option(name)
        assert option is not None and option.available and option.component == component, name
    for name, component in (
        ("go-load", "go"),
        ("legion", "legion"),
        ("legion-attach-daemon", "legion"),
    ):
        option = find_option(name)
        assert option is not None and not option.available, name
        assert option.component == component, name


def test_short_forms() -> None:
    expected = {
        "s": "socket",
        "p": "processes",
        "M": "master",
        "w": "module",
        "b": "buffer-size",
        "t": "harakiri",
        "R": "max-requests",
        "C": "chmod-socket",
        "H": "home",
        "T": "enable-threads",
        "L": "disable-logging",
        "d": "daemonize",
        "S": "set",
        "m": "memory-report",
    }
    for letter, name in expected.items():
        assert find_short_option(letter).name == name


def test_defaults_follow_uwsgi_except_where_polyhost_differs() -> None:
    cfg = load()
    assert cfg.get("processes") == 1 and cfg.get("workers") == 1
    assert cfg.get("threads") == 1
    assert cfg.get("buffer-size") == 4096
    assert cfg.get("listen") == 100
    assert cfg.get("socket-timeout") == 4
    assert cfg.get("harakiri") == 0 and cfg.get("max-requests") == 0
    assert cfg.get("min-worker-lifetime") == 10
    assert cfg.get("worker-reload-mercy") == 60 and cfg.get("reload-mercy") == 30
    assert cfg.get("post-buffering") == 0
    assert cfg.get("callable") == "application"
    assert cfg.get("master") is True and cfg.get("enable-threads") is True
    assert cfg.get("die-on-term") is True and cfg.get("need-app") is True
    assert cfg.get("strict") is False and cfg.get("vacuum") is False
    assert cfg.get("socket") == [] and cfg.get("chdir") is None
    assert not cfg.is_set("processes") and cfg.origin("processes") == "default"
    assert cfg.warnings == [] and cfg.action is None
    with pytest.raises(KeyError, match="harakiri"):
        cfg.get("karakiri")


# ---- command line ----------------------------------------------------------------------


def test_long_options_with_values_equals_and_bare_flags() -> None:
    cfg = load(
        "--socket",
        "127.0.0.1:3031",
        "--processes=4",
        "--vacuum",
        "--master=false",
        "--workers",
        "6",
    )
    assert cfg.get("socket") == ["127.0.0.1:3031"]
    assert cfg.get("processes") == 6  # last one wins, through the alias too
    assert cfg.origin("processes") == "command line"
    assert cfg.get("vacuum") is True and cfg.get("master") is False
    assert cfg.argv == [
        "--socket",
        "127.0.0.1:3031",
        "--processes=4",
        "--vacuum",
        "--master=false",
        "--workers",
        "6",
    ]


def test_short_options_values_and_clusters() -> None:
    cfg = load(
        "-s",
        ":3031",
        "-p4",
        "-MT",
        "-w",
        "app:application",
        "-b",
        "8192",
        "-t",
        "30",
        "-R",
        "1000",
        "-H",
        "/venv",
        "-L",
        "-d",
        "/tmp/log",
        "-S",
        "dir=/srv",
        "-m",
    )
    assert cfg.get("socket") == [":3031"]
    assert cfg.get("processes") == 4
    assert cfg.get("master") is True and cfg.get("enable-threads") is True
    assert cfg.get("module") == "app:application" and cfg.get("wsgi") == "app:application"
    assert cfg.get("buffer-size") == 8192 and cfg.get("harakiri") == 30
    assert cfg.get("max-requests") == 1000 and cfg.get("home") == "/venv"
    assert cfg.get("disable-logging") is True and cfg.get("daemonize") == "/tmp/log"
    assert cfg.placeholders == {"dir": "/srv"} and cfg.get("memory-report") is True


def test_bare_chmod_socket_on_the_command_line_means_666() -> None:
    assert load("--chmod-socket").get("chmod-socket") == "666"
    assert load("-C").get("chmod-socket") == "666"
    assert load("--chmod-socket", "660").get("chmod-socket") == "660"
    assert load("--chmod-socket=640").get("chmod-socket") == "640"
    assert load("-C", "--master").get("chmod-socket") == "666"


def test_bare_chmod_socket_in_an_ini_file_is_an_error(tmp_path: Path) -> None:
    path = ini(tmp_path, "socket = /tmp/x.sock\nchmod-socket\n")
    with pytest.raises(ConfigError) as error:
        load(path)
    message = str(error.value)
    assert f"{path}:3" in message and "chmod-socket" in message
    assert "invalid chmod value" in message and "only on the command line" in message


def test_chmod_socket_values_are_checked(tmp_path: Path) -> None:
    assert load(ini(tmp_path, "chmod-socket = 1\n")).get("chmod-socket") == "666"
    with pytest.raises(ConfigError, match="invalid chmod value"):
        load(ini(tmp_path, "chmod-socket = 999\n"))


def test_positional_config_files_by_extension(tmp_path: Path) -> None:
    assert load(ini(tmp_path, "processes = 2\n")).get("processes") == 2
    yaml_file = write(tmp_path, "app.yaml", "uwsgi:\n  processes: 3\n")
    assert load(yaml_file).get("processes") == 3
    yml_file = write(tmp_path, "app.yml", "uwsgi:\n  processes: 5\n")
    assert load(yml_file).get("processes") == 5
    json_file = write(tmp_path, "app.json", '{"uwsgi": {"processes": 4}}')
    assert load(json_file).get("processes") == 4
    cfg = load(ini(tmp_path, "processes = 2\n"))
    assert cfg.get("ini") == [str(tmp_path / "app.ini")]
    assert cfg.files == [str(tmp_path / "app.ini")]


def test_other_positional_arguments_are_errors() -> None:
    with pytest.raises(
        ConfigError, match=r"unable to load configuration from app\.py.*--wsgi-file"
    ):
        load("app.py")
    with pytest.raises(ConfigError, match="unable to load configuration from 8000"):
        load("--master", "8000")


def test_unknown_command_line_option_is_an_error_with_suggestion() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown option '--karakiri' \(did you mean 'harakiri'\?\)"
    ):
        load("--karakiri", "30")
    with pytest.raises(ConfigError, match="unknown option '-Y'"):
        load("-Y")
    with pytest.raises(ConfigError, match="option '--socket' needs a value"):
        load("--socket")


def test_actions() -> None:
    assert load("--help").action == "help"
    assert load("-h").action == "help"
    assert load("--usage").action == "help"
    assert load("--version").action == "version"
    assert load("--help-option", "workers").action == "help-option:workers"
    assert load("--help-option=harakiri").action == "help-option:harakiri"
    # help does not read config files, so a broken one does not hide it
    assert load("missing.ini", "--help").action == "help"
    assert load("--show-config").action == "show-config"


# ---- ini files -------------------------------------------------------------------------


def test_ini_syntax(tmp_path: Path) -> None:
    text = """
; a comment
# another comment
[other]
processes = 9

[uwsgi]
  socket = :3031\t
socket = /tmp/app.sock
master
vacuum = false
procname = my app ; not a comment
"""
    path = write(tmp_path, "app.ini", text)
    cfg = load(path)
    assert cfg.get("socket") == [":3031", "/tmp/app.sock"]
    assert cfg.origin("socket", i=0) == f"{path}:8" and cfg.origin("socket", i=1) == f"{path}:9"
    assert cfg.origin("socket") == f"{path}:8"
    assert cfg.get("processes") == 1  # other sections are ignored
    assert cfg.get("master") is True and cfg.get("vacuum") is False
    assert cfg.get("procname") == "my app ; not a comment"


def test_ini_section_selection(tmp_path: Path) -> None:
    path = write(tmp_path, "app.ini", "[uwsgi]\nprocesses = 2\n[staging]\nprocesses = 3\n")
    assert load("--ini", f"{path}:staging").get("processes") == 3
    assert load("--ini", path).get("processes") == 2


def test_unknown_section_names_the_sections_found(tmp_path: Path) -> None:
    path = write(tmp_path, "app.ini", "[uwsgi]\nmaster = true\n[app1]\nprocesses = 2\n")
    with pytest.raises(ConfigError) as error:
        load("--ini", f"{path}:prod")
    assert str(error.value) == f"{path}: no [prod] section (sections found: [uwsgi], [app1])"
    no_uwsgi = write(tmp_path, "bare.ini", "processes = 2\n")
    with pytest.raises(ConfigError, match=r"no \[uwsgi\] section \(sections found: none\)"):
        load(no_uwsgi)


def test_missing_file_message(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.ini")
    with pytest.raises(ConfigError) as error:
        load(missing)
    assert str(error.value) == f"cannot read config file {missing}: No such file or directory"


def test_ini_colon_section_resolves_against_the_current_file(tmp_path: Path) -> None:
    write(tmp_path, "other.ini", "[uwsgi]\nsocket = :1\n[extra]\nprocesses = 7\n")
    path = write(
        tmp_path, "app.ini", "[uwsgi]\ninclude = other.ini\nini = :extra\n[extra]\nprocesses = 3\n"
    )
    # uWSGI would take [extra] of other.ini, the last file read; polyhost takes app.ini's
    assert load(path).get("processes") == 3


# ---- yaml and json ---------------------------------------------------------------------


def test_yaml_files(tmp_path: Path) -> None:
    path = write(tmp_path, "app.yaml", """
uwsgi:
  socket:
    - ":3031"
    - /tmp/app.sock
  master: true
  vacuum:
  chmod-socket: 660
  processes: 4
staging:
  processes: 8
""")  # fmt: skip
    cfg = load("--yaml", path)
    assert cfg.get("socket") == [":3031", "/tmp/app.sock"]
    assert cfg.origin("socket", i=1) == f"{path}:5"
    assert cfg.get("master") is True and cfg.get("vacuum") is True
    assert cfg.get("chmod-socket") == "660"
    assert cfg.get("processes") == 4
    assert load("--yml", f"{path}:staging").get("processes") == 8
    with pytest.raises(
        ConfigError, match=r"no \[prod\] section \(sections found: \[uwsgi\], \[staging\]\)"
    ):
        load("--yaml", f"{path}:prod")


def test_yaml_scalars_are_taken_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "app.yml", "uwsgi:\n  procname: 0660\n  env: LANG=C\n")
    cfg = load(path)
    assert cfg.get("procname") == "0660" and cfg.get("env") == ["LANG=C"]
    broken = write(tmp_path, "broken.yml", "uwsgi:\n  socket: [a\n")
    with pytest.raises(ConfigError, match=r"broken\.yml:\d+: invalid YAML"):
        load(broken)


def test_json_files(tmp_path: Path) -> None:
    path = write(tmp_path, "app.json", """{
  "uwsgi": {
    "socket": [":3031", "/tmp/app.sock"],
    "master": true,
    "processes": 4,
    "karakiri": 3
  }
}""")  # fmt: skip
    cfg = load("--json", path)
    assert cfg.get("socket") == [":3031", "/tmp/app.sock"]
    assert cfg.get("master") is True and cfg.get("processes") == 4
    assert cfg.origin("processes") == f"{path}:5"
    assert f"{path}:6: unknown option 'karakiri' (did you mean 'harakiri'?)" in cfg.warnings
    broken = write(tmp_path, "broken.json", '{"uwsgi": {"master": tru}}')
    with pytest.raises(ConfigError, match=r"broken\.json:1: invalid JSON"):
        load(broken)


# ---- magic variables, env, placeholders, math ------------------------------------------


def test_magic_variables(tmp_path: Path) -> None:
    path = write(tmp_path, "sites/alpha.ini", """[uwsgi]
m-name = %n
m-file = %s
m-ext = %e
m-path = %p
m-dir = %d
m-dirname = %c
m-section = [%x]
m-cores = %k
m-host = %h
m-uid = %u
m-user = %U
m-gid = %g
m-group = %G
m-start = %t
m-start-us = %T
m-version = %V
m-percent = 100%%
m-first = %0
m-unknown = %Y-%q
""")  # fmt: skip
    real = os.path.realpath(path)
    before = time.time()
    got = load(path).placeholders
    assert got["m-name"] == "alpha" and got["m-file"] == "alpha.ini" and got["m-ext"] == "ini"
    assert got["m-path"] == real and got["m-dir"] == os.path.dirname(real) + "/"
    assert got["m-dirname"] == "sites" and got["m-section"] == "[]"
    assert got["m-cores"] == str(os.cpu_count()) and got["m-host"] == socket.gethostname()
    assert got["m-uid"] == str(os.getuid())
    assert got["m-user"] == pwd.getpwuid(os.getuid()).pw_name
    assert got["m-gid"] == str(os.getgid())
    assert got["m-group"] == grp.getgrgid(os.getgid()).gr_name
    assert abs(int(got["m-start"]) - before) < 60 and len(got["m-start-us"]) >= 16
    assert got["m-version"] == UWSGI_COMPAT_VERSION and got["m-percent"] == "100%"
    assert got["m-first"] == real.split("/")[1]
    assert got["m-unknown"] == "%Y-%q"  # kept for strftime formats (uWSGI would drop them)


def test_magic_path_components_and_section(tmp_path: Path) -> None:
    path = write(tmp_path, "a/b/c.ini", "[uwsgi]\n[web]\nparts = %0/%1|%x|%9\n")
    parts = os.path.realpath(path).split("/")[1:-1]
    cfg = load("--ini", f"{path}:web")
    assert cfg.placeholders["parts"] == f"{parts[0]}/{parts[1]}|web|" + (
        parts[9] if len(parts) > 9 else ""
    )


def test_upper_case_magic_variables_name_the_first_file(tmp_path: Path) -> None:
    write(tmp_path, "common.ini", "[uwsgi]\nlog-name = %n-%N\n")
    path = ini(tmp_path, "include = common.ini\nprocname = %(log-name)\n", name="site.ini")
    assert load(path).get("procname") == "common-site"


def test_env_references(tmp_path: Path) -> None:
    path = ini(tmp_path, "http-socket = :$(PORT)\nchdir = $(NOPE_NOT_SET)/app\n")
    cfg = load(path, env={"PORT": "8080"})
    assert cfg.get("http-socket") == [":8080"]
    assert cfg.get("chdir") == "$(NOPE_NOT_SET)/app"
    assert f"{path}:3: environment variable NOPE_NOT_SET is not set;" in cfg.warnings[0]
    assert load("--chdir", "$(HOME)/x", env={"HOME": "/h"}).get("chdir") == "/h/x"


def test_any_unknown_key_is_a_placeholder_and_binds_late(tmp_path: Path) -> None:
    path = ini(tmp_path, """chdir = %(project_dir)/src
project_dir = /var/www
socket = /run/%(name).sock
name = site
log-format = %(addr) %(method) %(uri)
""")  # fmt: skip
    cfg = load(path)
    assert cfg.get("chdir") == "/var/www/src" and cfg.get("socket") == ["/run/site.sock"]
    assert cfg.get("log-format") == "%(addr) %(method) %(uri)"
    assert cfg.placeholders == {"project_dir": "/var/www", "name": "site"}
    assert cfg.warnings == []  # keys used as %(key) are placeholders, not typos


def test_placeholders_from_options_and_overrides(tmp_path: Path) -> None:
    path = ini(tmp_path, """processes = 2
socket = :1
socket = :2
threads = %(workers)
procname = %(socket)
base = /a
base = /b
chdir = %(base)
""")  # fmt: skip
    cfg = load(path)
    assert cfg.get("threads") == 2  # option names and aliases work as placeholders
    assert cfg.get("procname") == ":1"  # a repeated option gives its first value, as uWSGI
    assert cfg.get("chdir") == "/b"  # a redefined key gives its value in effect


def test_set_set_placeholder_and_set_ph(tmp_path: Path) -> None:
    cfg = load(
        "--set-placeholder",
        "root=/srv",
        "--set-ph",
        "app=site",
        "--set",
        "processes=3",
        "--set",
        "x=1",
        "--chdir",
        "%(root)/%(app)",
    )
    assert cfg.get("chdir") == "/srv/site" and cfg.get("processes") == 3
    assert cfg.placeholders == {"root": "/srv", "app": "site", "x": "1"}
    with pytest.raises(ConfigError, match="'processes' cannot be a placeholder, it is an option"):
        load("--set-placeholder", "processes=3")
    with pytest.raises(ConfigError, match="set-ph expects NAME=VALUE"):
        load("--set-ph", "oops")


def test_undefined_placeholder_warning_and_loops(tmp_path: Path) -> None:
    path = ini(tmp_path, "project_dir = /srv\nchdir = %(projet_dir)\n")
    cfg = load(path)
    assert cfg.get("chdir") == "%(projet_dir)"
    assert any(
        f"{path}:3: placeholder %(projet_dir) is not defined" in warning
        and "did you mean 'project_dir'" in warning
        for warning in cfg.warnings
    )
    looping = ini(tmp_path, "a = %(b)\nb = %(a)\n", name="loop.ini")
    with pytest.raises(ConfigError, match="placeholder loop"):
        load(looping)


def test_math(tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    path = ini(tmp_path, """threads = %(%k * 2)
base = 10
listen = %(base + 5)
buffer-size = %(base * 1024 - 10)
harakiri = %(base / 3)
max-requests = %(base ++)
two = 2
concat = %(base two)
""")  # fmt: skip
    cfg = load(path)
    assert cfg.get("threads") == cores * 2
    assert cfg.get("listen") == 15 and cfg.get("buffer-size") == 10230
    assert cfg.get("harakiri") == 3 and cfg.get("max-requests") == 11
    assert cfg.placeholders["concat"] == "102"
    with pytest.raises(ConfigError, match="division by zero"):
        load(ini(tmp_path, "threads = %(4 / 0)\n", name="zero.ini"))
    with pytest.raises(ConfigError, match="'nope' is not defined"):
        load(ini(tmp_path, "threads = %(nope + 1)\n", name="undef.ini"))


# ---- include, inherit ------------------------------------------------------------------


def test_include_is_immediate_and_relative_to_the_file(tmp_path: Path) -> None:
    write(tmp_path, "conf/common.ini", "[uwsgi]\nprocesses = 4\nsocket = :1\n")
    path = write(
        tmp_path,
        "conf/app.ini",
        "[uwsgi]\nsocket = :0\ninclude = common.ini\nsocket = :2\nprocesses = 8\n",
    )
    cfg = load(path)
    assert cfg.get("socket") == [":0", ":1", ":2"]
    assert cfg.get("processes") == 8
    assert cfg.origin("socket", i=1) == str(tmp_path / "conf/common.ini") + ":3"
    write(tmp_path, "conf/base.yaml", "uwsgi:\n  threads: 3\n")
    assert load(ini(tmp_path, "include = conf/base.yaml\n")).get("threads") == 3


def test_include_cycles_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.ini", "[uwsgi]\ninclude = b.ini\n")
    write(tmp_path, "b.ini", "[uwsgi]\ninclude = a.ini\n")
    with pytest.raises(ConfigError, match="config files include each other"):
        load(str(tmp_path / "a.ini"))


def test_inherit_is_a_template(tmp_path: Path) -> None:
    write(tmp_path, "base.ini", """[uwsgi]
processes = 2
threads = 4
socket = /run/%(app).sock
chdir = /srv/%(app)
""")  # fmt: skip
    path = ini(
        tmp_path, "app = shop\ninherit = base.ini\nprocesses = 8\nsocket = :9000\n", name="shop.ini"
    )
    cfg = load(path)
    assert cfg.get("processes") == 8 and cfg.get("threads") == 4
    assert cfg.get("socket") == ["/run/shop.sock", ":9000"]
    assert cfg.get("chdir") == "/srv/shop"


# ---- logic -----------------------------------------------------------------------------


def test_for_loops(tmp_path: Path) -> None:
    write(tmp_path, "list.txt", "alpha\n\nbeta\n")
    write(tmp_path, "vassals/a.ini", "")
    write(tmp_path, "vassals/b.ini", "")
    path = ini(tmp_path, """for = 8001 8002
http-socket = :%(_)
endfor =
for-times = 2
mule = worker%(_).py
end-for
for-readline = list.txt
env = NAME=%(_)
endfor
for-glob = vassals/*.ini
touch-reload = %(_)
endfor
""")  # fmt: skip
    cfg = load(path)
    assert cfg.get("http-socket") == [":8001", ":8002"]
    assert cfg.get("mule") == ["worker1.py", "worker2.py"]
    assert cfg.get("env") == ["NAME=alpha", "NAME=beta"]
    assert cfg.get("touch-reload") == [
        str(tmp_path / "vassals/a.ini"),
        str(tmp_path / "vassals/b.ini"),
    ]


def test_if_blocks(tmp_path: Path) -> None:
    existing = write(tmp_path, "here.txt", "")
    path = ini(tmp_path, f"""if-env = APP_PORT
http-socket = :%(_)
endif
if-not-env = MISSING
processes = 3
endif
if-env = MODE=prod
harakiri = 30
end-if
if-env = MODE=dev
harakiri = 5
endif
if-exists = {existing}
touch-reload = %(_)
endif
if-not-exists = {tmp_path}/nope
chdir = {tmp_path}
endif
if-file = {tmp_path}
threads = 99
endif
if-dir = {tmp_path}
pythonpath = %(_)
end
if-opt = processes=3
listen = 1%(_)
endif
if-not-opt = vacuum
vacuum = true
endif
""")  # fmt: skip
    cfg = load(path, env={"APP_PORT": "8080", "MODE": "prod"})
    assert cfg.get("http-socket") == [":8080"]
    assert cfg.get("processes") == 3 and cfg.get("harakiri") == 30
    assert cfg.get("touch-reload") == [existing] and cfg.get("chdir") == str(tmp_path)
    assert cfg.get("threads") == 1 and cfg.get("pythonpath") == [str(tmp_path)]
    assert cfg.get("listen") == 13 and cfg.get("vacuum") is True
    assert cfg.warnings == []


def test_plugin_hostname_and_empty_glob_tests(tmp_path: Path) -> None:
    path = ini(tmp_path, f"""if-plugin = python3
procname = py
endif
if-not-plugin = gccgo
procname-prefix = no-perl-
endif
if-hostname = {socket.gethostname()}
listen = 7
endif
if-not-hostname-match = ^{socket.gethostname()}$
listen = 8
endif
for-glob = nothing-here/*.ini
include = %(_)
endfor
""")  # fmt: skip
    cfg = load(path)
    assert cfg.get("procname") == "py" and cfg.get("procname-prefix") == "no-perl-"
    assert cfg.get("listen") == 7 and cfg.get("include") == []


def test_nested_blocks_and_block_warnings(tmp_path: Path) -> None:
    path = ini(tmp_path, """for = a b
if-env = WANT_%(_)
socket = /run/%(_)
endif
endfor
endif
for = x
procname = %(_)
""")  # fmt: skip
    cfg = load(path, env={"WANT_b": "yes"})
    assert cfg.get("socket") == ["/run/yes"]
    assert cfg.get("procname") == "x"
    assert f"{path}:7: 'endif' closes no for/if block" in cfg.warnings
    assert any(
        warning.startswith(f"{path}:8: 'for' block is not closed") for warning in cfg.warnings
    )


def test_command_line_logic() -> None:
    cfg = load("--for", "1 2", "--socket", "/tmp/s%(_).sock", "--endfor")
    assert cfg.get("socket") == ["/tmp/s1.sock", "/tmp/s2.sock"]


# ---- environment -----------------------------------------------------------------------


def test_uwsgi_environment_variables(tmp_path: Path) -> None:
    path = ini(tmp_path, "threads = 2\n")
    env = {
        "UWSGI_SOCKET": ":3031",
        "UWSGI_HTTP_SOCKET": ":8000",
        "UWSGI_PROCESSES": "4",
        "UWSGI_MASTER": "false",
        "UWSGI_INI": path,
        "UWSGI_RELOADS": "3",
        "HOME": "/root",
    }
    cfg = load("--processes", "6", env=env)
    assert cfg.get("socket") == [":3031"] and cfg.get("http-socket") == [":8000"]
    assert cfg.get("processes") == 6  # read before the command line, so it is overridden
    assert cfg.origin("socket") == "env UWSGI_SOCKET"
    assert cfg.get("master") is False and cfg.get("threads") == 2
    assert cfg.warnings == []


# ---- unknown keys, strict mode, bad values, unavailable options --------------------------


def test_unknown_key_warning_names_file_line_and_suggestion(tmp_path: Path) -> None:
    path = ini(tmp_path, "master = true\nkarakiri = 30\n")
    cfg = load(path)
    assert cfg.warnings == [f"{path}:3: unknown option 'karakiri' (did you mean 'harakiri'?)"]
    assert cfg.get("harakiri") == 0 and cfg.placeholders == {"karakiri": "30"}


def test_strict_mode(tmp_path: Path) -> None:
    path = ini(tmp_path, "strict = true\nkarakiri = 30\n")
    with pytest.raises(ConfigError) as error:
        load(path)
    assert str(error.value).startswith(
        f"{path}:3: [strict-mode] unknown config directive: karakiri (did you mean 'harakiri'?)"
    )
    adhoc = ini(tmp_path, "dir = /srv\nchdir = %(dir)\n", name="adhoc.ini")
    with pytest.raises(ConfigError, match=r"\[strict-mode\] unknown config directive: dir"):
        load("--strict", adhoc)
    declared = ini(tmp_path, "set-placeholder = dir=/srv\nchdir = %(dir)\n", name="ok.ini")
    assert load("--strict", declared).get("chdir") == "/srv"


def test_bad_values_name_file_line_option_and_expectation(tmp_path: Path) -> None:
    path = ini(tmp_path, "processes = four\n")
    with pytest.raises(ConfigError) as error:
        load(path)
    assert str(error.value) == f"{path}:2: option 'processes' = 'four': expected an integer"
    with pytest.raises(ConfigError, match=r"option 'master' = 'maybe': expected a boolean"):
        load(ini(tmp_path, "master = maybe\n", name="b.ini"))
    with pytest.raises(ConfigError, match=r"option 'listen' = \(bare key\): expected an integer"):
        load(ini(tmp_path, "listen\n", name="c.ini"))
    with pytest.raises(ConfigError, match="command line: option 'harakiri' = 'soon'"):
        load("--harakiri", "soon")


def test_a_count_given_to_a_flag_is_true_as_in_uwsgi(tmp_path: Path) -> None:
    """The docs' Rails 4 ini says `rbthreads = 2`: uWSGI takes any value but 0/no/off/false."""
    config = load(ini(tmp_path, "rbthreads = 2\nmaster = 0\nvacuum = 1\n"))
    assert (config.get("rbthreads"), config.get("master"), config.get("vacuum")) == (
        True,
        False,
        True,
    )


def test_log_date_values(tmp_path: Path) -> None:
    assert load("--log-date").get("log-date") == "true"
    assert load(ini(tmp_path, "logdate\n")).get("log-date") == "true"
    assert load("--logdate=%%Y").get("log-date") == "%%Y"  # command line values have no magic
    assert load(ini(tmp_path, "log-date = %%Y-%%m-%%d\n", name="d.ini")).get("log-date") == (
        "%Y-%m-%d"
    )
    assert load().get("log-date") is None


def test_bool_words(tmp_path: Path) -> None:
    for word, expected in (
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("1", True),
        ("false", False),
        ("NO", False),
        ("off", False),
        ("0", False),
    ):
        assert load(f"--vacuum={word}").get("vacuum") is expected


def test_options_not_available_yet_are_kept_and_reported(tmp_path: Path) -> None:
    path = ini(
        tmp_path,
        "go-load = app.so\nlegion = l1 127.0.0.1:4242 98 bf-cbc:k\nlegion-attach-daemon = x cmd\n"
        "optimize = 2\nplugins = python3,gccgo\n",
    )
    cfg = load(path)
    assert cfg.get("go-load") == ["app.so"] and cfg.get("legion") == [
        "l1 127.0.0.1:4242 98 bf-cbc:k"
    ]
    assert cfg.get("legion-attach-daemon") == ["x cmd"]
    assert cfg.warnings == [
        f"{path}:2: option 'go-load' needs the Go runtime, which is not available yet",
        f"{path}:3: option 'legion' needs the Legion subsystem, which is not available yet",
        f"{path}:4: option 'legion-attach-daemon' needs the Legion subsystem,"
        " which is not available yet",
        f"{path}:5: option 'optimize' is not available yet in polyhost; it is accepted and ignored",
        f"{path}:6: polyhost has every runtime built in; plugins = python3,gccgo is not needed",
        f"{path}:6: plugin 'gccgo' stands for the Go runtime, which is not available yet",
    ]


def test_unsupported_config_formats(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config format"):
        load(ini(tmp_path, "include = other.conf\n"))


# ---- items, uwsgi.opt, show-config -----------------------------------------------------


def test_items_and_uwsgi_opt(tmp_path: Path) -> None:
    path = ini(tmp_path, "socket = :1\nsocket = :2\nmaster\nprocesses = 2\nworkers = 3\nname = x\n")
    cfg = load(path, "--vacuum")
    assert cfg.items() == [
        ("ini", path),
        ("socket", ":1"),
        ("socket", ":2"),
        ("master", True),
        ("processes", "2"),
        ("workers", "3"),
        ("name", "x"),
        ("vacuum", True),
    ]
    assert cfg.get("processes") == 3
    opt = cfg.as_uwsgi_opt()
    assert opt["socket"] == [b":1", b":2"] and opt["master"] is True
    assert opt["processes"] == b"2" and opt["workers"] == b"3" and opt["vacuum"] is True
    assert opt["name"] == b"x" and opt["ini"] == path.encode()


def test_show_config_round_trips(tmp_path: Path) -> None:
    write(tmp_path, "common.ini", "[uwsgi]\nsocket = :1\n")
    path = ini(
        tmp_path,
        "include = common.ini\nmaster\nroot = /srv\nchdir = %(root)/app\nset-placeholder = x=1\n"
        "log-date = %%d.%%m\n",
    )
    cfg = load(path, "--strict=false")
    text = render_show_config(cfg)
    assert text == (
        "[uwsgi]\nsocket = :1\nmaster = true\nroot = /srv\nchdir = /srv/app\n"
        "set-placeholder = x=1\nlog-date = %%d.%%m\nstrict = false\n"
    )
    again = load(write(tmp_path, "shown.ini", text))
    assert again.get("socket") == [":1"] and again.get("chdir") == "/srv/app"
    assert again.get("log-date") == "%d.%m"


# ---- help texts ------------------------------------------------------------------------


def test_render_version() -> None:
    assert render_version() == f"polyhost {__version__} (uWSGI 2.0.21 compatible)"


def test_render_help_lists_available_options_by_group() -> None:
    text = render_help(load())
    assert text.startswith("Usage: polyhost")
    for heading in ("Configuration:", "Sockets:", "Processes:", "Python (WSGI):", "Logging:"):
        assert f"\n{heading}\n" in text
    assert "  -s, --socket ADDR " in text and "  -M, --master " in text
    assert "--chmod-socket[=MODE]" in text and "      --endfor  " in text
    assert "--psgi " in text and "--legion " not in text
    stopping = {"http", "router", "ssl", "cheaper", "async", "security"}  # each with a line
    assert "): meanwhile threads = N" in text and "\n  internal routing (" in text
    waiting = sum(1 for o in OPTIONS if not o.available and o.component not in stopping)
    assert f"{waiting} more uWSGI options are accepted but not available yet" in text
    assert text.rstrip().endswith("polyhost --help-option NAME")
    available = sum(1 for option in OPTIONS if option.available)
    option_lines = [line for line in text.splitlines() if line.startswith(("  -", "      --"))]
    assert len(option_lines) == available


def test_render_option_help() -> None:
    text = render_option_help("workers")
    assert text.startswith("--processes: number of worker processes (default 1)")
    for line in (
        "aliases:    workers",
        "short form: -p",
        "type:       int",
        "default:    1",
        "component:  core",
        "available:  yes",
    ):
        assert f"  {line}" in text
    legion = render_option_help("--legion")
    assert "component:  legion" in legion and "available:  not yet" in legion
    assert "bare:" in render_option_help("chmod-socket")
    assert "default:    true" in render_option_help("master")
    with pytest.raises(
        ConfigError, match=r"unknown option 'karakiri' \(did you mean 'harakiri'\?\)"
    ):
        render_option_help("karakiri")
