"""A WSGI app for the routing tests: shows the vars the rules may change; /missing is a 404,
/count answers how often the app was called in this worker (to see cache hits skip it), /big
and /refresh the same in a 20 KB page, /sendfile?PATH names a file in an X-Sendfile header."""

import os

CALLS = {"n": 0}
SHOWN = ("PATH_INFO", "REQUEST_URI", "QUERY_STRING", "REMOTE_USER", "SCRIPT_NAME", "FOO", "BAR",
         "REQUEST_METHOD", "DOCUMENT_ROOT", "UWSGI_APPID", "LOCAL")  # fmt: skip


def application(env, start_response):
    path = env.get("PATH_INFO", "")
    CALLS["n"] += 1
    if path.startswith("/missing"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"nope"]
    if path.startswith("/count"):
        body = f"call {CALLS['n']} pid {os.getpid()}".encode()
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        )
        return [body]
    if path.startswith(("/big", "/refresh")):  # a page far over 4 KiB, unique to this call
        body = f"call {CALLS['n']} pid {os.getpid()} ".encode().ljust(20000, b".")
        start_response("200 OK", [("Content-Type", "text/html")])
        return [body]
    if path.startswith("/sendfile"):  # the file to send, by X-Sendfile (and a header to pull)
        start_response("200 OK", [("X-Sendfile", env["QUERY_STRING"]), ("X-Secret", "s3")])
        return [b"not this body"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-App", "1")])
    shown = "|".join(f"{k}={env.get(k, '')}" for k in SHOWN).encode("latin-1")
    if env.get("REQUEST_METHOD") == "POST":
        shown += b"|BODY=" + env["wsgi.input"].read()
    return [shown]
