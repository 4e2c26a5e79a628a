"""The demo's front page: a plain WSGI app that says which worker served it."""

import uwsgi


def application(environ, start_response):
    body = (f"Hello from polyhost worker {uwsgi.worker_id()} of {uwsgi.numproc} "
            f"(path {environ['PATH_INFO']})\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
