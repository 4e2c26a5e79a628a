"""A WSGI app answering with the heavy modules its worker has loaded (test_worker_imports).

`?a,b` asks about the modules a and b instead of HEAVY."""

import sys

#: modules a hello-world WSGI worker must not carry: each is loaded only by the feature using it
HEAVY = ("asyncio", "ssl", "yaml", "passlib", "bcrypt")


def application(environ, start_response):
    names = environ.get("QUERY_STRING", "").split(",") if environ.get("QUERY_STRING") else HEAVY
    body = ",".join(name for name in names if name in sys.modules).encode() or b"-"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
