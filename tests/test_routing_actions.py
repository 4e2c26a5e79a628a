"""Internal routing (issue 16) with real processes: basic auth on htpasswd files, the response
cache on LMDB and on Redis, forwarding to uwsgi and HTTP backends, `static:`, the request log
(logvar, donotlog, final routes), the stats' routed count, and the same rules on the uwsgi and
FastCGI sockets."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from polyhost.protocol.fastcgi import encode_pairs

from conftest import (
    APPS,
    free_port,
    get,
    serving,
    split_response,
    uwsgi_request,
    wait_for,
)
from redis_helper import redis_server
from uwsgi_helper import reference_uwsgi

APP = APPS / "routing" / "echo_vars.py"
PLUGINS = "router_basicauth,router_cache,router_static,transformation_gzip,transformation_chunked"


def _htpasswd(tmp: Path) -> Path:
    """One user per hash format, each made by a tool other than polyhost."""
    des = subprocess.run(
        ["perl", "-e", 'print crypt("des-pw", "ab")'], capture_output=True, text=True, check=True
    ).stdout
    apr1, sha512 = (
        subprocess.run(
            ["openssl", "passwd", flag, "-salt", "s4lt", password],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        for flag, password in (("-apr1", "apr1-pw"), ("-6", "sha512-pw"))
    )  # fmt: skip
    sha = base64.b64encode(hashlib.sha1(b"sha-pw").digest()).decode()
    bcrypted = (
        bcrypt.hashpw(b"bcrypt-pw", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$")
    )
    path = tmp / "users.htpasswd"
    path.write_text(f"des:{des}\nsha:{{SHA}}{sha}\napr:{apr1}\nsix:{sha512}\nbc:{bcrypted}\n")
    return path


def _rules(tmp: Path) -> str:
    (tmp / "site").mkdir(exist_ok=True)
    (tmp / "site" / "hello.txt").write_text("static hello\n")
    return f"""[uwsgi]
wsgi-file = {APP}
cache2 = name=pages,items=100
route = ^/private basicauth:members,{_htpasswd(tmp)}
route = ^/next basicauth-next:members,{tmp / "users.htpasswd"}
route = ^/next addvar:FOO=after-next
route = ^/cached cache:key=${{REQUEST_URI}},name=pages
route = ^/cached cachestore:key=${{REQUEST_URI}},name=pages,expires=300
route = ^/missing cache:key=${{REQUEST_URI}},name=pages
route = ^/missing cachestore:key=${{REQUEST_URI}},name=pages
route = ^/typed cache:key=${{REQUEST_URI}},name=pages,content_type=text/css
route = ^/typed cachestore:key=${{REQUEST_URI}},name=pages
route = ^/files/(.*) static:{tmp}/site/$1
route = ^/f1 file:filename={tmp}/site/hello.txt
route = ^/f2 file:filename={tmp}/site/hello.txt,status=201 Made,content_type=text/x-test
route = ^/f3 file:filename={tmp}/site/hello.txt,no_cl=1
route = ^/gz gzip:
route = ^/fixed fixcl:
route = ^/chunk chunked:
route = ^/clear clearheaders:202
response-route = ^/rclear clearheaders:202
route = ^/nohead disableheaders:
response-route = ^/rnohead disableheaders:
route = ^/raw send-crnl:HTTP/1.0 200 OK
route = ^/raw send-crnl:X-Raw: yes
route = ^/raw send-crnl:
route = ^/raw send:raw body
route = ^/raw break:
collect-header = X-Sendfile X_SENDFILE
pull-header = X-Secret SECRET
response-route-if = equal:${{SECRET}};s3 addheader:X-Had-Secret: yes
response-route-if-not = empty:${{X_SENDFILE}} static:${{X_SENDFILE}}
route-run = cacheinc:key=hits,name=pages
route = ^/hits cachevar:key=hits,var=FOO,name=pages,num=1
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    tmp = tmp_path_factory.mktemp("routing-actions")
    ini = tmp / "actions.ini"
    ini.write_text(_rules(tmp))
    with (
        reference_uwsgi(tmp, ["--ini", str(ini)], PLUGINS) as ref,
        serving(tmp, ["--ini", str(ini)]) as poly,
    ):
        yield ref.port, poly.port  # type: ignore[misc]


def _auth(user: str, password: str) -> str:
    return f"Authorization: Basic {base64.b64encode(f'{user}:{password}'.encode()).decode()}\r\n"


def _answer(port: int, path: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    status, head, body = split_response(get(port, path, headers))
    return status, head, body


@pytest.mark.parametrize(
    ("user", "password", "good"),
    [("des", "des-pw", True), ("des", "des-px", False), ("sha", "sha-pw", True),
     ("sha", "nope", False), ("nobody", "x", False)],
)  # fmt: skip
def test_htpasswd_crypt_and_sha_as_uwsgi(
    pair: tuple[int, int], user: str, password: str, good: bool
) -> None:
    for port in pair:
        status, head, body = _answer(port, "/private", _auth(user, password))
        if good:
            assert status == 200 and f"REMOTE_USER={user}|".encode() in body
        else:
            assert (status, head["www-authenticate"], body) == (
                401, 'Basic realm="members"', b"Unauthorized"
            )  # fmt: skip


@pytest.mark.parametrize(
    ("user", "password", "good"),
    [("apr", "apr1-pw", True), ("apr", "apr1-px", False), ("six", "sha512-pw", True),
     ("bc", "bcrypt-pw", True), ("bc", "bcrypt-px", False)],
)  # fmt: skip
def test_htpasswd_apr1_sha512_bcrypt_beyond_uwsgi(
    pair: tuple[int, int], user: str, password: str, good: bool
) -> None:
    status, _, body = _answer(pair[1], "/private", _auth(user, password))
    assert status == (200 if good else 401)
    if good:
        assert f"REMOTE_USER={user}|".encode() in body


def test_basicauth_next_goes_on_with_a_wrong_password(pair: tuple[int, int]) -> None:
    for port in pair:
        status, _, body = _answer(port, "/next", _auth("sha", "wrong"))
        assert status == 200 and b"FOO=after-next" in body and b"REMOTE_USER=|" in body
        assert _answer(port, "/next")[0] == 401


def test_cache_hit_is_answered_as_uwsgi_without_the_app(pair: tuple[int, int]) -> None:
    answers = []
    for port in pair:
        first = _answer(port, "/cached/page?x=1")
        assert first[0] == 200 and first[1]["x-app"] == "1"
        second = _answer(port, "/cached/page?x=1")
        assert second[2] == first[2]
        assert "x-app" not in second[1], "a hit does not call the app"
        assert second[1]["expires"].endswith(" GMT")
        answers.append((second[0], second[1]["content-type"], second[1]["content-length"]))
    assert answers[0] == answers[1] == (200, "text/html", str(len(second[2])))
    for port in pair:
        _answer(port, "/typed/a")
        status, head, _ = _answer(port, "/typed/a")
        assert (status, head["content-type"], "expires" in head) == (200, "text/css", False)


def test_a_big_page_changed_by_one_worker_is_answered_anew_by_all(tmp_path: Path) -> None:
    # each polyhost worker keeps the pages it read (up to 256 KiB each); a store by any process
    # must end that, as uWSGI's shared cache answers the new page at once from every worker
    args = [
        "--wsgi-file", str(APP), "--processes", "2", "--cache2", "name=pages,items=10",
        "--route", "^/big cache:key=/big,name=pages",
        "--route", "^/big cachestore:key=/big,name=pages",
        "--route", "^/refresh cachestore:key=/big,name=pages",
    ]  # fmt: skip
    with (
        reference_uwsgi(tmp_path, args, "router_cache") as ref,
        serving(tmp_path, args) as poly,
    ):
        for port in (ref.port, poly.port):  # type: ignore[attr-defined]
            first = _answer(port, "/big")[2]
            assert len(first) == 20000 and first.startswith(b"call ")
            # a connection each: both workers answer hits, and keep the page
            assert {_answer(port, "/big")[2] for _ in range(8)} == {first}
            renewed = _answer(port, "/refresh")[2]
            assert renewed != first and len(renewed) == 20000
            hits = [_answer(port, "/big") for _ in range(8)]
            assert {body for _, _, body in hits} == {renewed}
            assert {(s, h["content-length"]) for s, h, _ in hits} == {(200, "20000")}


def test_only_a_200_is_cached(pair: tuple[int, int]) -> None:
    for port in pair:
        assert [_answer(port, "/missing/x")[0] for _ in range(2)] == [404, 404]


def test_static_action_serves_the_file(pair: tuple[int, int]) -> None:
    for port in pair:
        status, head, body = _answer(port, "/files/hello.txt")
        assert (status, body, "last-modified" in head) == (200, b"static hello\n", True)
    # uWSGI sends no Content-Type (no mime table without a static option) and nothing at all
    # for a missing file; polyhost sends the type and a 404
    assert _answer(pair[1], "/files/hello.txt")[1]["content-type"] == "text/plain"
    assert _answer(pair[1], "/files/nothere.txt")[0] == 404


def test_transformations_as_uwsgi(pair: tuple[int, int]) -> None:
    import gzip

    answers = []
    for port in pair:
        status, head, body = _answer(port, "/gz/x")
        plain = gzip.decompress(body)
        assert plain.startswith(b"PATH_INFO=/gz/x|") and head["content-encoding"] == "gzip"
        status, head, body = _answer(port, "/fixed")
        assert head["content-length"] == str(len(body)) and body.startswith(b"PATH_INFO=/fixed")
        cleared = [
            (code, {k: v for k, v in head.items() if k not in ("content-length", "connection")})
            for code, head, _ in (_answer(port, "/clear"), _answer(port, "/rclear"))
        ]
        raw = get(port, "/raw")
        answers.append((status, cleared, raw))
    assert answers[0] == answers[1]
    assert answers[0][2] == b"HTTP/1.0 200 OK\r\nX-Raw: yes\r\n\r\nraw body"


def test_disableheaders_sends_the_body_alone(pair: tuple[int, int]) -> None:
    reference, polyhost = (get(port, "/rnohead") for port in pair)
    assert reference == polyhost and polyhost.startswith(b"PATH_INFO=/rnohead|")
    # in the request chain uWSGI 2.0.21 then drops the WSGI body too (start_response fails)
    reference, polyhost = (get(port, "/nohead") for port in pair)
    assert reference == b"" and polyhost.startswith(b"PATH_INFO=/nohead|")


def test_chunked_transformation_on_keep_alive(pair: tuple[int, int]) -> None:
    with socket.create_connection(("127.0.0.1", pair[1]), timeout=10) as sock:
        sock.sendall(b"GET /chunk HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += sock.recv(65536)
    head = data.partition(b"\r\n\r\n")[0].lower()
    assert b"transfer-encoding: chunked" in head and b"content-length" not in head


def test_file_action_as_uwsgi(pair: tuple[int, int]) -> None:
    expected = [
        (200, "text/html", "13"),
        (201, "text/x-test", "13"),
        (200, "text/html", None),
    ]
    for port in pair:
        for path, (status, kind, length) in zip(("/f1", "/f2", "/f3"), expected, strict=True):
            code, head, body = _answer(port, path)
            assert (code, head["content-type"], body) == (status, kind, b"static hello\n")
            if length is not None:
                assert head["content-length"] == length


def test_x_sendfile_emulation_as_uwsgi(pair: tuple[int, int], tmp_path: Path) -> None:
    """The seeds' recipe: collect-header + response-route-if-not = empty:... static:..."""
    answers = []
    for port in pair:
        hello = next(Path("/tmp").glob("pytest-of-*/pytest-*/routing-actions*/site/hello.txt"))
        hello = hello.resolve()  # pytest-current is a symlink
        status, head, body = _answer(port, f"/sendfile?{hello}")
        answers.append((status, body, head.get("x-had-secret"), "x-secret" in head))
    assert answers[0] == answers[1] == (200, b"static hello\n", "yes", False)


def test_static_paths_that_resolve_elsewhere_need_static_safe(pair: tuple[int, int]) -> None:
    assert _answer(pair[1], "/files/../actions.ini")[0] == 403


def test_cache_counters_and_cachevar(pair: tuple[int, int]) -> None:
    # uWSGI's cachevar num=1 turns the counter into text and then copies 8 bytes of it
    for port in pair[1:]:
        first = int(_answer(port, "/hits")[2].split(b"FOO=")[1].split(b"|")[0])
        second = int(_answer(port, "/hits")[2].split(b"FOO=")[1].split(b"|")[0])
        assert second == first + 1


def test_cache_on_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path) as redis:
        args = [
            "--wsgi-file", str(APP),
            "--cache2", f"name=shared,backend={redis.url}",
            "--route", "^/count cache:key=${PATH_INFO},name=shared",
            "--route", "^/count cachestore:key=${PATH_INFO},name=shared,expires=60",
        ]  # fmt: skip
        with serving(tmp_path, args) as a, serving(tmp_path, args) as b:
            first = _answer(a.port, "/count")[2]
            assert first.startswith(b"call 1 ")
            # another instance (another host) answers from the same Redis, without its app
            assert _answer(b.port, "/count")[2] == first
            assert _answer(a.port, "/count")[2] == first
            stored = subprocess.run(
                ["redis-cli", "-p", str(redis.port), "GET", "polyhost:shared:/count"],
                capture_output=True, timeout=10, check=True,
            ).stdout.strip()  # fmt: skip
            assert stored == first


def test_cache_on_a_remote_instance(tmp_path: Path) -> None:
    owner_args = ["--wsgi-file", str(APP), "--cache2", "name=pages,items=10"]
    with serving(tmp_path, owner_args, uwsgi_socket=True) as owner:
        remote = f"pages@127.0.0.1:{owner.uwsgi_port}"
        args = [
            "--wsgi-file", str(APP),
            "--route", f"^/count cache:key=${{PATH_INFO}},name={remote}",
            "--route", f"^/count cachestore:key=${{PATH_INFO}},name={remote}",
        ]  # fmt: skip
        with serving(tmp_path, args) as front:
            first = _answer(front.port, "/count")[2]
            assert first.startswith(b"call 1 ") and _answer(front.port, "/count")[2] == first


# -- forwarding ------------------------------------------------------------------------------


def test_uwsgi_and_http_forwarding(tmp_path: Path) -> None:
    with serving(tmp_path, ["--wsgi-file", str(APP)], uwsgi_socket=True) as backend:
        args = [
            "--wsgi-file", str(APPS / "wsgi" / "basic.py"),
            "--route", f"^/up uwsgi:127.0.0.1:{backend.uwsgi_port},0,0",
            "--route", f"^/web http:127.0.0.1:{backend.port}",
            "--route", "^/dead http:127.0.0.1:1",
        ]  # fmt: skip
        with serving(tmp_path, args, uwsgi_socket=True) as front:
            assert front.uwsgi_port is not None
            # vars from a uwsgi peer can hold CR LF: they never become a forged header
            evil = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/web/e", "PATH_INFO": "/web/e",
                    "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_X_EVIL": "a\r\nX-Injected: 1"}  # fmt: skip
            assert uwsgi_request(front.uwsgi_port, evil).startswith(b"HTTP/1.1 502")
            front.wait_log("refusing to forward a header")
            for path in ("/up/a?q=1", "/web/a?q=1"):
                status, head, body = _answer(front.port, path)
                assert status == 200 and head["x-app"] == "1"
                assert f"REQUEST_URI={path}|".encode() in body
            body = b"posted-body"
            raw = (
                f"POST /web/p HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode() + body
            from conftest import http_request

            assert split_response(http_request(front.port, raw))[2].endswith(b"|BODY=posted-body")
            chunked = (
                b"POST /up/c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                b"Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            )
            assert split_response(http_request(front.port, chunked))[2].endswith(b"|BODY=hello")
            assert _answer(front.port, "/dead")[0] == 502
            front.wait_log("[uwsgi-route] cannot connect to 127.0.0.1:1")


# -- logging, stats, other sockets -----------------------------------------------------------


def test_log_actions_final_routes_and_routed_stats(tmp_path: Path) -> None:
    stats = free_port()
    args = [
        "--wsgi-file", str(APP), "--master",
        "--stats", f"127.0.0.1:{stats}",
        "--log-format", "%(method) %(uri) %(status) who=%(who)",
        "--route", "^/quiet donotlog:",
        "--route", "^/tag logvar:who=${HTTP_X_WHO}",
        "--route", "^/tag log:tagged ${HTTP_X_WHO}",
        "--route", "^/deny return:403",
        "--route", "^/renamed seturi:/final-uri",
        "--route", "^/named setprocname:polyhost-routed-worker",
        "--final-route", "^/tag log:FINAL ${uwsgi[status]} ${uwsgi[rsize]}",
    ]  # fmt: skip
    with serving(tmp_path, args, uwsgi_socket=True) as inst:
        assert inst.uwsgi_port is not None
        assert _answer(inst.port, "/quiet")[0] == 200
        env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/tag", "PATH_INFO": "/tag",
               "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_X_WHO": "al\x1bce"}  # fmt: skip
        size = len(uwsgi_request(inst.uwsgi_port, env).partition(b"\r\n\r\n")[2])
        assert _answer(inst.port, "/renamed")[0] == 200
        assert _answer(inst.port, "/named")[0] == 200
        assert any(
            Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"polyhost-routed-worker")
            for pid in inst.worker_pids()
        )
        assert _answer(inst.port, "/deny")[0] == 403
        log = inst.wait_log("GET /deny 403")
        assert "GET /final-uri 200" in log, "the request log shows the URI the rules set"
        assert "GET /tag 200 who=al\\x1bce" in log and "tagged al\\x1bce" in log
        assert f"FINAL 200 {size}" in log
        assert "GET /quiet" not in log
        with socket.create_connection(("127.0.0.1", stats), timeout=10) as sock:
            data = b"".join(iter(lambda: sock.recv(65536), b""))
        cores = json.loads(data)["workers"][0]["cores"]
        assert sum(core["routed_requests"] for core in cores) == 1


def _fastcgi(port: int, env: dict[str, str]) -> bytes:
    def record(rtype: int, content: bytes) -> bytes:
        return struct.pack(">BBHHBx", 1, rtype, 1, len(content), 0) + content

    packet = (
        record(1, bytes([0, 1, 0, 0, 0, 0, 0, 0]))
        + record(4, encode_pairs(env))
        + record(4, b"")
        + record(5, b"")
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(packet)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\x01\x03\x00\x01" in data:  # END_REQUEST
                break
    out = b""
    while len(data) >= 8:
        _, rtype, _, length, padding = struct.unpack(">BBHHBx", data[:8])
        if rtype == 6:
            out += data[8 : 8 + length]
        data = data[8 + length + padding :]
    return out


def test_the_same_rules_on_uwsgi_and_fastcgi_sockets(tmp_path: Path) -> None:
    fcgi = free_port()
    args = [
        "--wsgi-file", str(APP),
        "--fastcgi-socket", f"127.0.0.1:{fcgi}",
        "--route", "^/old/(.*) rewrite:/new/$1",
        "--route", "^/gone return:410",
    ]  # fmt: skip
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/old/x", "PATH_INFO": "/old/x",
           "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "t",
           "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1"}  # fmt: skip
    with serving(tmp_path, args, uwsgi_socket=True) as inst:
        assert inst.uwsgi_port is not None
        for raw in (uwsgi_request(inst.uwsgi_port, env), _fastcgi(fcgi, env)):
            assert b"PATH_INFO=/new/x|REQUEST_URI=/old/x|" in raw
        gone = {**env, "REQUEST_URI": "/gone", "PATH_INFO": "/gone"}
        assert uwsgi_request(inst.uwsgi_port, gone).startswith(b"HTTP/1.1 410 Gone\r\n")
        assert _fastcgi(fcgi, gone).startswith(b"Status: 410 Gone\r\n")


def test_harakiri_action_sets_the_request_deadline(tmp_path: Path) -> None:
    args = [
        "--wsgi-file", str(APPS / "wsgi" / "basic.py"),
        "--route", "^/sleep harakiri:1",
    ]  # fmt: skip
    with serving(tmp_path, args) as inst:
        [worker] = inst.worker_pids()
        status, _, _ = split_response(get(inst.port, "/sleep?5", timeout=30))
        assert status == 504
        inst.wait_log("*** HARAKIRI ON WORKER 1", 30)
        # the killed worker is respawned before the instance is stopped
        wait_for(lambda: inst.worker_pids() and inst.worker_pids() != [worker], 30, "respawn")
        assert _answer(inst.port, "/")[0] == 200


# -- in front of every runtime ---------------------------------------------------------------


def test_rules_in_front_of_php_perl_ruby_and_python(tmp_path: Path) -> None:
    import shutil

    site = tmp_path / "www"
    shutil.copytree(APPS / "php", site)
    args = [
        "--wsgi-file", str(APP),
        "--mount", f"/php={site}",
        "--mount", f"/perl={APPS / 'psgi' / 'hello.psgi'}",
        "--mount", f"/ruby={APPS / 'rack' / 'hello.ru'}",
        "--route", "^/php/legacy/(.*) rewrite:/py/$1",
        "--route", "^/old-php/(.*) rewrite:/php/$1",
        "--route", "^/pl/(.*) rewrite:/perl/$1",
        "--route", "^/rb/(.*) rewrite:/ruby/$1",
        "--route", "^/(perl|ruby)/private return:403",
    ]  # fmt: skip
    with serving(tmp_path, args) as inst:
        status, _, body = _answer(inst.port, "/php/hello.php")
        assert (status, body) == (200, b"hello")  # PHP answers its mount
        status, _, body = _answer(inst.port, "/php/legacy/x?q=1")
        assert status == 200 and b"PATH_INFO=/py/x|REQUEST_URI=/php/legacy/x?q=1|" in body
        status, _, body = _answer(inst.port, "/old-php/index.php")
        assert (status, body) == (200, b"php index at /php/index.php\n")
        assert _answer(inst.port, "/pl/x")[2] == b"Hello from /x"
        assert _answer(inst.port, "/rb/y")[2] == b"Hello from /y"
        assert [_answer(inst.port, f"/{lang}/private")[0] for lang in ("perl", "ruby")] == [403] * 2
    # the README recipe: pretty URLs for a PHP app, every path without a file goes to index.php
    args = [
        "--http-socket-modifier1", "14",
        "--php-docroot", str(site),
        "--route-run", f"setdocroot:{site}",
        "--route-if-not", "exists:${DOCUMENT_ROOT}${PATH_INFO} rewrite:/index.php",
    ]  # fmt: skip
    with serving(tmp_path, args) as inst:
        assert _answer(inst.port, "/blog/2026/hello")[2] == b"php index at /index.php\n"
        assert _answer(inst.port, "/hello.php")[2] == b"hello"


def test_signal_and_setapp_actions(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    app = APPS / "routing" / "signal_app.py"
    args = [
        "--env", f"MARKER={marker}",
        "--mount", f"/={app}",
        "--mount", f"/other={APP}",
        "--route", "^/ping signal:17",
        "--route", "^/pick setapp:/other",
    ]  # fmt: skip
    with serving(tmp_path, args) as inst:
        assert _answer(inst.port, "/ping")[2] == b"root"
        wait_for(lambda: marker.exists() and "signal 17" in marker.read_text(), 20, "signal 17")
        # the app mounted at /other answers, though the path is not under its mountpoint
        assert b"|UWSGI_APPID=/other|" in _answer(inst.port, "/pick")[2]


def test_rules_run_in_the_workers_behind_a_router(tmp_path: Path) -> None:
    """A router (here the fastrouter) forwards uwsgi packets: the node's workers run the rules."""
    from conftest import Instance

    args = ["--wsgi-file", str(APP), "--route", "^/old/(.*) rewrite:/new/$1"]
    with serving(tmp_path, args, uwsgi_socket=True) as node:
        port = free_port()
        to = f"127.0.0.1:{node.uwsgi_port}"
        front = Instance(
            ["--fastrouter", f"127.0.0.1:{port}", "--fastrouter-to", to], tmp_path, None, None
        )
        try:
            front.wait_log("spawned polyhost fastrouter 1")
            env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/old/a", "PATH_INFO": "/old/a",
                   "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "t"}  # fmt: skip

            def relayed() -> bytes:
                try:
                    return uwsgi_request(port, env)
                except OSError:  # the router process is still binding
                    return b""

            answer = wait_for(relayed, 20, "the fastrouter to relay")
            assert b"PATH_INFO=/new/a|REQUEST_URI=/old/a|" in answer  # type: ignore[operator]
        finally:
            assert front.stop() == 0
