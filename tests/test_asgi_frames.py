"""The WebSocket frame layer of adopted connections (bridges/asgi/websocket.Frames): wsproto's
handshake is dropped once accepted, and frames (deflated when offered) still flow both ways."""

from __future__ import annotations

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from polyhost.bridges.asgi.websocket import Frames


def test_handshake_dropped_after_accept_and_frames_flow() -> None:
    client = WSConnection(ConnectionType.CLIENT)
    hello = client.send(Request(host="127.0.0.1", target="/ws", extensions=[PerMessageDeflate()]))
    server = Frames()
    server.receive_data(hello)
    events = list(server.events())
    assert [type(e) for e in events] == [Request]
    answer = server.send(AcceptConnection(extensions=[PerMessageDeflate()]))
    assert server.handshake is None and server.connection is not None
    client.receive_data(answer)
    accepted = list(client.events())
    assert isinstance(accepted[0], AcceptConnection)
    assert accepted[0].extensions and accepted[0].extensions[0].name == "permessage-deflate"
    server.receive_data(client.send(TextMessage(data="héllo " * 50)))
    got = [e.data for e in server.events() if isinstance(e, TextMessage)]
    assert got == ["héllo " * 50]
    client.receive_data(server.send(TextMessage(data="back")))
    assert [e.data for e in client.events() if isinstance(e, TextMessage)] == ["back"]
