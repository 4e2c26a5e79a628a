"""A node of an `rpc-nodes` group, and the caller of one (tests/test_rpc_nodes.py)."""

import os
from urllib.parse import parse_qs

import uwsgi

NODE = os.environ.get("NODE_NAME", "caller")
MARKERS = os.environ["MARKER_DIR"]


def on_signal(num: int) -> None:
    with open(os.path.join(MARKERS, f"sig{num}-{NODE}"), "a") as marker:
        marker.write(f"{os.getpid()}\n")


uwsgi.register_rpc("whoami", lambda: NODE.encode())
uwsgi.register_signal(50, "workers", on_signal)


def application(environ, start_response):
    query = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    path = environ["PATH_INFO"]
    status = "200 OK"
    try:
        if path == "/any":
            body = uwsgi.rpc(query["group"], "whoami")
        elif path == "/broadcast":
            uwsgi.signal(int(query["num"]), query["group"])
            body = b"raised"
        else:
            body = NODE.encode()
    except Exception as exc:
        status, body = "500 Internal Server Error", str(exc).encode()
    start_response(status, [("Content-Type", "text/plain")])
    return [body]
