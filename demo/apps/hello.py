"""The demo's front page (Python/WSGI): a visit counter in the cache every language shares,
and an RPC function the Perl and Ruby apps call."""

import uwsgi


def shout(text: bytes) -> bytes:
    return text.upper() + b"!"


uwsgi.register_rpc("shout", shout)


def application(environ, start_response):
    visits = uwsgi.cache_inc("visits", 1, 0, "demo")
    body = (
        f"Hello from Python, worker {uwsgi.worker_id()} of {uwsgi.numproc}: "
        f"visit {visits} (counter shared with Perl and Ruby)\n"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
