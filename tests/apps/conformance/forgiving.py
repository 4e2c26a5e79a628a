"""WSGI apps that run under gunicorn and uWSGI although they bend PEP 3333 or HTTP
(tests/test_forgiving.py): each is served as those servers serve it, the bend logged."""

import sys


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/exc-info":  # an error page replacing headers not sent yet
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("while building the page")
        except ValueError:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"error page"]
    if path == "/write-callable":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]
    if path == "/empty-parts":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"", b"a", b"", b"b", b""])
    if path == "/shorter-than-declared":
        start_response("200 OK", [("Content-Length", "10")])
        return iter([b"12345"])
    if path == "/lazy-start":  # start_response called from inside the body generator

        def body():
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"lazy"

        return body()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
