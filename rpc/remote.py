"""Remote RPC over the uwsgi protocol (modifier1 173), client and server side.

Request: `[173, size, 0]` + uwsgi array (function, args...). Reply: `[173, len, 0]` + bytes, or
for replies over 64 KiB `[173, size, 5]` + vars `{CONTENT_LENGTH: N}` + N bytes (uWSGI's
modifier2 5 form). Modifier2 2 is the HTTP form: `PATH_INFO=/func/arg1/arg2`.
"""

from __future__ import annotations

import socket
from urllib.parse import unquote_to_bytes

from polyhost.client_socket import connect
from polyhost.protocol.uwsgi import (
    MAX_PACKET,
    PacketError,
    decode_array,
    decode_vars,
    encode_array,
    encode_vars,
    pack_header,
    packet,
    unpack_header,
)
from polyhost.request import Request, Responder, simple_error
from polyhost.rpc.nodes import NodeUnreachable, is_group, node_groups
from polyhost.rpc.registry import REGISTRY, Registry, RpcError, RpcLimitError, check_call

RPC_MODIFIER1 = 173
LARGE_REPLY = 5
HTTP_FORM = 2


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        data = sock.recv(min(size, 1 << 20))
        if not data:
            raise RpcError("the RPC peer closed the connection before the whole reply")
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


class NoReply(RpcError):
    """The node answered a call with nothing: as uWSGI, the function failed or is not there."""


def call_remote(node: str, name: bytes, args: list[bytes], timeout: float = 30.0) -> bytes:
    """Call `name` on the instance listening at `node` (host:port, /unix/path, @abstract), or
    on one node of the `rpc-nodes` group `group:NAME`."""
    if is_group(node):
        return node_groups().call_any(node, lambda one: call_remote(one, name, args, timeout))
    check_call(name, args)
    try:
        payload = encode_array([name, *args])
    except PacketError as exc:
        raise RpcLimitError(f"RPC call of {name.decode('latin-1')!r}: {exc}") from exc
    if len(payload) > MAX_PACKET:
        raise RpcLimitError(f"RPC call of {name.decode('latin-1')!r}: arguments total over 64 KiB")
    try:
        sock = connect(node, timeout)
    except OSError as exc:
        raise NodeUnreachable(f"RPC {name.decode('latin-1')!r} on {node} failed: {exc}") from exc
    try:
        with sock:
            sock.sendall(pack_header(RPC_MODIFIER1, len(payload), 0) + payload)
            header = sock.recv(4, socket.MSG_WAITALL)
            if len(header) < 4:
                raise NoReply(
                    f"RPC {name.decode('latin-1')!r} on {node}: no reply (the "
                    "function failed or does not exist there; see that log)"
                )
            _, size, mod2 = unpack_header(header)
            body = _read_exact(sock, size)
            if mod2 == LARGE_REPLY:
                length = int(decode_vars(body).get("CONTENT_LENGTH", "0"))
                return _read_exact(sock, length)
            return body
    except OSError as exc:
        raise RpcError(f"RPC {name.decode('latin-1')!r} on {node} failed: {exc}") from exc


def reply_packet(result: bytes) -> bytes:
    """The reply uWSGI sends for a modifier2 0 call."""
    if len(result) <= MAX_PACKET:
        return packet(RPC_MODIFIER1, result, 0)
    return (
        packet(RPC_MODIFIER1, encode_vars({"CONTENT_LENGTH": str(len(result))}), LARGE_REPLY)
        + result
    )


def serve_rpc_packet(payload: bytes, registry: Registry = REGISTRY) -> bytes | None:
    """Server side of modifier1 173 (modifier2 0): run the call, return the reply or None.

    As uWSGI, a failing or missing function sends no reply (the connection is closed); the
    error goes to the log via the exception the caller logs.
    """
    items = decode_array(payload)
    if not items:
        raise RpcError("empty RPC packet")
    return reply_packet(registry.call(items[0], items[1:]))


def serve_http_form(request: Request, responder: Responder, registry: Registry = REGISTRY) -> None:
    """modifier2 2: `PATH_INFO=/func/arg1/arg2` (percent-decoded) answered over HTTP, as uWSGI:
    200 with the result (typed by the client's Accept, else application/binary), 404 when the
    function is missing or returns nothing."""
    path_info = request.vars.get("PATH_INFO", "")
    parts = [unquote_to_bytes(p) for p in path_info.strip("/").split("/")] if path_info else []
    try:
        if not parts or not parts[0]:
            raise RpcError("the RPC HTTP form needs PATH_INFO /function/arg/...")
        result = registry.call(parts[0], parts[1:])
    except RpcError as exc:
        simple_error(responder, 404, str(exc))
        return
    if not result:
        simple_error(responder, 404, f"{parts[0].decode('latin-1')} returned nothing")
        return
    accept = request.vars.get("HTTP_ACCEPT", "")
    content_type = (
        accept if accept and "," not in accept and "*" not in accept else ("application/binary")
    )
    responder.start(
        "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(result)))]
    )
    responder.write(result)
