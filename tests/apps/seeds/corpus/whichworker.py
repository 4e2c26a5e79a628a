# says which worker answered (for the map-socket example, whose `...` is the app)
import uwsgi


def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"worker {uwsgi.worker_id()}".encode()]
