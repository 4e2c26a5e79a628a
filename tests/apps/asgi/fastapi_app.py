"""A FastAPI app for the ASGI tests: JSON and path params, a stream, an upload, lifespan state,
an SSE stream that notices its client leaving, errors, and a WebSocket echo."""

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

#: the SSE endpoint appends "disconnected" here when it learns its client went away
MARKER = os.environ.get("ASGI_MARKER", "")


def mark(text: str) -> None:
    if MARKER:
        with open(MARKER, "a") as marker:
            marker.write(text + "\n")


@asynccontextmanager
async def lifespan(app: FastAPI):
    mark(f"startup {os.getpid()}")
    yield {"started_by": os.getpid()}
    mark(f"shutdown {os.getpid()}")


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict:
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item) -> dict:
    return {"name": item.name, "double": item.price * 2}


@app.get("/scope")
async def scope(request: Request) -> dict:
    s = request.scope
    return {
        "path": s["path"],
        "raw_path": s["raw_path"].decode(),
        "root_path": s["root_path"],
        "query_string": s["query_string"].decode(),
        "headers": [[k.decode(), v.decode()] for k, v in s["headers"]],
        "http_version": s["http_version"],
        "scheme": s["scheme"],
        "client_host": s["client"][0],
        "server_port": s["server"][1],
        "state": request.state.started_by,
        "asgi": s["asgi"],
    }


@app.get("/stream")
async def stream(parts: int = 3, delay: float = 0.0) -> StreamingResponse:
    async def gen():
        for i in range(parts):
            yield f"part {i}\n".encode()
            if delay:
                await asyncio.sleep(delay)

    return StreamingResponse(gen(), media_type="text/plain")


@app.post("/upload")
async def upload(file: UploadFile) -> dict:
    data = await file.read()
    return {"filename": file.filename, "size": len(data), "sum": sum(data) % 65536}


@app.post("/raw")
async def raw(request: Request) -> PlainTextResponse:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
    return PlainTextResponse(f"received {total}")


@app.get("/sse")
async def sse(request: Request) -> StreamingResponse:
    async def events():
        n = 0
        while True:
            if await request.is_disconnected():
                mark("disconnected")
                return
            yield f"data: tick {n}\n\n".encode()
            n += 1
            await asyncio.sleep(0.05)

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/sleep")
async def sleep(seconds: float = 1.0) -> PlainTextResponse:
    await asyncio.sleep(seconds)
    return PlainTextResponse("slept")


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("boom from the ASGI app")


@app.get("/boom-mid-stream")
async def boom_mid_stream() -> StreamingResponse:
    async def parts():
        yield b"first part"
        raise RuntimeError("boom after the response started")

    return StreamingResponse(parts(), media_type="text/plain")


@app.get("/pid")
async def pid() -> PlainTextResponse:
    return PlainTextResponse(str(os.getpid()))


@app.websocket("/ws")
async def echo(ws: WebSocket) -> None:
    await ws.accept(subprotocol=(ws.scope.get("subprotocols") or [None])[0])
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                mark(f"ws closed {message.get('code')}")
                return
            if message.get("text") is not None:
                if message["text"] == "close-me":
                    await ws.close(code=4000, reason="asked to")
                    return
                await ws.send_text("echo:" + message["text"])
            else:
                await ws.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect as exc:
        mark(f"ws closed {exc.code}")


@app.websocket("/ws-deny")
async def deny(ws: WebSocket) -> None:
    await ws.close()
