"""Scoreboard across real forks, harakiri, the stats JSON, the stats server read by uwsgitop."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from polyhost.scoreboard import VARS_CAPACITY, Scoreboard
from polyhost.stats import StatsServer, build_stats, encode_stats

WAIT = 10.0  # seconds any single wait in these tests may take at most

APP = {
    "id": 0,
    "modifier1": 0,
    "mountpoint": "",
    "startup_time": 0,
    "requests": 0,
    "exceptions": 0,
    "chdir": "",
}
SOCKETS = [
    {
        "name": "127.0.0.1:19093",
        "proto": "http",
        "queue": 0,
        "max_queue": 100,
        "shared": 0,
        "can_offload": 0,
    },
]
REQUEST_VARS = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/slow", "PATH_INFO": "/slow"}

# key order of real uWSGI 2.0.21 output (Debian uwsgi-core, `--stats`, one cache)
TOP_KEYS = [
    "version",
    "listen_queue",
    "listen_queue_errors",
    "signal_queue",
    "load",
    "pid",
    "uid",
    "gid",
    "cwd",
    "locks",
    "caches",
    "sockets",
    "workers",
]
WORKER_KEYS = [
    "id",
    "pid",
    "accepting",
    "requests",
    "delta_requests",
    "exceptions",
    "harakiri_count",
    "signals",
    "signal_queue",
    "status",
    "rss",
    "vsz",
    "running_time",
    "last_spawn",
    "respawn_count",
    "tx",
    "avg_rt",
    "websockets",  # polyhost's addition (ASGI): uwsgitop ignores it
    "apps",
    "cores",
]
APP_KEYS = ["id", "modifier1", "mountpoint", "startup_time", "requests", "exceptions", "chdir"]
CORE_KEYS = [
    "id",
    "requests",
    "static_requests",
    "routed_requests",
    "offloaded_requests",
    "write_errors",
    "read_errors",
    "in_request",
    "vars",
    "req_info",
]
CACHE = {
    "name": "c1",
    "hash": "djb33x",
    "hashsize": 65536,
    "keysize": 2048,
    "max_items": 10,
    "blocks": 10,
    "blocksize": 65536,
    "items": 0,
    "hits": 0,
    "miss": 0,
    "full": 0,
    "last_modified_at": 0,
}


class Child:
    """A forked process running `body(board, read_fd, write_fd)`; talks over two pipes."""

    def __init__(self, board: Scoreboard, body: Callable[[Scoreboard, int, int], None]) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 0
            try:
                os.close(self._to_child)
                os.close(self._from_child)
                body(board, to_child_r, from_child_w)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(to_child_r)
        os.close(from_child_w)

    def wait_for(self, expected: bytes) -> None:
        ready, _, _ = select.select([self._from_child], [], [], WAIT)
        assert ready, f"child {self.pid} did not report {expected!r} within {WAIT}s"
        assert os.read(self._from_child, 64) == expected

    def tell(self, message: bytes) -> None:
        os.write(self._to_child, message)

    def join(self) -> int:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self._to_child)
                os.close(self._from_child)
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.01)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"child {self.pid} did not exit within {WAIT}s")


def wait_message(fd: int, expected: bytes) -> None:
    ready, _, _ = select.select([fd], [], [], WAIT)
    assert ready and os.read(fd, 64) == expected


def serve_two_requests(board: Scoreboard, inbox: int, outbox: int) -> None:
    """Worker 1: one finished request, then one left in flight until the parent says "end"."""
    slot = board.worker(1)
    slot.set_accepting(True)
    slot.begin_request(0, REQUEST_VARS, 30)
    slot.end_request(0, 65, 146, 0, False)
    slot.begin_request(0, {**REQUEST_VARS, "PATH_INFO": "/exc"}, 30)
    os.write(outbox, b"busy")
    wait_message(inbox, b"end")
    slot.end_request(0, 0, 200, 0, True)
    os.write(outbox, b"done")


def test_worker_writes_are_seen_by_the_master_across_fork() -> None:
    board = Scoreboard(workers=2, cores=1)
    slot = board.worker(1)
    child = Child(board, serve_two_requests)
    # the child writes before the master published its pid: still counted once published
    child.wait_for(b"busy")
    assert slot.status == "idle" and slot.accepting == 0
    slot.spawned(child.pid)
    assert slot.pid == child.pid
    assert slot.respawn_count == 1  # uWSGI counts the first spawn
    assert slot.accepting == 1
    assert slot.status == "busy"
    assert slot.requests == 1 and slot.delta_requests == 1
    assert slot.tx == 65 and slot.running_time == 146 and slot.avg_rt == 73
    assert slot.busy_since > 0
    core = slot.core(0)
    assert core["in_request"] == 1 and core["requests"] == 1
    assert core["vars"] == ["REQUEST_METHOD=GET", "REQUEST_URI=/slow", "PATH_INFO=/exc", ""]
    assert isinstance(core["req_info"], dict) and core["req_info"]["request_start"] > 0
    deadline = slot.harakiri_deadline
    assert deadline > time.time()
    assert not slot.harakiri_expired(deadline - 1)
    assert slot.harakiri_expired(deadline)

    child.tell(b"end")
    child.wait_for(b"done")
    assert child.join() == 0
    assert slot.status == "idle"
    assert slot.requests == 2 and slot.exceptions == 1
    assert slot.avg_rt == (73 + 200) // 2
    assert slot.harakiri_deadline == 0 and not slot.harakiri_expired(time.time() + 3600)
    assert slot.app_counters(0) == (2, 1)
    assert slot.core(0)["vars"] == [] and slot.core(0)["req_info"] == {}
    assert board.total_requests() == 2
    assert board.worker(2).requests == 0


def die_busy(board: Scoreboard, inbox: int, outbox: int) -> None:
    slot = board.worker(1)
    slot.set_accepting(True)
    slot.begin_request(0, REQUEST_VARS, 1)
    slot.set_user_harakiri(1)
    os.write(outbox, b"busy")
    wait_message(inbox, b"die")
    os._exit(9)  # killed mid-request: its state stays behind in the shared memory


def idle_worker(board: Scoreboard, inbox: int, outbox: int) -> None:
    os.write(outbox, b"up")
    wait_message(inbox, b"write")
    board.worker(1).set_accepting(True)
    os.write(outbox, b"accepting")
    wait_message(inbox, b"exit")


def test_respawn_hides_the_dead_workers_request_and_keeps_counters() -> None:
    board = Scoreboard(workers=1, cores=1)
    slot = board.worker(1)
    first = Child(board, die_busy)
    slot.spawned(first.pid)
    first.wait_for(b"busy")
    assert slot.harakiri_expired(time.time() + 2)
    first.tell(b"die")
    assert first.join() == 9
    slot.exited()
    assert slot.status == "idle" and not slot.harakiri_expired(time.time() + 2)

    second = Child(board, idle_worker)
    second.wait_for(b"up")
    slot.spawned(second.pid)
    # the new process has not written anything yet: the old busy core must not show through
    assert slot.respawn_count == 2
    assert slot.status == "idle" and slot.accepting == 0
    assert slot.core(0)["in_request"] == 0
    assert not slot.harakiri_expired(time.time() + 2)
    second.tell(b"write")
    second.wait_for(b"accepting")
    assert slot.accepting == 1 and slot.delta_requests == 0
    second.tell(b"exit")
    assert second.join() == 0


def test_harakiri_and_user_harakiri_in_process() -> None:
    board = Scoreboard(workers=1, cores=2)
    slot = board.worker(1)
    slot.spawned(os.getpid())
    now = time.time()
    slot.begin_request(1, {}, 0)
    assert slot.harakiri_deadline == 0 and not slot.harakiri_expired(now + 1000)
    slot.set_user_harakiri(5)
    assert slot.user_harakiri_deadline >= now + 5
    assert slot.harakiri_expired(now + 6) and not slot.harakiri_expired(now)
    slot.set_user_harakiri(0)
    assert not slot.harakiri_expired(now + 1000)
    slot.begin_request(0, {}, 2)
    assert slot.harakiri_expired(now + 3)
    slot.end_request(0, 0, 10, -1, False)
    assert slot.status == "busy"  # core 1 still serves
    assert not slot.harakiri_expired(now + 3)
    slot.end_request(1, 0, 10, -1, False)
    assert slot.status == "idle" and slot.busy_since == 0
    slot.harakiri_kill_noted()
    assert slot.harakiri_count == 1


def test_status_cheap_pause_and_signal() -> None:
    board = Scoreboard(workers=1, cores=1)
    slot = board.worker(1)
    slot.spawned(os.getpid())
    slot.begin_signal(17)
    assert slot.status == "sig17"
    slot.end_signal()
    assert slot.status == "idle" and slot.signals == 1
    slot.set_paused(True)
    assert slot.status == "pause"
    slot.begin_request(0, {}, 0)
    assert slot.status == "busy"
    slot.end_request(0, 0, 1, 0, False)
    slot.set_paused(False)
    slot.set_cheap(True)
    assert slot.status == "cheap"


def test_vars_are_cut_at_a_variable_boundary() -> None:
    board = Scoreboard(workers=1, cores=1)
    slot = board.worker(1)
    slot.spawned(os.getpid())
    many = {f"HTTP_X_{i:03d}": "v" * 40 for i in range(100)}
    slot.begin_request(0, many, 0)
    shown = slot.core(0)["vars"]
    assert isinstance(shown, list) and shown[-1] == ""
    assert all(v == f"HTTP_X_{i:03d}=" + "v" * 40 for i, v in enumerate(shown[:-1]))
    assert sum(len(v) + 1 for v in shown[:-1]) - 1 <= VARS_CAPACITY
    slot.end_request(0, 0, 1, 0, False)
    slot.begin_request(0, {"BIG": "x" * (VARS_CAPACITY * 2)}, 0)
    (big, end) = slot.core(0)["vars"]  # type: ignore[misc]
    assert len(big) == VARS_CAPACITY and end == ""


def sample_board() -> Scoreboard:
    board = Scoreboard(workers=2, cores=1)
    slot = board.worker(1)
    slot.spawned(os.getpid())
    slot.set_accepting(True)
    slot.begin_request(0, REQUEST_VARS, 0)
    slot.end_request(0, 65, 146, 0, False)
    slot.begin_request(0, REQUEST_VARS, 0)
    return board


def sample_stats(board: Scoreboard) -> dict[str, object]:
    return build_stats(
        board, version="2.0.21", pid=os.getpid(), sockets=SOCKETS, apps=[APP], caches=[CACHE]
    )


def test_stats_document_has_uwsgi_keys_and_types() -> None:
    doc = sample_stats(sample_board())
    assert list(doc) == TOP_KEYS
    assert doc["locks"] == [
        {"user 0": 0},
        {"signal": 0},
        {"filemon": 0},
        {"timer": 0},
        {"rbtimer": 0},
        {"cron": 0},
        {"rpc": 0},
        {"snmp": 0},
        {"cache_c1": 0},
    ]
    assert doc["uid"] == os.getuid() and doc["cwd"] == os.getcwd()
    workers = doc["workers"]
    assert isinstance(workers, list) and [w["id"] for w in workers] == [1, 2]
    busy, unused = workers
    assert list(busy) == WORKER_KEYS
    for key in WORKER_KEYS:
        if key not in ("status", "apps", "cores"):
            assert type(busy[key]) is int, key
    assert busy["status"] == "busy" and unused["status"] == "idle"
    assert busy["pid"] == os.getpid() and busy["rss"] > 0 and busy["vsz"] >= busy["rss"]
    assert unused["pid"] == 0 and unused["rss"] == 0 and unused["vsz"] == 0
    assert [list(a) for a in busy["apps"]] == [APP_KEYS]
    assert busy["apps"][0]["requests"] == 1
    assert list(busy["cores"][0]) == CORE_KEYS
    assert busy["cores"][0]["vars"][-1] == ""
    assert unused["cores"][0]["req_info"] == {}
    # the JSON itself parses back to the same document, in uWSGI's tab layout
    raw = encode_stats(doc)
    assert raw.startswith(b'{\n\t"version":"2.0.21",\n') and raw.endswith(b"}\n")
    assert json.loads(raw) == doc
    assert b"\n" not in encode_stats(doc, minified=True)
    no_cores = build_stats(
        sample_board(), version="2.0.21", pid=1, sockets=[], apps=[], no_cores=True
    )
    assert "caches" not in no_cores
    assert "cores" not in no_cores["workers"][0]  # type: ignore[index]


def read_until_closed(
    family: socket.AddressFamily, address: str | tuple[str, int], request: bytes = b""
) -> bytes:
    with socket.socket(family, socket.SOCK_STREAM) as client:
        client.settimeout(WAIT)
        client.connect(address)
        if request:
            client.sendall(request)
        chunks = []
        while chunk := client.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_stats_server_tcp_unix_abstract_and_http(tmp_path: Path) -> None:
    board = sample_board()
    path = tmp_path / "stats.sock"
    abstract = f"@polyhost-test-stats-{os.getpid()}"
    servers = [
        StatsServer("127.0.0.1:0", lambda: sample_stats(board)),
        StatsServer(str(path), lambda: sample_stats(board), minified=True),
        StatsServer(abstract, lambda: sample_stats(board)),
        StatsServer("127.0.0.1:0", lambda: sample_stats(board), http=True),
    ]
    for server in servers:
        server.start()
    try:
        tcp, _, _, http = servers
        host, port = tcp.bound_address.rsplit(":", 1)
        for _ in range(2):  # one document per connection, again and again
            doc = json.loads(read_until_closed(socket.AF_INET, (host, int(port))))
            assert doc["workers"][0]["requests"] == 1
        assert path.is_socket()
        raw = read_until_closed(socket.AF_UNIX, str(path))
        assert b"\n" not in raw and json.loads(raw)["version"] == "2.0.21"
        raw = read_until_closed(socket.AF_UNIX, "\0" + abstract[1:])
        assert json.loads(raw)["pid"] == os.getpid()
        host, port = http.bound_address.rsplit(":", 1)
        raw = read_until_closed(socket.AF_INET, (host, int(port)), b"GET / HTTP/1.0\r\n\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.split(b"\r\n") == [
            b"HTTP/1.0 200 OK",
            b"Connection: close",
            b"Access-Control-Allow-Origin: *",
            b"Content-Type: application/json",
        ]
        assert json.loads(body)["sockets"] == SOCKETS
    finally:
        for server in servers:
            server.close()
    assert not path.exists()


def test_stats_server_reports_a_busy_address() -> None:
    first = StatsServer("127.0.0.1:0", dict)
    first.start()
    try:
        second = StatsServer(first.bound_address, dict)
        with pytest.raises(OSError, match="stats server: cannot bind"):
            second.start()
    finally:
        first.close()


def test_forked_children_do_not_keep_the_stats_socket(tmp_path: Path) -> None:
    path = tmp_path / "stats.sock"
    server = StatsServer("127.0.0.1:0", dict)
    server.start()
    unix = StatsServer(str(path), dict)
    unix.start()
    address = server.bound_address
    child = Child(Scoreboard(1, 1), idle_worker)
    try:
        child.wait_for(b"up")
        server.close()
        unix.close()
        assert not path.exists()
        again = StatsServer(address, dict)
        again.start()  # would fail with "address in use" if the child held the listener
        again.close()
    finally:
        child.tell(b"write")
        child.wait_for(b"accepting")
        child.tell(b"exit")
        assert child.join() == 0


def test_a_fork_during_an_answer_does_not_hold_the_client_connection() -> None:
    """The cheaper flake's root cause: the master forked a worker while the stats thread was
    answering; the worker kept a copy of the accepted connection, so the client never saw EOF
    (until that worker exited). A child forked mid-answer must close its copy."""
    answering, proceed = threading.Event(), threading.Event()

    def slow_snapshot() -> dict[str, object]:
        answering.set()
        proceed.wait(WAIT)
        return {"answered": True}

    server = StatsServer("127.0.0.1:0", slow_snapshot)
    server.start()
    host, port = server.bound_address.rsplit(":", 1)
    result: list[bytes] = []
    reader = threading.Thread(
        target=lambda: result.append(read_until_closed(socket.AF_INET, (host, int(port)))),
        daemon=True,
    )
    reader.start()
    child = None
    try:
        assert answering.wait(WAIT), "the stats thread did not start answering"
        child = Child(Scoreboard(1, 1), idle_worker)  # lives on while the answer completes
        child.wait_for(b"up")
        proceed.set()
        reader.join(WAIT)
        assert result, "the client got no EOF while a child forked mid-answer was alive"
        assert json.loads(result[0]) == {"answered": True}
    finally:
        proceed.set()
        server.close()
        if child is not None:
            child.tell(b"write")
            child.wait_for(b"accepting")
            child.tell(b"exit")
            assert child.join() == 0


def test_uwsgitop_reads_the_stats() -> None:
    uwsgitop = Path(sys.executable).with_name("uwsgitop")
    if not uwsgitop.exists():
        pytest.skip("uwsgitop is not installed in this venv (pip install -e .[test])")
    board = sample_board()
    server = StatsServer("127.0.0.1:0", lambda: sample_stats(board))
    server.start()
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    top = subprocess.Popen(
        [str(uwsgitop), server.bound_address],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, "TERM": "xterm"},
        start_new_session=True,
    )
    os.close(terminal)
    screen = b""
    try:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and screen.count(b"idle") + screen.count(b"busy") < 2:
            ready, _, _ = select.select([controller], [], [], 0.2)
            if ready:
                try:
                    screen += os.read(controller, 65536)
                except OSError:
                    break
            if top.poll() is not None:
                break
        assert b"uwsgi-2.0.21" in screen, screen[-2000:]
        assert b"WID" in screen and b"masterpid: %d" % os.getpid() in screen, screen[-2000:]
        assert b"busy" in screen and b"idle" in screen, screen[-2000:]
        os.write(controller, b"q")
        assert top.wait(timeout=WAIT) == 0
    finally:
        if top.poll() is None:
            top.kill()
            top.wait(timeout=WAIT)
        os.close(controller)
        server.close()
