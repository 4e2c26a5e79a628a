"""The chunked-upload bench app: reads the body with uwsgi.chunked_read, answers its length."""

from collections.abc import Callable, Iterable
from typing import Any

import uwsgi


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    total = 0
    while chunk := uwsgi.chunked_read(10):
        total += len(chunk)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
