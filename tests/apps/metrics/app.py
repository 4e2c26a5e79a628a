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
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("the metrics test's failing request")
    if environ["PATH_INFO"] == "/hit":
        uwsgi.cache_update("present", b"1")
        return [uwsgi.cache_get("present")]
    uwsgi.metric_inc("hits.py")
    uwsgi.cache_get("missing")
    return [str(uwsgi.metric_get("hits.py")).encode()]
