"""One polyhost instance, one port: a Django site, a Sinatra app and a PSGI app, by mountpoint
over HTTP and by modifier1 per nginx location."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import (
    APPS,
    Instance,
    django_project,
    free_port,
    get,
    http_request,
    serving,
    split_response,
)
from nginx_helper import Nginx


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, int, Path]]:
    tmp = tmp_path_factory.mktemp("polyglot")
    django = django_project(tmp / "django")
    args = [
        "--processes",
        "2",
        *django,
        "--mount",
        f"/perl={APPS / 'psgi' / 'hello.psgi'}",
        "--mount",
        f"/ruby={APPS / 'rack' / 'sinatra' / 'config.ru'}",
        "--stats",
        f"127.0.0.1:{free_port()}",
    ]
    with serving(tmp, args, uwsgi_socket=True) as inst:
        assert inst.uwsgi_port is not None
        yield inst, inst.uwsgi_port, tmp


def test_three_languages_on_one_port(site: tuple[Instance, int, Path]) -> None:
    inst, _, _ = site
    status, _, body = split_response(get(inst.port, "/admin/login/", host="127.0.0.1"))
    assert status == 200 and b"Django administration" in body
    assert split_response(get(inst.port, "/perl/x/y"))[2] == b"Hello from /x/y"
    assert split_response(get(inst.port, "/ruby/hello/poly?suffix=!"))[2] == b"Hello poly!"
    raw = (
        b"POST /ruby/raw HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    assert split_response(http_request(inst.port, raw))[2] == b"got hello"


def test_stats_list_each_app_with_modifier1_and_mountpoint(
    site: tuple[Instance, int, Path],
) -> None:
    import json
    import socket

    inst, _, _ = site
    stats_port = int(inst.args[inst.args.index("--stats") + 1].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", stats_port), timeout=5) as sock:
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    apps = json.loads(data)["workers"][0]["apps"]
    assert [(a["mountpoint"], a["modifier1"]) for a in apps] == [
        ("", 0),
        ("/perl", 5),
        ("/ruby", 7),
    ]


def test_nginx_picks_the_runtime_by_modifier1(site: tuple[Instance, int, Path]) -> None:
    _, uwsgi_port, tmp = site
    nginx = Nginx(
        tmp,
        f"""
    location /perl/ {{ uwsgi_pass 127.0.0.1:{uwsgi_port}; uwsgi_modifier1 5; }}
    location /ruby/ {{ uwsgi_pass 127.0.0.1:{uwsgi_port}; uwsgi_modifier1 7; }}
    location / {{ uwsgi_pass 127.0.0.1:{uwsgi_port}; }}
    """,
    )
    try:
        assert split_response(get(nginx.port, "/perl/a"))[2] == b"Hello from /a"
        assert split_response(get(nginx.port, "/ruby/hello/nginx"))[2] == b"Hello nginx"
        status, _, body = split_response(get(nginx.port, "/admin/login/", host="127.0.0.1"))
        assert status == 200 and b"Django administration" in body
    finally:
        nginx.stop()


def test_http_modifier1_routes_everything_to_one_runtime(polyhost) -> None:
    port = free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--http-socket-modifier1",
            "5",
            "--psgi",
            str(APPS / "psgi" / "hello.psgi"),
            "--wsgi-file",
            str(APPS / "wsgi" / "basic.py"),
        ],
        port=port,
    )
    assert split_response(get(port, "/anything"))[2] == b"Hello from /anything"


def test_auto_fix_sends_modifier1_0_to_the_only_app(polyhost) -> None:
    port = free_port()
    polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--psgi", str(APPS / "psgi" / "hello.psgi")],
        port=port,
    )
    assert split_response(get(port, "/auto"))[2] == b"Hello from /auto"


def test_no_default_app_refuses_unmatched_requests(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--no-default-app",
            "--mount",
            f"/perl={APPS / 'psgi' / 'hello.psgi'}",
        ],
        port=port,
    )
    assert split_response(get(port, "/perl/x"))[2] == b"Hello from /x"
    assert split_response(get(port, "/elsewhere"))[0] == 501
    inst.wait_log("no app for modifier1 0")


def test_harakiri_and_max_requests_apply_to_child_runtimes(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--harakiri",
            "1",
            "--max-requests",
            "3",
            "--min-worker-lifetime",
            "0",
            "--psgi",
            str(APPS / "psgi" / "conformance.psgi"),
        ],
        port=port,
    )
    [worker] = inst.worker_pids()
    assert split_response(get(port, "/sleep", timeout=20))[0] == 504
    inst.wait_log(f"*** HARAKIRI ON WORKER 1 (pid: {worker}, try: 1) ***")
    from conftest import wait_for

    wait_for(lambda: inst.worker_pids() not in ([], [worker]), 15, "a new worker")
    [worker] = inst.worker_pids()
    for _ in range(3):
        get(port, "/")
    inst.wait_log("is done. Seeya!")
    wait_for(lambda: inst.worker_pids() not in ([], [worker]), 15, "the recycled worker")
