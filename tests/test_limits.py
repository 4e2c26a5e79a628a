"""Nothing untrusted sizes memory (issue 13): a declared size from the wire is checked against
its limit before anything is buffered, and refused with a log line."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

from polyhost.protocol.uwsgi import encode_vars, pack_header

from conftest import APPS, Instance, serving


def worker_rss_kib(instance: Instance) -> int:
    total = 0
    for pid in instance.worker_pids():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total = max(total, int(line.split()[1]))
    return total


def test_a_cache_set_declaring_a_huge_value_is_refused_before_reading(tmp_path: Path) -> None:
    args = ["--wsgi-file", str(APPS / "wsgi" / "basic.py"), "--cache2", "name=c,items=10"]
    with serving(tmp_path, args, uwsgi_socket=True) as inst:
        before = worker_rss_kib(inst)
        for _ in range(3):
            block = encode_vars({"cmd": "set", "key": "k", "size": str(1 << 30), "cache": "c"})
            with socket.create_connection(("127.0.0.1", inst.uwsgi_port), timeout=10) as sock:
                sock.sendall(pack_header(111, len(block), 17) + block)
                with contextlib.suppress(OSError):  # the peer may close while we send
                    sock.sendall(b"x" * (4 << 20))
                with contextlib.suppress(ConnectionResetError):
                    assert sock.recv(4) == b""  # no reply: the connection is closed
        log = inst.wait_log("declares a value of 1073741824 bytes, over the 65536-byte item limit")
        assert "refused before reading it" in log
        assert worker_rss_kib(inst) - before < 32 * 1024


def fcgi_record(rtype: int, request_id: int, content: bytes) -> bytes:
    import struct

    return struct.pack(">BBHHBx", 1, rtype, request_id, len(content), 0) + content


def test_limits_on_every_socket_type(tmp_path: Path) -> None:
    from conftest import free_port, get, http_request, split_response

    fcgi = free_port()
    args = [
        "--wsgi-file", str(APPS / "wsgi" / "basic.py"),
        "--limit-post", "1000",
        "--fastcgi-socket", f"127.0.0.1:{fcgi}",
    ]  # fmt: skip
    with serving(tmp_path, args, uwsgi_socket=True) as inst:
        # limit-post: a declared body over the limit is a 413, before a byte of it is read
        head = (
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\nConnection: close\r\n\r\n"
        )
        status, _, _ = split_response(http_request(inst.port, head.encode() + b"x" * 1000))
        assert status == 413
        inst.wait_log("refused: 5000000 bytes over limit-post 1000")
        small = (
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
        )
        assert split_response(http_request(inst.port, small.encode()))[0] == 200
        # FastCGI: PARAMS records past buffer-size close the connection with a log line
        begin = fcgi_record(1, 1, bytes([0, 1, 0, 0, 0, 0, 0, 0]))
        param = b"\x04\x7f" + b"NAME" + b"v" * 127
        with socket.create_connection(("127.0.0.1", fcgi), timeout=10) as sock:
            sock.sendall(begin)
            with contextlib.suppress(OSError):
                for _ in range(200):  # 26 KB of params, never terminated
                    sock.sendall(fcgi_record(4, 1, param))
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(100) == b""
        inst.wait_log("FastCGI params of request 1 over 4096 bytes: raise buffer-size")
        # client bytes never reach the log raw: a uwsgi packet with CR/LF/ESC in its vars
        block = encode_vars(
            {
                "REQUEST_METHOD": "GET",
                "REQUEST_URI": "/x\r\n[pid: 1|app: 0|req: 1/1] forged\x1b[31m",
                "PATH_INFO": "/x",
                "QUERY_STRING": "",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REMOTE_ADDR": "127.0.0.1",
                "SERVER_NAME": "t",
                "SERVER_PORT": "80",
            }
        )
        with socket.create_connection(("127.0.0.1", inst.uwsgi_port), timeout=10) as sock:
            sock.sendall(pack_header(0, len(block), 0) + block)
            while sock.recv(65536):
                pass
        log = inst.wait_log("/x\\x0d\\x0a[pid: 1|app: 0|req: 1/1] forged\\x1b[31m")
        assert not any(
            line.startswith("[pid: 1|app: 0|req: 1/1] forged") for line in log.splitlines()
        )
        assert split_response(get(inst.port, "/"))[0] == 200
