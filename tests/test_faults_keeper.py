"""A worker killed -9 (or by harakiri) loses only the requests it was serving (issue 13): the
master keeps a duplicate of each idle keep-alive connection (polyhost.conn_keeper) and passes
those to the successor, on HTTP and FastCGI sockets, with request threads or async cores; a busy
one, or one with part of its next request read, is lost; the master leaks no fd."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_faults import busy_cores, read_response, read_stats

from polyhost.protocol import fastcgi

from conftest import APPS, Instance, free_port, serving, split_response, wait_for

BASIC = str(APPS / "wsgi" / "basic.py")
PID = b"GET /pid HTTP/1.1\r\nHost: t\r\n\r\n"
#: how many idle keep-alive connections the victim holds in each test
IDLE = 5


class Server:
    """One instance per module: one worker, a FastCGI and a stats socket beside its HTTP one."""

    def __init__(self, inst: Instance, fcgi_port: int, stats_port: int) -> None:
        self.inst, self.fcgi_port, self.stats_port = inst, fcgi_port, stats_port

    @property
    def port(self) -> int:
        assert self.inst.port is not None
        return self.inst.port

    def worker(self) -> int:
        return wait_for(lambda: self.inst.worker_pids(), 20, "a worker")[0]  # type: ignore[index,no-any-return]

    def master_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.inst.pid}/fd"))

    def connect(self, port: int | None = None) -> socket.socket:
        return socket.create_connection(("127.0.0.1", port or self.port), timeout=20)

    def kill_worker(self) -> int:
        """SIGKILL the worker; returns its successor's pid."""
        victim = self.worker()
        os.kill(victim, signal.SIGKILL)
        return wait_for(  # type: ignore[no-any-return]
            lambda: [p for p in self.inst.worker_pids() if p != victim], 20, "the successor"
        )[0]


def server_inode(client: socket.socket) -> str:
    """The inode of the server side of a loopback TCP connection (from /proc/net/tcp)."""
    client_port = f"{client.getsockname()[1]:04X}"
    server_port = f"{client.getpeername()[1]:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{server_port}") and fields[2].endswith(f":{client_port}"):
            return fields[9]
    return ""


def fd_links(pid: int) -> list[str]:
    fd_dir = f"/proc/{pid}/fd"
    links = []
    for fd in os.listdir(fd_dir):
        try:
            links.append(os.readlink(f"{fd_dir}/{fd}"))
        except OSError:
            continue
    return links


def held_by_master(server: Server, client: socket.socket) -> bool:
    """The master holds a duplicate of the server side of `client`'s connection."""
    return f"socket:[{server_inode(client)}]" in fd_links(server.inst.pid)


def master_connections(server: Server) -> int:
    """The master's fds that are client connections (open or already closed by the peer):
    sockets that are neither unix sockets nor listening or UDP ones."""
    own = set()
    for table in ("unix", "udp", "udp6", "tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if table == "unix":
                own.add(fields[6])
            elif not table.startswith("tcp") or fields[3] == "0A":  # UDP, or LISTEN
                own.add(fields[9])
    links = fd_links(server.inst.pid)
    return sum(1 for link in links if link.startswith("socket:[") and link[8:-1] not in own)


def _server(tmp: Path, cores: list[str]) -> Iterator[Server]:
    fcgi_port, stats_port = free_port(), free_port()
    args = ["--wsgi-file", BASIC, *cores, "--disable-logging"]
    args += ["--fastcgi-socket", f"127.0.0.1:{fcgi_port}", "--stats", f"127.0.0.1:{stats_port}"]
    with serving(tmp, args) as inst:
        yield Server(inst, fcgi_port, stats_port)


@pytest.fixture(
    scope="module",
    params=[["--threads", "1"], ["--threads", "2"], ["--gevent", "10", "--gevent-monkey-patch"]],
    ids=["threads1", "threads2", "gevent"],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from _server(tmp_path_factory.mktemp("keeper"), request.param)


def answered_pid(sock: socket.socket) -> int:
    status, _, body = read_response(sock)
    assert status == 200, body
    return int(body)


def kept_connections(server: Server, count: int) -> list[socket.socket]:
    """`count` keep-alive connections, each answered once (so idle, kept by the master)."""
    socks = [server.connect() for _ in range(count)]
    for sock in socks:
        sock.sendall(PID)
        answered_pid(sock)
    # the hand-off follows the answer: a kill in between loses the connection
    wait_for(lambda: all(held_by_master(server, s) for s in socks), 10, "the duplicates")
    return socks


def pipelined_pids(sock: socket.socket, count: int) -> list[int]:
    """The bodies of `count` pipelined /pid answers (each with a Content-Length)."""
    data = b""
    pids: list[int] = []
    while len(pids) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) if sep else -1
        if sep and len(rest) >= length:
            pids.append(int(rest[:length]))
            data = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(pids)} answers"
        data += chunk
    return pids


def busy_connection(server: Server) -> socket.socket:
    """A connection whose request sleeps in the worker (every core busy with one)."""
    sock = server.connect()
    sock.sendall(b"GET /sleep?30 HTTP/1.1\r\nHost: t\r\n\r\n")
    wait_for(lambda: sum(busy_cores(server.stats_port).values()) >= 1, 20, "the sleep request")
    return sock


def lost(sock: socket.socket) -> bool:
    """The connection was closed (or reset) without an answer."""
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


def test_idle_connections_with_a_request_sent_are_answered_by_the_successor(
    server: Server,
) -> None:
    idle = kept_connections(server, IDLE)
    busy = busy_connection(server)
    # with one request thread the worker sleeps and these wait unread in the kernel; with two
    # the second thread would answer them, so their request goes just after the kill
    threads = len(read_stats_cores(server))
    if threads == 1:
        for sock in idle:
            sock.sendall(PID)
    successor = server.kill_worker()
    if threads > 1:
        for sock in idle:
            sock.sendall(PID)
    assert [answered_pid(sock) for sock in idle] == [successor] * IDLE
    assert lost(busy)  # the one it was serving
    for sock in [*idle, busy]:
        sock.close()
    server.inst.wait_log(f"{IDLE} idle keep-alive connection(s) passed to worker 1")


def read_stats_cores(server: Server) -> list[object]:
    return read_stats(server.stats_port)["workers"][0]["cores"]  # type: ignore[no-any-return]


def test_pipelined_requests_then_idle_survive_and_a_half_read_one_is_lost(
    server: Server,
) -> None:
    pipelined = server.connect()
    pipelined.sendall(PID * 3)  # three answers, then idle with nothing buffered: kept
    victim = set(pipelined_pids(pipelined, 3))
    wait_for(lambda: held_by_master(server, pipelined), 10, "the duplicate")
    half = server.connect()
    half.sendall(PID + PID[:10])  # answered, then part of the next head sits in user space
    assert answered_pid(half) in victim
    wait_for(lambda: not sum(busy_cores(server.stats_port).values()), 20, "an idle worker")
    successor = server.kill_worker()
    pipelined.sendall(PID)
    assert answered_pid(pipelined) == successor
    half.sendall(PID[10:])
    assert lost(half)  # busy: its buffered bytes died with the worker
    pipelined.close()
    half.close()


def fcgi_request(path: str, keep: bool = True) -> bytes:
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": ""}
    begin = fastcgi.BEGIN_BODY.pack(fastcgi.RESPONDER, fastcgi.KEEP_CONN if keep else 0)
    return (
        fastcgi.record(fastcgi.BEGIN_REQUEST, 1, begin)
        + fastcgi.record(fastcgi.PARAMS, 1, fastcgi.encode_pairs(env))
        + fastcgi.record(fastcgi.PARAMS, 1)
        + fastcgi.record(fastcgi.STDIN, 1)
    )


def fcgi_answer(sock: socket.socket) -> bytes:
    """The STDOUT of one FastCGI answer, read up to its END_REQUEST."""
    reader = fastcgi.RecordReader()
    out = b""
    while True:
        while (rec := reader.next_record()) is not None:
            if rec[0] == fastcgi.END_REQUEST:
                return out
            out += rec[2]
        chunk = sock.recv(65536)
        assert chunk, f"closed after {out!r}"
        reader.feed(chunk)


def test_a_fastcgi_keep_conn_connection_outlives_the_worker(server: Server) -> None:
    sock = server.connect(server.fcgi_port)
    sock.sendall(fcgi_request("/pid"))
    victim = int(fcgi_answer(sock).split(b"\r\n\r\n", 1)[1])
    wait_for(lambda: held_by_master(server, sock), 10, "the duplicate")
    successor = server.kill_worker()
    assert successor != victim
    sock.sendall(fcgi_request("/pid"))
    assert int(fcgi_answer(sock).split(b"\r\n\r\n", 1)[1]) == successor
    sock.close()


def test_the_master_leaks_no_duplicate(server: Server) -> None:
    """Duplicates of connections the worker closed go within a loop turn or two; Connection:
    close traffic and FastCGI connections without KEEP_CONN leave none either."""
    server.worker()
    wait_for(lambda: master_connections(server) == 0, 10, "no duplicate in the master")
    base = server.master_fds()
    socks = kept_connections(server, 10)
    assert master_connections(server) == 10 and server.master_fds() == base + 10
    for sock in socks:
        sock.close()  # the worker reads the EOF, frees the slot; the master closes its dup
    wait_for(lambda: server.master_fds() == base, 10, f"the master back to {base} fds")
    for _ in range(5):
        with server.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert split_response(sock.recv(65536))[0] == 200
        with server.connect(server.fcgi_port) as sock:
            sock.sendall(fcgi_request("/", keep=False))
            assert fcgi_answer(sock).endswith(b"Hello World")
    (last,) = kept_connections(server, 1)  # hand-offs are read in order: all before it are in
    assert server.master_fds() == base + 1
    last.close()


def test_harakiri_loses_the_stuck_request_only(tmp_path: Path) -> None:
    args = ["--wsgi-file", BASIC, "--harakiri", "2", "--disable-logging"]
    with serving(tmp_path, args) as inst:
        server = Server(inst, 0, 0)
        idle = kept_connections(server, IDLE)
        victim = server.worker()
        stuck = server.connect()
        stuck.sendall(b"GET /sleep?30 HTTP/1.1\r\nHost: t\r\n\r\n")
        for sock in idle:  # unread while the worker is stuck
            sock.sendall(PID)
        answers = [answered_pid(sock) for sock in idle]
        assert victim not in answers and len(set(answers)) == 1
        assert read_response(stuck)[0] == 504
        inst.wait_log("*** HARAKIRI ON WORKER 1")
        for sock in [*idle, stuck]:
            sock.close()


def test_a_kept_connection_lent_to_an_offload_thread_gets_its_whole_file(tmp_path: Path) -> None:
    """With offload-threads the worker never shuts a kept connection down (an offload thread
    still sends on it): the master drops its duplicate when told, and the file arrives whole."""
    served = tmp_path / "served"
    served.mkdir()
    big = os.urandom(1 << 24)  # more than loopback buffers hold: sent after the drop
    (served / "big.bin").write_bytes(big)
    args = ["--wsgi-file", BASIC, "--static-map", f"/s={served}", "--offload-threads", "1"]
    with serving(tmp_path, [*args, "--disable-logging"]) as inst:
        server = Server(inst, 0, 0)
        (sock,) = kept_connections(server, 1)
        sock.sendall(b"GET /s/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
        _, headers, body = split_response(data)
        assert headers["content-length"] == str(len(big)) and body == big
        wait_for(lambda: master_connections(server) == 0, 10, "the master to drop its duplicate")
        sock.close()


def test_max_requests_recycling_loses_nothing_and_leaves_no_duplicate(tmp_path: Path) -> None:
    """A recycled worker stops gracefully: its kept connections are answered, then closed
    (`Connection: close`), and the master drops their duplicates."""
    args = ["--wsgi-file", BASIC, "--max-requests", "3", "--min-worker-lifetime", "0"]
    with serving(tmp_path, args) as inst:
        server = Server(inst, 0, 0)
        first, second = kept_connections(server, 2)
        victim = server.worker()
        first.sendall(PID)  # the third request: the worker recycles after it
        assert answered_pid(first) == victim
        second.sendall(PID)  # within the stopping worker's grace: answered, then closed
        status, headers, body = read_response(second)
        assert (status, headers.get("connection"), int(body)) == (200, "close", victim)
        assert lost(second)
        first.close()
        second.close()
        wait_for(lambda: master_connections(server) == 0, 10, "no duplicate in the master")
        inst.wait_log("The work of process")
        with server.connect() as sock:
            sock.sendall(PID)
            assert answered_pid(sock) != victim


def test_without_keep_idle_connections_the_idle_ones_die_with_the_worker(tmp_path: Path) -> None:
    args = ["--wsgi-file", BASIC, "--keep-idle-connections=false", "--disable-logging"]
    with serving(tmp_path, args) as inst:
        server = Server(inst, 0, 0)
        socks = [server.connect() for _ in range(2)]
        for sock in socks:
            sock.sendall(PID)
            answered_pid(sock)
        assert master_connections(server) == 0
        server.kill_worker()
        for sock in socks:
            sock.sendall(PID)
            assert lost(sock)
            sock.close()
