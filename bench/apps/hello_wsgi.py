"""Hello-world WSGI app served by every server in the WSGI benchmark (bench/wsgi_hello.py)."""

from collections.abc import Callable, Iterable

BODY = b"Hello World"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
