"""Spooler throughput app (bench/spool_throughput.py): /spool?n=N enqueues N tasks and answers
the seconds it took; the spooler function counts each task it runs in the local cache."""

import time
from urllib.parse import parse_qs

import uwsgi


def spooler(task):
    uwsgi.cache_inc("done", 1, 0, "bench")
    return uwsgi.SPOOL_OK


uwsgi.spooler = spooler


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if environ["PATH_INFO"] == "/spool":
        count = int(query["n"][0])
        started = time.perf_counter()
        for i in range(count):
            uwsgi.spool({b"task": b"%d" % i, b"payload": b"x" * 100})
        body = b"%f" % (time.perf_counter() - started)
    else:
        body = b"%d" % uwsgi.cache_num("done", "bench")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
