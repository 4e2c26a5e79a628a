"""Which script a CGI or PHP request runs: the walk down its path, and the Refusal (403, 404,
the 301 adding a slash) when it runs none."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from polyhost.request import Responder, simple_error


class Refusal(Exception):
    """The request runs no script: the status, the reason for the log (if any), a redirect."""

    def __init__(self, status: int, log: str = "", location: str = "") -> None:
        super().__init__(log)
        self.status = status
        self.log = log
        self.location = location

    def answer(self, responder: Responder, log: Callable[[str], None], prefix: str) -> None:
        """Log the reason under `prefix` and send the client the status (or the redirect)."""
        if self.log:
            log(f"{prefix} {self.log}")
        if self.location:
            responder.start(
                "301 Moved Permanently", [("Location", self.location), ("Content-Length", "0")]
            )
        else:
            simple_error(responder, self.status)


def walk_to_script(
    root: str,
    path: str,
    script_name: str,
    query: str,
    index: Sequence[str],
    is_index: Callable[[str], bool],
) -> tuple[str, str, str]:
    """Walk `path` down from the directory `root`: the first file on it is the script and the
    rest is PATH_INFO; a directory runs its first `index` file that `is_index` accepts.

    Returns (filename, the URL path naming the script, PATH_INFO); raises Refusal(404) for a
    missing segment or index, Refusal(301) to add the slash a directory's URL needs.
    """
    segments = path.split("/")
    current = root
    for position, segment in enumerate(segments):
        if not segment:
            continue
        current = os.path.join(current, os.fsdecode(segment.encode("latin-1")))
        if not os.path.exists(current):
            raise Refusal(404)
        if not os.path.isdir(current):
            rest = "/".join(segments[position + 1 :])
            return current, "/".join(segments[: position + 1]), f"/{rest}" if rest else ""
    if not path.endswith("/"):
        raise Refusal(301, location=f"{script_name}{path}/" + (f"?{query}" if query else ""))
    for name in index:
        candidate = os.path.join(current, name)
        if is_index(candidate):
            return candidate, path + name, ""
    raise Refusal(404)
