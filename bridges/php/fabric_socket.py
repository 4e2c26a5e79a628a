"""Where php-cgi children make their fabric calls: a unix socket in each worker.

php-cgi speaks only FastCGI to the worker, so the uwsgi_* functions of uwsgi.php connect to this
socket (its path is the php-cgi setting `polyhost.fabric_socket`) and send the bridge protocol's
CALL packets (bridges/PROTOCOL.md); each is answered with a RESULT by the fabric's op table,
under the owner "php". A thread per connection serves them while the request that made the call
waits for PHP's FastCGI answer, so nothing else in the worker changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
from collections.abc import Callable

from polyhost.bridges.channel import CALL, MORE, RESULT, frames, private_dir
from polyhost.fabric import ops
from polyhost.protocol.uwsgi import HEADER, decode_array, encode_array


class FabricSocket:
    def __init__(self, worker_id: int, log: Callable[[str], None]) -> None:
        self.log = log
        self.dir = private_dir(f"polyhost-php-fabric-w{worker_id}-")
        self.path = os.path.join(self.dir, "fabric.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(64)
        threading.Thread(target=self._accept, name="php fabric", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while (message := _read_message(conn)) is not None:
                mod1, payload = message
                if mod1 != CALL:
                    self.log(f"[php] unexpected packet type {mod1} on the fabric socket")
                    return
                items = decode_array(payload)
                try:
                    reply = frames(
                        RESULT, encode_array(ops.call("php", items[0].decode(), items[1:])), 0
                    )
                except ops.FabricError as exc:
                    reply = frames(RESULT, encode_array([str(exc).encode()]), 1)
                try:
                    conn.sendall(reply)
                except OSError:
                    return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _read_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        piece = conn.recv(size - len(data))
        if not piece:
            return None
        data += piece
    return data


def _read_message(conn: socket.socket) -> tuple[int, bytes] | None:
    """One logical message (packets joined while the MORE bit is set); None at EOF."""
    parts = []
    while True:
        header = _read_exact(conn, 4)
        if header is None:
            return None
        mod1, size, mod2 = HEADER.unpack(header)
        payload = _read_exact(conn, size) if size else b""
        if payload is None:
            return None
        parts.append(payload)
        if not mod2 & MORE:
            return mod1, b"".join(parts)
