"""A WSGI page with some work in it (a 200-row table rendered per request, about 0.3 ms), served
by both servers in the response-cache benchmark (bench/routing.py): what a `cache:` hit saves."""

from collections.abc import Callable, Iterable
from html import escape

ROWS = [(n, f"item <{n}>", n * 3.25) for n in range(200)]


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    cells = "".join(
        f"<tr><td>{n}</td><td>{escape(name)}</td><td>{price:.2f}</td></tr>"
        for n, name, price in ROWS
    )
    body = f"<html><body><table>{cells}</table></body></html>".encode()
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]
