"""Fuzzed requests at the stats socket (stats-http) and the Prometheus `--metrics` socket:
bounded and seeded (POLYHOST_FUZZ_SEED=N reruns a failure). Each answers every connection
with a 200 and a whole document, or closes it; the master stays up, leaks no descriptor, and
both endpoints still serve parseable documents afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from conftest import APPS, free_port, serving, split_response, wait_for
from fuzz_support import HTTP_SEEDS, mutate, open_fds

COUNT = int(os.environ.get("POLYHOST_FUZZ_COUNT", "400"))
SEEDS = [
    *HTTP_SEEDS,
    b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n",
    b"",
    b"GET " + b"/" * 8000 + b" HTTP/1.1\r\n\r\n",  # longer than the 4 KiB the server reads
]


def exchange(port: int, data: bytes) -> bytes:
    """Send `data`, half-close, read to EOF (bounded in size and time)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(OSError):  # the server may close before reading it all
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        got = b""
        with contextlib.suppress(ConnectionResetError):
            while len(got) < 1 << 22 and (chunk := sock.recv(65536)):
                got += chunk
    return got


def fetch(port: int, path: str) -> bytes:
    status, _, body = split_response(exchange(port, f"GET {path} HTTP/1.0\r\n\r\n".encode()))
    assert status == 200
    return body


def test_fuzzed_requests_at_stats_and_metrics_sockets(tmp_path: Path) -> None:
    seed = int(os.environ.get("POLYHOST_FUZZ_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    stats, metrics = free_port(), free_port()
    args = [
        "--wsgi-file", str(APPS / "wsgi" / "basic.py"),
        "--stats", f"127.0.0.1:{stats}",
        "--stats-http",
        "--metrics", f"127.0.0.1:{metrics}",
        "--enable-metrics",
        "--disable-logging",
    ]  # fmt: skip
    with serving(tmp_path, args) as inst:
        fetch(stats, "/")
        fetch(metrics, "/metrics")
        fds = open_fds(inst.pid)
        answers = {"stats": 0, "metrics": 0}
        for number in range(COUNT):
            kind = "stats" if number % 2 else "metrics"
            data = mutate(rng, rng.choice(SEEDS))
            got = exchange(stats if kind == "stats" else metrics, data)
            message = f"seed {seed}, input {number} {data[:80]!r}: {got[:200]!r}"
            assert inst.proc.poll() is None, message
            if not got:
                continue
            answers[kind] += 1
            head, sep, body = got.partition(b"\r\n\r\n")
            assert sep and head.startswith(b"HTTP/1.0 200 OK")  # as uWSGI, message
            if kind == "stats" and b"application/json" in head:
                assert json.loads(body)["pid"] == inst.pid, message
            else:  # the metrics socket answers every path with the Prometheus text
                list(text_string_to_metric_families(body.decode()))
        message = f"seed {seed}, answers {answers}; log:\n{inst.log()[-3000:]}"
        assert answers["stats"] > COUNT // 4 and answers["metrics"] > COUNT // 4, message
        assert "building the stats failed" not in inst.log(), message
        wait_for(lambda: open_fds(inst.pid) <= fds, 10, f"master fds back to {fds}: {message}")
        assert json.loads(fetch(stats, "/"))["pid"] == inst.pid
        names = {f.name for f in text_string_to_metric_families(fetch(metrics, "/").decode())}
        assert "uwsgi_listen_queue_length" in names
