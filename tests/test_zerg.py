"""Zerg mode: a zerg-server lends its sockets, a zerg serves the same ports (each with the
lender's protocol), interop with real uWSGI both ways, zerg-fallback, zergpool, and a bounded
fuzz of what a zerg accepts from a zerg server."""

from __future__ import annotations

import os
import random
import socket
import struct
import threading
from pathlib import Path

import pytest

from polyhost.zerg import MAGIC, ZergError, attach

from conftest import free_port, get, uwsgi_request, wait_for
from fuzz_support import mutate, open_fds
from supervision_support import UWSGI, UWSGI_ENV, stop_uwsgi

APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [{name!r}]
"""


def app(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(APP.format(name=name.encode()))
    return f"--wsgi-file={path}"


def body(raw: bytes) -> bytes:
    assert raw.startswith(b"HTTP/1.1 200"), raw[:100]
    return raw.partition(b"\r\n\r\n")[2]


def test_a_zerg_serves_the_lenders_ports_with_their_protocols(polyhost, tmp_path: Path) -> None:
    http_port, uwsgi_port = free_port(), free_port()
    server = tmp_path / "zerg.sock"
    lender = polyhost(
        [
            f"--http-socket=127.0.0.1:{http_port}",
            f"--socket=127.0.0.1:{uwsgi_port}",
            f"--zerg-server={server}",
            app(tmp_path, "lender"),
        ],
        port=http_port,
    )
    lender.wait_log(f"*** Zerg server enabled on {server} ***")
    zerg = polyhost([f"--zerg={server}", app(tmp_path, "zerg")], ready=False)
    zerg.wait_log("zerg sockets attached")
    wait_for(lambda: "spawned polyhost worker" in zerg.log(), 30, "the zerg's worker")
    log = zerg.log()
    assert f"attached to 127.0.0.1:{http_port} fd" in log and "(http)" in log
    assert f"attached to 127.0.0.1:{uwsgi_port} fd" in log and "(uwsgi)" in log
    # the lender goes away: its ports stay served, by the zerg, each in its own protocol
    assert lender.stop() == 0
    assert body(get(http_port, "/")) == b"zerg"
    assert body(uwsgi_request(uwsgi_port, UWSGI_ENV)) == b"zerg"


def test_uwsgi_zergs_and_zerg_servers_interoperate(polyhost, tmp_path: Path) -> None:
    http_port = free_port()
    server = tmp_path / "zerg.sock"
    # uWSGI's zerg attaches to polyhost's zerg server, and speaks uwsgi on every socket
    lender = polyhost(
        [f"--http-socket=127.0.0.1:{http_port}", f"--zerg-server={server}", app(tmp_path, "p")],
        port=http_port,
    )
    uwsgi_zerg = polyhost([*UWSGI, f"--zerg={server}", app(tmp_path, "u")], program=[], ready=False)
    try:
        uwsgi_zerg.wait_log("zerg sockets attached")
        uwsgi_zerg.wait_log("spawned uWSGI worker 1")
        assert lender.stop() == 0
        assert body(uwsgi_request(http_port, UWSGI_ENV)) == b"u"
    finally:
        stop_uwsgi(uwsgi_zerg)
    # polyhost's zerg attaches to uWSGI's zerg server: uwsgi unless `protocol = http`
    uwsgi_server = tmp_path / "uwsgi-zerg.sock"
    http_port = free_port()
    uwsgi_lender = polyhost(
        [
            *UWSGI,
            f"--http-socket=127.0.0.1:{http_port}",
            f"--zerg-server={uwsgi_server}",
            app(tmp_path, "u2"),
        ],
        program=[],
        ready=False,
    )
    try:
        uwsgi_lender.wait_log(f"*** Zerg server enabled on {uwsgi_server} ***")
        zerg = polyhost(
            [f"--zerg={uwsgi_server}", "--protocol=http", app(tmp_path, "p2")], ready=False
        )
        zerg.wait_log("zerg sockets attached")
        wait_for(lambda: "spawned polyhost worker" in zerg.log(), 30, "the zerg's worker")
        assert f"attached to 127.0.0.1:{http_port} fd" in zerg.log()
        assert "(http)" in zerg.log()
    finally:
        stop_uwsgi(uwsgi_lender)
    assert body(get(http_port, "/")) == b"p2"


def test_zerg_fallback_and_a_missing_zerg_server(polyhost, tmp_path: Path) -> None:
    missing = tmp_path / "nobody.sock"
    refused = polyhost([f"--zerg={missing}", app(tmp_path, "x")], ready=False)
    assert refused.proc.wait(30) == 1
    assert f"--- unable to connect to zerg server {missing} ---" in refused.log()
    port = free_port()
    fallback = polyhost(
        [
            f"--zerg={missing}",
            "--zerg-fallback",
            f"--http-socket=127.0.0.1:{port}",
            app(tmp_path, "f"),
        ],
        port=port,
    )
    assert "zerg-fallback, serving on the instance's own sockets" in fallback.log()
    assert body(get(port, "/")) == b"f"


def test_zergpool_lends_sockets_of_its_own(polyhost, tmp_path: Path) -> None:
    port, pool = free_port(), tmp_path / "pool.sock"
    keeper = polyhost([f"--zergpool={pool}:127.0.0.1:{port}", "--need-app=false"], ready=False)
    keeper.wait_log(f"zergpool {pool} bound to TCP socket 127.0.0.1:{port}")
    keeper.wait_log(f"*** Zerg server enabled on {pool} ***")
    zerg = polyhost([f"--zerg={pool}", "--protocol=http", app(tmp_path, "pooled")], port=port)
    assert "(http)" in zerg.log()
    assert body(get(port, "/")) == b"pooled"


def test_fuzzed_zerg_server_answers_are_refused_cleanly(tmp_path: Path) -> None:
    """What a zerg reads from a zerg server is checked: a bounded, seeded run of mutated
    answers (bytes and fd counts) either attaches real stream sockets or raises ZergError,
    never anything else, and leaves no fd behind."""
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    path = str(tmp_path / "fake.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    lent = socket.socket()
    lent.bind(("127.0.0.1", 0))
    lent.listen(1)
    reader, writer = os.pipe()
    good = MAGIC + struct.pack("=i", 1)
    answers: list[tuple[bytes, list[int], bytes]] = []

    def serve() -> None:
        for message, fds, tail in answers:
            client, _ = listener.accept()
            with client:
                try:
                    socket.send_fds(client, [message], fds) if fds else client.sendall(message)
                    client.sendall(tail)
                except OSError:
                    pass

    for _ in range(60):
        fds = rng.choice([[], [lent.fileno()], [lent.fileno()] * 3, [reader], [writer, reader]])
        message = mutate(rng, good) if rng.random() < 0.8 else good
        tail = mutate(rng, b'polyhost-zerg [{"proto": "http", "name": "x"}]\n')
        answers.append((message or b"x", fds, tail))
    before = open_fds(os.getpid())
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        for number in range(len(answers)):
            try:
                for item in attach(path):
                    assert item.sock.type == socket.SOCK_STREAM
                    assert item.proto in ("", "uwsgi", "http", "fastcgi")
                    item.sock.close()
            except ZergError:
                pass
            except Exception as exc:  # pragma: no cover - the failure this test looks for
                pytest.fail(f"seed {seed}, answer {number}: {exc!r}")
        thread.join(30)
        assert open_fds(os.getpid()) == before, f"seed {seed}: fds left behind"
    finally:
        for fd in (reader, writer):
            os.close(fd)
        lent.close()
        listener.close()
