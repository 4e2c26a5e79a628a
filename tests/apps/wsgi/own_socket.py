"""A WSGI app reporting its own client connection's TCP_NODELAY and the SERVER_PORT it was given
(test_accept_path): the worker's socket is found by the peer port the request came from."""

import os
import socket


def _own_socket(remote_port: int) -> socket.socket | None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if sock.type == socket.SOCK_STREAM and sock.getpeername()[1] == remote_port:
                return sock
        except (OSError, IndexError, TypeError):
            pass
        sock.close()
    return None


def application(environ, start_response):
    sock = _own_socket(int(environ["REMOTE_PORT"]))
    nodelay = (
        "none" if sock is None else str(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    )
    if sock is not None:
        sock.close()
    body = f"{nodelay} {environ['SERVER_PORT']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
