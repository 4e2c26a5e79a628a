"""The Python corner of the metrics tests: uwsgi.metric_* as uWSGI returns them, and RPC."""

import uwsgi

uwsgi.register_rpc("py_twice", lambda arg: arg * 2)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/api":
        results = [
            uwsgi.metric_inc("hits.py"),
            uwsgi.metric_inc("nope"),
            uwsgi.metric_get("nope"),
            uwsgi.metric_set("depth", 7),
            uwsgi.metric_mul("depth", 3),
            uwsgi.metric_div("depth", 2),
            uwsgi.metric_dec("depth"),
            uwsgi.metric_get("depth"),
            uwsgi.metric_set("core.rpc_calls", 5),
            uwsgi.rpc("", "py_twice", b"ab"),
        ]
        return [repr(results).encode()]
    uwsgi.metric_inc("hits.py")
    uwsgi.cache_get("missing")
    return [str(uwsgi.metric_get("hits.py")).encode()]
