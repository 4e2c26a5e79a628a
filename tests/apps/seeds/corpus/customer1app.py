# customer1app of the "limit-as" page: the quickstart app under its own uid
def application(env, start_response):
    start_response("200 OK", [("Content-Type", "text/html")])
    return [b"Hello World"]
