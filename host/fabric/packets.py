"""The fabric's uwsgi-protocol forms, served on any `socket`: RPC 173, signal 110, cache 111,
spool 17. Each returns the reply bytes uWSGI sends, or None when uWSGI closes without one."""

from __future__ import annotations

import socket

from polyhost.client_socket import connect
from polyhost.fabric import signals
from polyhost.log import log
from polyhost.process_state import CURRENT
from polyhost.protocol.uwsgi import iter_vars, pack_header, unpack_header
from polyhost.request import BodyReader
from polyhost.rpc.nodes import is_group, node_groups
from polyhost.rpc.remote import serve_rpc_packet

RESPONSE = 255


def serve_packet(modifier1: int, modifier2: int, payload: bytes, body: BodyReader) -> bytes | None:
    """Serve one fabric packet; `body` reads what follows it on the connection."""
    try:
        if modifier1 == 173:
            return serve_rpc_packet(payload)
        if modifier1 == 110:
            signals.CLIENT.raise_signal(modifier2)
            return pack_header(RESPONSE, 0, 1)
        if modifier1 == 111:
            if CURRENT.caches is None:
                raise ValueError("no cache configured (cache2) for a modifier1 111 request")
            from polyhost.fabric.cache_remote import magic_body_size, serve_cache_packet

            size = magic_body_size(CURRENT.caches, modifier2, payload)
            value = body.read(size) if size else b""
            return serve_cache_packet(CURRENT.caches, modifier2, payload, body=value)
        if modifier1 == 17:
            from polyhost.fabric.spool_api import spool_pairs

            pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in iter_vars(payload)]
            spool_pairs(pairs)
            return pack_header(RESPONSE, 0, 1)
    except Exception as exc:
        log(f"uwsgi packet modifier1 {modifier1} modifier2 {modifier2} failed: {exc}")
        return pack_header(RESPONSE, 0, 0) if modifier1 in (17, 110) else None
    return None


def send_remote_signal(node: str, num: int, timeout: float = 10.0) -> None:
    """Raise signal `num` on the instance at `node` (modifier1 110), or on every node of the
    `rpc-nodes` group `group:NAME`; error if one refuses."""
    if is_group(node):
        node_groups().each(
            node, lambda one: send_remote_signal(one, num, timeout), signals.SignalError
        )
        return
    num = signals.check_num(num)
    with connect(node, timeout) as sock:
        sock.sendall(pack_header(110, 0, num))
        reply = sock.recv(4, socket.MSG_WAITALL)
    if len(reply) < 4 or unpack_header(reply) != (RESPONSE, 0, 1):
        raise signals.SignalError(f"{node} did not accept signal {num} (see its log)")
