"""The spool file format, byte for byte uWSGI's, so either server runs the other's tasks.

A task file is one uwsgi packet: header `17, u16le size of the vars block, 0`, the vars block
(`u16le keylen, key, u16le vallen, value`, insertion order, at most 64 KiB), then the body, raw,
up to the end of the file (no length field; absent when empty). Task files are named
`uwsgi_spoolfile_on_<host>_<pid>_<counter>_<rand>_<sec>_<usec>`; a spooler only looks at names
with that prefix (and, with `spooler-ordered`, at numeric priority subdirectories).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from polyhost.protocol.uwsgi import MAX_PACKET, PacketError, encode_vars, iter_vars, pack_header

#: uwsgi modifier1 of a spool request (`UWSGI_MODIFIER_SPOOL_REQUEST`)
SPOOL_MODIFIER1 = 17
#: every task file's name starts with this; anything else in a spooler directory is ignored
TASK_PREFIX = "uwsgi_spoolfile_on_"

_DIGIT_RUNS = re.compile(r"(\d+)")


class SpoolError(ValueError):
    """A task could not be spooled or read (a ValueError, as uWSGI's `uwsgi.spool` raises)."""


def encode_spool_file(
    vars: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]], body: bytes = b""
) -> bytes:
    """The whole content of a task file: header, vars block, body."""
    try:
        block = encode_vars(vars)
    except PacketError as exc:
        raise SpoolError(f"spooler task: {exc}; put large values in the body") from None
    if len(block) > MAX_PACKET:
        raise SpoolError(
            f"spooler task vars take {len(block)} bytes, over uWSGI's 64 KiB limit: "
            "put large values in the body"
        )
    return pack_header(SPOOL_MODIFIER1, len(block)) + block + body


def decode_spool_file(data: bytes) -> tuple[dict[bytes, bytes], bytes]:
    """(vars, body) of a task file's content; SpoolError says what is wrong with it."""
    if len(data) < 4:
        raise SpoolError(f"spool file of {len(data)} bytes has no complete 4-byte header")
    if data[0] != SPOOL_MODIFIER1:
        raise SpoolError(f"spool file starts with modifier1 {data[0]}, not {SPOOL_MODIFIER1}")
    size = int.from_bytes(data[1:3], "little")
    if len(data) < 4 + size:
        raise SpoolError(
            f"spool file is truncated: its header announces {size} bytes of vars, "
            f"{len(data) - 4} follow"
        )
    try:
        pairs = iter_vars(memoryview(data)[4 : 4 + size])
        vars = {key.encode("latin-1"): value.encode("latin-1") for key, value in pairs}
    except PacketError as exc:
        raise SpoolError(f"spool file has a malformed vars block: {exc}") from None
    return vars, data[4 + size :]


def version_sort_key(name: str) -> tuple[tuple[int, int, str] | str, ...]:
    """Order names as glibc's versionsort (uWSGI's `scandir` with `spooler-ordered`) does.

    Digit runs compare by value (`2` < `10`, so counters and priorities sort numerically); a run
    with a leading zero sorts before the plain numbers, as strverscmp's fractional parts do.
    """
    key: list[tuple[int, int, str] | str] = []
    for index, part in enumerate(_DIGIT_RUNS.split(name)):
        if index % 2 == 0:
            key.append(part)
        elif len(part) > 1 and part[0] == "0":
            key.append((0, 0, part))
        else:
            key.append((1, len(part), part))
    return tuple(key)
