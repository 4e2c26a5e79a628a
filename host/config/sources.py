"""What uWSGI's "schemes" read: a file path, `-` for stdin, or an `http://` / `https://` URL
(`--ini http://host:9090/test.ini`, `--extract URL`), each bounded in size; a URL also in time."""

from __future__ import annotations

import sys

#: the most a config file or an --extract source may hold
MAX_SIZE = 4 * 1024 * 1024
#: seconds to fetch a URL
FETCH_TIMEOUT = 15.0


class SourceError(Exception):
    """The source could not be read; the message says why."""


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def read_source(path: str) -> bytes:
    """The bytes of `path` (a file, `-`, or an http(s) URL). Raises SourceError."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_SIZE + 1)
    elif is_url(path):
        data = _fetch(path)
    else:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_SIZE + 1)
        except OSError as error:
            raise SourceError(error.strerror or str(error)) from None
    if len(data) > MAX_SIZE:
        raise SourceError(f"larger than {MAX_SIZE // (1024 * 1024)} MiB")
    return data


def _fetch(url: str) -> bytes:
    # imported here: urllib.request brings ssl, http.client and email (about 6 MiB) into every
    # process that reads a config, the Emperor and each vassal, for the few configs that are URLs
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MAX_SIZE:
                raise SourceError(f"larger than {MAX_SIZE // (1024 * 1024)} MiB ({length} bytes)")
            return bytes(response.read(MAX_SIZE + 1))
    except urllib.error.HTTPError as error:
        raise SourceError(f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"cannot fetch it: {reason}") from None
