"""The Python side of tests/test_rpc_perl.py: an RPC function that describes its arguments."""

import uwsgi

uwsgi.register_rpc(
    "py_sizes", lambda *args: b"|".join(b"%d:%s" % (len(arg), arg[:3]) for arg in args)
)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"python"]
