"""What the --http router tests need beyond basic.py: a long streamed download (/big?MiB, no
Content-Length) and a response the router gzips (uWSGI-Encoding: gzip)."""

CHUNK = b"x" * (1 << 20)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/big":
        mebibytes = int(environ.get("QUERY_STRING") or 1)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (CHUNK for _ in range(mebibytes))
    if path == "/gzip":
        start_response("200 OK", [("Content-Type", "text/plain"), ("uWSGI-Encoding", "gzip")])
        return (part for part in [b"compress me " * 100])  # no Content-Length: gzippable
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"edges"]
