"""On-demand vassals (the Emperor binds DIR/NAME.socket, starts the vassal at the first
connection, and waits again after `idle` + `die-on-idle`), the zeromq imperial monitor (uWSGI's
multipart touch/destroy messages), the zeromq logger, unavailable monitor schemes, and a bounded
fuzz of the zmq monitor socket."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from test_emperor import TINY_APP, accepting, alive, emperor_with_stats, stats, vassal

from polyhost.protocol.uwsgi import encode_vars, packet

from conftest import Instance, _connectable, free_port, get, split_response, wait_for


def uwsgi_get(path: Path, timeout: float = 20.0) -> bytes:
    """One request over the uwsgi protocol on a unix socket."""
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "t",
        "SERVER_PORT": "80",
        "QUERY_STRING": "",
    }
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(packet(0, encode_vars(env)))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


@pytest.fixture
def emperor_dir(tmp_path: Path) -> Path:
    (tmp_path / "vassals").mkdir()
    (tmp_path / "tiny.py").write_text(TINY_APP.replace('env["SERVER_PORT"]', '"on demand"'))
    return tmp_path


def test_on_demand_vassal_starts_at_first_connection_and_goes_back_when_idle(
    emperor_dir: Path,
) -> None:
    sockets = emperor_dir / "sockets"
    sockets.mkdir()
    (emperor_dir / "vassals" / "lazy.ini").write_text(
        f"[uwsgi]\nwsgi-file = {emperor_dir}/tiny.py\nidle = 1\ndie-on-idle = true\n"
    )
    stats_port = free_port()
    emperor = emperor_with_stats(
        emperor_dir,
        stats_port,
        "--emperor",
        str(emperor_dir / "vassals"),
        "--emperor-on-demand-directory",
        str(sockets),
    )
    try:
        emperor.wait_log(f'waiting for connections on socket "{sockets}/lazy.socket"')
        info = vassal(stats_port, "lazy.ini")
        assert info["pid"] == -1 and info["on_demand"] == f"{sockets}/lazy.socket"
        assert "lazy.ini has been spawned" not in emperor.log()
        response = uwsgi_get(sockets / "lazy.socket")
        assert response.startswith(b"HTTP/1.1 200") and response.endswith(b"tiny on demand")
        pid = vassal(stats_port, "lazy.ini")["pid"]
        assert pid > 0
        emperor.wait_log('lazy.ini -> back to "on demand" mode')
        assert vassal(stats_port, "lazy.ini")["pid"] == -1 and not alive(pid)
        # the socket is still the Emperor's: the next connection starts it again
        assert uwsgi_get(sockets / "lazy.socket").endswith(b"tiny on demand")
    finally:
        assert emperor.stop() == 0
    assert not (sockets / "lazy.socket").exists()


@pytest.mark.parametrize("how", ["extension", "exec"])
def test_on_demand_socket_named_by_a_file_or_a_command(emperor_dir: Path, how: str) -> None:
    """uWSGI's other two ways of naming the socket: the first line of NAME+EXT, or the output
    of `CMD NAME` (the vassal's name as the monitor sees it)."""
    sockets = emperor_dir / "sockets"
    sockets.mkdir()
    (emperor_dir / "vassals" / "lazy.ini").write_text(
        f"[uwsgi]\nwsgi-file = {emperor_dir}/tiny.py\n"
    )
    if how == "extension":
        expected = sockets / "from-file.sock"
        (emperor_dir / "vassals" / "lazy.ini.od").write_text(f"{expected}\nignored\n")
        option = ["--emperor-on-demand-extension", ".od"]
    else:
        expected = sockets / "lazy-by-exec.sock"
        script = emperor_dir / "name-socket.sh"
        script.write_text(f'#!/bin/sh\necho "{sockets}/${{1%.ini}}-by-exec.sock"\n')
        script.chmod(0o755)
        option = ["--emperor-on-demand-exec", str(script)]
    emperor = Instance(
        ["--emperor", str(emperor_dir / "vassals"), *option], emperor_dir, None, emperor_dir
    )
    try:
        emperor.wait_log(f'waiting for connections on socket "{expected}"')
        assert "lazy.ini has been spawned" not in emperor.log()
        assert uwsgi_get(expected).endswith(b"tiny on demand")
        emperor.wait_log("[emperor] vassal lazy.ini has been spawned")
    finally:
        assert emperor.stop() == 0
    assert not expected.exists()


@pytest.fixture
def zmq_emperor(emperor_dir: Path) -> Iterator[tuple[Instance, zmq.Socket, int]]:
    port, stats_port = free_port(), free_port()
    emperor = emperor_with_stats(
        emperor_dir, stats_port, "--emperor", f"zmq://tcp://127.0.0.1:{port}"
    )
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{port}")
    try:
        emperor.wait_log("*** starting polyhost Emperor ***")
        yield emperor, push, stats_port
    finally:
        push.close(linger=0)
        context.term()
        assert emperor.stop() == 0


def test_zmq_monitor_touch_reload_destroy(
    emperor_dir: Path, zmq_emperor: tuple[Instance, zmq.Socket, int]
) -> None:
    emperor, push, stats_port = zmq_emperor
    port = free_port()
    config = f"[uwsgi]\nhttp-socket = 127.0.0.1:{port}\nwsgi-file = {emperor_dir}/tiny.py\n"
    push.send_multipart([b"touch", b"wire.ini", config.encode()])
    wait_for(lambda: accepting(stats_port, "wire.ini"), 30, "wire.ini accepting")
    assert split_response(get(port))[2] == b"tiny on demand"
    master = vassal(stats_port, "wire.ini")["pid"]
    push.send_multipart([b"touch", b"wire.ini", (config + "processes = 2\n").encode()])
    emperor.wait_log("[emperor] reload the uwsgi instance wire.ini")
    wait_for(
        lambda: len(Path(f"/proc/{master}/task/{master}/children").read_text().split()) == 2,
        30,
        "two workers after the reload",
    )
    push.send_multipart([b"destroy", b"wire.ini"])
    emperor.wait_log("[emperor] removed uwsgi instance wire.ini")
    assert not alive(master)
    push.send_multipart([b"destroy", b"nobody.ini"])
    emperor.wait_log('[emperor-zeromq] unknown instance "nobody.ini"')
    push.send_multipart([b"touch"])
    emperor.wait_log("[emperor-zeromq] bad message received")


def test_zmq_monitor_survives_garbage(zmq_emperor: tuple[Instance, zmq.Socket, int]) -> None:
    """A bounded fuzz: random multipart messages never kill the Emperor."""
    emperor, push, stats_port = zmq_emperor
    rng = random.Random(14)
    for _ in range(300):
        parts = [rng.randbytes(rng.randint(0, 40)) for _ in range(rng.randint(1, 7))]
        if rng.random() < 0.3:
            parts[0] = rng.choice([b"touch", b"destroy"])
        if rng.random() < 0.2 and len(parts) > 1:
            parts[1] = rng.choice([b"../../etc/x.ini", b".ini", b"a/b.ini", b"x" * 300 + b".ini"])
        push.send_multipart(parts)
    push.send_multipart([b"touch", b"big.ini", b"x" * (2 << 20)])
    emperor.wait_log("config of big.ini too large")
    assert emperor.proc.poll() is None
    data = stats(stats_port)
    assert all("/" not in v["id"] for v in data["vassals"])
    assert not os.path.exists("/etc/x.ini")


def test_unavailable_monitor_schemes_are_reported(emperor_dir: Path) -> None:
    for scheme in ("pg://host=x", "mongodb://127.0.0.1", "amqp://127.0.0.1"):
        emperor = Instance(["--emperor", scheme], emperor_dir, None, emperor_dir)
        assert emperor.proc.wait(20) == 1
        assert "imperial monitor is not available in polyhost" in emperor.log()
        emperor.stop()


def test_zeromq_logger_publishes_log_lines(emperor_dir: Path) -> None:
    port, http_port = free_port(), free_port()
    context = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.bind(f"tcp://127.0.0.1:{port}")
    instance = Instance(
        [
            "--http-socket",
            f"127.0.0.1:{http_port}",
            "--wsgi-file",
            str(emperor_dir / "tiny.py"),
            "--logger",
            f"zeromq:tcp://127.0.0.1:{port}",
            "--req-logger",
            f"zeromq:tcp://127.0.0.1:{port}",
        ],
        emperor_dir,
        None,
        emperor_dir,
    )
    try:
        wait_for(lambda: _connectable(http_port), 20, "the instance to listen")
        assert split_response(get(http_port))[0] == 200
        lines: list[bytes] = []

        def got_request_line() -> bool:
            while pull.poll(100):
                lines.append(pull.recv())
            return any(b"GET / =>" in line for line in lines)

        wait_for(got_request_line, 15, "the request log line over zmq")
        assert any(b"spawned polyhost worker 1" in line for line in lines)
    finally:
        instance.stop()
        pull.close(linger=0)
        context.term()
