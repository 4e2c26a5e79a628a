"""Enqueueing a spooler task from any language: uWSGI's special keys, then the spool file.

`body` goes after the vars (it may exceed 64 KiB), `spooler` picks the directory (it must be one
of the configured `spooler` options), `priority` a subdirectory, `at` the earliest run time.
"""

from __future__ import annotations

from polyhost.fabric.spooler import SpoolError, spool
from polyhost.process_state import CURRENT


def spool_pairs(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """Write a task from key/value pairs in order; returns the file's path as bytes."""
    if not CURRENT.spool_dirs:
        raise SpoolError("spool needs a spooler: add spooler = DIR")
    task: dict[bytes, bytes] = {}
    body = b""
    options: dict[str, str] = {}
    for key, value in pairs:
        if key == b"body":
            body = value
            continue
        if key in (b"spooler", b"priority", b"at"):
            options[key.decode()] = value.decode("utf-8", "replace")
        task[key] = value
    at = float(options["at"]) if options.get("at") else None
    path = spool(
        CURRENT.spool_dirs,
        task,
        body=body,
        spooler=options.get("spooler"),
        priority=options.get("priority"),
        at=at,
    )
    return path.encode() if isinstance(path, str) else path
