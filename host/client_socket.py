"""Client connections to another instance's socket: what remote RPC, remote caches and remote
signals dial. Addresses are uWSGI's forms: `host:port`, `[v6]:port`, `:port` (127.0.0.1),
`/unix/path` and `@abstract`."""

from __future__ import annotations

import socket


def connect(node: str, timeout: float) -> socket.socket:
    """A client connection to host:port, /unix/path or @abstract."""
    if node.startswith("/") or node.startswith("@"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect("\0" + node[1:] if node.startswith("@") else node)
        return sock
    host, _, port = node.rpartition(":")
    return socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout)
