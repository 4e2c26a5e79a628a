"""WSGI apps that wait on I/O, for the async cores (--gevent, --async, --asyncio): each answers
"start end" (time.time() when it began and when its wait ended) and the core it ran on."""

import os
import time

import uwsgi


def answer(start_response, began, core=b""):
    body = f"{began:.6f} {time.time():.6f} {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    """The wait the query names: gevent, sleep (time.sleep, monkey-patched), suspend
    (uwsgi.async_sleep + suspend), fd (uwsgi.wait_fd_read on a pipe written later), asyncio
    (a future on the running asyncio loop, the greenlet switching to its parent)."""
    began = time.time()
    how = environ.get("QUERY_STRING", "")
    if how == "gevent":
        import gevent

        gevent.sleep(1)
    elif how == "sleep":
        time.sleep(1)
    elif how == "suspend":
        uwsgi.async_sleep(1)
        uwsgi.suspend()
    elif how == "fd":
        read_end, write_end = os.pipe()
        import threading

        threading.Timer(1, os.write, (write_end, b"x")).start()
        uwsgi.wait_fd_read(read_end, 10)
        uwsgi.suspend()
        assert uwsgi.ready_fd() == read_end
        os.close(read_end)
        os.close(write_end)
    elif how == "asyncio":
        import asyncio

        import greenlet

        myself = greenlet.getcurrent()
        asyncio.get_event_loop().call_later(1, myself.switch)
        myself.parent.switch()
    elif how == "block":
        time.sleep(60)  # for harakiri
    return answer(start_response, began)
