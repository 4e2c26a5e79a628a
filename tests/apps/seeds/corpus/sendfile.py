# the X-Sendfile snippet's app: it names a file under /private instead of sending it
def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Sendfile", env["SENDFILE"])])
    return [b""]
