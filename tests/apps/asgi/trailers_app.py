"""An ASGI app that ends its response with HTTP trailers when the server advertises them."""


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    offered = "http.response.trailers" in scope["extensions"]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "trailers": offered,
            "headers": [
                (b"content-type", b"text/plain"),
                (b"trailer", b"x-checksum, server-timing"),
            ],
        }
    )
    await send(
        {
            "type": "http.response.body",
            "body": b"offered" if offered else b"not offered",
            "more_body": True,
        }
    )
    await send({"type": "http.response.body", "body": b"!"})
    if not offered:
        return
    await send(
        {
            "type": "http.response.trailers",
            "more_trailers": True,
            "headers": [
                (b"x-checksum", b"abc123"),
                (b"content-length", b"9"),
            ],
        }
    )
    if scope["path"] == "/forgets":  # returns without its last trailers: the response ends
        return
    await send({"type": "http.response.trailers", "headers": [(b"server-timing", b"db;dur=5")]})
