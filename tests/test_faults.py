"""Process hygiene under faults (issue 13): nothing serves on once the master is gone, even
killed with SIGKILL; a killed instance's shared state is reclaimed by the next start; a reload
closes keep-alive connections between requests; a worker killed -9 loses only the request it
was serving; stats on every interface are warned about."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

from conftest import APPS, free_port, get, split_response, wait_for

BASIC = str(APPS / "wsgi" / "basic.py")


def session_members(session: int) -> list[int]:
    """PIDs of the live (not zombie) processes of a session."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session and fields[0] != "Z":
            members.append(int(entry))
    return members


def test_every_process_dies_with_a_master_killed_by_sigkill(polyhost, tmp_path: Path) -> None:
    port = free_port()
    spool = tmp_path / "spool"
    spool.mkdir()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--threads",
            "2",
            "--mount",
            f"/={APPS / 'wsgi' / 'basic.py'}",
            "--mount",
            f"/pl={APPS / 'psgi' / 'hello.psgi'}",
            "--mount",
            f"/rb={APPS / 'rack' / 'hello.ru'}",
            "--mount",
            f"/php={APPS / 'php'}",
            "--mule",
            "--spooler",
            str(spool),
            "--cache2",
            "name=c,items=10",
        ],
        port=port,
    )
    for path in ("/", "/pl/", "/rb/", "/php/hello.php") * 3:
        status, _, body = split_response(get(port, path))
        assert status == 200, (path, body)
    before = session_members(inst.pid)
    assert len(before) >= 8, before  # master, 2 workers, mule, spooler, perl, ruby, php-cgi
    shared = Path(f"/dev/shm/polyhost-{inst.pid}")
    assert shared.is_dir()
    os.kill(inst.pid, signal.SIGKILL)
    wait_for(lambda: not session_members(inst.pid), 5, f"every process of {before} to exit")
    # a restart binds the same port, and reclaims the dead instance's shared state
    again = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            str(APPS / "wsgi" / "basic.py"),
            "--cache2",
            "name=c,items=10",
        ],
        port=port,
    )
    assert split_response(get(port, "/"))[0] == 200
    assert not shared.exists()
    assert again.proc.poll() is None


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {data!r}"
        data += chunk
    status, headers, body = split_response(data)
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection in the middle of the body"
        body += chunk
    return status, headers, body


def test_a_reload_closes_keep_alive_connections_between_requests(polyhost) -> None:
    """An idle keep-alive connection of a stopping worker still gets its next request, answered
    with Connection: close, instead of being closed under it."""
    port = free_port()
    inst = polyhost(["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC], port=port)
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        status, headers, _ = read_response(sock)
        assert status == 200 and "connection" not in headers
        inst.signal(signal.SIGHUP)
        inst.wait_log("idle keep-alive connection(s) get 2s for one more request")
        sock.sendall(request)
        status, headers, body = read_response(sock)
        assert (status, headers["connection"], body) == (200, "close", b"Hello World")
        assert sock.recv(100) == b""  # then a clean close
    inst.wait_log("binary reloading")
    wait_for(lambda: split_response(get(port, "/"))[0] == 200, 20, "the reloaded workers")


def busy_workers(stats_port: int) -> list[int]:
    with socket.create_connection(("127.0.0.1", stats_port), timeout=5) as sock:
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return [w["pid"] for w in json.loads(data)["workers"] if w["status"] == "busy"]


def test_a_worker_killed_by_sigkill_loses_only_the_request_it_serves(polyhost) -> None:
    """Each worker accepts only the connection it is about to serve: the others wait in the
    listen queue, and are served by the other worker once one is killed mid-request."""
    port, stats_port = free_port(), free_port()
    args = ["--http-socket", f"127.0.0.1:{port}", "--processes", "2", "--wsgi-file", BASIC]
    inst = polyhost([*args, "--stats", f"127.0.0.1:{stats_port}"], port=port)
    results: list[object] = [None] * 5

    def client(index: int) -> None:
        try:
            results[index] = split_response(get(port, "/sleep?2", timeout=60))[0]
        except (OSError, IndexError) as exc:  # reset, or closed before a byte was sent
            results[index] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    try:
        busy = wait_for(lambda: len(busy_workers(stats_port)) == 2 and busy_workers(stats_port))
        os.kill(busy[0], signal.SIGKILL)  # type: ignore[index]
    finally:
        for thread in threads:
            thread.join(60)
    assert results.count(200) == 4, results
    inst.wait_log("died, killed by signal 9")


def test_stats_on_every_interface_warns(polyhost) -> None:
    port, stats_port = free_port(), free_port()
    args = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC]
    inst = polyhost([*args, "--stats", f":{stats_port}"], port=port)
    inst.wait_log(f"the stats server on 0.0.0.0:{stats_port} is reachable from other hosts")
    assert busy_workers(stats_port) == []


def test_http_keepalive_below_15_seconds_is_honoured(polyhost) -> None:
    port = free_port()
    args = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC, "--http-keepalive", "2"]
    polyhost(args, port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock)[0] == 200
        answered = time.monotonic()
        assert sock.recv(100) == b""  # the idle connection is closed by the server ...
        assert 1.5 < time.monotonic() - answered < 14  # ... after http-keepalive, not 15 s


def test_harakiri_on_a_fastcgi_socket_answers_in_fastcgi_records(polyhost) -> None:
    """The 504 harakiri sends is a FastCGI answer there (STDOUT, END_REQUEST), not raw HTTP."""
    from polyhost.protocol import fastcgi

    port, fcgi_port = free_port(), free_port()
    args = ["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC, "--harakiri", "1"]
    inst = polyhost([*args, "--fastcgi-socket", f"127.0.0.1:{fcgi_port}"], port=port)
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/sleep", "QUERY_STRING": "20"}
    begin = fastcgi.BEGIN_BODY.pack(fastcgi.RESPONDER, 0)
    request = (
        fastcgi.record(fastcgi.BEGIN_REQUEST, 1, begin)
        + fastcgi.record(fastcgi.PARAMS, 1, fastcgi.encode_pairs(env))
        + fastcgi.record(fastcgi.PARAMS, 1)
        + fastcgi.record(fastcgi.STDIN, 1)
    )
    with socket.create_connection(("127.0.0.1", fcgi_port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    reader = fastcgi.RecordReader()
    reader.feed(answer)
    records = []
    while (rec := reader.next_record()) is not None:
        records.append(rec)
    assert records[0][0] == fastcgi.STDOUT and records[0][2].startswith(b"Status: 504 ")
    assert records[-1][0] == fastcgi.END_REQUEST
    inst.wait_log("*** HARAKIRI ON WORKER 1")
