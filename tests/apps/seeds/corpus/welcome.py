# the `--module welcome` of the stats server page (uWSGI's own demo app is welcome.py)
def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"Hello World"]
