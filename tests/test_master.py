"""Master and workers: reload under load, harakiri, recycling, crashes, signals, FIFO, stats."""

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


def test_graceful_reload_under_load_loses_nothing(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--wsgi-file",
            BASIC,
            "--disable-logging",
        ],
        port=port,
    )
    old_workers = set(inst.worker_pids())
    failures: list[str] = []
    done = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal done
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                status = split_response(get(port, "/", timeout=20))[0]
                if status != 200:
                    failures.append(f"status {status}")
            except Exception as exc:  # any refused/reset connection is a failure
                failures.append(repr(exc))
            done += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: done > 50, 20, "load to start")
        for reload_number in (1, 2):
            inst.signal(signal.SIGHUP)
            wait_for(
                lambda n=reload_number: inst.log().count("binary reloading") >= n, 20, "the reload"
            )
            wait_for(
                lambda old=old_workers: (
                    len(inst.worker_pids()) == 2 and not set(inst.worker_pids()) & old
                ),
                20,
                "new workers",
            )
            old_workers = set(inst.worker_pids())
            before = done
            wait_for(lambda b=before: done > b + 50, 20, "requests after the reload")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == [], failures[:5]
    assert "inherited" in inst.log()
    assert inst.proc.poll() is None  # same master pid after re-exec


def test_harakiri_answers_504_and_respawns(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "1",
            "--harakiri",
            "1",
            "--wsgi-file",
            BASIC,
        ],
        port=port,
    )
    [worker] = inst.worker_pids()
    status = split_response(get(port, "/sleep?20", timeout=15))[0]
    assert status == 504
    log = inst.wait_log(f"*** HARAKIRI ON WORKER 1 (pid: {worker}, try: 1) ***")
    assert "died, killed by signal 9" in inst.wait_log("killed by signal 9")
    wait_for(lambda: inst.worker_pids() and inst.worker_pids() != [worker], 10, "respawn")
    assert split_response(get(port, "/"))[0] == 200
    assert log


def test_user_harakiri_from_the_app(polyhost) -> None:
    port = free_port()
    inst = polyhost(["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC], port=port)
    assert split_response(get(port, "/harakiri", timeout=15))[0] == 504
    inst.wait_log("*** HARAKIRI ON WORKER 1")


def test_max_requests_recycles_the_worker(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--max-requests",
            "3",
            "--min-worker-lifetime",
            "0",
            "--wsgi-file",
            BASIC,
        ],
        port=port,
    )
    pids = {split_response(get(port, "/pid"))[2] for _ in range(3)}
    assert len(pids) == 1
    inst.wait_log("is done. Seeya!")
    wait_for(lambda: split_response(get(port, "/pid"))[2] not in pids, 10, "a new worker")


def test_max_requests_deferred_by_min_worker_lifetime(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--max-requests", "2", "--wsgi-file", BASIC],
        port=port,
    )
    for _ in range(2):
        get(port, "/")
    inst.wait_log("recycle deferred until min-worker-lifetime (10s)")


def test_killed_worker_is_respawned(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--processes", "2", "--wsgi-file", BASIC], port=port
    )
    victim = inst.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    inst.wait_log(f"(pid: {victim}) died, killed by signal 9")
    wait_for(
        lambda: len(inst.worker_pids()) == 2 and victim not in inst.worker_pids(), 10, "respawn"
    )
    assert split_response(get(port, "/"))[0] == 200


def test_app_that_fails_to_load_stops_with_traceback(polyhost, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import json\nraise ImportError('no module named missing_dependency')\n")
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{free_port()}", "--wsgi-file", str(broken)], ready=False
    )
    assert inst.proc.wait(20) != 0
    log = inst.log()
    assert "Traceback" in log and "missing_dependency" in log and str(broken) in log
    assert "spawned polyhost worker" not in log


def test_lazy_app_failure_does_not_fork_loop(polyhost, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("1/0\n")
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{free_port()}",
            "--lazy-apps",
            "--processes",
            "2",
            "--wsgi-file",
            str(broken),
        ],
        ready=False,
    )
    assert inst.proc.wait(20) == 22
    log = inst.log()
    assert "ZeroDivisionError" in log and "instead of respawning" in log
    assert log.count("spawned polyhost worker") <= 2


def test_sigterm_stops_and_vacuums(polyhost, tmp_path: Path) -> None:
    sock = tmp_path / "app.sock"
    pidfile = tmp_path / "app.pid"
    inst = polyhost(
        [
            "--socket",
            str(sock),
            "--chmod-socket",
            "660",
            "--vacuum",
            "--pidfile",
            str(pidfile),
            "--wsgi-file",
            BASIC,
        ],
        ready=False,
    )
    wait_for(
        lambda: sock.exists() and pidfile.exists() and "spawned" in inst.log(),
        15,
        "socket and pidfile",
    )
    assert oct(sock.stat().st_mode & 0o777) == "0o660"
    assert int(pidfile.read_text()) == inst.pid
    inst.signal(signal.SIGTERM)
    assert inst.proc.wait(15) == 0
    assert not sock.exists() and not pidfile.exists()


def test_sigint_shuts_down(polyhost) -> None:
    port = free_port()
    inst = polyhost(["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC], port=port)
    inst.signal(signal.SIGINT)
    assert inst.proc.wait(15) == 0
    assert "killing workers" in inst.log()


def test_sigusr1_logs_status(polyhost) -> None:
    port = free_port()
    inst = polyhost(["--http-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC], port=port)
    get(port, "/")
    inst.signal(signal.SIGUSR1)
    log = inst.wait_log("*** polyhost status ***")
    assert "worker 1 pid" in log and f"http-socket = 127.0.0.1:{port}" in log


def test_master_fifo_commands(polyhost, tmp_path: Path) -> None:
    port = free_port()
    fifo = tmp_path / "master.fifo"
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--master-fifo", str(fifo), "--wsgi-file", BASIC],
        port=port,
    )

    def send(command: str) -> None:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, command.encode())
        os.close(fd)

    send("s")
    inst.wait_log("*** polyhost status ***")
    [worker] = inst.worker_pids()
    send("w")
    wait_for(lambda: inst.worker_pids() not in ([], [worker]), 15, "workers reload")
    send("r")
    inst.wait_log("binary reloading")
    wait_for(
        lambda: (
            fifo.exists()
            and len(inst.worker_pids()) == 1
            and "spawned" in inst.log().rsplit("binary reloading", 1)[1]
        ),
        20,
        "reload via fifo",
    )
    send("q")
    assert inst.proc.wait(15) == 0


def test_touch_reload(polyhost, tmp_path: Path) -> None:
    port = free_port()
    touched = tmp_path / "reload.txt"
    touched.write_text("x")
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--touch-reload",
            str(touched),
            "--wsgi-file",
            BASIC,
        ],
        port=port,
    )
    time.sleep(0.05)  # mtime granularity: make the touch visible as a change
    os.utime(touched, (time.time() + 5, time.time() + 5))
    inst.wait_log("has been touched... grace them all")
    inst.wait_log("binary reloading")


def test_stats_server_json(polyhost) -> None:
    port, stats_port = free_port(), free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--processes",
            "2",
            "--stats",
            f"127.0.0.1:{stats_port}",
            "--wsgi-file",
            BASIC,
        ],
        port=port,
    )
    for _ in range(3):
        get(port, "/")

    def read_stats() -> dict:
        with socket.create_connection(("127.0.0.1", stats_port), timeout=5) as sock:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return json.loads(data)

    stats = read_stats()
    assert {"version", "listen_queue", "load", "pid", "workers", "sockets"} <= set(stats)
    assert [w["id"] for w in stats["workers"]] == [1, 2]
    assert sum(w["requests"] for w in stats["workers"]) == 3
    worker = stats["workers"][0]
    assert worker["rss"] > 0 and worker["status"] in ("idle", "busy")
    assert worker["apps"][0]["modifier1"] == 0
    assert stats["sockets"][0]["name"] == f"127.0.0.1:{port}"


def test_unix_abstract_and_fd_sockets(polyhost, tmp_path: Path) -> None:
    name = f"polyhost-test-{os.getpid()}"
    inst = polyhost(["--http-socket", f"@{name}", "--wsgi-file", BASIC], ready=False)
    inst.wait_log("spawned polyhost worker")
    with socket.socket(socket.AF_UNIX) as sock:
        wait_for(lambda: _try_connect(sock, "\0" + name), 10, "abstract socket")
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.endswith(b"Hello World")


def _try_connect(sock: socket.socket, address: str) -> bool:
    try:
        sock.connect(address)
        return True
    except OSError:
        return False


def test_shared_socket_reference(polyhost) -> None:
    port = free_port()
    polyhost(
        ["--shared-socket", f"127.0.0.1:{port}", "--http-socket", "=0", "--wsgi-file", BASIC],
        port=port,
    )
    assert split_response(get(port, "/"))[2] == b"Hello World"


def test_threads_serve_concurrently(polyhost) -> None:
    port = free_port()
    polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--threads", "4", "--wsgi-file", BASIC], port=port
    )
    results: list[bytes] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(split_response(get(port, "/barrier?4", timeout=20))[2])
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # the app's barrier opens only when 4 requests are inside the one worker at the same time
    assert sorted(results) == [b"together"] * 4
