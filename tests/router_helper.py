"""Helpers of the `--http` router tests: start an instance behind `--http`, find its router
processes in the stats, make a self-signed certificate."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

from conftest import Instance, free_port, get, wait_for


class ScriptedBackend:
    """A uwsgi node on a thread: each accepted connection goes to `handle` (subclasses), then
    is closed; `close()` stops it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                self.handle(conn)

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.sock.close()


def start_router(tmp: Path, args: list[str], port: int | None = None) -> Instance:
    """An instance whose front door is `--http` on a fresh port (stopped by the caller)."""
    port = port or free_port()
    inst = Instance(["--http", f"127.0.0.1:{port}", "--die-on-term", *args], tmp, port, None)
    try:
        wait_for(lambda: inst.proc.poll() is not None or _answers(port), 30, "the router to answer")
        assert inst.proc.poll() is None, inst.log()
    except BaseException:
        inst.stop()
        raise
    return inst


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port now."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _answers(port: int) -> bool:
    try:
        return bool(get(port, "/", timeout=5))
    except OSError:
        return False


def router_pids(inst: Instance) -> list[int]:
    with socket.create_connection(("127.0.0.1", inst.stats_port), timeout=5) as sock:  # type: ignore[attr-defined]
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return [int(r["pid"]) for r in json.loads(data)["routers"]]


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost (openssl), and its key."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key
