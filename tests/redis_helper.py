"""A real `redis-server` for the tests: a loopback port, a temp dir, no persistence, stopped by
PID at the end (also restartable, for the "Redis went away" cases)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import free_port, wait_for


class RedisServer:
    """One redis-server process on 127.0.0.1:port (TLS only with `tls`), data in `directory`,
    also listening on the unix socket `socket_path`."""

    def __init__(self, directory: Path, tls: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.socket_path = directory / "redis.sock"
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        if tls:
            self.ca = directory / "redis-cert.pem"
            subprocess.run(
                [
                    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(directory / "redis-key.pem"), "-out", str(self.ca),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )  # fmt: skip

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca}"
        return f"redis://127.0.0.1:{self.port}/0"

    def _listen_args(self) -> list[str]:
        unix = ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if not self.tls:
            return ["--port", str(self.port), *unix]
        key = str(self.directory / "redis-key.pem")
        return [
            "--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.ca),
            "--tls-key-file", key, "--tls-ca-cert-file", str(self.ca),
            "--tls-auth-clients", "no", *unix,
        ]  # fmt: skip

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is missing: scripts/setup.sh installs it (apt redis-server)")
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [
                binary,
                *self._listen_args(),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for(self.answers, 15, "redis-server to answer PING")
        except BaseException:
            self.stop()  # a server that never answered is not left behind
            raise

    def answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"redis-server exited: {(self.directory / 'redis.log').read_text()}"
            )
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket_path))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@contextlib.contextmanager
def redis_server(directory: Path, tls: bool = False) -> Iterator[RedisServer]:
    server = RedisServer(directory, tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()
