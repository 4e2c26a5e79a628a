"""The listen queue as uWSGI reads it (TCP_INFO on the listening socket): the stats JSON's
`listen_queue`, the route var `${uwsgi[lq]}` seen by each request, the "full" warning."""

from __future__ import annotations

import socket
import threading

from conftest import APPS, free_port, get, split_response, wait_for
from supervision_support import read_stats

BASIC = str(APPS / "wsgi" / "basic.py")


def test_queued_requests_show_in_stats_and_in_the_lq_route_var(polyhost) -> None:
    port, stats_port = free_port(), free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--wsgi-file",
            BASIC,
            "--listen",
            "3",
            "--stats",
            f"127.0.0.1:{stats_port}",
            "--route-run",
            "addheader:X-Lq: ${uwsgi[lq]}",
        ],
        port=port,
    )
    # (the fixture's readiness probe may still wait in the queue for a moment)
    wait_for(lambda: read_stats(stats_port)["listen_queue"] == 0, 30, "an empty queue")
    # the only worker is busy; three requests wait in the queue (its maximum)
    slow: list[bytes] = []
    thread = threading.Thread(target=lambda: slow.append(get(port, "/sleep?1.5", timeout=30)))
    thread.start()
    wait_for(lambda: read_stats(stats_port)["workers"][0]["status"] == "busy", 30, "busy")
    queued = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(3)]
    try:
        for sock in queued:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        doc = wait_for(lambda: (d := read_stats(stats_port))["listen_queue"] == 3 and d, 30)
        assert [(s["queue"], s["max_queue"]) for s in doc["sockets"]] == [(3, 3)]
        inst.wait_log(f'*** polyhost listen queue of socket "127.0.0.1:{port}" (fd: ')
        assert "full !!! (3/3) ***" in inst.log()
        # served one after another: each saw the ones still waiting behind it
        seen = []
        for sock in queued:
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
            status, headers, _ = split_response(raw)
            assert status == 200
            seen.append(int(headers["x-lq"]))
    finally:
        for sock in queued:
            sock.close()
        thread.join(30)
    assert sorted(seen) == [0, 1, 2]
    assert slow and slow[0].startswith(b"HTTP/1.1 200")
    assert read_stats(stats_port)["listen_queue"] == 0
