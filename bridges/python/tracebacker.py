"""`py-tracebacker BASE`: each worker listens on the unix socket BASE<worker id> and writes the
current stack of every Python thread to whoever connects (read it with `polyhost
--connect-and-read BASE1`), in uWSGI's format. The client sends nothing; whatever it sends is
never read."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import traceback
from collections.abc import Callable

HEADER = b"*** uWSGI Python tracebacker output ***\n\n"
#: seconds a slow reader may take to receive one dump before it is dropped
SEND_TIMEOUT = 10.0


def dump() -> bytes:
    """Every thread's stack, innermost call last, one `thread_id = ...` line per frame."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    lines = [HEADER]
    for ident, frame in sys._current_frames().items():
        name = names.get(ident, str(ident))
        for entry in traceback.extract_stack(frame):
            lines.append(
                f"thread_id = {name} filename = {entry.filename} lineno = {entry.lineno} "
                f"function = {entry.name} line = {entry.line or ''}\n".encode(errors="replace")
            )
    return b"".join(lines)


class Tracebacker:
    """The socket of one worker and the thread answering it."""

    def __init__(self, base: str, worker_id: int, log: Callable[[str], None]) -> None:
        self.path = f"{base}{worker_id}"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # a socket left by an earlier worker of this id
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(16)
        log(f"python tracebacker for worker {worker_id} available on {self.path}")
        threading.Thread(target=self._serve, name="uWSGITraceBacker", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed at worker exit
                return
            with client:
                client.settimeout(SEND_TIMEOUT)
                with contextlib.suppress(OSError):
                    client.sendall(dump())

    def close(self) -> None:
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
