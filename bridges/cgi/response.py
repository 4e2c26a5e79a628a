"""The header block of a CGI response (RFC 3875 section 6), as php-cgi and CGI programs write it.

`CgiHead.feed` takes the program's output as it arrives and, once the blank line is seen, gives
the status, the headers in order and the first body bytes. `Status:` sets the status (its reason
is optional), `Location:` without `Status:` means a redirect: a local one (an absolute path) is
re-dispatched by the server, any other one becomes a 302.
"""

from __future__ import annotations

from polyhost.request import REASONS

#: the largest header block a program may write before its body
HEAD_LIMIT = 64 * 1024


class CgiHeadError(ValueError):
    """The program's output is not a CGI response; the message says why, for the log."""


class CgiHead:
    """Collects and parses one response head."""

    __slots__ = ("_buf", "headers", "location", "status", "status_given")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.status = "200 OK"
        #: True when the program wrote a Status: header
        self.status_given = False
        self.headers: list[tuple[str, str]] = []
        self.location: str | None = None

    def feed(self, data: bytes) -> bytes | None:
        """Add output; returns the body bytes after the head once it is complete, else None."""
        buf = self._buf
        start = max(0, len(buf) - 3)
        buf += data
        end, sep_len = _find_blank_line(buf, start)
        if end < 0:
            if len(buf) > HEAD_LIMIT:
                raise CgiHeadError(f"no end of headers in the first {HEAD_LIMIT} bytes of output")
            return None
        self._parse(bytes(buf[:end]))
        body = bytes(buf[end + sep_len :])
        self._buf = bytearray()
        return body

    def finish(self) -> None:
        """The output ended: a head without its blank line is still a head (no body)."""
        if self._buf:
            self._parse(bytes(self._buf).rstrip(b"\r\n"))
            self._buf = bytearray()
        elif not self.headers and not self.status_given:
            raise CgiHeadError("the program wrote nothing (a CGI response needs at least a header)")

    @property
    def local_redirect(self) -> str | None:
        """The path of a local redirect (RFC 3875 6.2.2), which the server serves itself."""
        location = self.location
        if location is None or self.status_given or not location.startswith("/"):
            return None
        return None if location.startswith("//") else location

    def _parse(self, block: bytes) -> None:
        text = block.decode("latin-1")
        for raw in text.split("\n"):
            line = raw.rstrip("\r")
            if not line:
                continue
            if line[0] in " \t" and self.headers:  # obsolete line folding
                name, value = self.headers[-1]
                self.headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, sep, value = line.partition(":")
            name = name.strip()
            if not sep or not name or " " in name:
                raise CgiHeadError(f"malformed header line {line[:200]!r}")
            value = value.strip()
            lower = name.lower()
            if lower == "status":
                self._set_status(value)
                continue
            if lower == "location":
                self.location = value
            self.headers.append((name, value))
        if self.location is not None and not self.status_given:
            self.status = "302 Found"

    def _set_status(self, value: str) -> None:
        code, _, reason = value.partition(" ")
        if len(code) != 3 or not code.isdigit():
            raise CgiHeadError(f"malformed Status header {value[:100]!r}")
        self.status = f"{code} {reason.strip() or REASONS.get(int(code), 'Unknown')}"
        self.status_given = True


def _find_blank_line(buf: bytearray, start: int) -> tuple[int, int]:
    """Where the head ends, and the length of the blank line that ends it."""
    found = [
        (index, len(sep))
        for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n")
        if (index := buf.find(sep, start)) >= 0
    ]
    return min(found) if found else (-1, 0)
