"""An ASGI app on the fabric: RPC both ways with a Perl app, cache, signals and the spooler."""

import asyncio

import uwsgi


async def asgi_greet(name):
    await asyncio.sleep(0)  # a real coroutine: it runs on the worker's event loop
    return b"hello " + name + b" from ASGI"


async def on_signal(num):
    uwsgi.cache_set("signalled", str(num).encode())


def spooler(task):
    uwsgi.cache_set("spooled", task[b"note"])
    return uwsgi.SPOOL_OK


uwsgi.register_rpc("asgi_greet", asgi_greet)
uwsgi.register_signal(17, "worker", on_signal)
uwsgi.spooler = spooler


async def text(send, body, status=200):
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/perl":  # a Perl function, awaited: the loop keeps serving meanwhile
        await text(send, await uwsgi.acall("perl_upper", "from asgi"))
    elif path == "/self":  # an async function registered here, through the registry
        await text(send, await uwsgi.acall("asgi_greet", "me"))
    elif path == "/blocking-self":  # the sync form from the loop: refused with a clear error
        await text(send, uwsgi.call("asgi_greet", "me"))
    elif path == "/cache":
        uwsgi.cache_set("from-asgi", b"cached by ASGI")
        await text(send, uwsgi.cache_get("from-asgi"))
    elif path == "/signal":
        uwsgi.signal(17)
        await text(send, b"raised")
    elif path == "/spool":
        uwsgi.spool({b"note": b"spooled by ASGI"})
        await text(send, b"queued")
    elif path == "/get":
        key = scope["query_string"].decode()
        await text(send, uwsgi.cache_get(key) or b"")
    else:
        await text(send, b"not found", 404)
