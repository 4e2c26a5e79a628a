"""The chunked-upload bench app: reads the body with uwsgi.chunked_read, answers its length."""

import uwsgi


def application(environ, start_response):
    total = 0
    while chunk := uwsgi.chunked_read(10):
        total += len(chunk)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
