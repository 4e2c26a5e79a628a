"""ASGI: FastAPI, Starlette and Django apps on the worker's event loop, beside WSGI and PSGI.

Real polyhost instances, real HTTP and WebSocket clients (the `websockets` package): the HTTP
scope, streamed bodies both ways, SSE disconnects, lifespan, WebSockets (subprotocol, close
codes, denial, permessage-deflate, 1,000 held at once), connections handed back to the worker
for WSGI/PSGI requests, requests over a uwsgi socket, harakiri of a blocked loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from polyhost.protocol.uwsgi import encode_vars, pack_header

from conftest import (
    APPS,
    POLYHOST,
    Instance,
    django_project,
    free_port,
    get,
    http_request,
    serving,
    split_response,
    wait_for,
)
from nginx_helper import Nginx
from router_helper import start_router

ASGI_APPS = APPS / "asgi"
FASTAPI = str(ASGI_APPS / "fastapi_app.py")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Path]]:
    """FastAPI at /, a WSGI app at /wsgi and a PSGI app at /perl, 2 workers, one port."""
    tmp = tmp_path_factory.mktemp("asgi")
    marker = tmp / "marker"
    args = [
        "--env",
        f"ASGI_MARKER={marker}",
        "--processes",
        "2",
        "--asgi-file",
        FASTAPI,
        "--mount",
        f"/wsgi={APPS / 'wsgi' / 'basic.py'}",
        "--mount",
        f"/perl={APPS / 'psgi' / 'hello.psgi'}",
        "--stats",
        f"127.0.0.1:{free_port()}",
    ]
    with serving(tmp, args, uwsgi_socket=True) as inst:
        wait_for(lambda: marker.read_text().count("startup") == 2 if marker.exists() else 0)
        yield inst, marker
    assert marker.read_text().count("shutdown") == 2  # lifespan shutdown in each worker


def body_of(raw: bytes) -> bytes:
    return split_response(raw)[2]


def test_fastapi_json_and_path_params(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    status, headers, body = split_response(get(inst.port, "/items/42?q=hello"))
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"item_id": 42, "q": "hello"}
    payload = b'{"name": "pen", "price": 1.25}'
    raw = http_request(
        inst.port,
        b"POST /items HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json"
        b"\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload),
    )
    assert json.loads(body_of(raw)) == {"name": "pen", "double": 2.5}
    status, _, body = split_response(get(inst.port, "/items/not-a-number"))
    assert status == 422 and b"int_parsing" in body  # pydantic validation


def test_http_scope(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    raw = get(inst.port, "/sc%6Fpe?a=1&b=%20", headers="X-First: 1\r\nX-Second: 2\r\n")
    scope = json.loads(body_of(raw))
    assert scope["path"] == "/scope" and scope["raw_path"] == "/sc%6Fpe"
    assert scope["query_string"] == "a=1&b=%20" and scope["root_path"] == ""
    names = [name for name, _ in scope["headers"]]
    assert names == ["host", "connection", "x-first", "x-second"]  # lower-cased, in order
    assert scope["http_version"] == "1.1" and scope["scheme"] == "http"
    assert scope["client_host"] == "127.0.0.1" and scope["server_port"] == inst.port
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["state"] in inst.worker_pids()  # lifespan state, per worker


def test_streaming_response_is_sent_as_produced(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        sock.sendall(b"GET /stream?parts=2&delay=60 HTTP/1.1\r\nHost: t\r\n\r\n")
        first = b""
        while b"part 0" not in first:  # arrives long before the 60 s the whole takes
            data = sock.recv(65536)
            assert data
            first += data
    assert b"transfer-encoding: chunked" in first.lower()
    raw = get(inst.port, "/stream?parts=3")
    assert body_of(raw) == b"part 0\npart 1\npart 2\n"  # Connection: close, so not chunked


def test_upload_and_chunked_request_body(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    data = bytes(random.Random(7).randrange(256) for _ in range(300_000))
    boundary = b"polyhostboundary"
    form = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.bin"'
        b"\r\nContent-Type: application/octet-stream\r\n\r\n"
        + data
        + b"\r\n--"
        + boundary
        + b"--\r\n"
    )
    raw = http_request(
        inst.port,
        b"POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: "
        b"multipart/form-data; boundary="
        + boundary
        + b"\r\nContent-Length: %d\r\n\r\n" % len(form)
        + form,
    )
    assert json.loads(body_of(raw)) == {
        "filename": "a.bin",
        "size": len(data),
        "sum": sum(data) % 65536,
    }
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (b"a" * 1000, b"b" * 70000, b"c"))
    raw = http_request(
        inst.port,
        b"POST /raw HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunks
        + b"0\r\n\r\n",
    )
    assert body_of(raw) == b"received 71001"


def test_sse_learns_of_the_client_leaving(site: tuple[Instance, Path]) -> None:
    inst, marker = site
    before = marker.read_text().count("disconnected")
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        sock.sendall(b"GET /sse HTTP/1.1\r\nHost: t\r\n\r\n")
        seen = b""
        while b"tick 2" not in seen:
            seen += sock.recv(65536)
    assert b"text/event-stream" in seen
    wait_for(lambda: marker.read_text().count("disconnected") > before, what="http.disconnect")


def test_exception_gives_500_and_keeps_the_connection(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    raw = http_request(
        inst.port,
        b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\nGET /items/1 HTTP/1.1\r\nHost: t\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 500 ") and b'{"item_id":1,"q":null}' in raw
    inst.wait_log("RuntimeError: boom from the ASGI app")
    assert "exception in the ASGI app" in inst.log()


def test_exception_after_the_start_cuts_the_response_and_closes(
    site: tuple[Instance, Path],
) -> None:
    """The client must see a cut response (no last chunk) and no answer to what it pipelined."""
    inst, _ = site
    raw = http_request(
        inst.port,
        b"GET /boom-mid-stream HTTP/1.1\r\nHost: t\r\n\r\nGET /items/1 HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    assert raw.startswith(b"HTTP/1.1 200 ") and b"first part" in raw
    assert not raw.endswith(b"0\r\n\r\n") and b"item_id" not in raw
    inst.wait_log("RuntimeError: boom after the response started")


def test_one_keepalive_connection_crosses_asgi_wsgi_and_psgi(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    requests = [b"/items/1", b"/wsgi/env", b"/perl/x", b"/items/2", b"/perl/y", b"/items/3"]
    raw = http_request(
        inst.port,
        b"".join(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path for path in requests[:-1])
        + b"GET /items/3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    assert raw.count(b"HTTP/1.1 200 OK") == 6
    assert b'"item_id":1' in raw and b'"item_id":3' in raw
    assert b"Hello from /x" in raw and b"Hello from /y" in raw
    assert b'"SCRIPT_NAME": "/wsgi"' in raw or b"/wsgi" in raw


def test_websocket_echo_subprotocol_and_deflate(site: tuple[Instance, Path]) -> None:
    inst, marker = site
    with connect(f"ws://127.0.0.1:{inst.port}/ws", subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"
        assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
        ws.send("hello")
        assert ws.recv() == "echo:hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv() == b"\x03\x02\x01"
        big = "x" * 200_000
        ws.send(big)
        assert ws.recv() == "echo:" + big
        ws.send("close-me")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000
    with connect(f"ws://127.0.0.1:{inst.port}/ws") as ws:
        ws.send("one")
        assert ws.recv() == "echo:one"
    wait_for(lambda: "ws closed 1000" in marker.read_text(), what="the app's disconnect event")
    inst.wait_log("GET /ws => generated")  # logged when it closed


def test_websocket_denied_before_accept_is_403(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    with pytest.raises(InvalidStatus) as denied:
        connect(f"ws://127.0.0.1:{inst.port}/ws-deny")
    assert denied.value.response.status_code == 403


def test_websocket_max_size_closes_with_1009(tmp_path: Path) -> None:
    args = ["--asgi-file", FASTAPI, "--websockets-max-size", "16", "--lifespan", "off"]
    with serving(tmp_path, args) as inst:
        with connect(f"ws://127.0.0.1:{inst.port}/ws", compression=None) as ws:
            ws.send("y" * 20_000)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_websocket_garbage_frames_are_bounded(site: tuple[Instance, Path]) -> None:
    """Fuzz: random bytes after a valid handshake never take the worker down."""
    inst, _ = site
    rng = random.Random(17)
    for _ in range(60):
        with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
            sock.sendall(
                b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
            )
            sock.settimeout(20)
            data = b""
            while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
                data += chunk
            assert data.startswith(b"HTTP/1.1 101 ")
            with contextlib.suppress(ConnectionResetError):
                sock.shutdown(socket.SHUT_WR)  # a cut frame waits for more: EOF ends it
                while sock.recv(65536):
                    pass
    assert split_response(get(inst.port, "/items/9"))[0] == 200


def stats_of(inst: Instance) -> dict[str, Any]:
    stats_port = int(inst.args[inst.args.index("--stats") + 1].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", stats_port), timeout=10) as sock:
        return json.loads(b"".join(iter(lambda: sock.recv(65536), b"")))  # type: ignore[no-any-return]


def open_websockets(inst: Instance) -> int:
    return sum(worker["websockets"] for worker in stats_of(inst)["workers"])


def test_thousand_websockets_held_by_two_workers(site: tuple[Instance, Path]) -> None:
    """1,000 echo WebSockets open at once on 2 workers, counted per worker in the stats."""
    from websockets.asyncio.client import connect as aconnect

    inst, _ = site

    async def hold() -> None:
        sockets = []
        try:
            for _ in range(10):  # in batches, not to overflow the listen backlog
                sockets += await asyncio.gather(
                    *(
                        aconnect(f"ws://127.0.0.1:{inst.port}/ws", compression=None)
                        for _ in range(100)
                    )
                )
            for i, ws in enumerate(sockets):
                await ws.send(f"m{i}")
            replies = await asyncio.gather(*(ws.recv() for ws in sockets))
            assert replies == [f"echo:m{i}" for i in range(len(sockets))]
            assert await asyncio.to_thread(open_websockets, inst) == 1000
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets))

    asyncio.run(hold())
    wait_for(lambda: open_websockets(inst) == 0, 30, "the closed WebSockets to leave the stats")


def test_stats_count_asgi_requests(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    assert sum(worker["requests"] for worker in stats_of(inst)["workers"]) > 5


def test_uwsgi_socket_request_to_an_asgi_app(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    block = encode_vars(
        {
            "REQUEST_METHOD": "GET",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "t",
            "SERVER_PORT": "80",
            "REMOTE_ADDR": "10.1.2.3",
            "REMOTE_PORT": "5555",
            "QUERY_STRING": "q=nginx",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/items/7",
            "REQUEST_URI": "/items/7?q=nginx",
        }
    )
    assert inst.uwsgi_port is not None
    with socket.create_connection(("127.0.0.1", inst.uwsgi_port), timeout=10) as sock:
        sock.sendall(pack_header(0, len(block), 0) + block)
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    assert json.loads(body_of(raw)) == {"item_id": 7, "q": "nginx"}


def test_mounted_asgi_apps_django_and_fastapi(tmp_path: Path) -> None:
    """`mount` decides ASGI or WSGI at load: Django's asgi.py at /, FastAPI at /api."""
    django = django_project(tmp_path / "django")
    django[django.index("/=mysite.wsgi:application")] = "/=mysite.asgi:application"
    args = [*django, "--mount", f"/api={FASTAPI}", "--lifespan", "auto"]
    with serving(tmp_path, args) as inst:
        status, _, body = split_response(get(inst.port, "/admin/login/", host="127.0.0.1"))
        assert status == 200 and b"Django administration" in body
        scope = json.loads(body_of(get(inst.port, "/api/scope")))
        assert scope["root_path"] == "/api" and scope["path"] == "/api/scope"
        log = inst.log()
        assert "mysite.asgi:application is an ASGI app" in log
        assert "fastapi_app.py is an ASGI app" in log


def test_asgi2_class_and_factory(tmp_path: Path) -> None:
    target = str(ASGI_APPS / "raw_app.py")
    with serving(tmp_path, ["--asgi-file", target, "--callable", "Asgi2App"]) as inst:
        assert body_of(get(inst.port, "/p")) == b"asgi2 /p"
    args = ["--asgi", f"{target}:create_app", "--asgi-factory"]
    with serving(tmp_path, args) as inst:
        raw = get(inst.port, "/")
        assert raw.startswith(b"HTTP/1.1 201 ") and body_of(raw) == b"from the factory"


def test_failed_lifespan_startup_stops_the_instance(tmp_path: Path) -> None:
    target = f"{ASGI_APPS / 'raw_app.py'}:failing_startup"
    assert "lifespan startup failed: database unreachable" in failed_start(tmp_path, target)


def failed_start(tmp: Path, target: str, *options: str) -> str:
    """The log of an instance serving the ASGI app `target` that must fail to start."""
    args = ["--http-socket", f"127.0.0.1:{free_port()}", "--asgi", target, *options]
    inst = Instance(args, tmp, None, None)
    try:
        inst.proc.wait(30)
        assert inst.proc.returncode != 0
        return inst.log()
    finally:
        inst.stop()


def test_harakiri_catches_a_blocked_event_loop(tmp_path: Path) -> None:
    args = ["--asgi", f"{ASGI_APPS / 'raw_app.py'}:blocking", "--harakiri", "2", "--master"]
    with serving(tmp_path, args) as inst:
        first = inst.worker_pids()
        with socket.create_connection(("127.0.0.1", inst.port), timeout=20) as sock:
            sock.sendall(b"GET /block HTTP/1.1\r\nHost: t\r\n\r\n")
            inst.wait_log("HARAKIRI ON WORKER 1", timeout=20)
        wait_for(lambda: inst.worker_pids() and inst.worker_pids() != first, what="respawn")
        assert int(body_of(get(inst.port, "/"))) in inst.worker_pids()


def test_asgi_options_are_in_help() -> None:
    import subprocess

    out = subprocess.run(
        [*POLYHOST, "--help"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    assert "--asgi-file" in out and "--lifespan" in out
    assert sys.executable


def test_reload_closes_websockets_with_1001_and_logs_them(tmp_path: Path) -> None:
    """A graceful reload drains an open WebSocket with a 1001 close; its log line, written
    when it closes, carries its duration (>= the time it was held open)."""
    args = ["--asgi-file", FASTAPI, "--lifespan", "off", "--master", "--worker-reload-mercy", "20"]
    with serving(tmp_path, args) as inst:
        with connect(f"ws://127.0.0.1:{inst.port}/ws", compression=None) as ws:
            ws.send("before")
            assert ws.recv(timeout=20) == "echo:before"
            wait_for(lambda: inst.proc.pid and inst.worker_pids(), what="the worker")
            inst.signal(signal.SIGHUP)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
        assert closed.value.rcvd is not None, inst.log()
        assert closed.value.rcvd.code == 1001, inst.log()
        line = inst.wait_log("GET /ws => generated", timeout=20).split("GET /ws => generated")[1]
        assert "(HTTP/1.1 101)" in line.split("\n")[0]
        assert int(line.split(" msecs")[0].rsplit(" ", 1)[1]) >= 0
        # the re-exec'd master is up again (stopping it mid-exec would kill it)
        wait_for(lambda: inst.log().count("spawned polyhost worker 1") == 2, 60, "the reload")


def test_websocket_behind_nginx_proxying_http(site: tuple[Instance, Path], tmp_path: Path) -> None:
    inst, _ = site
    nginx = Nginx(
        tmp_path,
        f"""location / {{
      proxy_pass http://127.0.0.1:{inst.port};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }}""",
    )
    try:
        with connect(f"ws://127.0.0.1:{nginx.port}/ws", compression=None) as ws:
            ws.send("through nginx")
            assert ws.recv(timeout=20) == "echo:through nginx"
        assert json.loads(body_of(get(nginx.port, "/items/3?q=n"))) == {"item_id": 3, "q": "n"}
    finally:
        nginx.stop()


def test_max_requests_recycles_and_closes_websockets_with_1001(tmp_path: Path) -> None:
    args = ["--asgi-file", FASTAPI, "--lifespan", "off", "--master", "--max-requests", "3"]
    args += ["--min-worker-lifetime", "0"]
    with serving(tmp_path, args) as inst:
        first = inst.worker_pids()
        with connect(f"ws://127.0.0.1:{inst.port}/ws", compression=None) as ws:
            for item in range(3):
                assert split_response(get(inst.port, f"/items/{item}"))[0] == 200
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        inst.wait_log("The work of process", timeout=20)
        wait_for(lambda: inst.worker_pids() and inst.worker_pids() != first, 30, "respawn")
        assert split_response(get(inst.port, "/items/9"))[0] == 200


def test_limit_post_refuses_a_large_body_before_the_app_reads_it(tmp_path: Path) -> None:
    args = ["--asgi-file", FASTAPI, "--lifespan", "off", "--limit-post", "100"]
    with serving(tmp_path, args) as inst:
        raw = http_request(
            inst.port,
            b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"x" * 1000,
        )
        assert raw.startswith(b"HTTP/1.1 413 ")
        inst.wait_log("100000 bytes over limit-post 100")
        assert split_response(get(inst.port, "/items/1"))[0] == 200


def test_websocket_over_a_uwsgi_socket_behind_nginx(
    site: tuple[Instance, Path], tmp_path: Path
) -> None:
    """nginx's uwsgi_pass upgrades too (as a router in front of uwsgi sockets does): the ASGI
    app's WebSocket runs on the raw bytes after the uwsgi request packet."""
    inst, _ = site
    nginx = Nginx(
        tmp_path,
        f"location / {{ uwsgi_pass 127.0.0.1:{inst.uwsgi_port}; uwsgi_read_timeout 60s; }}",
    )
    try:
        chat_echoes(nginx.port, "over uwsgi")
    finally:
        nginx.stop()


def chat_echoes(port: int, text: str) -> None:
    """The FastAPI echo at `port` (a front in between) agrees on `chat` and echoes both kinds."""
    with connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["chat"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "chat"
        ws.send(text)
        assert ws.recv(timeout=20) == f"echo:{text}"
        ws.send(b"abc")
        assert ws.recv(timeout=20) == b"cba"


def test_websocket_behind_the_http_router(tmp_path: Path) -> None:
    """`--http` with `--http-websockets` passes an upgrade through to the ASGI app behind it."""
    inst = start_router(
        tmp_path, ["--asgi-file", FASTAPI, "--lifespan", "off", "--http-websockets"]
    )
    try:
        chat_echoes(inst.port, "through the router")
    finally:
        assert inst.stop() == 0


def test_chain_reload_closes_websockets_with_1001(tmp_path: Path) -> None:
    """A chain reload (`touch-chain-reload`) replaces the workers one by one: each drains its
    WebSockets with a 1001 close."""
    touch = tmp_path / "chain.touch"
    touch.write_text("")
    args = [
        "--asgi-file", FASTAPI, "--lifespan", "off", "--master", "--lazy-apps",
        "--processes", "2", "--touch-chain-reload", str(touch),
    ]  # fmt: skip
    with serving(tmp_path, args) as inst:
        with connect(f"ws://127.0.0.1:{inst.port}/ws", compression=None) as ws:
            ws.send("before")
            assert ws.recv(timeout=20) == "echo:before"
            before = set(inst.worker_pids())
            later = time.time() + 5
            os.utime(touch, (later, later))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=60)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, inst.log()
        wait_for(lambda: not before & set(inst.worker_pids()), 60, "both workers replaced")


def test_lifespan_modes_with_an_app_that_has_none(tmp_path: Path) -> None:
    """`lifespan = auto` serves an app that raises on the lifespan scope (logged once as not
    supported); `on` makes that a start-up failure that stops the instance; `off` never sends
    it, so an app that has one never starts it."""
    target = f"{ASGI_APPS / 'raw_app.py'}:no_lifespan"
    for mode in ("auto", "on", "off"):
        (tmp_path / mode).mkdir()
    with serving(tmp_path / "auto", ["--asgi", target, "--lifespan", "auto"]) as inst:
        assert body_of(get(inst.port, "/")) == b"no lifespan here"
        assert "the lifespan protocol is not supported" in inst.log()
    log = failed_start(tmp_path / "on", target, "--lifespan", "on")
    assert "lifespan startup raised RuntimeError: unsupported scope type lifespan" in log
    with serving(tmp_path / "off", ["--asgi-file", FASTAPI, "--lifespan", "off"]) as inst:
        assert split_response(get(inst.port, "/items/1"))[0] == 200
        assert "lifespan startup complete" not in inst.log()
