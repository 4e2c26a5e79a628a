"""`logger = zeromq:ENDPOINT` and `req-logger = zeromq:ENDPOINT`: log lines as zmq messages.

As uWSGI's zeromq logger: a PUSH socket connected to the endpoint, one message per line. Each
process opens its own socket (a zmq context must not cross fork) and never blocks: a line that
cannot be queued is dropped. Other logger plugins are reported and the log stays on stderr.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from polyhost.config import option_values
from polyhost.log import log, set_loggers

if TYPE_CHECKING:
    import zmq

    from polyhost.config import Config

#: lines queued per process before new ones are dropped
SEND_HWM = 10000


class ZmqLogger:
    """A callable log sink publishing each line on a PUSH socket."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._pid = 0
        self._sock: zmq.Socket | None = None
        self._lock = threading.Lock()

    def _connect(self) -> zmq.Socket:
        import zmq

        context = zmq.Context()  # per process: never the parent's after fork
        sock = context.socket(zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, SEND_HWM)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.connect(self.endpoint)
        self._pid, self._sock = os.getpid(), sock
        return sock

    def __call__(self, line: str) -> None:
        import zmq

        with self._lock:
            sock = self._sock if self._pid == os.getpid() else self._connect()
            with contextlib.suppress(zmq.ZMQError):  # the log never blocks nor kills
                sock.send(line.rstrip("\n").encode("utf-8", "replace"), zmq.NOBLOCK)


def _sinks(config: Config, option: str) -> list[Callable[[str], None]]:
    sinks: list[Callable[[str], None]] = []
    for value in option_values(config, option):
        spec = value.split(" ", 1)[-1] if " " in value.split(":", 1)[0] else value
        plugin, _, arg = spec.partition(":")
        if plugin == "zeromq" and arg:
            sinks.append(ZmqLogger(arg))
        else:
            log(
                f"{option} = {value}: only the zeromq logger is available in polyhost; "
                "this one is ignored and the log stays on stderr"
            )
    return sinks


def install_loggers(config: Config) -> None:
    """Route `log()` and request lines to the configured zeromq loggers (if any)."""
    general, requests = _sinks(config, "logger"), _sinks(config, "req-logger")
    if general or requests:
        set_loggers(general, requests)
