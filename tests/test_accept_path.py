"""The worker's accept path (issue 18, the `Connection: close` row): TCP_NODELAY is set once on
the HTTP listener and still on every accepted connection; SERVER_PORT, read once per listener,
is the bound port on each of them; close connections accepted back to back (several accept
rounds per listener event) are each answered whole. A real polyhost with 2 workers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import APPS, Instance, get, serving, split_response

APP = str(APPS / "wsgi" / "own_socket.py")


@pytest.fixture(scope="module")
def inst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    tmp: Path = tmp_path_factory.mktemp("accept")
    with serving(tmp, ["--wsgi-file", APP, "--processes", "2", "--disable-logging"]) as instance:
        yield instance


def test_accepted_connection_has_nodelay_and_the_bound_port(inst: Instance) -> None:
    for _ in range(4):  # both workers, most likely
        status, _, body = split_response(get(inst.port))
        assert (status, body.decode()) == (200, f"1 {inst.port}")


def test_close_connections_back_to_back_are_all_answered(inst: Instance) -> None:
    answers: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        for _ in range(40):
            status, _, body = split_response(get(inst.port))
            with lock:
                answers.append(f"{status} {body.decode()}")

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [f"200 1 {inst.port}"] * 320
