"""Why a CGI or PHP request runs no script (403, 404, the 301 adding a slash), and its answer."""

from __future__ import annotations

from collections.abc import Callable

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
