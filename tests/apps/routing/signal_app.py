"""A WSGI app with a handler for signal 17 (it appends to $MARKER): what `signal:17` raises."""

import os

import uwsgi


def on_signal(num):
    with open(os.environ["MARKER"], "a") as marker:
        marker.write(f"signal {num}\n")


uwsgi.register_signal(17, "workers", on_signal)


def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [env.get("SCRIPT_NAME", "").encode() or b"root"]
