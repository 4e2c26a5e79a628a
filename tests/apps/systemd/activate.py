"""What systemd does for a socket-activated service, for the tests: bind every `--listen ADDR`
(`ADDR=NAME` gives it a FileDescriptorName), put the sockets on fds 3, 4, ..., set LISTEN_FDS,
LISTEN_PID (this pid, which the exec keeps) and LISTEN_FDNAMES, then exec the command after `--`.

    python activate.py --listen 127.0.0.1:8000 --listen /run/app.sock=api -- polyhost ...
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys


def bound(address: str) -> socket.socket:
    if address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
    else:
        host, _, port = address.rpartition(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
    sock.listen(64)
    return sock


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    listens = [options[i + 1] for i, arg in enumerate(options) if arg == "--listen"]
    sockets, names = [], []
    for item in listens:
        address, _, name = item.partition("=")
        sockets.append(bound(address))
        names.append(name or "unknown")  # what sd_listen_fds_with_names() reports unnamed
    # up out of the way first, so no dup2 below overwrites a socket not moved yet
    high = [fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 100) for sock in sockets]
    for sock in sockets:
        sock.close()
    for index, fd in enumerate(high):
        os.dup2(fd, 3 + index)  # inheritable
        os.close(fd)
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDS"] = str(len(high))
    os.environ["LISTEN_FDNAMES"] = ":".join(names)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
