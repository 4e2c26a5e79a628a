"""The uwsgi packet codec: 4-byte header, vars blocks and arrays.

One module for every user of the format: nginx `uwsgi_pass`, remote RPC/cache/signal peers,
spool files and the bridge to child runtimes. Header: `modifier1 u8, size u16le, modifier2 u8`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

HEADER = struct.Struct("<BHB")
U16 = struct.Struct("<H")
MAX_PACKET = 0xFFFF


class PacketError(ValueError):
    """Malformed uwsgi packet (truncated, oversized, empty key...)."""


def pack_header(modifier1: int, size: int, modifier2: int = 0) -> bytes:
    if size > MAX_PACKET:
        raise PacketError(f"uwsgi packet of {size} bytes is over the 64 KiB limit")
    return HEADER.pack(modifier1, size, modifier2)


def unpack_header(data: bytes | bytearray | memoryview) -> tuple[int, int, int]:
    """-> (modifier1, size, modifier2)."""
    if len(data) < 4:
        raise PacketError("truncated uwsgi header")
    return HEADER.unpack_from(data)


def _latin1_block(env: Mapping[str, str]) -> bytes | None:
    """The vars block of str keys and values built as one str and encoded once (a latin-1 char
    is a byte): a third of the time of the general path, for the CGI vars of every request.
    None for an oversized var (the general path refuses it); TypeError for bytes among them,
    UnicodeEncodeError for a char beyond latin-1."""
    parts: list[str] = []
    extend = parts.extend
    for key, value in env.items():
        size = len(value)
        if size > MAX_PACKET or len(key) > MAX_PACKET:
            return None
        extend((chr(len(key) & 255), chr(len(key) >> 8), key, chr(size & 255), chr(size >> 8)))
        parts.append(value)
    return "".join(parts).encode("latin-1")


def encode_vars(pairs: Mapping[str, str] | Iterable[tuple[bytes | str, bytes | str]]) -> bytes:
    """Encode key/value pairs (str are latin-1) as a vars block."""
    if isinstance(pairs, Mapping):
        try:
            block = _latin1_block(pairs)
        except (TypeError, UnicodeEncodeError):  # bytes, or beyond latin-1: said below
            block = None
        if block is not None:
            return block
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: list[bytes] = []
    append = out.append
    pack = U16.pack
    for key, value in items:
        k = key.encode("latin-1") if isinstance(key, str) else key
        v = value.encode("latin-1") if isinstance(value, str) else value
        if len(k) > MAX_PACKET or len(v) > MAX_PACKET:
            raise PacketError(f"uwsgi var {k[:40]!r} is over 64 KiB")
        append(pack(len(k)))
        append(k)
        append(pack(len(v)))
        append(v)
    return b"".join(out)


def decode_vars(block: bytes | bytearray | memoryview) -> dict[str, str]:
    """Decode a vars block into str->str (latin-1), rejecting empty keys and truncation."""
    return dict(iter_vars(block))


def iter_vars(block: bytes | bytearray | memoryview) -> Iterable[tuple[str, str]]:
    """Yield (key, value) pairs in order, keeping repeated keys (response headers use them)."""
    data = bytes(block)
    pos = 0
    end = len(data)
    while pos < end:
        if pos + 2 > end:
            raise PacketError("truncated uwsgi var key length")
        (klen,) = U16.unpack_from(data, pos)
        pos += 2
        if klen == 0:
            raise PacketError("empty uwsgi var key")
        if pos + klen + 2 > end:
            raise PacketError("truncated uwsgi var key")
        key = data[pos : pos + klen].decode("latin-1")
        pos += klen
        (vlen,) = U16.unpack_from(data, pos)
        pos += 2
        if pos + vlen > end:
            raise PacketError(f"truncated uwsgi var value for {key}")
        yield key, data[pos : pos + vlen].decode("latin-1")
        pos += vlen


def find_vars(block: bytes | bytearray | memoryview, names: frozenset[bytes]) -> dict[str, str]:
    """The values of `names` only (routers need a key, not the whole environ), checking the
    whole block's framing as decode_vars does but decoding nothing else."""
    data = bytes(block)
    found: dict[str, str] = {}
    unpack = U16.unpack_from
    pos = 0
    end = len(data)
    while pos < end:
        if pos + 2 > end:
            raise PacketError("truncated uwsgi var key length")
        (klen,) = unpack(data, pos)
        if klen == 0:
            raise PacketError("empty uwsgi var key")
        key_end = pos + 2 + klen
        if key_end + 2 > end:
            raise PacketError("truncated uwsgi var key")
        (vlen,) = unpack(data, key_end)
        value_end = key_end + 2 + vlen
        if value_end > end:
            raise PacketError("truncated uwsgi var value")
        key = data[pos + 2 : key_end]
        if key in names:
            found[key.decode("latin-1")] = data[key_end + 2 : value_end].decode("latin-1")
        pos = value_end
    return found


def encode_array(items: Iterable[bytes]) -> bytes:
    """A uwsgi array: repeated `u16le size, bytes` (RPC calls, cache set)."""
    out = bytearray()
    for item in items:
        if len(item) > MAX_PACKET:
            raise PacketError("uwsgi array item is over 64 KiB")
        out += U16.pack(len(item))
        out += item
    return bytes(out)


def decode_array(block: bytes | bytearray | memoryview) -> list[bytes]:
    data = bytes(block)
    pos = 0
    items: list[bytes] = []
    while pos < len(data):
        if pos + 2 > len(data):
            raise PacketError("truncated uwsgi array item size")
        (size,) = U16.unpack_from(data, pos)
        pos += 2
        if pos + size > len(data):
            raise PacketError("truncated uwsgi array item")
        items.append(data[pos : pos + size])
        pos += size
    return items


def packet(modifier1: int, payload: bytes, modifier2: int = 0) -> bytes:
    """A whole packet: header + payload."""
    return pack_header(modifier1, len(payload), modifier2) + payload
