"""Answers which node served the request (NODE_NAME from `env`) and the key it was routed by."""

import os


def application(env, start_response):
    body = f"{os.environ.get('NODE_NAME', '?')} {env.get('HTTP_HOST', '')}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
