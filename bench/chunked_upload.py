"""`--http --http-chunked-input` uploads read with `chunked_read`: polyhost vs real uWSGI 2.0.

Each upload is 1 MiB sent as 256 chunks of 4 KiB on a fresh connection; the app
(bench/apps/chunked_echo.py, .lua) reads it with `uwsgi.chunked_read` and answers the byte count.
Servers: polyhost and Debian uWSGI with the WSGI app, and polyhost with the Lua app (Debian's
2.0 lua51 plugin has no `uwsgi.chunked_read`: no Lua anchor). Rounds alternate the servers; each
round times UPLOADS uploads per server; the median ms per upload and the ratios are printed.
Run `python bench/chunked_upload.py [ROUNDS]` from the repository root.
"""

import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from harness import REPO, ServerProblem, free_port, stop_process_group

UPLOADS = 20
CHUNK = b"x" * 4096
BODY = b"".join(b"1000\r\n" + CHUNK + b"\r\n" for _ in range(256)) + b"0\r\n\r\n"
HEAD = b"POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
EXPECTED = str(256 * len(CHUNK)).encode()
POLYHOST = [str(REPO / ".venv/bin/polyhost"), "--master", "--processes", "2"]
UWSGI = ["uwsgi", "--plugins", "http,python3", "--master", "--processes", "2"]
SERVERS = {
    "polyhost WSGI": [*POLYHOST, "--wsgi-file", "bench/apps/chunked_echo.py"],
    "uWSGI WSGI": [*UWSGI, "--wsgi-file", "bench/apps/chunked_echo.py"],
    "polyhost Lua": [*POLYHOST, "--http-modifier1", "6", "--lua", "bench/apps/chunked_echo.lua"],
}


def upload(port: int) -> float:
    """One upload's seconds; the answer must be the byte count."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(HEAD + BODY)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data.endswith(b"\r\n\r\n" + EXPECTED):
        raise SystemExit(f"port {port}: unexpected answer {data[:200]!r}")
    return time.perf_counter() - start


def wait_until_serving(process: subprocess.Popen[bytes], port: int, timeout_s: float) -> None:
    """Until one upload succeeds (a GET would not do: uWSGI's chunked_read waits for chunks)."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            upload(port)
            return
        except OSError:
            time.sleep(0.1)  # not listening yet: poll again
    raise ServerProblem(f"port {port}: no answer within {timeout_s:.0f} s")


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    processes = {}
    ports = {}
    try:
        for name, argv in SERVERS.items():
            port = ports[name] = free_port()
            command = [*argv, "--http", f"127.0.0.1:{port}", "--http-chunked-input",
                       "--disable-logging"]  # fmt: skip
            print(f"{name}: {' '.join(command)}")
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the process
            processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                               cwd=REPO, start_new_session=True)  # fmt: skip
            wait_until_serving(processes[name], port, 30)
        results: dict[str, list[float]] = {name: [] for name in SERVERS}
        for _ in range(rounds):
            for name, port in ports.items():
                upload(port)  # warm-up
                times = [upload(port) for _ in range(UPLOADS)]
                results[name].append(statistics.median(times) * 1000)
        medians = {name: statistics.median(values) for name, values in results.items()}
        for name, value in medians.items():
            print(f"{name}: median {value:.2f} ms per 1 MiB upload ({rounds} rounds)")
        anchor = medians["uWSGI WSGI"]
        for name in ("polyhost WSGI", "polyhost Lua"):
            print(f"{name} speed vs uWSGI WSGI: {anchor / medians[name]:.2f}x")
    finally:
        for process in processes.values():
            stop_process_group(process, signal.SIGINT)


if __name__ == "__main__":
    main()
