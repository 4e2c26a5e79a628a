"""A WSGI app calling the echo runtime's RPC function through `uwsgi.rpc`."""

import uwsgi


def application(environ, start_response):
    args = environ["QUERY_STRING"].encode().split(b"+")
    body = uwsgi.rpc("", b"echo_reverse", *args)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
