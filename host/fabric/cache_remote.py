"""The cache over the network: modifier1 111 on uwsgi sockets (server side) and the magic 17
client behind `NAME@host:port` cache names (uWSGI's plugins/cache/cache.c and core/cache.c).

Server, by modifier2 (the packet's payload is given, and for a magic set/update the body that
follows it, `magic_body_size` bytes):
- 0 get: key -> `[111, len, 0]` + value; nothing on a miss.
- 1 set: array(key, value) -> nothing (uWSGI closes the connection).
- 2 del: key -> nothing.
- 3/4: vars `key`/`get` -> the raw value; `get` of a missing key -> an HTTP 404.
- 5 stream get: key -> `[111, 0, 1]` + value, or `[111, 0, 0]` on a miss.
- 17 magic: vars {cmd: get|set|update|del|exists|clear, key, expires, cache, size} (+ body)
  -> `[111, n, 17]` + vars {status: ok, size, expires} (+ value); nothing when it failed.
Real uWSGI 2.0 writes a pointer instead of the header for 0 and 5, and never finds the key of
3/4 (a shadowed length); polyhost sends what those commands were written to send.
6 (dump of uWSGI's raw memory) has no LMDB equivalent and gets no reply.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from polyhost.client_socket import connect
from polyhost.fabric.cache import CacheError
from polyhost.protocol.uwsgi import (
    MAX_PACKET,
    PacketError,
    decode_array,
    decode_vars,
    encode_vars,
    pack_header,
    packet,
    unpack_header,
)

if TYPE_CHECKING:
    from polyhost.fabric.cache import CacheSet

CACHE_MODIFIER1 = 111
MAGIC = 17
NOT_FOUND_404 = (
    b"HTTP/1.0 404 Not Found\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nNot Found"
)
_OK = packet(CACHE_MODIFIER1, encode_vars([("status", "ok")]), MAGIC)


# --- client ----------------------------------------------------------------------------------


class RemoteCache:
    """A cache of another instance, named `NAME@host:port` (also `NAME@/unix/socket` and
    `NAME@@abstract`); an empty NAME is that instance's default cache. One connection per call,
    as uWSGI."""

    def __init__(self, address: str, timeout: float = 4.0) -> None:
        self.address = address
        self.name, _, self.node = address.partition("@")
        if not self.node:
            raise CacheError(f"cache '{address}': write NAME@host:port for a remote cache")
        self.timeout = timeout

    def call(
        self, cmd: str, key: bytes = b"", body: bytes | None = None, expires: int = 0
    ) -> tuple[dict[str, str], bytes] | None:
        """One magic 17 exchange: (reply vars, value) or None when the peer sent nothing
        (what uWSGI does for a miss or a refused command)."""
        fields: list[tuple[str, str | bytes]] = [("cmd", cmd)]
        if key:
            fields.append(("key", key))
        if body is not None:
            fields.append(("size", str(len(body))))
        if expires > 0:
            fields.append(("expires", str(expires)))
        if self.name:
            fields.append(("cache", self.name))
        try:
            block = encode_vars(fields)
            request = pack_header(CACHE_MODIFIER1, len(block), MAGIC) + block
        except PacketError as exc:
            raise CacheError(f"cache '{self.address}': {exc}") from None
        try:
            with connect(self.node, self.timeout) as sock:
                sock.sendall(request + body if body else request)
                header = _read_exact(sock, 4, allow_eof=True)
                if not header:
                    return None
                modifier1, size, modifier2 = unpack_header(header)
                if (modifier1, modifier2) != (CACHE_MODIFIER1, MAGIC):
                    raise CacheError(
                        f"cache '{self.address}': the peer answered [{modifier1}, {size},"
                        f" {modifier2}], not a cache reply; is it a uwsgi socket of polyhost"
                        " or uWSGI with the cache plugin?"
                    )
                reply = decode_vars(_read_exact(sock, size))
                value_size = int(reply.get("size") or 0) if cmd == "get" else 0
                return reply, _read_exact(sock, value_size) if value_size else b""
        except (OSError, PacketError, ValueError) as exc:
            raise CacheError(f"cache '{self.address}' failed: {exc}") from exc

    def _ok(self, cmd: str, key: bytes = b"", body: bytes | None = None, expires: int = 0) -> bool:
        answer = self.call(cmd, key, body, expires)
        return answer is not None and answer[0].get("status") == "ok"

    def get(self, key: bytes) -> bytes | None:
        answer = self.call("get", key)
        if answer is None or answer[0].get("status") != "ok":
            return None
        return answer[1]

    def exists(self, key: bytes) -> bool:
        return self._ok("exists", key)

    def store(self, key: bytes, value: bytes, expires: int, overwrite: bool) -> bool:
        return self._ok("update" if overwrite else "set", key, value, expires)

    def delete(self, key: bytes) -> bool:
        return self._ok("del", key)

    def clear(self) -> None:
        if not self._ok("clear"):
            raise CacheError(f"cache '{self.address}' refused to clear (no such cache there?)")

    def num(self, key: bytes) -> int:
        value = self.get(key)
        if value is None:
            return 0
        if len(value) != 8:
            raise CacheError(
                f"cache '{self.address}': key {key[:60]!r} holds {len(value)}"
                " bytes, not a 64-bit counter"
            )
        return int.from_bytes(value, "little", signed=True)

    def keys(self) -> list[bytes]:
        raise CacheError(
            f"cache '{self.address}': cache_keys works on local caches only (the"
            " network protocol has no keys command)"
        )

    def math(self, key: bytes, operation: str, amount: int, expires: int) -> int:
        raise CacheError(
            f"cache '{self.address}': cache_{operation} works on local caches only"
            " (the network protocol has no atomic math)"
        )


def _read_exact(sock: socket.socket, size: int, allow_eof: bool = False) -> bytes:
    chunks = []
    left = size
    while left:
        data = sock.recv(min(left, 1 << 20))
        if not data:
            if allow_eof and left == size:
                return b""
            raise CacheError(
                f"the cache peer closed the connection {size - left} bytes into a {size}-byte read"
            )
        chunks.append(data)
        left -= len(data)
    return b"".join(chunks)


# --- server ----------------------------------------------------------------------------------


def magic_body_size(caches: CacheSet, modifier2: int, payload: bytes) -> int:
    """Bytes of body that follow a modifier1 111 packet (the value of a magic set/update):
    read them after the packet and pass them to serve_cache_packet. A declared size over the
    cache's item limit (or for a cache that does not exist) raises CacheError before anything
    is read: the client does not choose how much memory the worker allocates."""
    if modifier2 != MAGIC:
        return 0
    try:
        fields = decode_vars(payload)
    except PacketError:
        return 0
    if fields.get("cmd") not in ("set", "update"):
        return 0
    size = _number(fields.get("size"))
    local = caches.local(fields.get("cache") or None)
    if size > local.spec.max_item_size:
        raise CacheError(
            f"a cache {fields['cmd']} declares a value of {size} bytes, over the"
            f" {local.spec.max_item_size}-byte item limit of cache '{local.spec.name}':"
            " refused before reading it"
        )
    return size


def _number(text: str | None) -> int:
    """uWSGI's uwsgi_str_num: the leading digits, 0 for none."""
    digits = ""
    for char in text or "":
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else 0


def serve_cache_packet(
    caches: CacheSet, modifier2: int, payload: bytes, body: bytes = b""
) -> bytes | None:
    """Server side of modifier1 111: the reply bytes, or None when uWSGI sends nothing (the
    worker then closes the connection). Never raises for a bad request: it gets no reply."""
    if not payload:
        return None
    try:
        if modifier2 == MAGIC:
            return _serve_magic(caches, decode_vars(payload), body)
        if modifier2 == 0:
            value = caches.get(payload)
            if value is None or len(value) > MAX_PACKET:
                return None
            return packet(CACHE_MODIFIER1, value, 0)
        if modifier2 == 1:
            items = decode_array(payload)
            if len(items) > 1:
                caches.set(items[0], items[1])
            return None
        if modifier2 == 2:
            caches.delete(payload)
            return None
        if modifier2 in (3, 4):
            return _serve_dict(caches, payload)
        if modifier2 == 5:
            value = caches.get(payload)
            if value is None:
                return pack_header(CACHE_MODIFIER1, 0, 0)
            return pack_header(CACHE_MODIFIER1, 0, 1) + value
    except (CacheError, PacketError):
        return None
    return None


def _serve_dict(caches: CacheSet, payload: bytes) -> bytes | None:
    out = bytearray()
    for name, key in decode_vars(payload).items():
        if not key or name not in ("key", "get"):
            continue
        value = caches.get(key.encode("latin-1"))
        if value is not None:
            out += value
        elif name == "get":
            out += NOT_FOUND_404
    return bytes(out) or None


def _serve_magic(caches: CacheSet, fields: dict[str, str], body: bytes) -> bytes | None:
    cmd = fields.get("cmd", "")
    key = fields.get("key", "").encode("latin-1")
    cache = fields.get("cache") or None
    if cache is not None and "@" in cache:
        return None  # a cache server does not forward to other servers
    local = caches.local(cache)
    if cmd == "get":
        found = local.lookup(key) if key else None
        if found is None:
            return None
        value, expires_at = found
        reply: list[tuple[str, str]] = [("status", "ok"), ("size", str(len(value)))]
        if expires_at:
            reply.append(("expires", str(expires_at)))
        return packet(CACHE_MODIFIER1, encode_vars(reply), MAGIC) + value
    if cmd == "exists":
        return _OK if key and local.exists(key) else None
    if cmd == "del":
        return _OK if key and local.delete(key) else None
    if cmd == "clear":
        local.clear()
        return _OK
    if cmd in ("set", "update"):
        size = _number(fields.get("size"))
        if size != len(body) or size > local.spec.max_item_size:
            return None
        expires = _number(fields.get("expires"))
        return _OK if local.store(key, body, expires, overwrite=cmd == "update") else None
    return None
