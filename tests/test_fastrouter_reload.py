"""The fastrouter keeps listening through a graceful reload (SIGHUP): the same process serves
before and after, and requests sent through it under load during the reload all succeed."""

from __future__ import annotations

import re
import signal
from pathlib import Path

from conftest import APPS, Instance, free_port, split_response, under_load, uwsgi_request, wait_for

KEPT = re.compile(r"polyhost fastrouter 1 kept running through the reload \(pid: (\d+)\)")


def _get(port: int) -> tuple[int, bytes]:
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "PATH_INFO": "/", "QUERY_STRING": "",
           "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "f.example", "SERVER_PORT": "80",
           "HTTP_HOST": "f.example", "REMOTE_ADDR": "127.0.0.1"}  # fmt: skip
    status, _, body = split_response(uwsgi_request(port, env))
    return status, body


def test_sighup_reload_under_load_through_the_fastrouter_fails_no_request(tmp_path: Path) -> None:
    front, node = free_port(), free_port()
    inst = Instance(
        ["--fastrouter", f"127.0.0.1:{front}", "--fastrouter-to", f"127.0.0.1:{node}",
         "--socket", f"127.0.0.1:{node}", "--wsgi-file", str(APPS / "wsgi" / "basic.py"),
         "--processes", "2"],
        tmp_path, None, None,
    )  # fmt: skip

    def request() -> str | None:
        status, body = _get(front)
        return None if (status, body) == (200, b"Hello World") else f"{status} {body[:80]!r}"

    try:
        inst.wait_log("uWSGI fastrouter bound on")
        wait_for(lambda: _get(front)[0] == 200, 30, "an answer through the fastrouter")
        before = set(inst.worker_pids())
        with under_load(request) as progress:
            progress("load before the reload")
            inst.signal(signal.SIGHUP)
            wait_for(lambda: KEPT.search(inst.log()), 30, "the fastrouter kept")
            kept = KEPT.search(inst.log())
            assert kept is not None and int(kept.group(1)) in before  # the same process
            assert "uWSGI fastrouter inherited 127.0.0.1:" in inst.log()
            wait_for(lambda: len(set(inst.worker_pids()) - before) >= 2, 30, "new workers")
            progress("load after the reload")
    finally:
        stopped = inst.stop()
    assert stopped == 0
