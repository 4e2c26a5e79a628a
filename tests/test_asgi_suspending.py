"""Keep-alive requests on a loop-owned connection: apps that answer at once and apps that suspend
(before the start, between body events, in an anyio task group, until the client goes)
alternate on one connection, each seeing the connection's one task as the current task, and
every answer arrives whole and in order (pipelined ones too; a failure is a 500)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_asgi_keepalive_requests import read_response

from conftest import APPS, Instance, serving, wait_for

APP = APPS / "asgi" / "suspending_app.py"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Path]]:
    tmp = tmp_path_factory.mktemp("suspending")
    notes = tmp / "notes.txt"
    args = [
        "--processes", "1", "--lifespan", "off", "--asgi-file", str(APP),
        "--env", f"SUSPENDING_APP_NOTES={notes}",
    ]  # fmt: skip
    with serving(tmp, args) as inst:
        yield inst, notes


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def test_answers_that_do_and_do_not_suspend_alternate(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    paths = ["/a", "/b", "/sleep-first", "/c", "/sleep-between", "/d", "/task-group", "/e"]
    tasks = set()
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        buffered = bytearray()
        for path in paths * 2:
            sock.sendall(get(path))
            status, head, body = read_response(sock, buffered)
            assert status == 200, (path, head)
            if path == "/sleep-between":
                assert b"one," in body and b"two" in body and body.endswith(b"0\r\n\r\n")
            elif path in ("/sleep-first", "/task-group"):
                assert json.loads(body)["path"] == path
            else:
                answer = json.loads(body)
                assert answer["path"] == path and answer["same_task"] is True
                assert answer["task"] is not None
                tasks.add(answer["task"])
    assert len(tasks) == 1  # all the connection's requests ran as its one task


def test_pipelined_requests_answer_in_order(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    paths = ["/p1", "/sleep-first", "/p2", "/p3"]
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        buffered = bytearray()
        sock.sendall(get("/first"))
        assert read_response(sock, buffered)[0] == 200
        sock.sendall(b"".join(get(path) for path in paths))
        for path in paths:
            status, _, body = read_response(sock, buffered)
            assert status == 200 and json.loads(body)["path"] == path


def test_failure_answers_500_and_the_connection_goes_on(site: tuple[Instance, Path]) -> None:
    inst, _ = site
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        buffered = bytearray()
        for path in ("/first", "/fail", "/after"):
            sock.sendall(get(path))
            status, _, body = read_response(sock, buffered)
            assert status == (500 if path == "/fail" else 200)
        assert json.loads(body)["path"] == "/after"
    wait_for(lambda: "planned failure" in inst.log(), 10, "the traceback in the log")


def test_app_waiting_for_the_client_learns_it_went(site: tuple[Instance, Path]) -> None:
    inst, notes = site
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        buffered = bytearray()
        sock.sendall(get("/first"))
        assert read_response(sock, buffered)[0] == 200
        sock.sendall(get("/until-disconnect"))
        received = b""
        while b"tick" not in received:
            data = sock.recv(65536)
            assert data, "the stream ended before its first piece"
            received += data
    wait_for(
        lambda: notes.exists() and "http.disconnect" in notes.read_text(),
        10,
        "http.disconnect reaching the app",
    )
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        buffered = bytearray()
        for path in ("/first", "/next"):  # the worker still serves
            sock.sendall(get(path))
            assert read_response(sock, buffered)[0] == 200
