# the quickstart's foobar.py, and the value of the metric a query names (`/?loadavg`), read
# through the uwsgi API: how the metrics page's collectors are seen working
import uwsgi


def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    name = env.get("QUERY_STRING", "")
    if not name:
        return [b"Hello World"]
    return [f"{name} {uwsgi.metric_get(name)}".encode()]
