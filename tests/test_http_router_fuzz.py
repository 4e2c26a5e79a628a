"""Fuzzed HTTP at the `--http` router (bounded, seeded: POLYHOST_FUZZ_SEED=N reruns one): the
router answers or closes every connection, never dies, gives back every file descriptor, and
the workers behind it stay the same processes."""

from __future__ import annotations

import os
import random
from pathlib import Path

from test_http_router import router_pids, start_router

from conftest import APPS, free_port, get, split_response, wait_for
from fuzz_support import HTTP_SEEDS, open_fds, throw

COUNT = int(os.environ.get("POLYHOST_FUZZ_COUNT", "400"))
#: what the router must also survive: pipelined and upgrade heads, huge sizes, bare bodies
ROUTER_SEEDS = [
    *HTTP_SEEDS,
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nxx",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\nabc",
    b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
]


def test_fuzzed_http_never_kills_the_router(tmp_path: Path) -> None:
    seed = int(os.environ.get("POLYHOST_FUZZ_SEED", random.randrange(1 << 30)))
    stats_port = free_port()
    inst = start_router(
        tmp_path,
        ["--wsgi-file", str(APPS / "wsgi" / "basic.py"), "--processes", "2",
         "--http-keepalive", "--http-websockets", "--http-timeout", "2",
         "--limit-post", "100000", "--stats", f"127.0.0.1:{stats_port}", "--disable-logging"],
    )  # fmt: skip
    inst.stats_port = stats_port  # type: ignore[attr-defined]
    try:
        [router] = router_pids(inst)
        workers = sorted(set(inst.worker_pids()) - {router})
        fds = open_fds(router)
        counts = throw(seed, COUNT, {"http": (inst.port, ROUTER_SEEDS)}, lambda: False)
        message = f"seed {seed} ({counts}); log:\n{inst.log()[-3000:]}"
        assert router_pids(inst) == [router], "the router died: " + message
        assert sorted(set(inst.worker_pids()) - {router}) == workers, message
        assert counts.answered + counts.closed + counts.timeouts == COUNT, message
        log = inst.log()  # (an app reading a body cut short logs its error: that is expected)
        for router_error in ("crashed:", "Exception in callback", "sweep failed", "Task exception"):
            assert router_error not in log, message
        wait_for(lambda: open_fds(router) <= fds, 15, f"router fds back to {fds}: {message}")
        assert split_response(get(inst.port, "/"))[2] == b"Hello World"
    finally:
        assert inst.stop() == 0
