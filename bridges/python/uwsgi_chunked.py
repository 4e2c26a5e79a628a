"""`uwsgi.chunked_read([timeout])` / `uwsgi.chunked_read_nb()`: uWSGI's chunked input API.

Behind `--http-chunked-input` the body reaches the worker still chunked (host/protocol/
chunked_body.py); these calls return one chunk each, b"" after the last one, and raise IOError
("unable to receive chunked part") on a malformed, oversized or cut-short stream, as
plugins/python/uwsgi_pymodule.c does. `chunked_read_nb` returns None when no whole chunk has
arrived. On a body polyhost has already de-chunked (http-socket, or a declared length) they
return its pieces in turn, so the same app works on every socket.
"""

from __future__ import annotations

from polyhost.protocol.chunked_body import read_chunk


def chunked_read(timeout: int = 0) -> bytes:
    """The next chunk of the request body; b"" once it has ended (timeout -1: no limit)."""
    return read_chunk(timeout, False) or b""


def chunked_read_nb() -> bytes | None:
    """The next chunk if one has fully arrived, else None."""
    return read_chunk(0, True)


EXPORTS = (chunked_read, chunked_read_nb)
