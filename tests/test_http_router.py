"""The `--http` router's request path (issue 11 points 1, 3, 4): keep-alive, pipelining, chunked
in and out, http-socket's 400/413/414/431, 502/504, http-to round robin with a dead node skipped,
a router-only instance without an app, http-var, auto-gzip, WebSocket pass-through, a 1 GiB
download with flat router RSS, 1,000 idle connections, a SIGHUP reload under load with no
failure, http-processes."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import pwd
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import (
    APPS,
    Instance,
    free_port,
    get,
    http_request,
    serving,
    split_response,
    under_load,
    wait_for,
)
from router_helper import router_pids, start_router

BASIC = str(APPS / "wsgi" / "basic.py")
EDGES = str(APPS / "wsgi" / "router_edges.py")


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    stats_port = free_port()
    inst = start_router(
        tmp_path_factory.mktemp("router"),
        [
            "--wsgi-file", BASIC,
            "--mount", f"/edges={EDGES}",
            "--processes", "2",
            "--http-keepalive",
            "--http-auto-chunked",
            "--http-auto-gzip",
            "--http-timeout", "3",
            "--http-var", "X_ROUTER=yes",
            "--limit-post", "100000",
            "--stats", f"127.0.0.1:{stats_port}",
        ],
    )  # fmt: skip
    inst.stats_port = stats_port  # type: ignore[attr-defined]
    try:
        yield inst
    finally:
        assert inst.stop() == 0


class Client:
    """One kept-alive connection reading responses one at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        status, headers, _ = split_response(head + b"\r\n\r\n")
        if status < 200 or status in (204, 304):
            body = b""
        elif "content-length" in headers:
            size = int(headers["content-length"])
            while len(self.buf) < size:
                self._fill()
            body, self.buf = self.buf[:size], self.buf[size:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(line, 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body, self.buf = body + self.buf[:size], self.buf[size + 2 :]
                if size == 0:
                    break
        else:
            with contextlib.suppress(ConnectionError):
                while True:
                    self._fill()
            body, self.buf = self.buf, b""
        return status, headers, body

    def close(self) -> None:
        self.sock.close()


def request(path: str, extra: str = "", method: str = "GET", body: bytes = b"") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode() + body


# -- keep-alive, pipelining, chunking -----------------------------------------------------------
def test_two_requests_on_one_kept_alive_connection(router: Instance) -> None:
    client = Client(router.port)
    try:
        for _ in range(2):
            client.send(request("/"))
            status, headers, body = client.response()
            assert (status, body) == (200, b"Hello World")
            assert headers.get("connection") != "close"
    finally:
        client.close()


def test_repeated_requests_reuse_nothing_stale(router: Instance) -> None:
    """The router reuses the last packet for a repeated request and the last backend head for
    a repeated response: a changed var, a HEAD or an HTTP/1.0 request between them each get
    their own."""
    client = Client(router.port)
    try:
        seen = []
        for query in ("a=1", "a=1", "a=2", "a=1"):
            client.send(request(f"/env?{query}", "X-Seq: s\r\n"))
            seen.append(json.loads(client.response()[2])["QUERY_STRING"])
        assert seen == ["a=1", "a=1", "a=2", "a=1"]
        client.send(request("/"))
        assert client.response()[2] == b"Hello World"
        client.send(request("/", method="HEAD") + request("/"))
        while client.buf.count(b"\r\n\r\n") < 2:
            client._fill()
        head, _, client.buf = client.buf.partition(b"\r\n\r\n")
        assert b"Content-Length: 11" in head  # the HEAD's head, with no body behind it
        assert client.buf.startswith(b"HTTP/1.1 200")
        assert client.response()[2] == b"Hello World"
        client.send(b"GET / HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n")
        status, headers, body = client.response()
        assert (status, body, headers["connection"]) == (200, b"Hello World", "keep-alive")
        client.send(request("/"))
        status, headers, body = client.response()
        assert (status, body, headers.get("connection")) == (200, b"Hello World", None)
    finally:
        client.close()


def test_pipelined_requests_are_answered_in_order(router: Instance) -> None:
    client = Client(router.port)
    try:
        client.send(request("/sleep?0.3") + request("/pid") * 3)
        assert client.response()[2] == b"slept"
        pids = {client.response()[2] for _ in range(3)}
        assert all(p.isdigit() for p in pids)
    finally:
        client.close()


def test_unknown_method_pipelined_behind_a_body_reaches_the_app(router: Instance) -> None:
    """The stand-in method applies to every request of a connection, not only its first."""
    client = Client(router.port)
    try:
        client.send(
            request("/env", "Content-Length: 5\r\n", "POST", b"hello") + request("/env", "", "FOO")
        )
        methods = [json.loads(client.response()[2])["REQUEST_METHOD"] for _ in range(2)]
        assert methods == ["POST", "FOO"]
    finally:
        client.close()


def test_chunked_request_body_reaches_the_app_dechunked(router: Instance) -> None:
    raw = request(
        "/echo", "Transfer-Encoding: chunked\r\nConnection: close\r\n", "POST",
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
    )  # fmt: skip
    status, _headers, body = split_response(http_request(router.port, raw))
    assert (status, body) == (200, b"hello world")


def test_response_without_length_is_chunked_by_the_router(router: Instance) -> None:
    client = Client(router.port)
    try:
        client.send(request("/stream"))
        _status, headers, body = client.response()
        assert headers["transfer-encoding"] == "chunked" and body == b"one two three"
        client.send(request("/"))  # the connection survived the chunked response
        assert client.response()[2] == b"Hello World"
    finally:
        client.close()


def test_http10_response_without_length_closes(router: Instance) -> None:
    raw = http_request(router.port, b"GET /stream HTTP/1.0\r\n\r\n")
    status, headers, body = split_response(raw)
    assert (status, headers["connection"], body) == (200, "close", b"one two three")


def test_expect_continue_and_post_body(router: Instance) -> None:
    client = Client(router.port)
    try:
        client.send(request("/echo", "Content-Length: 4\r\nExpect: 100-continue\r\n", "POST"))
        assert client.response()[0] == 100
        client.send(b"data")
        assert client.response()[1:] == ({"content-type": "application/octet-stream",
                                          "content-length": "4"}, b"data")  # fmt: skip
    finally:
        client.close()


def test_auto_gzip_compresses_what_the_app_asked_for(router: Instance) -> None:
    raw = http_request(router.port, request("/edges/gzip", "Connection: close\r\n"))
    _status, headers, body = split_response(raw)
    assert headers["content-encoding"] == "gzip" and "uwsgi-encoding" not in headers
    assert gzip.decompress(body) == b"compress me " * 100


def test_http_var_and_client_vars_reach_the_app(router: Instance) -> None:
    _status, _, body = split_response(get(router.port, "/env"))
    env = json.loads(body)
    assert env["X_ROUTER"] == "yes" and env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(router.port) and env["wsgi.url_scheme"] == "http"


# -- what the router refuses, as http-socket does -------------------------------------------
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n", 431),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n", 413),
    ],
)
def test_bad_requests_get_http_sockets_answers(router: Instance, raw: bytes, status: int) -> None:
    assert split_response(http_request(router.port, raw))[0] == status


def _answer_after_sending(port: int, raw: bytes) -> bytes:
    """Send all of `raw` (the router refuses it early), then read the answer to the end; a
    reset raises instead of passing for an end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
        return b"".join(chunks)


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 400000\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    ],
)
def test_refusal_drains_the_request_so_the_client_reads_the_answer(
    router: Instance, head: bytes, status: int
) -> None:
    """Lingering close: after a 400/413 the router stops sending (FIN) and drops what the
    client still sends before it closes, so the close is no reset that could discard the
    answer in the client's buffer, and the client's own send does not fail."""
    for _ in range(3):
        raw = _answer_after_sending(router.port, head + b"x" * 400000)
        assert split_response(raw)[0] == status


def test_client_bytes_are_escaped_in_the_log(router: Instance) -> None:
    http_request(router.port, b"GET /\x1b[31mred HTTP/1.1\r\nHost: t\r\n\r\n")
    assert "\x1b[31m" not in router.log()


def test_slow_backend_gets_504(router: Instance) -> None:
    assert split_response(get(router.port, "/sleep", timeout=20))[0] == 200  # 1 s: within 3
    raw = http_request(router.port, request("/sleep?6", "Connection: close\r\n"), timeout=20)
    assert split_response(raw)[0] == 504
    router.wait_log("504 no response from the backend in 3s")


# -- WebSockets ---------------------------------------------------------------------------------
def test_websocket_passes_through(tmp_path: Path) -> None:
    websockets = pytest.importorskip("websockets.sync.client")
    inst = start_router(
        tmp_path, ["--wsgi-file", str(APPS / "wsgi" / "ws_echo.py"), "--http-websockets"]
    )
    try:
        with websockets.connect(f"ws://127.0.0.1:{inst.port}/", open_timeout=10) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "hello"
            ws.send("bin")
            assert ws.recv(timeout=10) == b"\x00\x01\xff"
    finally:
        assert inst.stop() == 0


# -- nodes: http-to, dead nodes, 502 --------------------------------------------------------
def test_router_only_instance_round_robins_and_skips_a_dead_node(tmp_path: Path) -> None:
    dead = free_port()
    with serving(tmp_path, ["--wsgi-file", BASIC], uwsgi_socket=True) as backend:
        live = f"127.0.0.1:{backend.uwsgi_port}"
        inst = start_router(
            tmp_path,
            ["--http-to", f"127.0.0.1:{dead}", "--http-to", live, "--http-gracetime", "60"],
        )
        try:
            for _ in range(4):
                assert split_response(get(inst.port, "/"))[2] == b"Hello World"
            log = inst.log()
            assert f'unable to connect() to node "127.0.0.1:{dead}"' in log
            assert f"t => marking 127.0.0.1:{dead} as failed" in log
            assert log.count("unable to connect()") == 1  # skipped during its grace time
            assert "no app configured" not in log and "spawned polyhost worker" not in log
        finally:
            assert inst.stop() == 0


def test_no_live_node_is_a_502(tmp_path: Path) -> None:
    inst = start_router(tmp_path, ["--http-to", f"127.0.0.1:{free_port()}"])
    try:
        assert split_response(get(inst.port, "/"))[0] == 502
    finally:
        assert inst.stop() == 0


# -- the router protects the workers -------------------------------------------------------
def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_one_gib_download_keeps_router_rss_flat(router: Instance) -> None:
    [pid] = router_pids(router)
    before = _rss_kib(pid)
    peak = before
    received = 0
    with socket.create_connection(("127.0.0.1", router.port), timeout=30) as sock:
        sock.sendall(request("/edges/big?1024", "Connection: close\r\n"))
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
            if received % (64 << 20) < len(chunk):
                peak = max(peak, _rss_kib(pid))
    assert received > 1 << 30
    assert peak - before < 64 * 1024, (before, peak)


def test_thousand_idle_connections_do_not_hold_a_worker(router: Instance) -> None:
    idle = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", router.port), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\n")  # a head that never ends
            idle.append(sock)
        assert split_response(get(router.port, "/"))[2] == b"Hello World"
    finally:
        for sock in idle:
            sock.close()


def test_sighup_reload_under_load_fails_no_request(router: Instance) -> None:
    def request() -> str | None:
        status = split_response(get(router.port, "/", timeout=30))[0]
        return None if status == 200 else str(status)

    with under_load(request) as progress:
        progress("load before the reload")
        before = set(router.worker_pids())
        router.signal(1)
        wait_for(lambda: router.log().count("kept running through the reload") >= 1, 30)
        wait_for(lambda: len(set(router.worker_pids()) - before) >= 2, 30, "new workers")
        progress("load after the reload")


def test_http_processes_start_several_routers(tmp_path: Path) -> None:
    stats_port = free_port()
    inst = start_router(
        tmp_path,
        ["--wsgi-file", BASIC, "--http-processes", "2", "--stats", f"127.0.0.1:{stats_port}"],
    )
    inst.stats_port = stats_port  # type: ignore[attr-defined]
    try:
        pids = router_pids(inst)
        assert len(set(pids)) == 2 and all(pids)
        for _ in range(4):
            assert split_response(get(inst.port, "/"))[2] == b"Hello World"
    finally:
        assert inst.stop() == 0


def test_head_sent_in_small_pieces_is_served(router: Instance) -> None:
    """A head that arrives in several writes is assembled before it goes to a worker."""

    async def slow_client() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", router.port)
        for part in (b"GET / HT", b"TP/1.1\r\nHo", b"st: t\r\nConnection: close\r\n\r\n"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.05)
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return data

    assert split_response(asyncio.run(slow_client()))[2] == b"Hello World"


def test_unfinished_head_is_closed_after_the_headers_timeout(router: Instance) -> None:
    with socket.create_connection(("127.0.0.1", router.port), timeout=20) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # never finished (http-timeout 3 s)
        assert sock.recv(65536) == b""


def test_backend_closing_before_answering_is_a_502(tmp_path: Path) -> None:
    with socket.socket() as backend:
        backend.bind(("127.0.0.1", 0))
        backend.listen(8)
        address = f"127.0.0.1:{backend.getsockname()[1]}"

        def close_each() -> None:
            with contextlib.suppress(OSError):
                conn, _ = backend.accept()
                conn.recv(65536)
                conn.close()

        closer = threading.Thread(target=close_each)  # for start_router's first GET
        closer.start()
        inst = start_router(tmp_path, ["--http-to", address])
        try:
            closer.join(20)
            closer = threading.Thread(target=close_each)
            closer.start()
            status, _, body = split_response(get(inst.port, "/"))
            assert status == 502 and b"closed the connection before answering" in body
            inst.wait_log(f"backend {address} closed the connection before answering")
        finally:
            assert inst.stop() == 0
            closer.join(20)


def test_router_runs_as_http_uid(tmp_path: Path) -> None:
    stats_port = free_port()
    inst = start_router(
        tmp_path,
        ["--wsgi-file", BASIC, "--http-uid", "nobody", "--http-gid", "nogroup",
         "--stats", f"127.0.0.1:{stats_port}"],
    )  # fmt: skip
    inst.stats_port = stats_port  # type: ignore[attr-defined]
    try:
        [pid] = router_pids(inst)
        status = Path(f"/proc/{pid}/status").read_text()
        uid = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid.split()[1] == str(pwd.getpwnam("nobody").pw_uid)
        assert split_response(get(inst.port, "/"))[2] == b"Hello World"
    finally:
        assert inst.stop() == 0


def test_slow_readers_do_not_hold_the_workers(router: Instance) -> None:
    """Both workers answer a 1 MiB response to clients that read nothing: the router takes the
    responses, the workers are free for a third client at once."""
    slow = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", router.port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(request("/edges/big?1", "Connection: close\r\n"))
            slow.append(sock)
        assert split_response(get(router.port, "/", timeout=10))[2] == b"Hello World"
    finally:
        for sock in slow:
            sock.close()


def test_several_http_addresses(tmp_path: Path) -> None:
    second = free_port()
    inst = start_router(tmp_path, ["--wsgi-file", BASIC, "--http", f"127.0.0.1:{second}"])
    try:
        for port in (inst.port, second):
            assert split_response(get(port, "/"))[2] == b"Hello World"
    finally:
        assert inst.stop() == 0
