"""WSGI responses at the edges (tests/test_response_checks.py): what the common servers forgive,
and what must never reach the wire."""


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/bare-status":
        start_response("404", [("Content-Type", "text/plain")])
        return [b"no reason phrase"]
    if path == "/crlf-status":
        start_response("200 OK\r\nSet-Cookie: x=1", [("Content-Type", "text/plain")])
        return [b"smuggled"]
    if path == "/int-header":
        start_response("200 OK", [("X-Num", 5)])
        return [b"five"]
    if path == "/lf-header":
        start_response("200 OK", [("X-A", "a\nSet-Cookie: y=2")])
        return [b"smuggled"]
    if path == "/bad-name":
        start_response("200 OK", [("X A", "v")])
        return [b"bad name"]
    if path == "/not-latin1":
        start_response("200 OK", [("X-Name", "\u20ac")])
        return [b"euro"]
    if path == "/fails-midway":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"first part "
            yield b"second part "
            raise RuntimeError("the body iterator failed")

        return body()
    if path == "/longer-than-declared":
        start_response("200 OK", [("Content-Length", "5")])
        return [b"12345", b"HTTP/1.1 200 OK\r\n\r\nforged"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
