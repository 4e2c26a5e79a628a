"""PHP through real php-cgi children: GET/POST, uploads, cookies, sessions, redirects, exit,
fatal errors, output buffering, the uwsgi_* functions, the docroot jail, streaming both ways,
crashes and PHP_FCGI_MAX_REQUESTS; DokuWiki from Debian served from its own directory; and one
instance serving a Python app, DokuWiki and cgit behind nginx (uwsgi_modifier1 14 / 9)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import (
    CollectingResponder,
    LogLines,
    PatternBody,
    config_of,
    make_request,
    peak_rss_kib,
)

from polyhost.bridges.php.adapter import PhpRuntime
from polyhost.bridges.python.hooks import install_python_hooks
from polyhost.dispatch import AppLoadError, AppSpec, RuntimeContext
from polyhost.request import Request
from polyhost.rpc.registry import REGISTRY

from conftest import APPS, Instance, free_port, get, split_response
from nginx_helper import Nginx

PHP_APP = APPS / "php"
DOKUWIKI = Path("/usr/share/dokuwiki")
MIB = 1024 * 1024

pytestmark = pytest.mark.skipif(
    shutil.which("php-cgi") is None, reason="needs php-cgi (apt-get install php-cgi)"
)


def load(
    target: str, options: dict[str, object] | None = None, threads: int = 1, mountpoint: str = ""
) -> tuple[PhpRuntime, LogLines]:
    log = LogLines()
    ctx = RuntimeContext(config=config_of(options), log=log, worker_id=1, threads=threads)
    runtime = PhpRuntime(ctx, [AppSpec("php", target, mountpoint, "test")])
    runtime.load(0)
    return runtime, log


def serve(runtime: PhpRuntime, request: Request, keep_body: bool = True) -> CollectingResponder:
    responder = CollectingResponder(keep_body)
    runtime.handle(runtime.apps[0], request, responder)
    responder.finish()
    return responder


@pytest.fixture(scope="module")
def docroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the test app with symlinks: one inside the docroot, one escaping it."""
    base = tmp_path_factory.mktemp("php")
    root = base / "www"
    shutil.copytree(PHP_APP, root)
    (base / "outside").mkdir()
    (base / "outside" / "secret.php").write_text("<?php echo 'the secret';\n")
    (root / "escape.php").symlink_to(base / "outside" / "secret.php")
    (root / "inside.php").symlink_to(root / "hello.php")
    (base / "sessions").mkdir()
    return root


@pytest.fixture(scope="module")
def php(docroot: Path) -> Iterator[tuple[PhpRuntime, LogLines]]:
    runtime, log = load(
        str(docroot),
        {
            "php-set": [f"session.save_path={docroot.parent / 'sessions'}"],
            "php-var": ["POLYHOST_EXTRA=from php-var"],
        },
    )
    yield runtime, log
    runtime.close()


def call(php: tuple[PhpRuntime, LogLines], path: str, **kwargs: object) -> CollectingResponder:
    return serve(php[0], make_request(path=path, **kwargs))  # type: ignore[arg-type]


def as_json(response: CollectingResponder) -> dict[str, object]:
    assert response.status == 200, (response.status, response.text())
    return json.loads(response.text())  # type: ignore[no-any-return]


def test_get_and_post_parameters(php) -> None:  # type: ignore[no-untyped-def]
    got = as_json(call(php, "/env.php", query="a=1&b=two"))
    assert got["get"] == {"a": "1", "b": "two"}
    posted = as_json(
        call(
            php,
            "/env.php",
            method="POST",
            body=b"x=1&y=%C3%A9",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    assert posted["post"] == {"x": "1", "y": "\u00e9"}


def test_cgi_variables(php, docroot: Path) -> None:  # type: ignore[no-untyped-def]
    got = as_json(
        call(
            php,
            "/env.php/extra/path",
            query="q=1",
            headers={"X-Custom": "yes", "Proxy": "http://evil.invalid/"},
        )
    )
    server = got["server"]
    assert server["SCRIPT_NAME"] == "/env.php"  # type: ignore[index]
    assert server["PATH_INFO"] == "/extra/path"  # type: ignore[index]
    assert server["SCRIPT_FILENAME"] == str(docroot / "env.php")  # type: ignore[index]
    assert server["DOCUMENT_ROOT"] == str(docroot)  # type: ignore[index]
    assert server["GATEWAY_INTERFACE"] == "CGI/1.1"  # type: ignore[index]
    assert server["REQUEST_URI"] == "/env.php/extra/path?q=1"  # type: ignore[index]
    assert server["HTTP_X_CUSTOM"] == "yes"  # type: ignore[index]
    assert server["HTTP_PROXY"] is None  # type: ignore[index]
    assert server["POLYHOST_EXTRA"] == "from php-var"  # type: ignore[index]
    assert got["sapi"] == "cgi-fcgi"


def test_cookies_sessions_and_location(php) -> None:  # type: ignore[no-untyped-def]
    response = call(php, "/cookie.php", headers={"Cookie": "sent=yes"})
    cookies = [v for k, v in response.headers if k.lower() == "set-cookie"]
    assert cookies == ["first=one", "second=two; path=/; HttpOnly"]
    assert json.loads(response.text()) == {"sent": "yes"}
    first = call(php, "/session.php")
    assert first.text() == "visits=1"
    session = next(v for k, v in first.headers if k.lower() == "set-cookie").split(";")[0]
    assert call(php, "/session.php", headers={"Cookie": session}).text() == "visits=2"
    redirect = call(php, "/redirect.php")
    assert redirect.status == 302 and redirect.header("Location") == "/index.php?from=redirect"


def test_exit_buffering_status_and_repeated_headers(php) -> None:  # type: ignore[no-untyped-def]
    assert call(php, "/exit.php").text() == "before exit\n"
    buffered = call(php, "/buffered.php")
    assert buffered.header("X-Late-Header") == "yes" and buffered.text() == "buffered body\n"
    teapot = call(php, "/status.php", query="code=418")
    assert teapot.status == 418
    assert [v for k, v in teapot.headers if k == "X-Multi"] == ["a", "b"]


def test_fatal_error_is_500_with_the_message_only_in_the_log(php) -> None:  # type: ignore[no-untyped-def]
    runtime, log = php
    response = call(php, "/fatal.php")
    assert response.status == 500
    assert b"polyhost_no_such_function_here" not in response.body
    line = log.wait_for("PHP Fatal error")
    assert "fatal.php" in line and "polyhost_no_such_function_here" in line
    assert runtime.apps[0].exceptions >= 1


def test_display_errors_from_php_ini_shows_the_message(tmp_path: Path) -> None:
    ini = tmp_path / "php.ini"
    ini.write_text("display_errors = On\nlog_errors = Off\n")
    runtime, _ = load(str(PHP_APP), {"php-ini": [str(ini)]})
    try:
        response = serve(runtime, make_request(path="/fatal.php"))
        assert b"polyhost_no_such_function_here" in response.body
    finally:
        runtime.close()


def test_users_own_auto_prepend_file_still_runs(tmp_path: Path) -> None:
    prepend = tmp_path / "prepend.php"
    prepend.write_text("<?php header('X-User-Prepend: ' . uwsgi_version());\n")
    runtime, _ = load(str(PHP_APP), {"php-set": [f"auto_prepend_file={prepend}"]})
    try:
        response = serve(runtime, make_request(path="/hello.php"))
        assert response.header("X-User-Prepend") == "2.0.21" and response.text() == "hello"
    finally:
        runtime.close()


def test_uwsgi_functions(php) -> None:  # type: ignore[no-untyped-def]
    # the fabric in this test process: an RPC function, no cache, no master for signals
    install_python_hooks()
    REGISTRY.register(b"hello", "python", lambda arg: b"hello " + arg)
    try:
        api = as_json(call(php, "/api.php"))
    finally:
        REGISTRY.functions.pop(b"hello")
    assert api["version"] == "2.0.21"
    assert api["worker_id"] == 1
    assert api["masterpid"] == os.getppid()
    assert api["setprocname"] is True and api["comm"] == "php-test"
    assert api["rpc"] == "hello a"
    assert api["signal"].startswith("uwsgi_signal(): signal: signals need the master")
    for name in ("cache_get", "cache_set", "cache_update", "cache_del", "cache_exists"):
        assert api[name] == f"uwsgi_{name}(): no cache configured: add cache2 = name=NAME,items=N"


def test_responses_stream_out(php) -> None:  # type: ignore[no-untyped-def]
    response = serve(php[0], make_request(path="/big.php", query="mb=40"), keep_body=False)
    assert response.status == 200 and response.bytes_sent == 40 * MIB
    assert response.writes > 10, "the body came in pieces, as PHP flushed it"


def test_request_bodies_stream_in(php) -> None:  # type: ignore[no-untyped-def]
    body = PatternBody(30 * MIB, piece=60000)
    response = call(
        php,
        "/input.php",
        method="POST",
        body=body,
        content_length=body.size,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.text() == f"{body.size} {body.expected_md5}"


def test_chunked_body_of_unknown_length(php) -> None:  # type: ignore[no-untyped-def]
    request = make_request(
        "POST", "/input.php", body=b"x" * 100000, headers={"Transfer-Encoding": "chunked"}
    )
    del request.vars["CONTENT_LENGTH"]
    response = serve(php[0], request)
    assert response.text() == f"100000 {hashlib.md5(b'x' * 100000).hexdigest()}"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/escape.php", 403),
        ("/notes.txt", 403),
        ("/../outside/secret.php", 403),
        ("/nope.php", 404),
        ("/hello.php\0.txt", 404),
        ("/sub", 301),
    ],
)
def test_docroot_jail(php, path: str, status: int) -> None:  # type: ignore[no-untyped-def]
    response = call(php, path)
    assert response.status == status
    assert b"the secret" not in response.body


def test_jail_allows_links_inside_and_finds_indexes(php) -> None:  # type: ignore[no-untyped-def]
    _, log = php
    assert call(php, "/inside.php").text() == "hello"
    assert call(php, "/sub").header("Location") == "/sub/"
    assert call(php, "/sub/").text() == "sub index /sub/index.php"
    assert call(php, "/").text() == "php index at /index.php\n"
    call(php, "/escape.php")
    assert "is not under" in log.wait_for("PHP security error")


def test_crashed_child_gives_502_and_is_replaced(php) -> None:  # type: ignore[no-untyped-def]
    _, log = php
    before = as_json(call(php, "/env.php"))["pid"]
    assert call(php, "/crash.php").status == 502
    log.wait_for("was killed by SIGKILL")
    after = as_json(call(php, "/env.php"))["pid"]
    assert after != before


def test_children_are_replaced_after_max_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHP_FCGI_MAX_REQUESTS", "2")
    runtime, _ = load(str(PHP_APP))
    try:
        pids = [as_json(serve(runtime, make_request(path="/env.php")))["pid"] for _ in range(5)]
    finally:
        runtime.close()
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


def test_one_child_per_thread_and_front_controller() -> None:
    runtime, log = load(str(PHP_APP / "env.php"), threads=2)
    try:
        assert "2 child(ren)" in log.wait_for("(php-cgi) ready")
        got = as_json(serve(runtime, make_request(path="/any/path/at/all")))
        assert got["server"]["SCRIPT_FILENAME"] == str(PHP_APP / "env.php")  # type: ignore[index]
        assert got["server"]["PATH_INFO"] == ""  # type: ignore[index]
    finally:
        runtime.close()


def test_missing_php_cgi_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AppLoadError, match="apt-get install php-cgi"):
        load(str(PHP_APP))


# -- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instance(docroot: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    port = free_port()
    inst = Instance(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--http-socket-modifier1",
            "14",
            "--php-docroot",
            str(docroot),
            "--mount",
            f"/wiki={DOKUWIKI}",
            "--php-set",
            "upload_max_filesize=64M",
            "--php-set",
            "post_max_size=64M",
            "--static-map",
            f"/wiki/lib={DOKUWIKI / 'lib'}",
            "--static-safe",
            "/var/lib/dokuwiki/lib",
            "--socket-timeout",
            "30",
        ],
        tmp_path_factory.mktemp("php-instance"),
        port,
        None,
    )
    inst.wait_ready()
    yield inst
    inst.stop()


def test_upload_of_20_megabytes(instance: Instance) -> None:
    worker = instance.worker_pids()[0]
    assert split_response(get(instance.port, "/hello.php"))[2] == b"hello"  # type: ignore[arg-type]
    peak_before = peak_rss_kib(worker)
    content = os.urandom(MIB) * 20
    boundary = "polyhostboundary7d1f"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + len(content) + len(tail)
    with socket.create_connection(("127.0.0.1", instance.port), timeout=60) as sock:
        sock.sendall(
            f"POST /upload.php HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        sender = threading.Thread(target=lambda: sock.sendall(head + content + tail))
        sender.start()
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        sender.join(60)
    status, _, body = split_response(data)
    assert status == 200, data[:500]
    result = json.loads(body)
    assert result["post"] == {"note": "hi"}
    assert result["files"]["file"] == {
        "name": "big.bin",
        "size": len(content),
        "error": 0,
        "md5": hashlib.md5(content).hexdigest(),
    }
    assert peak_rss_kib(worker) - peak_before < 10 * 1024, "the worker held the upload"


@pytest.mark.skipif(not DOKUWIKI.is_dir(), reason="needs Debian's dokuwiki")
def test_dokuwiki_from_its_own_directory(instance: Instance) -> None:
    status, headers, _ = split_response(get(instance.port, "/wiki"))  # type: ignore[arg-type]
    assert status == 301 and headers["location"] == "/wiki/"
    status, headers, _ = split_response(get(instance.port, "/wiki/"))  # type: ignore[arg-type]
    assert status == 302 and headers["location"].endswith("/wiki/doku.php?id=start")
    status, headers, body = split_response(get(instance.port, "/wiki/doku.php?id=wiki:syntax"))  # type: ignore[arg-type]
    assert status == 200 and b"Formatting Syntax" in body
    assert b"/wiki/lib/exe/css.php" in body
    status, headers, css = split_response(get(instance.port, "/wiki/lib/exe/css.php"))  # type: ignore[arg-type]
    assert status == 200 and headers["content-type"].startswith("text/css")
    assert b".dokuwiki" in css
    status, headers, js = split_response(get(instance.port, "/wiki/lib/exe/js.php"))  # type: ignore[arg-type]
    assert status == 200 and "javascript" in headers["content-type"]
    assert b"DOKU_BASE='/wiki/'" in js


@pytest.mark.skipif(not DOKUWIKI.is_dir(), reason="needs Debian's dokuwiki")
def test_dokuwiki_images_come_from_the_static_map(instance: Instance) -> None:
    image = "/wiki/lib/images/license/button/cc-by-sa.png"
    status, headers, body = split_response(get(instance.port, image))  # type: ignore[arg-type]
    assert status == 200 and headers["content-type"] == "image/png"
    assert body == (DOKUWIKI / "lib/images/license/button/cc-by-sa.png").read_bytes()
    line = next(
        line for line in instance.wait_log(f"GET {image}").splitlines() if f"GET {image}" in line
    )
    assert "app: -1" in line
    # lib/tpl is Debian's symlink to /var/lib/dokuwiki/lib/tpl, allowed by static-safe
    logo = "/wiki/lib/tpl/dokuwiki/images/logo.png"
    status, headers, _ = split_response(get(instance.port, logo))  # type: ignore[arg-type]
    assert status == 200 and headers["content-type"] == "image/png"
    source = split_response(get(instance.port, "/wiki/lib/exe/css.php"))[2]  # type: ignore[arg-type]
    assert not source.startswith(b"<?php"), "PHP files are run, never served as files"


# -- one port for Python, PHP and CGI ------------------------------------------------------------


@pytest.mark.skipif(
    not DOKUWIKI.is_dir() or not os.access("/usr/lib/cgit/cgit.cgi", os.X_OK),
    reason="needs Debian's dokuwiki and cgit",
)
def test_python_dokuwiki_and_cgit_on_one_port(
    polyhost,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = tmp_path / "demo.git"
    work = tmp_path / "work"
    work.mkdir()
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", "--bare", str(repo)], check=True)
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    (work / "README").write_text("one port\n")
    subprocess.run([*git, "add", "README"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one port commit"], cwd=work, check=True)
    subprocess.run(
        [*git, "push", "-q", str(repo), "HEAD:master"], cwd=work, check=True, capture_output=True
    )
    (tmp_path / "cgitrc").write_text(
        f"virtual-root=/cgit/\ncache-size=0\nrepo.url=demo\n"
        f"repo.path={repo}\nrepo.desc=one port repository\n"
    )
    monkeypatch.setenv("CGIT_CONFIG", str(tmp_path / "cgitrc"))
    port, http_port = free_port(), free_port()
    polyhost(
        [
            "--socket",
            f"127.0.0.1:{port}",
            "--http-socket",
            f"127.0.0.1:{http_port}",
            "--wsgi-file",
            str(APPS / "wsgi" / "basic.py"),
            "--mount",
            f"/wiki={DOKUWIKI}",
            "--mount",
            "/cgit=/usr/lib/cgit/cgit.cgi",
            "--static-map",
            f"/wiki/lib={DOKUWIKI / 'lib'}",
        ],
        port=http_port,
    )
    upstream = f"uwsgi_pass 127.0.0.1:{port};"
    nginx = Nginx(
        tmp_path,
        f"""
    location /wiki {{ {upstream} uwsgi_modifier1 14; }}
    location /cgit {{ {upstream} uwsgi_modifier1 9; }}
    location / {{ {upstream} }}
    """,
    )
    try:
        # nginx marks each language with uwsgi_modifier1; plain HTTP (modifier1 0) goes by mount
        for front in (nginx.port, http_port):
            status, _, body = split_response(get(front, "/"))
            assert (status, body) == (200, b"Hello World")
            status, _, body = split_response(get(front, "/wiki/doku.php?id=wiki:syntax"))
            assert status == 200 and b"Formatting Syntax" in body
            status, headers, _ = split_response(
                get(front, "/wiki/lib/images/license/button/cc-by-sa.png")
            )
            assert status == 200 and headers["content-type"] == "image/png"
            status, _, body = split_response(get(front, "/cgit/demo/"))
            assert status == 200 and b"one port commit" in body
    finally:
        nginx.stop()
