"""The instance log: every process writes whole lines to fd 2 (a file with `logto`)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable

#: `log-date`: None (off), "" (uWSGI's default ctime prefix) or a strftime format
_date_format: str | None = None


def set_log_date(value: object) -> None:
    """Configure the `log-date` prefix from the option value (True/"true" = uWSGI's default)."""
    global _date_format
    if not value or value is False:
        _date_format = None
    elif value is True or str(value).lower() in ("true", "1", "yes", "on"):
        _date_format = ""
    else:
        _date_format = str(value)


#: `logger` / `req-logger` destinations replacing the log fd (polyhost.zmqlog); each takes a line
_loggers: list[Callable[[str], None]] = []
_request_loggers: list[Callable[[str], None]] = []


def set_loggers(
    general: list[Callable[[str], None]], requests: list[Callable[[str], None]]
) -> None:
    """Send log lines (and request log lines) to these instead of fd 2."""
    _loggers[:] = general
    _request_loggers[:] = requests


def log(message: str) -> None:
    """Write one line to the log; never raises (a full disk must not kill a worker)."""
    _emit(message, _loggers)


def log_request(message: str) -> None:
    """A request log line: to the `req-logger`s if any, else where `log` writes."""
    _emit(message, _request_loggers or _loggers)


def _emit(message: str, sinks: list[Callable[[str], None]]) -> None:
    if _date_format is not None:
        prefix = time.strftime(_date_format) if _date_format else time.ctime() + " - "
        message = prefix + message
    line = message.rstrip("\n") + "\n"
    if sinks:
        for sink in sinks:
            sink(line)
        return
    with contextlib.suppress(OSError):
        os.write(2, line.encode("utf-8", "replace"))


def log_exception(prefix: str, exc: BaseException) -> None:
    """A traceback as one log write, so lines of concurrent processes don't interleave."""
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log(f"{prefix}\n{text}")


def open_logfile(path: str) -> None:
    """Point stdout and stderr at `path` (append), as `logto` does."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def ctime(epoch: float | None = None) -> str:
    """uWSGI's log date: `Mon Nov 23 15:37:51 2026`."""
    return time.ctime(epoch)


def printable(text: str) -> str:
    """Client-supplied text made safe for one log line: every control character (CR, LF, ESC,
    C1 ...) written as a \\xNN (or \\uNNNN) escape, so a request cannot forge or split lines."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
