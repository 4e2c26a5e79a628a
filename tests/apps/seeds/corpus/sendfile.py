# the X-Sendfile snippet's app: it names a file under /private instead of sending it (the path
# comes from the process environment, set by the ini's `env` option)
import os


def application(env, start_response):
    headers = [("Content-Type", "text/plain"), ("X-Sendfile", os.environ["SENDFILE"])]
    start_response("200 OK", headers)
    return [b""]
