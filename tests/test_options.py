"""Options that change how requests are read, logged and recycled, each against a live instance."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from conftest import APPS, free_port, get, http_request, split_response, wait_for
from nginx_helper import Nginx

BASIC = str(APPS / "wsgi" / "basic.py")


def test_fastcgi_socket_behind_nginx(polyhost, tmp_path: Path) -> None:
    port = free_port()
    polyhost(["--fastcgi-socket", f"127.0.0.1:{port}", "--wsgi-file", BASIC], port=port)
    nginx = Nginx(
        tmp_path,
        f"""
    location / {{ include /etc/nginx/fastcgi_params; fastcgi_param PATH_INFO $uri;
                  fastcgi_keep_conn on; fastcgi_pass 127.0.0.1:{port}; }}""",
    )
    try:
        status, _headers, body = split_response(get(nginx.port, "/env?x=1"))
        env = json.loads(body)
        assert status == 200 and env["QUERY_STRING"] == "x=1" and env["PATH_INFO"] == "/env"
        payload = os.urandom(200_000)
        raw = (
            f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode() + payload
        assert split_response(http_request(nginx.port, raw))[2] == payload
        for _ in range(3):  # keep-conn: nginx reuses the FastCGI connection
            assert split_response(get(nginx.port, "/"))[2] == b"Hello World"
        assert split_response(get(nginx.port, "/raise"))[0] == 500
    finally:
        nginx.stop()


def test_post_buffering_reads_the_body_first(polyhost) -> None:
    port = free_port()
    polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--post-buffering", "4096", "--wsgi-file", BASIC],
        port=port,
    )
    for size in (100, 3_000_000):  # in memory, then through a temporary file
        payload = os.urandom(size)
        head = f"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n".encode()
        # keep-alive: the buffered request is followed by another on the same connection
        raw = head + payload + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        data = http_request(port, raw, timeout=30)
        assert payload in data and data.endswith(b"Hello World")


def test_reload_on_rss(polyhost, tmp_path: Path) -> None:
    app = tmp_path / "grow.py"
    app.write_text(
        "HOARD = []\n\ndef application(e, sr):\n"
        "    HOARD.append(bytearray(64 * 1024 * 1024))\n"
        "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    import os\n    return [str(os.getpid()).encode()]\n"
    )
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--reload-on-rss", "100", "--wsgi-file", str(app)],
        port=port,
    )
    first = split_response(get(port, "/"))[2]
    second = split_response(get(port, "/"))[2]
    assert first == second
    inst.wait_log("is over reload-on-rss (100 MiB): recycling")
    wait_for(lambda: split_response(get(port, "/"))[2] != first, 10, "a fresh worker")


def test_max_worker_lifetime(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        ["--http-socket", f"127.0.0.1:{port}", "--max-worker-lifetime", "1", "--wsgi-file", BASIC],
        port=port,
    )
    first = split_response(get(port, "/pid"))[2]
    inst.wait_log("lifetime reached (1s): recycling")
    wait_for(lambda: split_response(get(port, "/pid"))[2] != first, 10, "a new worker")


def test_logto_and_log_format(polyhost, tmp_path: Path) -> None:
    port = free_port()
    logfile = tmp_path / "requests.log"
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--logto",
            str(logfile),
            "--log-format",
            "%(method) %(uri) %(status) %(rsize) wid=%(wid) ua=%(uagent) %(var.HTTP_X_TRACE)",
            "--wsgi-file",
            BASIC,
        ],
        ready=False,
    )
    wait_for(
        lambda: logfile.exists() and "spawned polyhost worker" in logfile.read_text(),
        15,
        "the log file",
    )
    wait_for(
        lambda: split_response(get(port, "/", "User-Agent: t1\r\nX-Trace: abc\r\n")),
        10,
        "a response",
    )
    wait_for(lambda: "GET / 200 11 wid=1 ua=t1 abc" in logfile.read_text(), 10, "the line")
    assert inst.log() == ""  # everything went to the logto file


def test_virtualenv_and_pythonpath(polyhost, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    [site] = list(venv.glob("lib/python3*/site-packages"))
    (site / "venvonly.py").write_text("WHERE = 'venv'\n")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "extraonly.py").write_text("WHERE = 'pythonpath'\n")
    app = tmp_path / "app.py"
    app.write_text(
        "import venvonly, extraonly\n\ndef application(e, sr):\n"
        "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [(venvonly.WHERE + ' ' + extraonly.WHERE).encode()]\n"
    )
    port = free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--virtualenv",
            str(venv),
            "--pythonpath",
            str(extra),
            "--wsgi-file",
            str(app),
        ],
        port=port,
    )
    assert split_response(get(port, "/"))[2] == b"venv pythonpath"


def test_bad_virtualenv_is_a_clear_error(polyhost, tmp_path: Path) -> None:
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{free_port()}",
            "--home",
            str(tmp_path),
            "--wsgi-file",
            BASIC,
        ],
        ready=False,
    )
    assert inst.proc.wait(20) == 1
    assert "has no lib/python3*/site-packages" in inst.log()


def test_stats_http(polyhost) -> None:
    port, stats_port = free_port(), free_port()
    polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--stats",
            f"127.0.0.1:{stats_port}",
            "--stats-http",
            "--wsgi-file",
            BASIC,
        ],
        port=port,
    )
    status, headers, body = split_response(get(stats_port, "/"))
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["workers"][0]["id"] == 1


def test_inherited_fd_socket(polyhost, tmp_path: Path) -> None:
    port = free_port()
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    fd = listener.fileno()
    log = tmp_path / "fd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "polyhost", "--http-socket", f"fd://{fd}", "--wsgi-file", BASIC],
            pass_fds=[fd],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    listener.close()
    try:
        wait_for(lambda: "spawned polyhost worker" in log.read_text(), 15, "startup")
        assert split_response(get(port, "/"))[2] == b"Hello World"
    finally:
        proc.terminate()
        proc.wait(15)


def test_procname(polyhost) -> None:
    port = free_port()
    inst = polyhost(
        [
            "--http-socket",
            f"127.0.0.1:{port}",
            "--auto-procname",
            "--procname-prefix",
            "site-",
            "--wsgi-file",
            BASIC,
        ],
        port=port,
    )
    [worker] = inst.worker_pids()
    # a worker sets its title just after the fork: until then it shows the master's
    title = Path(f"/proc/{worker}/cmdline")
    wait_for(lambda: title.read_bytes().startswith(b"site-polyhost worker 1"), 10, "the title")
    assert Path(f"/proc/{inst.pid}/cmdline").read_bytes().startswith(b"site-polyhost master")


def test_chown_socket_umask_and_reuse_port(polyhost, tmp_path: Path) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    sock = tmp_path / "owned.sock"
    inst = polyhost(
        [
            "--socket",
            str(sock),
            "--chown-socket",
            f"nobody:{nobody.pw_gid}",
            "--umask",
            "077",
            "--wsgi-file",
            BASIC,
        ],
        ready=False,
    )
    wait_for(lambda: sock.exists() and "spawned polyhost worker" in inst.log(), 15, "the socket")
    info = sock.stat()
    assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert info.st_mode & 0o077 == 0  # umask 077 applied when the socket was created
    # reuse-port: a second instance binds the same port (the kernel balances between them)
    port = free_port()
    for _ in range(2):
        polyhost(
            ["--http-socket", f"127.0.0.1:{port}", "--reuse-port", "--wsgi-file", BASIC], port=port
        )
    assert split_response(get(port, "/"))[2] == b"Hello World"
