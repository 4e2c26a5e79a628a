"""systemd: the notify protocol ($NOTIFY_SOCKET messages read by a test socket, as systemd reads
them) and socket activation (fds passed by tests/apps/systemd/activate.py, as systemd passes
them), next to what real uWSGI does with the same passed fds."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from pathlib import Path

import pytest

from conftest import APPS, POLYHOST, free_port, get, uwsgi_request, wait_for
from supervision_support import UWSGI, UWSGI_ENV, read_stats, stop_uwsgi

BASIC = f"--wsgi-file={APPS / 'wsgi' / 'basic.py'}"
ACTIVATE = [sys.executable, str(APPS / "systemd" / "activate.py")]


class NotifyReader:
    """The systemd end of NOTIFY_SOCKET: a datagram socket; each message split in fields."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.2)
        self.messages: list[list[str]] = []

    def until(self, prefix: str, timeout: float = 30.0) -> list[str]:
        """Read messages until one has a line starting with `prefix`; returns that message."""

        def arrived() -> list[str] | None:
            try:
                message = self.sock.recv(4096).decode().splitlines()
            except TimeoutError:
                return None
            self.messages.append(message)
            return message if any(line.startswith(prefix) for line in message) else None

        return wait_for(arrived, timeout, f"{prefix} on NOTIFY_SOCKET")  # type: ignore[return-value]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def notify(request, tmp_path: Path, monkeypatch) -> NotifyReader:
    address = (
        str(tmp_path / "notify") if request.param == "path" else f"@polyhost-notify-{free_port()}"
    )
    reader = NotifyReader(address)
    request.addfinalizer(reader.close)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # WATCHDOG=1 every 0.5 s
    return reader


def test_notify_ready_status_watchdog_reload_and_stop(polyhost, notify: NotifyReader) -> None:
    port, stats_port = free_port(), free_port()
    inst = polyhost(
        [
            f"--http-socket=127.0.0.1:{port}",
            f"--stats=127.0.0.1:{stats_port}",
            "--processes=2",
            BASIC,
        ],
        port=port,
        ready=False,
    )
    assert notify.until("STATUS=")[0] == "STATUS=initializing polyhost"
    ready = notify.until("READY=1")
    assert "STATUS=polyhost is ready: 0 busy, 2 idle workers" in ready
    workers = read_stats(stats_port)["workers"]
    assert [w["accepting"] for w in workers] == [1, 1]  # both accept when READY=1 arrives
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    notify.until("WATCHDOG=1")
    notify.until("WATCHDOG=1")
    # a request in progress shows in the STATUS line
    slow = threading.Thread(target=lambda: get(port, "/sleep?2", timeout=30), daemon=True)
    slow.start()
    assert "STATUS=polyhost is ready: 1 busy, 1 idle workers" in notify.until(
        "STATUS=polyhost is ready: 1"
    )
    slow.join(30)
    # a reload: RELOADING=1 with the monotonic clock (Type=notify-reload), READY=1 again
    inst.signal(signal.SIGHUP)
    reloading = notify.until("RELOADING=1")
    assert any(line.startswith("MONOTONIC_USEC=") and line[15:].isdigit() for line in reloading)
    notify.until("READY=1")
    assert get(port, "/").startswith(b"HTTP/1.1 200")
    inst.signal(signal.SIGINT)
    assert "STOPPING=1" in notify.until("STOPPING=1")
    assert inst.proc.wait(30) == 0


def test_socket_activation_gives_each_fd_its_socket_option(polyhost, tmp_path: Path) -> None:
    http_port, uwsgi_port, named_port, plain_port, fd_port = (free_port() for _ in range(5))
    unix = tmp_path / "uwsgi.sock"
    inst = polyhost(
        [
            "--listen",
            f"127.0.0.1:{http_port}",  # fd 3
            "--listen",
            f"127.0.0.1:{uwsgi_port}",  # fd 4
            "--listen",
            f"127.0.0.1:{named_port}=http",  # fd 5
            "--listen",
            f"127.0.0.1:{plain_port}",  # fd 6
            "--listen",
            f"127.0.0.1:{fd_port}",  # fd 7
            "--listen",
            str(unix),  # fd 8
            "--",
            *POLYHOST,
            "--http-socket",
            f"127.0.0.1:{http_port}",
            "--socket",
            f"127.0.0.1:{uwsgi_port}",
            "--socket",
            "fd://7",
            "--socket",
            str(unix),
            BASIC,
        ],
        port=http_port,
        program=ACTIVATE,
    )
    log = inst.log()
    assert "- SystemD socket activation detected -" in log
    assert f"systemd socket activation: fd 3 is http-socket = 127.0.0.1:{http_port}" in log
    assert f"systemd socket activation: fd 4 is socket = 127.0.0.1:{uwsgi_port}" in log
    assert "systemd socket activation: fd 7 is socket = fd://7" in log
    assert f"systemd socket activation: fd 8 is socket = {unix}" in log
    assert f"fd 5 (127.0.0.1:{named_port}, http) serves the http protocol" in log
    assert f"fd 6 (127.0.0.1:{plain_port}, unknown) serves the uwsgi protocol" in log

    def serves_all() -> None:
        assert get(http_port, "/").startswith(b"HTTP/1.1 200")
        assert get(named_port, "/").startswith(b"HTTP/1.1 200")
        for port in (uwsgi_port, plain_port, fd_port):
            assert uwsgi_request(port, UWSGI_ENV).startswith(b"HTTP/1.1 200")
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(str(unix))
            from polyhost.protocol.uwsgi import encode_vars, pack_header

            block = encode_vars(UWSGI_ENV)
            client.sendall(pack_header(0, len(block), 0) + block)
            assert client.recv(64).startswith(b"HTTP/1.1 200")

    serves_all()
    # a reload keeps every passed socket (the LISTEN_* variables are gone: no second detection)
    inst.signal(signal.SIGHUP)
    wait_for(lambda: inst.log().count("spawned polyhost worker") >= 2, 30, "the reload")
    wait_for(lambda: _answers(http_port), 30, "serving after the reload")
    serves_all()
    assert inst.log().count("- SystemD socket activation detected -") == 1


def test_uwsgi_attaches_every_passed_fd_as_a_uwsgi_socket(polyhost) -> None:
    """The reference: uWSGI 2.0 ignores which option names the address and speaks uwsgi on
    every passed fd (so an http-socket passed by systemd answers no HTTP)."""
    http_port = free_port()
    inst = polyhost(
        [
            "--listen",
            f"127.0.0.1:{http_port}",
            "--",
            *UWSGI,
            "--http-socket",
            f"127.0.0.1:{http_port}",
            BASIC,
        ],
        port=http_port,
        ready=False,
        program=ACTIVATE,
    )
    inst.wait_log("- SystemD socket activation detected -")
    inst.wait_log("spawned uWSGI worker 1")
    assert uwsgi_request(http_port, UWSGI_ENV).startswith(b"HTTP/1.1 200")
    stop_uwsgi(inst)


def _answers(port: int) -> bool:
    try:
        return get(port, "/", timeout=2).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
