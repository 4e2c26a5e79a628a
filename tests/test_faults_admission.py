"""`--hold-per-core 1`: a worker holds no more connections than it has cores (issue 13, point 5:
a worker killed -9 loses only the requests it was serving): keep-alive connections beyond that
wait in the listen queue, and a held one yields its core to them, after ROTATE_AFTER answers
(the last says `Connection: close`) or when it sits idle, always between requests."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from test_faults import BASIC, read_response

from polyhost.worker import ROTATE_AFTER

from conftest import Instance, serving

REQUEST = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """Two workers of one core each, holding one connection per core."""
    args = ["--wsgi-file", BASIC, "--processes", "2", "--hold-per-core", "1"]
    with serving(tmp_path_factory.mktemp("admission"), args) as inst:
        yield inst


def keep_alive(port: int) -> socket.socket:
    """A connection that has been answered once with keep-alive (it holds a core)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(REQUEST)
    status, headers, _ = read_response(sock)
    assert status == 200 and "connection" not in headers
    return sock


def test_a_held_connection_yields_after_rotate_after_answers(server: Instance) -> None:
    """Both cores held, two more connections wait: each held one's answer number ROTATE_AFTER
    says `Connection: close` and closes cleanly, and the waiting ones are served."""
    held = [keep_alive(server.port), keep_alive(server.port)]
    waiting = [socket.create_connection(("127.0.0.1", server.port), timeout=20) for _ in held]
    for sock in waiting:
        sock.sendall(REQUEST)
    for sock in held:
        with sock:
            answers = 1
            while True:
                sock.sendall(REQUEST)
                status, headers, _ = read_response(sock)
                answers += 1
                assert status == 200
                if headers.get("connection") == "close":
                    break
                assert answers < ROTATE_AFTER, "never yielded to the waiting connections"
            assert answers == ROTATE_AFTER
            assert sock.recv(100) == b""  # a clean close, not a reset
    for sock in waiting:
        with sock:
            assert read_response(sock)[0] == 200


def test_an_idle_connection_yields_to_a_waiting_one(server: Instance) -> None:
    """Both cores held by idle keep-alive connections: a new one is served within seconds (not
    after the 15 s keep-alive timeout), the idle ones are closed between requests (EOF)."""
    idle = [keep_alive(server.port), keep_alive(server.port)]
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as waiting:
        waiting.sendall(REQUEST)
        assert read_response(waiting)[0] == 200
    assert time.monotonic() - started < 10, "the idle connections kept the cores"
    for sock in idle:
        with sock:
            assert sock.recv(100) == b""


def test_a_worker_killed_under_keep_alive_load_loses_at_most_its_core(server: Instance) -> None:
    """Eight keep-alive clients send request after request on two one-core workers; a worker
    killed -9 among them costs at most the one request its core held, where a worker holding
    every connection it accepted took all of theirs down with it."""
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def client() -> None:
        sock: socket.socket | None = None
        while not stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
                sock.sendall(REQUEST)
                status, headers, _ = read_response(sock)
                answered[0] += 1
                assert status == 200
                if headers.get("connection") == "close":
                    sock.close()
                    sock = None
            except (OSError, AssertionError) as exc:
                failures.append(repr(exc))
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()

    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while answered[0] < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.worker_pids()[0], signal.SIGKILL)
        before = answered[0]
        while answered[0] < before + 200 and time.monotonic() < deadline + 20:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in clients:
            thread.join(30)
    assert answered[0] >= before + 200, "the clients were not served after the kill"
    assert len(failures) <= 1, failures
    server.wait_log("died, killed by signal 9")
