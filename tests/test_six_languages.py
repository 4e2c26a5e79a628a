"""Issue 5's single instance: Django, Sinatra, a PSGI app, a Clojure Ring app, a Lua app and an
ASP.NET app on one port by mountpoint, and behind nginx by modifier1 per location."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, django_project, free_port, get, serving, split_response
from nginx_helper import Nginx


@pytest.fixture(scope="module")
def six(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, int, Path]]:
    tmp = tmp_path_factory.mktemp("six")
    django = django_project(tmp / "django")
    args = [
        "--processes",
        "2",
        "--threads",
        "2",
        *django,
        "--mount",
        f"/sinatra={APPS / 'rack' / 'sinatra' / 'config.ru'}",
        "--mount",
        f"/perl={APPS / 'psgi' / 'hello.psgi'}",
        "--mount",
        f"/clojure={APPS / 'jvm' / 'hello.clj'}",
        "--mount",
        f"/lua={APPS / 'lua' / 'hello.lua'}",
        "--mount",
        f"/aspnet={APPS / 'mono' / 'aspnet'}",
        "--stats",
        f"127.0.0.1:{free_port()}",
    ]
    with serving(tmp, args, uwsgi_socket=True, timeout=60) as inst:
        assert inst.uwsgi_port is not None
        yield inst, inst.uwsgi_port, tmp


def body(port: int, path: str, host: str = "t") -> bytes:
    status, _, data = split_response(get(port, path, host=host, timeout=60))
    assert status == 200, (path, data[:500])
    return data


def test_every_language_by_mountpoint(six: tuple[Instance, int, Path]) -> None:
    inst, _, _ = six
    assert b"Django administration" in body(inst.port, "/admin/login/", host="127.0.0.1")
    assert body(inst.port, "/sinatra/hello/six") == b"Hello six"
    assert body(inst.port, "/perl/p") == b"Hello from /p"
    assert body(inst.port, "/clojure/") == b"Hello World"
    assert body(inst.port, "/lua/") == b"Hello World"
    page = body(inst.port, "/aspnet/index.aspx?name=six")
    assert b'<p id="sum">42</p>' in page and b'<p id="app-path">/aspnet</p>' in page


def test_runtimes_start_lazily_and_log_their_start_up(six: tuple[Instance, int, Path]) -> None:
    inst, _, _ = six
    log = inst.log()
    for marker in ("JVM", "CLR started", "Lua 5.1 WSAPI app"):
        assert marker in log, marker


def test_behind_nginx_by_modifier1(six: tuple[Instance, int, Path]) -> None:
    _, uwsgi_port, tmp = six
    upstream = f"uwsgi_pass 127.0.0.1:{uwsgi_port};"
    nginx = Nginx(
        tmp,
        f"""
    location /sinatra/ {{ {upstream} uwsgi_modifier1 7; }}
    location /perl/ {{ {upstream} uwsgi_modifier1 5; }}
    location /clojure/ {{ {upstream} uwsgi_modifier1 8; uwsgi_modifier2 1; }}
    location /lua/ {{ {upstream} uwsgi_modifier1 6; }}
    location /aspnet/ {{ {upstream} uwsgi_modifier1 15; }}
    location / {{ {upstream} }}
    """,
    )
    try:
        assert b"Django administration" in body(nginx.port, "/admin/login/", host="127.0.0.1")
        assert body(nginx.port, "/sinatra/hello/nginx") == b"Hello nginx"
        assert body(nginx.port, "/perl/n") == b"Hello from /n"
        assert body(nginx.port, "/clojure/") == b"Hello World"
        assert body(nginx.port, "/lua/") == b"Hello World"
        assert b'<p id="sum">42</p>' in body(nginx.port, "/aspnet/index.aspx")
    finally:
        nginx.stop()


def test_a_python_only_worker_never_starts_a_jvm(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", str(APPS / "wsgi" / "basic.py")],
        port=port,
    )
    for pid in inst.worker_pids():
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libjvm" not in maps and "libmono" not in maps
