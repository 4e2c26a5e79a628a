"""ASGI app for tests/test_asgi_suspending.py: answers that do and do not suspend, on one
keep-alive connection."""

import asyncio
import json
import os

import anyio


async def _send_json(send, data, status=200):
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    task = asyncio.current_task()
    if path == "/sleep-first":  # suspends before the response starts
        await asyncio.sleep(0.01)
    elif path == "/task-group":  # anyio needs a current task (as Starlette's middleware)
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.sleep, 0.01)
    elif path == "/fail":
        raise RuntimeError("planned failure")
    elif path == "/sleep-between":  # suspends between the start and the body
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"one,", "more_body": True})
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"two"})
        return
    elif path == "/until-disconnect":  # streams, then waits for the client to go
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"tick", "more_body": True})
        message = await receive()  # the (empty) request body
        while message["type"] != "http.disconnect":
            message = await receive()
        with open(os.environ["SUSPENDING_APP_NOTES"], "a") as notes:
            notes.write(message["type"] + "\n")
        return
    await _send_json(send, {"path": path, "task": id(task) if task is not None else None,
                            "same_task": task is asyncio.current_task()})  # fmt: skip
