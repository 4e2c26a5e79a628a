"""WebSocket echo over uWSGI's API: text back as text, b"bin" answered with a binary frame;
/nb first reports what websocket_recv_nb() saw before any message arrived."""

import uwsgi


def application(env, start_response):
    if env.get("HTTP_UPGRADE", "").lower() != "websocket":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not a websocket\n"]
    uwsgi.websocket_handshake(env.get("HTTP_SEC_WEBSOCKET_KEY", ""), env.get("HTTP_ORIGIN", ""))
    if env["PATH_INFO"] == "/nb":
        uwsgi.websocket_send(b"nb:" + repr(uwsgi.websocket_recv_nb()).encode())
    while True:
        try:
            msg = uwsgi.websocket_recv()
        except OSError as exc:
            uwsgi.log(f"websocket ended: {exc}")
            return []
        if msg == b"bin":
            uwsgi.websocket_send_binary(b"\x00\x01\xff")
        else:
            uwsgi.websocket_send(msg)
