"""A WSGI app taking 50 ms a request: a burst keeps workers busy (bench/supervision.py)."""

import time
from collections.abc import Callable, Iterable

BODY = b"slept"


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]
