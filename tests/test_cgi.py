"""CGI (RFC 3875) with real programs: meta-variables, Status/Location, local redirects, stderr,
helpers, indexes, traversal, big streamed bodies, timeouts, crashes; cgit and gitweb from Debian
browsing a git repository made here. One polyhost instance serves the whole module."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import peak_rss_kib

from conftest import APPS, Instance, free_port, get, split_response, wait_for

CGI = APPS / "cgi"
CGIT = "/usr/lib/cgit/cgit.cgi"
GITWEB = "/usr/share/gitweb/gitweb.cgi"
MIB = 1024 * 1024


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=Polyhost Test",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "init.defaultBranch=master",
            *args,
        ],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository, cgit and gitweb configs, and a CGI root with symlinks out of it."""
    base = tmp_path_factory.mktemp("cgi")
    repos = base / "repos"
    work = base / "work"
    repos.mkdir()
    work.mkdir()
    _git("init", "-q", "--bare", str(repos / "demo.git"), cwd=base)
    _git("init", "-q", cwd=work)
    (work / "README").write_text("hello from the polyhost cgit test\n")
    _git("add", "README", cwd=work)
    _git("commit", "-q", "-m", "first polyhost commit", cwd=work)
    _git("push", "-q", str(repos / "demo.git"), "HEAD:master", cwd=work)
    (base / "cgitrc").write_text(
        "css=/cgit-static/cgit.css\nlogo=/cgit-static/cgit.png\nvirtual-root=/cgit/\n"
        f"cache-size=0\nrepo.url=demo\nrepo.path={repos / 'demo.git'}\n"
        "repo.desc=the polyhost test repository\n"
    )
    (base / "gitweb.conf").write_text(f'our $projectroot = "{repos}";\n')
    root, outside, safe = base / "root", base / "outside", base / "safe"
    for folder in (root, outside, safe):
        folder.mkdir()
    script = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$0\"\n"
    for target in (outside / "escape.cgi", safe / "shared.cgi"):
        target.write_text(script)
        target.chmod(0o755)
    (root / "escape.cgi").symlink_to(outside / "escape.cgi")
    (root / "shared.cgi").symlink_to(safe / "shared.cgi")
    return base


@pytest.fixture(scope="module")
def instance(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    port = free_port()
    with pytest.MonkeyPatch.context() as patch:  # the instance inherits them, and its CGIs
        patch.setenv("CGIT_CONFIG", str(site / "cgitrc"))
        patch.setenv("GITWEB_CONFIG", str(site / "gitweb.conf"))
        inst = Instance(
            [
                "--http-socket",
                f"127.0.0.1:{port}",
                "--http-socket-modifier1",
                "9",
                "--cgi",
                f"/cgi={CGI}",
                "--cgi",
                f"/tmpcgi={site / 'root'}",
                "--cgi-helper",
                ".pl=perl",
                "--cgi-index",
                "index.cgi",
                "--cgi-timeout",
                "2",
                "--cgi-safe",
                str(site / "safe"),
                "--mount",
                f"/cgit={CGIT}",
                "--mount",
                f"/gitweb={GITWEB}",
                "--static-map",
                "/cgit-static=/usr/share/cgit",
                "--socket-timeout",
                "20",
            ],
            tmp_path_factory.mktemp("cgi-instance"),
            port,
            None,
        )
        inst.wait_ready()
    yield inst
    inst.stop()


def fetch(inst: Instance, target: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    return split_response(get(inst.port, target, headers=headers))  # type: ignore[arg-type]


def env_of(body: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)


def test_meta_variables(instance: Instance) -> None:
    status, headers, body = fetch(
        instance,
        "/cgi/env.cgi/extra/path?a=1&b=2",
        "X-Custom: yes\r\nProxy: http://evil.invalid/\r\n",
    )
    assert status == 200 and headers["content-type"] == "text/plain"
    env = env_of(body)
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["SERVER_SOFTWARE"].startswith("polyhost/")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_PORT"] == str(instance.port)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == "/cgi/env.cgi"
    assert env["SCRIPT_FILENAME"] == str(CGI / "env.cgi")
    assert env["PATH_INFO"] == "/extra/path"
    assert env["PATH_TRANSLATED"] == f"{CGI}/extra/path"
    assert env["QUERY_STRING"] == "a=1&b=2"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["DOCUMENT_ROOT"] == str(CGI)
    assert env["HTTP_X_CUSTOM"] == "yes"
    assert "HTTP_PROXY" not in env, "httpoxy: a Proxy header must not become HTTP_PROXY"
    assert env["CWD"] == str(CGI)
    assert "CONTENT_LENGTH" not in env and "PATH_INFO" in env


def test_no_path_info_and_indexed_query_arguments(instance: Instance) -> None:
    _, _, body = fetch(instance, "/cgi/env.cgi?first+second%20word")
    env = env_of(body)
    assert "PATH_INFO" not in env and "PATH_TRANSLATED" not in env
    assert env["ARGS"] == "first second word"


def test_status_and_redirects(instance: Instance) -> None:
    status, headers, body = fetch(instance, "/cgi/status.cgi")
    assert (status, headers["x-extra"], body) == (404, "1", b"missing\n")
    raw = get(instance.port, "/cgi/status.cgi")  # type: ignore[arg-type]
    assert raw.startswith(b"HTTP/1.1 404 Nothing Here\r\n")
    status, headers, _ = fetch(instance, "/cgi/client-redirect.cgi")
    assert status == 302 and headers["location"] == "http://example.invalid/elsewhere"
    status, _, body = fetch(instance, "/cgi/local-redirect.cgi")
    env = env_of(body)
    assert status == 200, "a local redirect is served, not sent to the client"
    assert (env["SCRIPT_NAME"], env["PATH_INFO"], env["QUERY_STRING"]) == (
        "/cgi/env.cgi",
        "/after",
        "from=local",
    )


def test_stderr_goes_to_the_log_with_the_script_name(instance: Instance) -> None:
    status, _, body = fetch(instance, "/cgi/stderr.cgi")
    assert (status, body) == (200, b"fine\n")
    log = instance.wait_log("stderr.cgi: second problem")
    assert f"{CGI / 'stderr.cgi'}: first problem" in log


def test_helper_index_and_executable_bit(instance: Instance) -> None:
    status, _, body = fetch(instance, "/cgi/script.pl")
    assert (status, body) == (200, b"perl helper ran /cgi/script.pl\n")
    status, _, _ = fetch(instance, "/cgi/plain.sh")
    assert status == 403
    instance.wait_log("plain.sh is not executable")
    status, headers, _ = fetch(instance, "/cgi/sub")
    assert status == 301 and headers["location"] == "/cgi/sub/"
    status, _, body = fetch(instance, "/cgi/sub/")
    assert (status, body) == (200, b"sub index /cgi/sub/index.cgi\n")
    assert fetch(instance, "/cgi/missing.cgi")[0] == 404


@pytest.mark.parametrize(
    "target",
    [
        "/cgi/../test_cgi.py",
        "/cgi/%2e%2e/test_cgi.py",
        "/cgi/sub%2findex.cgi",
        "/cgi/sub%2Findex.cgi",
        "/cgi/env.cgi%00.txt",
        "/tmpcgi/escape.cgi",
    ],
)
def test_traversal_is_403(instance: Instance, target: str) -> None:
    raw = get(instance.port, target)  # type: ignore[arg-type]
    status, _, body = split_response(raw)
    assert status == 403, raw[:200]
    assert b"escape.cgi" not in body


def test_cgi_safe_allows_a_symlinked_script(instance: Instance, site: Path) -> None:
    status, _, body = fetch(instance, "/tmpcgi/shared.cgi")
    assert status == 200 and body.strip() == str(site / "safe" / "shared.cgi").encode()


def test_big_bodies_stream_both_ways(instance: Instance) -> None:
    size = 20 * MIB
    block = os.urandom(MIB)
    expected = hashlib.md5(block * 20).hexdigest()
    with socket.create_connection(("127.0.0.1", instance.port), timeout=30) as sock:
        head = (
            b"POST /cgi/echo.cgi HTTP/1.0\r\nHost: t\r\n"
            b"Content-Type: application/octet-stream\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )

        def send() -> None:  # the echo comes back while we send: read it meanwhile
            sock.sendall(head)
            for _ in range(20):
                sock.sendall(block)

        sender = threading.Thread(target=send)
        sender.start()
        data = bytearray()
        while chunk := sock.recv(1 << 20):
            data += chunk
        sender.join(30)
    status, _, body = split_response(bytes(data))
    assert status == 200
    assert hashlib.md5(body).hexdigest() == expected


def test_hundred_megabytes_of_output_never_sit_in_the_worker(instance: Instance) -> None:
    received = 0
    with socket.create_connection(("127.0.0.1", instance.port), timeout=30) as sock:
        sock.sendall(b"GET /cgi/big.cgi?mb=100 HTTP/1.0\r\nHost: t\r\n\r\n")
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
    assert received > 100 * MIB
    worker = instance.worker_pids()[0]
    assert peak_rss_kib(worker) < 100 * 1024, "the worker's peak memory grew with the body"


def test_timeout_kills_the_process_group_and_answers_504(
    instance: Instance, tmp_path: Path
) -> None:
    pidfile = tmp_path / "sleeper.pid"
    status, _, body = fetch(instance, f"/cgi/slow.cgi?pidfile={pidfile}")
    assert status == 504 and b"timed out" in body
    sleeper = int(pidfile.read_text())

    def gone() -> bool:
        try:
            os.kill(sleeper, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{sleeper}/stat")
        return not stat.exists() or stat.read_text().split(") ")[1].startswith("Z")

    wait_for(gone, 10, "the CGI's background child to be killed with its group")
    instance.wait_log("slow.cgi: no output for 2s (cgi-timeout)")


def test_crash_is_502_with_the_signal_in_the_log(instance: Instance) -> None:
    status, _, _ = fetch(instance, "/cgi/crash.cgi")
    assert status == 502
    log = instance.wait_log("crash.cgi: invalid CGI output")
    assert "killed by SIGSEGV" in log
    assert "crash.cgi: about to crash" in log
    assert fetch(instance, "/cgi/status.cgi")[0] == 404, "the worker serves on"


@pytest.mark.skipif(not os.access(CGIT, os.X_OK), reason="needs Debian's cgit")
def test_cgit_browses_the_repository(instance: Instance) -> None:
    status, _, body = fetch(instance, "/cgit/")
    assert status == 200 and b"the polyhost test repository" in body
    status, _, body = fetch(instance, "/cgit/demo/")
    assert status == 200 and b"first polyhost commit" in body
    status, _, body = fetch(instance, "/cgit/demo/tree/README")
    assert status == 200 and b"hello from the polyhost cgit test" in body
    status, _, body = fetch(instance, "/cgit/demo/commit/")
    assert status == 200 and b"first polyhost commit" in body
    status, headers, css = fetch(instance, "/cgit-static/cgit.css")
    assert status == 200 and headers["content-type"] == "text/css"
    assert css == Path("/usr/share/cgit/cgit.css").read_bytes()


@pytest.mark.skipif(
    not Path(GITWEB).exists() or shutil.which("perl") is None, reason="needs Debian's gitweb"
)
def test_gitweb_lists_and_summarises_the_repository(instance: Instance) -> None:
    status, _, body = fetch(instance, "/gitweb/")
    assert status == 200 and b"demo.git" in body
    status, _, body = fetch(instance, "/gitweb/?p=demo.git;a=summary")
    assert status == 200 and b"first polyhost commit" in body
